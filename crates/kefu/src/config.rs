//! Configuration, layered: defaults in code → `kefu.toml` → `KEFU_…`
//! environment variables (`__` separates sections, e.g.
//! `KEFU_HTTP__BODY_LIMIT_BYTES`) → command-line flags. Any key `x_file` (or
//! env `KEFU_…_X_FILE`) reads the value of `x` from that file, for secrets
//! mounted by Kubernetes or Docker. Unknown keys are reported as warnings.

use anyhow::Context;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;
use kefu_http::HttpConfig;
use kefu_service::{AnalyticsConfig, AuthConfig, ChatConfig, KbConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Environment variables with the `KEFU_` prefix that are not settings:
/// `KEFU_CONFIG` (the file) and the test harness's `KEFU_TEST_*`.
fn is_setting(var: &str) -> bool {
    var.starts_with("KEFU_") && var != "KEFU_CONFIG" && !var.starts_with("KEFU_TEST_")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address `kefu serve` listens on.
    pub listen: String,
    /// Where Kefu keeps its files (SQLite database, generated signing key).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default `sqlite://<data_dir>/kefu.db`.
    pub database_url: Option<String>,
    /// `redis://…` for a cluster; unset means the in-process bus.
    pub redis_url: Option<String>,
    /// PEM certificates of a private CA to trust for a `rediss://` URL
    /// (instead of the system's roots); usually `redis_ca_file`.
    pub redis_ca: Option<String>,
    /// Apply pending migrations when the server starts.
    pub auto_migrate: bool,
    /// `auto` (JSON unless on a terminal), `json` or `pretty`.
    pub log_format: LogFormat,
    /// tracing filter, e.g. `info` or `info,kefu_http=debug`.
    pub log_filter: String,
    /// An OTLP/HTTP collector (`http://collector:4318`) to send traces to;
    /// unset: no tracing export (env `KEFU_OTLP_ENDPOINT`).
    pub otlp_endpoint: Option<String>,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub metrics: kefu_http::MetricsConfig,
    pub auth: AuthSettings,
    pub chat: ChatConfig,
    /// `[attachments]`: files in conversations (limits, where they are kept).
    pub attachments: kefu_service::attachments::AttachmentsConfig,
    /// `[email]`: the SMTP relay and the outbox (docs/operations/email.md).
    pub email: kefu_service::email::EmailConfig,
    pub kb: KbConfig,
    /// The analytics: the bot's verified-resolution window.
    pub analytics: AnalyticsConfig,
    /// An OpenAI-compatible `/v1/embeddings` endpoint for semantic search
    /// (unset: lexical search only).
    pub embeddings: Option<kefu_ai::EmbeddingsConfig>,
    /// An OpenAI-compatible chat endpoint that writes the bot's answers
    /// from the retrieved articles (unset: the article itself is the answer).
    pub llm: Option<kefu_ai::LlmConfig>,
    /// A `/rerank` endpoint (Cohere/Jina shape, or TEI's) that reorders the
    /// best search hits (unset: the search's own order).
    pub rerank: Option<kefu_ai::RerankConfig>,
    /// Backups: the schedule inside `kefu serve`, destination, retention,
    /// keys and S3 (docs/operations/backup.md).
    pub backup: kefu_backup::BackupConfig,
    /// The key-encryption key that seals TOTP and identity secrets and the
    /// audit chain key in the database (docs/security.md).
    pub secrets: SecretsSettings,
    /// Audit chain head publishing.
    pub audit: AuditSettings,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SecretsSettings {
    /// The key-encryption key: 64 hex characters (`openssl rand -hex 32`),
    /// usually `key_file` (env `KEFU_SECRETS__KEY_FILE`). Unset on a single
    /// node: generated once into `<data_dir>/secrets.key`. A cluster must
    /// configure it, the same on every replica.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub key: Option<SecretString>,
    /// Keys that sealed secrets before a rotation, still accepted for
    /// opening them until `kefu keys rotate` has re-sealed everything:
    /// 64-hex-character keys separated by whitespace or commas, usually
    /// `previous_keys_file` (one per line).
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub previous_keys: Option<SecretString>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditSettings {
    /// How often `kefu serve` publishes the audit chain heads (a log line
    /// per changed workspace and the `kefu_audit_chain_*` metrics), in
    /// seconds; 0 turns publishing off.
    pub publish_interval_secs: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            publish_interval_secs: 300,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            redis_ca: None,
            auto_migrate: true,
            log_format: LogFormat::Auto,
            log_filter: "info".into(),
            otlp_endpoint: None,
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            metrics: kefu_http::MetricsConfig::default(),
            auth: AuthSettings::default(),
            chat: ChatConfig::default(),
            attachments: Default::default(),
            email: Default::default(),
            kb: KbConfig::default(),
            analytics: AnalyticsConfig::default(),
            embeddings: None,
            llm: None,
            rerank: None,
            backup: kefu_backup::BackupConfig::default(),
            secrets: SecretsSettings::default(),
            audit: AuditSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// Pool size (PostgreSQL) or reader pool size (SQLite).
    pub max_connections: u32,
    /// Wait for a lock or a pooled connection this long, in milliseconds.
    pub busy_timeout_ms: u64,
    /// SQLite: fsync at every commit, so acknowledged messages survive a
    /// power cut (slower writes); otherwise they survive a crash of Kefu.
    pub sqlite_full_sync: bool,
    /// SQLite: copy the write-ahead log into the database this often, in
    /// the background, so no commit waits for it (0: SQLite's automatic
    /// checkpoint inside a commit), in milliseconds.
    pub sqlite_checkpoint_interval_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            busy_timeout_ms: 5_000,
            sqlite_full_sync: false,
            sqlite_checkpoint_interval_ms: 250,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// Key that signs access tokens (32+ bytes). Unset: generated once into
    /// `<data_dir>/signing.key`. All replicas of a cluster must share it.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub signing_key: Option<SecretString>,
    #[serde(flatten)]
    pub service: AuthConfig,
}

fn ser_secret<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_some(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

fn de_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

/// Flags that override everything else; `None` leaves the setting alone.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

/// The effective settings and the warnings met while reading them (logged
/// once logging is up).
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
    pub source: Option<PathBuf>,
}

impl Settings {
    /// Reads the layers. `config_file` must exist when given; otherwise
    /// `./kefu.toml` is used if present.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Loaded> {
        Self::load_from(config_file, overrides, std::env::vars())
    }

    pub fn load_from(
        config_file: Option<&Path>,
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Loaded> {
        let source = match config_file {
            Some(p) => {
                anyhow::ensure!(p.is_file(), "config file {} does not exist", p.display());
                Some(p.to_path_buf())
            }
            None => Some(PathBuf::from("kefu.toml")).filter(|p| p.is_file()),
        };
        let env: Vec<(String, String)> = env.into_iter().filter(|(k, _)| is_setting(k)).collect();
        // Each layer resolves its own `x_file` keys before it is merged, so
        // precedence holds whichever form a layer uses.
        // The optional sections are unset by default; their keys are known all the same.
        let mut known = serde_json::to_value(Settings::default()).expect("defaults serialise");
        known["embeddings"] =
            serde_json::to_value(kefu_ai::EmbeddingsConfig::default()).expect("defaults serialise");
        known["llm"] =
            serde_json::to_value(kefu_ai::LlmConfig::default()).expect("defaults serialise");
        known["rerank"] =
            serde_json::to_value(kefu_ai::RerankConfig::default()).expect("defaults serialise");
        let mut warnings = Vec::new();
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(p) = &source {
            let mut dict: Dict = Figment::from(Toml::file(p))
                .extract()
                .with_context(|| format!("reading {}", p.display()))?;
            resolve_file_keys(&mut dict)?;
            unknown_keys(&dict, &known, "", &mut warnings);
            fig = fig.merge(Serialized::defaults(dict));
        }
        for (key, raw) in &env {
            let path = key[5..].to_lowercase().replace("__", ".");
            let (path, value) = match path.strip_suffix("_file") {
                Some(target) => {
                    let content = std::fs::read_to_string(raw)
                        .with_context(|| format!("reading `{key}` from {raw}"))?;
                    (
                        target.to_string(),
                        Value::from(content.trim_end_matches(['\r', '\n']).to_string()),
                    )
                }
                None => (path.clone(), env_value(raw)),
            };
            if !is_known(&known, &path) {
                warnings.push(format!(
                    "unknown configuration key `{path}` (from {key}) is ignored"
                ));
                continue;
            }
            fig = fig.merge(Serialized::defaults(figment::util::nest(&path, value)));
        }
        fig = fig.merge(Serialized::defaults(overrides));
        let settings: Settings = fig.extract().context("invalid configuration")?;
        settings.validate()?;
        Ok(Loaded {
            settings,
            warnings,
            source,
        })
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(k) = &self.auth.signing_key {
            anyhow::ensure!(
                k.expose_secret().len() >= 32,
                "auth.signing_key must be at least 32 characters (generate one with `openssl rand -hex 32`)"
            );
        }
        anyhow::ensure!(
            self.http.body_limit_bytes >= 1024,
            "http.body_limit_bytes must be at least 1024"
        );
        self.analytics.validate().map_err(anyhow::Error::msg)?;
        self.chat.validate().map_err(anyhow::Error::msg)?;
        self.kb.validate().map_err(anyhow::Error::msg)?;
        if let Some(e) = &self.embeddings {
            kefu_ai::EmbeddingsClient::new(e.clone())
                .map_err(|err| anyhow::anyhow!("[embeddings]: {err}"))?;
        }
        if let Some(l) = &self.llm {
            kefu_ai::ChatClient::new(l.clone()).map_err(|err| anyhow::anyhow!("[llm]: {err}"))?;
        }
        if let Some(r) = &self.rerank {
            kefu_ai::RerankClient::new(r.clone())
                .map_err(|err| anyhow::anyhow!("[rerank]: {err}"))?;
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("kefu.db").display()))
    }

    /// The effective settings as TOML with secrets redacted: secret-named
    /// keys, and in every URL (database, Redis, OTLP, embeddings, LLM, S3
    /// endpoint …) its credentials and key-like query parameters.
    pub fn redacted_toml(&self) -> String {
        let mut v = serde_json::to_value(self).expect("settings serialise");
        redact(&mut v);
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "database_url".into(),
                serde_json::Value::String(redact_url(&self.database_url())),
            );
            if let Some(r) = &self.redis_url {
                obj.insert("redis_url".into(), serde_json::Value::String(redact_url(r)));
            }
        }
        strip_nulls(&mut v);
        toml::to_string_pretty(&v).unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }
}

