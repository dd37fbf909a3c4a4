//! `GET …/export`: the owner's download of their whole workspace, streamed
//! as it is read — JSON Lines of every record, or a CSV table of the
//! conversations.
//!
//! The body is a stream pulled by hyper as the client takes it: each pull
//! reads one page from the store (`kefu_service::export`) and encodes it as
//! one chunk, so memory stays one page whatever the workspace's size, and a
//! slow client slows the reading instead of filling a buffer. Once the
//! headers are out a failure cannot become an error status: the stream
//! ends with an error, the connection is cut and the client sees a
//! truncated (unterminated chunked) body; the cause is logged.

use super::dto::{ContactDto, ConversationDto, MessageDto};
use super::kb::ArticleDto;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiQuery, WorkspaceAccess};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use kefu_service::export::{ExportFormat, ExportRecord, RowNames, WorkspaceExport};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tracing::Instrument;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFileFormat {
    /// JSON Lines: every contact, conversation, message and article.
    #[default]
    Jsonl,
    /// CSV: one row per conversation.
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `jsonl` (default) or `csv`.
    pub format: Option<ExportFileFormat>,
}

/// Downloads everything the workspace holds.
///
/// Owners only; API tokens need `export:read`. `format=jsonl` (default, `application/x-ndjson`): one
/// record a line, tagged with its `type` — `contact`, then each
/// `conversation` followed by its `message`s (private notes included, with
/// `private: true`), then `article` — each in the shape the API returns
/// for that resource. `format=csv` (`text/csv`, UTF-8 with a byte-order
/// mark): one row per conversation. Streamed; recorded in the audit log as
/// `workspace.exported`.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/export", tag = "workspaces",
    params(("workspace_id" = Uuid, Path), ExportQuery), security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The export, as an attachment", content(
            (String = "application/x-ndjson"),
            (String = "text/csv"),
        )),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let format = match q.format.unwrap_or_default() {
        ExportFileFormat::Jsonl => ExportFormat::JsonLines,
        ExportFileFormat::Csv => ExportFormat::Csv,
    };
    let export = state.services.export_workspace(&a, format).await?;
    let (content_type, ext) = match format {
        ExportFormat::JsonLines => ("application/x-ndjson; charset=utf-8", "jsonl"),
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    let filename = format!(
        "kefu-export-{}-{}.{ext}",
        a.workspace_id,
        state.services.clock.now().format("%Y%m%d")
    );
    let headers = [
        (header::CONTENT_TYPE, content_type.to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ),
        // Personal data: no cache along the way keeps a copy.
        (header::CACHE_CONTROL, "no-store".to_string()),
    ];
    Ok((headers, Body::from_stream(stream(export))).into_response())
}

/// The export as body chunks, one per page (the CSV header first).
fn stream(
    export: WorkspaceExport,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    struct State {
        export: WorkspaceExport,
        header: Option<Bytes>,
        bytes: u64,
        started: Instant,
        span: tracing::Span,
    }
    let header = (export.format() == ExportFormat::Csv).then(|| Bytes::from(csv_header()));
    let state = State {
        export,
        header,
        bytes: 0,
        started: Instant::now(),
        span: tracing::Span::current(),
    };
    futures_util::stream::try_unfold(state, |mut s| {
        // The body is polled after the handler returned: its log lines
        // belong to the request all the same.
        let span = s.span.clone();
        async move {
        if let Some(h) = s.header.take() {
            s.bytes += h.len() as u64;
            return Ok(Some((h, s)));
        }
        match s.export.next_page().await {
            Ok(Some(records)) => {
                let chunk = match s.export.format() {
                    ExportFormat::JsonLines => json_lines(records),
                    ExportFormat::Csv => Ok(csv_rows(records)),
                }
                .map_err(|e| {
                    tracing::error!(error = %e, "workspace export: a record does not serialise");
                    std::io::Error::other("export failed")
                })?;
                s.bytes += chunk.len() as u64;
                Ok(Some((Bytes::from(chunk), s)))
            }
            Ok(None) => {
                let c = s.export.counts();
                tracing::info!(
                    format = s.export.format().as_str(),
                    contacts = c.contacts,
                    conversations = c.conversations,
                    messages = c.messages,
                    articles = c.articles,
                    bytes = s.bytes,
                    secs = s.started.elapsed().as_secs_f64(),
                    "workspace export finished"
                );
                Ok(None)
            }
            Err(e) => {
                tracing::error!(error = %e, records = s.export.counts().total(), bytes = s.bytes,
                    "workspace export failed midway; the response is cut short");
                Err(std::io::Error::other("export failed"))
            }
        }
        }
        .instrument(span)
    })
}

/// One JSON Lines record: `{"type": kind, …the resource's fields}`.
#[derive(Serialize)]
struct Line<T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    record: T,
}

fn line<T: Serialize>(out: &mut Vec<u8>, kind: &'static str, record: T) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *out, &Line { kind, record })?;
    out.push(b'\n');
    Ok(())
}

fn json_lines(records: Vec<ExportRecord>) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(records.len() * 256);
    for r in records {
        match r {
            ExportRecord::Contact(c) => line(&mut out, "contact", ContactDto::from(*c))?,
            ExportRecord::Conversation(c, _) => line(
                &mut out,
                "conversation",
                ConversationDto::from(c.conversation),
            )?,
            ExportRecord::Message(m) => line(&mut out, "message", MessageDto::from(*m))?,
            ExportRecord::Article(a) => line(&mut out, "article", ArticleDto::from(*a))?,
        }
    }
    Ok(out)
}

