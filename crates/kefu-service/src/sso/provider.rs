//! Talking to an OpenID provider over HTTP: discovery
//! (`{issuer}/.well-known/openid-configuration`), its signing keys (cached
//! per issuer, fetched again when a token names a key we do not know) and
//! the token endpoint. Every request has a timeout and a size limit.

use super::id_token::{Jwk, JwkSet};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a discovery document is used before it is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// Keys are fetched again for an unknown `kid` at most this often, so
/// tokens with made-up key ids cannot make us hammer the provider.
const JWKS_REFETCH_MIN: Duration = Duration::from_secs(5);
/// Largest answer read from a provider.
const MAX_BODY: usize = 512 * 1024;

/// What a sign-in needs from a provider's discovery document.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// Why talking to the provider failed (logged; the client sees
/// `sso_provider_error`).
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("request to the identity provider failed: {0}")]
    Http(String),
    #[error("identity provider answered {status}: {error}")]
    Status { status: u16, error: String },
    #[error("unreadable answer from the identity provider: {0}")]
    Body(String),
    #[error("discovery document names issuer {found:?}, configured {configured:?}")]
    IssuerMismatch { configured: String, found: String },
    #[error("{0}")]
    Unsupported(&'static str),
}

struct Cached {
    discovery: Arc<Discovery>,
    fetched: Instant,
    keys: Arc<JwkSet>,
    keys_fetched: Option<Instant>,
}

/// The HTTP client and the per-issuer cache; one per process.
pub struct OidcClient {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OidcClient")
    }
}