/// Environment values are typed the way TOML would read them: booleans and
/// numbers, otherwise strings.
fn env_value(raw: &str) -> Value {
    let t = raw.trim();
    if let Ok(b) = t.parse::<bool>() {
        Value::from(b)
    } else if let Ok(i) = t.parse::<i64>() {
        Value::from(i)
    } else if let Ok(f) = t.parse::<f64>().map_err(|_| ()).and_then(|f| {
        if f.is_finite() && t.contains('.') {
            Ok(f)
        } else {
            Err(())
        }
    }) {
        Value::from(f)
    } else {
        Value::from(raw.to_string())
    }
}

/// Replaces `x_file = "/path"` by `x = <contents of /path>` at any depth.
fn resolve_file_keys(dict: &mut Dict) -> anyhow::Result<()> {
    let file_keys: Vec<String> = dict
        .keys()
        .filter(|k| k.ends_with("_file"))
        .cloned()
        .collect();
    for key in file_keys {
        let Some(Value::String(_, path)) = dict.remove(&key) else {
            anyhow::bail!("`{key}` must be a file path");
        };
        let content = std::fs::read_to_string(&path)
            .with_context(|| format!("reading `{key}` from {path}"))?;
        let target = key.trim_end_matches("_file").to_string();
        dict.insert(
            target,
            Value::from(content.trim_end_matches(['\r', '\n']).to_string()),
        );
    }
    for v in dict.values_mut() {
        if let Value::Dict(_, inner) = v {
            resolve_file_keys(inner)?;
        }
    }
    Ok(())
}

