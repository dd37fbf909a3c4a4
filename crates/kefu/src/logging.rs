//! Logging: JSON lines (one object per event, with the fields of the
//! enclosing spans — request id, route, workspace id) when not on a
//! terminal or when asked; human-readable otherwise.
//!
//! Every line passes through [`MaskingWriter`] on its way out: phone
//! numbers (mainland and international), e-mail addresses, resident ID
//! numbers and bank-card numbers are replaced by placeholders in whatever
//! string carries them (`kefu_ai::mask`). Message bodies are never logged
//! in the first place.
//!
//! A second layer watches the database driver's statement events (target
//! `sqlx::query`, debug level — enabled for it alone, not printed) to feed
//! `kefu_db_query_duration_seconds`.

use crate::config::LogFormat;
use crate::otlp::{OtlpGuard, OtlpLayer};
use std::io::{IsTerminal, Write};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

/// Installs the logging (and, with an OTLP endpoint, tracing) stack; keep
/// the guard until the end of the program (dropping it flushes traces).
pub fn init(format: LogFormat, filter: &str, otlp_endpoint: Option<&str>) -> Option<OtlpGuard> {
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let (otlp, guard) = match otlp_endpoint {
        Some(e) if !e.trim().is_empty() => {
            let (l, g) = crate::otlp::layer(e.trim());
            (Some(l), Some(g))
        }
        _ => (None, None),
    };
    // Logs go to stderr; stdout is reserved for command output (ids, TOML).
    // A second init (tests) keeps the first subscriber.
    let _ = subscriber(json, filter, std::io::stderr, otlp).try_init();
    guard
}

/// The whole logging stack, writing to what `make` returns; `otlp` adds
/// trace export (absent, not installed: no cost).
pub fn subscriber<W>(
    json: bool,
    filter: &str,
    make: W,
    otlp: Option<OtlpLayer>,
) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("invalid log_filter `{filter}` ({e}); using `info`");
        EnvFilter::new("info")
    });
    let writer = MaskingWriter(make);
    let printed = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(writer)
            .boxed()
    } else {
        // No colours: escape codes glued to values would hide them from
        // the masking (a number right after a letter reads as a reference).
        fmt::layer().with_ansi(false).with_writer(writer).boxed()
    };
    Registry::default()
        .with(printed.with_filter(filter))
        // The driver's statement events are for the timer (printed only
        // when the log filter asks for them).
        .with(StatementTimer.with_filter(Targets::new().with_target("sqlx::query", Level::DEBUG)))
        .with(otlp.map(|l| {
            l.with_filter(
                Targets::new()
                    .with_default(Level::INFO)
                    .with_target("sqlx::query", Level::DEBUG),
            )
        }))
}

/// Masks personal data in every line written through it.
pub struct MaskingWriter<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for MaskingWriter<M> {
    type Writer = Masked<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Masked(self.0.make_writer())
    }
}

pub struct Masked<W>(W);