impl Default for OidcClient {
    fn default() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            // A provider's answers are never redirects we should follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("kefu-sso")
            .build()
            .expect("static reqwest configuration");
        Self {
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

/// The token endpoint's answer, the part we use.
#[derive(Deserialize)]
pub struct TokenResponse {
    pub id_token: Option<String>,
    pub access_token: Option<String>,
}

/// The userinfo claims a sign-in uses (OpenID Connect Core §5.3).
#[derive(Debug, Deserialize)]
pub struct UserInfo {
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<serde_json::Value>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
}

impl OidcClient {
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, ProviderError> {
        let res = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| ProviderError::Http(e.without_url().to_string()))?;
        read_json(res).await
    }

    /// The provider's discovery document (cached), checked to name the
    /// configured issuer exactly (OpenID Connect Discovery §4.3).
    pub async fn discover(&self, issuer: &str) -> Result<Arc<Discovery>, ProviderError> {
        if let Some(c) = self.cache.lock().expect("cache lock").get(issuer) {
            if c.fetched.elapsed() < DISCOVERY_TTL {
                return Ok(c.discovery.clone());
            }
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let d: Discovery = self.get_json(&url).await?;
        if d.issuer != issuer {
            return Err(ProviderError::IssuerMismatch {
                configured: issuer.into(),
                found: d.issuer,
            });
        }
        if let Some(m) = &d.code_challenge_methods_supported {
            if !m.iter().any(|m| m == "S256") {
                return Err(ProviderError::Unsupported(
                    "provider does not offer PKCE S256",
                ));
            }
        }
        let d = Arc::new(d);
        let mut cache = self.cache.lock().expect("cache lock");
        let entry = cache.entry(issuer.to_string()).or_insert_with(|| Cached {
            discovery: d.clone(),
            fetched: Instant::now(),
            keys: Arc::default(),
            keys_fetched: None,
        });
        if entry.discovery.jwks_uri != d.jwks_uri {
            entry.keys = Arc::default();
            entry.keys_fetched = None;
        }
        entry.discovery = d.clone();
        entry.fetched = Instant::now();
        Ok(d)
    }

    /// The provider's keys, fetched again when none has `kid` (key
    /// rotation), at most every [`JWKS_REFETCH_MIN`].
    pub async fn keys(
        &self,
        issuer: &str,
        discovery: &Discovery,
        kid: Option<&str>,
    ) -> Result<Arc<JwkSet>, ProviderError> {
        let known = |keys: &JwkSet| match kid {
            Some(kid) => keys
                .keys
                .iter()
                .any(|k: &Jwk| k.kid.as_deref() == Some(kid)),
            None => !keys.keys.is_empty(),
        };
        {
            let cache = self.cache.lock().expect("cache lock");
            if let Some(c) = cache.get(issuer) {
                let recent = c
                    .keys_fetched
                    .is_some_and(|t| t.elapsed() < JWKS_REFETCH_MIN);
                if known(&c.keys) || recent {
                    return Ok(c.keys.clone());
                }
            }
        }
        let keys: Arc<JwkSet> = Arc::new(self.get_json(&discovery.jwks_uri).await?);
        let mut cache = self.cache.lock().expect("cache lock");
        if let Some(c) = cache.get_mut(issuer) {
            c.keys = keys.clone();
            c.keys_fetched = Some(Instant::now());
        }
        Ok(keys)
    }

    /// The userinfo endpoint's claims for an access token (when the ID
    /// token carries no e-mail, as providers conforming to Core §5.4 do in
    /// the code flow).
    pub async fn userinfo(
        &self,
        discovery: &Discovery,
        access_token: &str,
    ) -> Result<UserInfo, ProviderError> {
        let url = discovery
            .userinfo_endpoint
            .as_deref()
            .ok_or(ProviderError::Unsupported("no userinfo endpoint"))?;
        let res = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| ProviderError::Http(e.without_url().to_string()))?;
        read_json(res).await
    }

    /// Trades an authorization code (with its PKCE verifier) for tokens,
    /// authenticating as the client the way the provider prefers
    /// (`client_secret_basic` unless only `client_secret_post` is offered).
    pub async fn exchange_code(
        &self,
        discovery: &Discovery,
        client_id: &str,
        client_secret: &str,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, ProviderError> {
        let methods = discovery
            .token_endpoint_auth_methods_supported
            .clone()
            .unwrap_or_else(|| vec!["client_secret_basic".into()]);
        let basic = methods.iter().any(|m| m == "client_secret_basic");
        if !basic && !methods.iter().any(|m| m == "client_secret_post") {
            return Err(ProviderError::Unsupported(
                "provider offers neither client_secret_basic nor client_secret_post",
            ));
        }
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        let mut req = self.http.post(&discovery.token_endpoint);
        if basic {
            // RFC 6749 §2.3.1: each part form-urlencoded before base64.
            req = req.basic_auth(form_encode(client_id), Some(form_encode(client_secret)));
        } else {
            form.push(("client_id", client_id));
            form.push(("client_secret", client_secret));
        }
        let body = reqwest::Url::parse_with_params("http://x/", &form)
            .map_err(|e| ProviderError::Http(e.to_string()))?
            .query()
            .unwrap_or_default()
            .to_string();
        let res = req
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| ProviderError::Http(e.without_url().to_string()))?;
        read_json(res).await
    }
}

fn form_encode(s: &str) -> String {
    let url = reqwest::Url::parse_with_params("http://x/", &[("v", s)]).expect("static url");
    url.query()
        .and_then(|q| q.strip_prefix("v="))
        .unwrap_or_default()
        .to_string()
}

async fn read_json<T: serde::de::DeserializeOwned>(
    mut res: reqwest::Response,
) -> Result<T, ProviderError> {
    let status = res.status();
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| ProviderError::Http(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ProviderError::Body("answer too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let error = serde_json::from_slice::<OAuthError>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| "-".into());
        return Err(ProviderError::Status {
            status: status.as_u16(),
            error,
        });
    }
    serde_json::from_slice(&body).map_err(|e| ProviderError::Body(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_credentials_are_form_encoded_for_basic_auth() {
        assert_eq!(super::form_encode("a b:c/é"), "a+b%3Ac%2F%C3%A9");
    }
}