/// Whether a dotted path names a setting.
fn is_known(known: &serde_json::Value, path: &str) -> bool {
    path.split('.')
        .try_fold(known, |node, seg| node.get(seg))
        .is_some()
}

fn unknown_keys(dict: &Dict, known: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in dict {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match known.get(k) {
            None => out.push(format!("unknown configuration key `{path}` is ignored")),
            Some(inner @ serde_json::Value::Object(_)) => {
                if let Value::Dict(_, d) = v {
                    unknown_keys(d, inner, &path, out);
                }
            }
            Some(_) => {}
        }
    }
}

/// A setting holds a secret when its name is one of these or ends in
/// `_key`, `_secret` or `_password` (limits like `min_password_len` do not).
fn is_secret_key(k: &str) -> bool {
    matches!(k, "password" | "secret" | "token" | "key" | "previous_keys")
        || k.ends_with("_key")
        || k.ends_with("_token")
        || k.ends_with("_secret")
        || k.ends_with("_password")
}

fn redact(v: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = v {
        for (k, val) in map.iter_mut() {
            if is_secret_key(k) && !val.is_null() && !val.is_object() {
                *val = serde_json::Value::String("[redacted]".into());
            } else if let Some(url) = val.as_str().filter(|s| s.contains("://")) {
                *val = serde_json::Value::String(redact_url(url));
            } else {
                redact(val);
            }
        }
    }
}