/// The CSV's columns, in order.
const COLUMNS: [&str; 19] = [
    "id",
    "status",
    "inbox_id",
    "inbox",
    "contact_id",
    "contact_name",
    "contact_email",
    "contact_phone",
    "assignee",
    "team",
    "priority",
    "labels",
    "messages",
    "rating",
    "rating_comment",
    "created_at",
    "first_response_at",
    "resolved_at",
    "updated_at",
];

/// The byte-order mark (so spreadsheet programs read the file as UTF-8,
/// Chinese included) and the header row.
fn csv_header() -> Vec<u8> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    csv_row(&mut out, COLUMNS.iter().map(|c| Cell::Plain(c)));
    out
}

fn csv_rows(records: Vec<ExportRecord>) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 200);
    for r in records {
        let ExportRecord::Conversation(c, names) = r else {
            continue;
        };
        let names = names.map(|n| *n).unwrap_or_default();
        let RowNames {
            inbox,
            contact,
            assignee,
            team,
        } = names;
        let conv = &c.conversation;
        let time = |t: Option<DateTime<Utc>>| {
            t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        let (name, email, phone) = contact
            .map(|k| (k.name, k.email, k.phone))
            .unwrap_or_default();
        let rating = conv.rating.as_ref();
        let plain = [
            conv.id.to_string(),
            conv.inbox_id.to_string(),
            conv.contact_id.to_string(),
            conv.priority.to_string(),
            conv.last_seq.to_string(),
            rating.map(|r| r.score.to_string()).unwrap_or_default(),
            time(Some(conv.created_at)),
            time(c.first_response_at),
            time(c.resolved_at),
            time(Some(conv.updated_at)),
        ];
        let [id, inbox_id, contact_id, priority, messages, score, created, first, resolved, updated] =
            plain.each_ref().map(|s| Cell::Plain(s));
        let labels = conv.labels.join("; ");
        let cells = [
            id,
            Cell::Plain(conv.status.as_str()),
            inbox_id,
            Cell::Text(text(&inbox)),
            contact_id,
            Cell::Text(text(&name)),
            Cell::Text(text(&email)),
            Cell::Text(text(&phone)),
            Cell::Text(text(&assignee)),
            Cell::Text(text(&team)),
            priority,
            Cell::Text(&labels),
            messages,
            score,
            Cell::Text(
                rating
                    .and_then(|r| r.comment.as_deref())
                    .unwrap_or_default(),
            ),
            created,
            first,
            resolved,
            updated,
        ];
        csv_row(&mut out, cells.into_iter());
    }
    out
}

fn text(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or_default()
}

/// A CSV cell: `Plain` is ours (ids, numbers, times); `Text` is what
/// people typed, which a spreadsheet must not run as a formula.
#[derive(Clone, Copy)]
enum Cell<'a> {
    Plain(&'a str),
    Text(&'a str),
}

/// Appends one RFC 4180 row: cells with a comma, quote, CR or LF are
/// quoted (quotes doubled); lines end with CRLF. A `Text` cell that a
/// spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, CR first)
/// gets a leading `'`, the OWASP "CSV injection" defence.
fn csv_row<'a>(out: &mut Vec<u8>, cells: impl Iterator<Item = Cell<'a>>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let (guard, text) = match cell {
            Cell::Plain(s) => (false, s),
            Cell::Text(s) => (s.starts_with(['=', '+', '-', '@', '\t', '\r']), s),
        };
        let quote = text.contains([',', '"', '\r', '\n']);
        if quote {
            out.push(b'"');
        }
        if guard {
            out.push(b'\'');
        }
        for part in text.split_inclusive('"') {
            out.extend_from_slice(part.as_bytes());
            if part.ends_with('"') {
                out.push(b'"');
            }
        }
        if quote {
            out.push(b'"');
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[Cell<'_>]) -> String {
        let mut out = Vec::new();
        csv_row(&mut out, cells.iter().copied());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cells_are_quoted_only_when_needed() {
        assert_eq!(
            row(&[Cell::Plain("a"), Cell::Text("张三"), Cell::Text("")]),
            "a,张三,\r\n"
        );
        assert_eq!(
            row(&[
                Cell::Text("Li, Lei"),
                Cell::Text("say \"hi\""),
                Cell::Text("two\nlines")
            ]),
            "\"Li, Lei\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n"
        );
    }

    #[test]
    fn text_that_looks_like_a_formula_is_defused() {
        assert_eq!(
            row(&[
                Cell::Text("=HYPERLINK(\"x\")"),
                Cell::Text("+86 138"),
                Cell::Plain("-5")
            ]),
            "\"'=HYPERLINK(\"\"x\"\")\",'+86 138,-5\r\n"
        );
    }

    #[test]
    fn the_header_starts_with_a_byte_order_mark() {
        let h = String::from_utf8(csv_header()).unwrap();
        assert!(h.starts_with("\u{feff}id,status,inbox_id,inbox,"));
        assert!(h.ends_with(",resolved_at,updated_at\r\n"));
    }
}
