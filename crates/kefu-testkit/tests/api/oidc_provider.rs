//! A real OpenID provider for the single sign-on tests — panva's
//! `oidc-provider`, run with Node from `tests/oidc` (see provider.mjs) —
//! and a minimal browser: it follows redirects by hand, keeps cookies per
//! host and submits the provider's login form.
//!
//! Node and `tests/oidc/node_modules` are required: a missing one fails the
//! test with what to run, never skips it.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Provider {
    child: Child,
    /// Kept open: the provider must never write into a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
    pub issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc")
}

/// One registered client: (client_id, secret, signing alg).
pub fn client(id: &str, secret: &str, alg: &str, redirect_uri: &str) -> Value {
    json!({
        "client_id": id,
        "client_secret": secret,
        "redirect_uris": [redirect_uri],
        "id_token_signed_response_alg": alg,
    })
}

impl Provider {
    /// Starts the provider with these clients; `host` names the issuer
    /// (`127.0.0.1`, or `localhost` for a second name of the same server).
    pub fn start(clients: Vec<Value>, host: &str) -> Self {
        let dir = provider_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the OIDC test provider is not installed: run `npm ci` in {} (CI: .ci/run does)",
            dir.display()
        );
        let config = json!({ "clients": clients, "host": host }).to_string();
        // KEFU_TEST_OIDC_DEBUG=1 shows the provider's own debug log.
        let debug = std::env::var_os("KEFU_TEST_OIDC_DEBUG").is_some();
        let mut cmd = Command::new("node");
        if debug {
            cmd.env("DEBUG", "oidc-provider:*");
        }
        let mut child = cmd
            .arg("provider.mjs")
            .arg(config)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if debug {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` for the OIDC test provider: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line).expect("provider's first line");
        let hello: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the OIDC test provider did not start: {line:?}"));
        Self {
            child,
            _stdout: stdout,
            issuer: hello["issuer"].as_str().expect("issuer").to_string(),
        }
    }
}

/// Redirects followed by hand, cookies kept per host:port.
pub struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

pub struct Page {
    pub status: u16,
    pub url: reqwest::Url,
    pub location: Option<reqwest::Url>,
    pub body: String,
}

impl Default for Browser {
    fn default() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
        }
    }
}

fn origin(u: &reqwest::Url) -> String {
    format!(
        "{}:{}",
        u.host_str().unwrap_or(""),
        u.port_or_known_default().unwrap_or(0)
    )
}

impl Browser {
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        let u = reqwest::Url::parse(url).unwrap();
        self.jar.get(&origin(&u))?.get(name).cloned()
    }

    async fn send(&mut self, req: reqwest::RequestBuilder, url: reqwest::Url) -> Page {
        let jar = self.jar.entry(origin(&url)).or_default();
        let cookies: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let res = req
            .header(COOKIE, cookies.join("; "))
            .send()
            .await
            .expect("request");
        for c in res.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let pair = c.split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || c.to_ascii_lowercase().contains("max-age=0") {
                    jar.remove(k.trim());
                } else {
                    jar.insert(k.trim().to_string(), v.to_string());
                }
            }
        }
        let location = res
            .headers()
            .get(LOCATION)
            .map(|l| url.join(l.to_str().unwrap()).unwrap());
        Page {
            status: res.status().as_u16(),
            url,
            location,
            body: res.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let u = reqwest::Url::parse(url).unwrap();
        let req = self.http.get(u.clone());
        self.send(req, u).await
    }

    pub async fn post_form(&mut self, url: reqwest::Url, form: &[(String, String)]) -> Page {
        let req = self.http.post(url.clone()).form(form);
        self.send(req, url).await
    }

    /// Starts a sign-in at Kefu and walks the provider's pages as `login`
    /// until the provider sends the browser back; returns that callback
    /// URL, not yet visited.
    pub async fn sign_in_at_provider(&mut self, start_url: &str, login: &str) -> String {
        let start = self.get(start_url).await;
        assert_eq!(start.status, 303, "start: {}", start.body);
        let mut next = start.location.expect("to the provider");
        for _ in 0..10 {
            if next.path().ends_with("/auth/oidc/callback") {
                return next.to_string();
            }
            let page = self.get(next.as_str()).await;
            next = match (page.status, page.location) {
                (302 | 303, Some(l)) => l,
                (200, _) => {
                    let (action, form) = form_of(&page.body, login);
                    let posted = self.post_form(page.url.join(&action).unwrap(), &form).await;
                    posted.location.unwrap_or_else(|| {
                        panic!("provider form answered {}: {}", posted.status, posted.body)
                    })
                }
                (s, _) => panic!("provider answered {s}: {}", page.body),
            };
        }
        panic!("the provider never sent the browser back");
    }
}

/// The first form of an HTML page: its action, hidden fields, and the
/// development login form's `login` and `password` filled in.
fn form_of(html: &str, login: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let start = tag.find(&key)? + key.len();
        Some(tag[start..].split('"').next()?.replace("&amp;", "&"))
    };
    let form_at = html.find("<form").expect("a form on the provider's page");
    let form_tag = &html[form_at..html[form_at..].find('>').unwrap() + form_at];
    let action = attr(form_tag, "action").expect("form action");
    let mut fields = Vec::new();
    for piece in html[form_at..].split("<input").skip(1) {
        let tag = piece.split('>').next().unwrap();
        let Some(name) = attr(tag, "name") else {
            continue;
        };
        let value = match name.as_str() {
            "login" => login.to_string(),
            "password" => "any password".to_string(),
            _ => attr(tag, "value").unwrap_or_default(),
        };
        fields.push((name, value));
    }
    (action, fields)
}