fn strip_nulls(v: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = v {
        map.retain(|_, val| !val.is_null());
        map.values_mut().for_each(strip_nulls);
    }
}

/// Whether a URL's query parameter may carry a credential (`api_key`,
/// `access_token`, `sslpassword`, `X-Amz-Signature`, `auth` …).
fn is_secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "key",
        "sig",
        "auth",
        "credential",
        "session",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// `postgres://user:pw@host/db?sslpassword=x` →
/// `postgres://user:[redacted]@host/db?sslpassword=[redacted]`; a bare
/// userinfo of a web URL (`https://TOKEN@host`) is a credential too, where a
/// database URL's bare user name is not.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let (head, rest) = url.split_at(scheme_end);
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    // The host follows the *last* `@`: an unencoded `@` in a password must
    // not leave the rest of the password visible.
    let scheme = head.trim_end_matches("://").to_ascii_lowercase();
    let web = !matches!(
        scheme.as_str(),
        "postgres" | "postgresql" | "redis" | "rediss" | "sqlite"
    );
    let authority = match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _)) => format!("{user}:[redacted]{}", &authority[at..]),
            None if web => format!("[redacted]{}", &authority[at..]),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if is_secret_param(k) => format!("{k}=[redacted]"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{head}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kefu.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nlog_filter = \"debug\"\n[http]\nbody_limit_bytes = 4096\n",
        )
        .unwrap();
        let loaded = Settings::load_from(
            Some(&file),
            &Overrides {
                listen: Some("127.0.0.1:7000".into()),
                data_dir: None,
            },
            env(&[
                ("KEFU_LOG_FILTER", "warn"),
                ("KEFU_HTTP__REQUEST_TIMEOUT_SECS", "7"),
            ]),
        )
        .unwrap();
        let s = loaded.settings;
        assert_eq!(s.listen, "127.0.0.1:7000", "flag beats file");
        assert_eq!(s.log_filter, "warn", "env beats file");
        assert_eq!(s.http.body_limit_bytes, 4096, "file beats default");
        assert_eq!(s.http.request_timeout_secs, 7, "nested env");
        assert_eq!(s.auth.service.access_token_ttl_secs, 900, "default");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn file_variants_read_secrets_and_unknown_keys_warn() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "0123456789abcdef0123456789abcdef-from-file\n").unwrap();
        let loaded = Settings::load_from(
            None,
            &Overrides::default(),
            env(&[
                ("KEFU_AUTH__SIGNING_KEY_FILE", key.to_str().unwrap()),
                ("KEFU_HTTP__NO_SUCH_THING", "1"),
                ("KEFU_TEST_DATABASE_URL", "postgres://ignored"),
                ("KEFU_TEST_SERVICES_READY", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            loaded
                .settings
                .auth
                .signing_key
                .as_ref()
                .unwrap()
                .expose_secret(),
            "0123456789abcdef0123456789abcdef-from-file"
        );
        assert_eq!(
            loaded.warnings,
            vec!["unknown configuration key `http.no_such_thing` (from KEFU_HTTP__NO_SUCH_THING) is ignored"]
        );
        let shown = loaded.settings.redacted_toml();
        assert!(shown.contains("signing_key = \"[redacted]\""), "{shown}");
        assert!(!shown.contains("from-file"));
        assert!(
            shown.contains("min_password_len = 10"),
            "limits are not secrets: {shown}"
        );
        assert!(shown.contains("access_token_ttl_secs = 900"), "{shown}");
    }

    /// An environment variable beats the file even when the file gives the
    /// secret as `x_file` and the environment gives it directly.
    #[test]
    fn file_keys_respect_layer_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "from-the-file-0123456789abcdef0123456789").unwrap();
        let toml = dir.path().join("kefu.toml");
        std::fs::write(
            &toml,
            format!("[auth]\nsigning_key_file = {:?}\n", key.to_str().unwrap()),
        )
        .unwrap();
        let from_file = Settings::load_from(Some(&toml), &Overrides::default(), env(&[])).unwrap();
        assert_eq!(
            from_file.settings.auth.signing_key.unwrap().expose_secret(),
            "from-the-file-0123456789abcdef0123456789"
        );
        let env_wins = Settings::load_from(
            Some(&toml),
            &Overrides::default(),
            env(&[(
                "KEFU_AUTH__SIGNING_KEY",
                "from-the-env-0123456789abcdef0123456789",
            )]),
        )
        .unwrap();
        assert_eq!(
            env_wins.settings.auth.signing_key.unwrap().expose_secret(),
            "from-the-env-0123456789abcdef0123456789"
        );
    }

    #[test]
    fn bad_values_are_errors_naming_the_problem() {
        let err = Settings::load_from(
            None,
            &Overrides::default(),
            env(&[("KEFU_AUTH__SIGNING_KEY", "short")]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("signing_key"), "{err:#}");
        let err = Settings::load_from(
            None,
            &Overrides::default(),
            env(&[("KEFU_HTTP__BODY_LIMIT_BYTES", "lots")]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("body_limit_bytes"), "{err:#}");
        for hours in ["0", "721"] {
            let err = Settings::load_from(
                None,
                &Overrides::default(),
                env(&[("KEFU_ANALYTICS__RESOLUTION_WINDOW_HOURS", hours)]),
            )
            .unwrap_err();
            assert!(
                format!("{err:#}")
                    .contains("analytics.resolution_window_hours must be from 1 to 720"),
                "{err:#}"
            );
        }
        for (key, value, says) in [
            (
                "KEFU_KB__MAX_SYNONYM_GROUPS",
                "2001",
                "kb.max_synonym_groups",
            ),
            ("KEFU_KB__MAX_SYNONYM_TERMS", "1", "kb.max_synonym_terms"),
            ("KEFU_KB__MAX_SYNONYM_CHARS", "0", "kb.max_synonym_chars"),
        ] {
            let err =
                Settings::load_from(None, &Overrides::default(), env(&[(key, value)])).unwrap_err();
            assert!(format!("{err:#}").contains(says), "{key}: {err:#}");
        }
        let ok = Settings::load_from(
            None,
            &Overrides::default(),
            env(&[("KEFU_ANALYTICS__RESOLUTION_WINDOW_HOURS", "72")]),
        )
        .unwrap();
        assert_eq!(ok.settings.analytics.resolution_window_hours, 72);
        let err = Settings::load_from(
            Some(Path::new("/nope/kefu.toml")),
            &Overrides::default(),
            env(&[]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }

    /// The documented example is valid, complete and equal to the defaults.
    #[test]
    fn example_file_matches_the_defaults() {
        let example = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../kefu.example.toml"
        ));
        let loaded = Settings::load_from(Some(example), &Overrides::default(), env(&[])).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(
            loaded.settings.redacted_toml(),
            Settings::default().redacted_toml()
        );
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://kefu:s3cret@db:5432/kefu"),
            "postgres://kefu:[redacted]@db:5432/kefu"
        );
        assert_eq!(
            redact_url("sqlite://./data/kefu.db"),
            "sqlite://./data/kefu.db"
        );
        let s = Settings {
            database_url: Some("postgres://u:pw@h/d".into()),
            ..Settings::default()
        };
        assert!(!s.redacted_toml().contains("pw@"));
    }

    /// Issue 14, finding 7: `kefu config show` printed credentials embedded
    /// in the OTLP, embeddings and LLM URLs.
    #[test]
    fn credentials_in_any_url_are_redacted() {
        assert_eq!(
            redact_url("https://user:hunter2@otel.example.com:4318/v1/traces"),
            "https://user:[redacted]@otel.example.com:4318/v1/traces"
        );
        assert_eq!(
            redact_url("https://ghp_abc123@llm.example.com/v1?api_key=sk-live&model=x&X-Amz-Signature=f00"),
            "https://[redacted]@llm.example.com/v1?api_key=[redacted]&model=x&X-Amz-Signature=[redacted]"
        );
        assert_eq!(
            redact_url("redis://:pw@cache:6379/0"),
            "redis://:[redacted]@cache:6379/0"
        );
        assert_eq!(
            redact_url("postgres://kefu@db/kefu?sslmode=require"),
            "postgres://kefu@db/kefu?sslmode=require",
            "a bare database user name is not a secret"
        );
        let e = env(&[
            (
                "KEFU_OTLP_ENDPOINT",
                "https://u:otlp-pw@collector:4318?token=otlp-tok",
            ),
            (
                "KEFU_EMBEDDINGS__URL",
                "https://emb-tok@emb.example.com/v1?key=emb-key",
            ),
            ("KEFU_EMBEDDINGS__MODEL", "e5"),
            (
                "KEFU_LLM__URL",
                "https://llm.example.com/v1?access_token=llm-tok",
            ),
            ("KEFU_LLM__MODEL", "qwen"),
        ]);
        let loaded = Settings::load_from(None, &Overrides::default(), e).unwrap();
        let shown = loaded.settings.redacted_toml();
        for secret in ["otlp-pw", "otlp-tok", "emb-tok", "emb-key", "llm-tok"] {
            assert!(!shown.contains(secret), "{secret} in:\n{shown}");
        }
        assert!(shown.contains("collector:4318"), "{shown}");
    }

    /// `[rerank]` from the environment like the other model sections; its
    /// key never shows, and unusable values are refused at start.
    #[test]
    fn the_rerank_section_reads_env_and_hides_its_key() {
        let loaded = Settings::load_from(
            None,
            &Overrides::default(),
            env(&[
                ("KEFU_RERANK__URL", "http://reranker:8000/v1"),
                ("KEFU_RERANK__MODEL", "BAAI/bge-reranker-v2-m3"),
                ("KEFU_RERANK__TOP_K", "5"),
                ("KEFU_RERANK__API", "tei"),
                ("KEFU_RERANK__API_KEY", "rr-sekrit"),
            ]),
        )
        .unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let r = loaded.settings.rerank.clone().expect("[rerank] set");
        assert_eq!((r.top_k, r.timeout_ms), (5, 800), "env, then defaults");
        assert_eq!(r.api, kefu_ai::RerankApi::Tei);
        assert_eq!(r.api_key.as_ref().unwrap().expose_secret(), "rr-sekrit");
        assert!(!format!("{:?}", loaded.settings).contains("rr-sekrit"));
        let shown = loaded.settings.redacted_toml();
        assert!(!shown.contains("rr-sekrit"), "{shown}");
        assert!(shown.contains("[rerank]"), "{shown}");

        let err = Settings::load_from(
            None,
            &Overrides::default(),
            env(&[("KEFU_RERANK__MODEL", "m"), ("KEFU_RERANK__TOP_K", "1")]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("[rerank]"), "{err:#}");
    }

    #[test]
    fn backup_keys_and_s3_secrets_are_redacted() {
        let key = "ab".repeat(32);
        let e = env(&[
            ("KEFU_BACKUP__KEY", &key),
            ("KEFU_BACKUP__PREVIOUS_KEYS", "cdcd"),
            ("KEFU_BACKUP__S3__SECRET_ACCESS_KEY", "s3-sekrit"),
            ("KEFU_BACKUP__S3__SESSION_TOKEN", "tok-sekrit"),
            ("KEFU_BACKUP__S3__ACCESS_KEY_ID", "AKIDVISIBLE"),
        ]);
        let loaded = Settings::load_from(None, &Overrides::default(), e).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(
            loaded.settings.backup.key().unwrap().unwrap().id().len(),
            16
        );
        let shown = loaded.settings.redacted_toml();
        for secret in [key.as_str(), "cdcd", "s3-sekrit", "tok-sekrit"] {
            assert!(!shown.contains(secret), "{secret} in:\n{shown}");
        }
        assert!(shown.contains("AKIDVISIBLE"));
    }
}