impl<W: Write> Write for Masked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter hands over one whole event per call.
        match std::str::from_utf8(buf) {
            Ok(s) => self.0.write_all(kefu_ai::mask::mask_pii(s).as_bytes())?,
            Err(_) => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Times the database driver's statements (its `sqlx::query` events carry
/// the statement's summary and `elapsed_secs`).
struct StatementTimer;

#[derive(Default)]
struct Statement {
    summary: Option<String>,
    elapsed: Option<f64>,
}

impl Visit for Statement {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed = Some(value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" {
            self.summary = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" && self.summary.is_none() {
            self.summary = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

impl<S: Subscriber> Layer<S> for StatementTimer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut s = Statement::default();
        event.record(&mut s);
        if let Some(elapsed) = s.elapsed {
            let op = kefu_http::metrics::statement_op(s.summary.as_deref().unwrap_or(""));
            kefu_http::metrics::db_query_duration()
                .get_or_create(&kefu_http::metrics::OpLabels { op })
                .observe(elapsed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn capture(json: bool, filter: &str, f: impl FnOnce()) -> String {
        let buf = Buffer::default();
        let sub = subscriber(json, filter, buf.clone(), None);
        tracing::subscriber::with_default(sub, f);
        let out = buf.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn personal_data_is_masked_in_fields_messages_and_spans() {
        let out = capture(true, "info", || {
            let span = tracing::info_span!("request", contact = "wang@example.cn");
            let _g = span.enter();
            tracing::warn!(
                phone = "13812345678",
                card = "4111 1111 1111 1111",
                "visitor +86 139-1234-5678 gave id 11010519491231002X and +447946095812"
            );
        });
        for secret in [
            "wang@example.cn",
            "13812345678",
            "4111 1111 1111 1111",
            "139-1234-5678",
            "11010519491231002X",
            "447946095812",
        ] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
        for placeholder in ["[email]", "[phone]", "[card]", "[id]"] {
            assert!(out.contains(placeholder), "no {placeholder}: {out}");
        }
        // Still one JSON object per line, with its timestamp and span fields.
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert!(line["timestamp"].as_str().unwrap().starts_with("20"));
        assert_eq!(line["spans"][0]["contact"], "[email]");
    }

    #[test]
    fn pretty_lines_are_masked_too() {
        let out = capture(false, "info", || {
            tracing::warn!(phone = 13812345678_u64, mail = %"li@example.com", "card 4111 1111 1111 1111");
        });
        for secret in ["13812345678", "li@example.com", "4111 1111 1111 1111"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
        assert!(
            !out.contains('\x1b'),
            "no colour codes around values: {out}"
        );
    }

    #[test]
    fn ids_times_and_references_survive_masking() {
        let out = capture(true, "info", || {
            tracing::info!(
                conversation_id = "0193a8e2-5c1f-7d3a-9b2e-4f6a8c0d1e2f",
                order = "SO13812345678",
                latency_ms = 12.5,
                "done"
            );
        });
        assert!(
            out.contains("0193a8e2-5c1f-7d3a-9b2e-4f6a8c0d1e2f"),
            "{out}"
        );
        assert!(out.contains("SO13812345678"), "{out}");
        assert!(out.contains("12.5"), "{out}");
    }

    /// Personal data in the text the logs write.
    const SECRETS: &[&str] = &[
        "13812345678",
        "+86 139-1234-5678",
        "wang@example.cn",
        "11010519491231002X",
        "4111 1111 1111 1111",
        "010-12345678",
    ];

    /// What may stand right before or after personal data: characters the
    /// writers escape (line breaks, tabs, quotes, backslashes, controls)
    /// among others.
    const SEPARATORS: &[char] = &[
        ' ', '\n', '\r', '\t', '"', '\\', '\u{1}', '\u{7f}', '，', '\u{202e}',
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 96, ..Default::default() })]

        /// Issue 14: the writers escape strings (`\n`, `\u0001`), and the
        /// masking read `\n13812345678` as a reference glued to an `n`
        /// (left unmasked) and `\nwang@example.cn` as an address starting
        /// with `n` (masked to `\[email]`: no longer JSON).
        #[test]
        fn personal_data_next_to_escaped_text_is_masked(
            before in proptest::prelude::any::<String>(),
            after in proptest::prelude::any::<String>(),
            sep in proptest::sample::select(SEPARATORS),
            sep2 in proptest::sample::select(SEPARATORS),
            secret in proptest::sample::select(SECRETS),
            json in proptest::prelude::any::<bool>(),
        ) {
            let text = format!("{before}{sep}{secret}{sep2}{after}");
            let out = capture(json, "info", || tracing::warn!(note = %text, field = ?text, "{text}"));
            if json {
                let line: serde_json::Value = serde_json::from_str(out.trim())
                    .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e}: {out}")))?;
                for key in ["note", "field", "message"] {
                    let value = line[key].as_str().unwrap_or_default();
                    proptest::prop_assert!(!value.contains(secret), "{} leaked in {}: {}", secret, key, out);
                }
            } else {
                proptest::prop_assert!(!out.contains(secret), "{} leaked: {}", secret, out);
            }
        }
    }

    #[test]
    fn statement_events_feed_the_histogram_without_being_printed() {
        let before = metric_count("insert");
        let out = capture(true, "info", || {
            tracing::debug!(
                target: "sqlx::query",
                summary = "insert into messages …",
                elapsed_secs = 0.002,
                "statement"
            );
        });
        assert!(
            out.is_empty(),
            "debug driver events are not printed at info: {out}"
        );
        assert_eq!(metric_count("insert"), before + 1);
    }

    fn metric_count(op: &'static str) -> u64 {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("q", "q", kefu_http::metrics::db_query_duration().clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let key = format!("q_count{{op=\"{op}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .map_or(0, |n| n.trim().parse().unwrap())
    }
}
