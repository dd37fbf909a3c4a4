//! Knowledge import and export as JSON Lines.
//!
//! Import reads one article a line from a stream (the HTTP body or a file),
//! so memory stays flat however big the file; a line whose `external_id`
//! exists updates that article. A bad line is reported with its number and
//! reason and the rest go on. When the workspace has an evaluation gate,
//! every line is checked first and the import is evaluated against a
//! candidate index (today's published articles with the import applied):
//! if it fails the gate, nothing is written.

use super::articles::{check_article, ArticleInput};
use super::doc;
use crate::config::KbConfig;
use crate::context::Access;
use crate::error::{ServiceError, ServiceResult};
use crate::Services;
use kefu_domain::kb::{Article, ArticleContent, ArticleFilter};
use kefu_domain::{Action, ArticleId};
use kefu_kb::eval::{EvalCase, Report};
use kefu_kb::KbIndex;
use serde::Serialize;
use std::collections::HashMap;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Debug, Clone, Serialize)]
pub struct LineFailure {
    pub line: usize,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GateOutcome {
    pub passed: bool,
    pub min_hit_at_1: f64,
    pub min_off_topic_handoff: f64,
    pub report: Report,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Lines stored (created, updated or already identical).
    pub imported: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: Vec<LineFailure>,
    /// The evaluation gate's verdict, when the workspace has one. When it
    /// did not pass, nothing was imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateOutcome>,
}

/// One valid line.
pub struct Line {
    no: usize,
    external_id: Option<String>,
    content: ArticleContent,
}

impl Line {
    /// Its line number (from 1).
    pub fn no(&self) -> usize {
        self.no
    }
}

/// What one line of an import is, before anything is stored.
pub enum LineRead {
    /// Only white space: skipped, neither imported nor failed.
    Blank,
    Article(Line),
    Failed(LineFailure),
}

/// Reads line `no` of an import (its bytes, with or without the `\n`):
/// pure, so that what any line becomes is testable (and fuzzed: fuzz/)
/// without a store. A line that is not UTF-8, holds NUL, is not a JSON
/// article or fails the article checks is one failed line, never a failed
/// import.
pub fn read_line(cfg: &KbConfig, no: usize, raw: &[u8]) -> LineRead {
    let fail = |code: &str, message: String| {
        LineRead::Failed(LineFailure {
            line: no,
            code: code.to_string(),
            message,
        })
    };
    let text = match std::str::from_utf8(raw) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                "not_utf8",
                format!("not UTF-8 text (byte {})", e.valid_up_to() + 1),
            )
        }
    };
    if text.trim().is_empty() {
        return LineRead::Blank;
    }
    if crate::validate::has_nul_escape(text.as_bytes()) {
        return fail(
            "validation_failed",
            "text may not contain the NUL character (U+0000)".into(),
        );
    }
    // serde reads a struct from an array of its fields in order too; an
    // article is an object, nothing else.
    if !text.trim_start().starts_with('{') {
        return fail(
            "invalid_json",
            "not a JSON article: a line must be a JSON object".into(),
        );
    }
    let input: ArticleInput = match serde_json::from_str(text) {
        Ok(i) => i,
        Err(e) => return fail("invalid_json", format!("not a JSON article: {e}")),
    };
    match check_article(cfg, &input) {
        Ok((external_id, content)) => LineRead::Article(Line {
            no,
            external_id,
            content,
        }),
        Err(ServiceError::Validation(fields)) => {
            let what: Vec<String> = fields.iter().map(|(f, r)| format!("{f}: {r}")).collect();
            fail("validation_failed", what.join(", "))
        }
        Err(e) => fail("invalid", e.to_string()),
    }
}

/// The serialised form of an exported article (the import format, plus the
/// article's id for reference).
#[derive(Serialize)]
struct ExportLine<'a> {
    id: ArticleId,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: &'a Option<String>,
    title: &'a str,
    body: &'a str,
    questions: &'a [String],
    tags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    category: &'a Option<String>,
    locale: &'a str,
    status: kefu_domain::kb::ArticleStatus,
}

impl Services {
    /// Imports JSON Lines from `reader`; `progress` is told the number of
    /// lines read so far.
    pub async fn import_articles<R: AsyncBufRead + Unpin + Send>(
        &self,
        access: &Access,
        reader: R,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> ServiceResult<ImportReport> {
        access.require(Action::ManageKnowledge)?;
        let ws = access.workspace_id;
        let gate = self.bot_settings_of(ws).await?.eval_gate;
        let mut report = ImportReport::default();
        let mut changed: Vec<ArticleId> = Vec::new();
        let outcome = self
            .import_lines(access, reader, progress, gate, &mut report, &mut changed)
            .await;
        // Whatever was stored becomes searchable now, even when a later
        // failure (a dropped connection, the database) ends the import.
        for chunk in changed.chunks(500) {
            self.knowledge_changed(ws, chunk.to_vec()).await;
        }
        outcome.map(|()| report)
    }

    async fn import_lines<R: AsyncBufRead + Unpin + Send>(
        &self,
        access: &Access,
        mut reader: R,
        progress: &mut (dyn FnMut(usize) + Send),
        gate: Option<kefu_domain::kb::EvalGate>,
        report: &mut ImportReport,
        changed: &mut Vec<ArticleId>,
    ) -> ServiceResult<()> {
        let ws = access.workspace_id;
        let mut no = 0;
        let mut held: Vec<Line> = Vec::new();
        let mut raw = Vec::new();
        loop {
            raw.clear();
            let n = reader
                .read_until(b'\n', &mut raw)
                .await
                .map_err(|_| ServiceError::invalid("body", "unreadable"))?;
            if n == 0 {
                break;
            }
            no += 1;
            progress(no);
            let line = match read_line(&self.knowledge.config, no, &raw) {
                LineRead::Blank => continue,
                LineRead::Failed(f) => {
                    report.failed.push(f);
                    continue;
                }
                LineRead::Article(l) => l,
            };
            if gate.is_some() {
                held.push(line);
            } else {
                self.store_line(access, line, report, changed).await?;
                if changed.len() >= 500 {
                    self.knowledge_changed(ws, std::mem::take(changed)).await;
                }
            }
        }
        if let Some(gate) = gate {
            let cases = EvalCase::parse_jsonl(&gate.questions)
                .map_err(|e| ServiceError::Internal(format!("stored eval gate: {e}")))?;
            let candidate = self.candidate_index(access, &held).await?;
            let settings = self.bot_settings_of(ws).await?;
            let r = self.evaluate_in(&candidate, ws, &cases, &settings).await?;
            let passed = r.hit_at_1 >= gate.min_hit_at_1
                && (r.off_topic == 0 || r.off_topic_handoff >= gate.min_off_topic_handoff);
            report.gate = Some(GateOutcome {
                passed,
                min_hit_at_1: gate.min_hit_at_1,
                min_off_topic_handoff: gate.min_off_topic_handoff,
                report: r,
            });
            if !passed {
                return Ok(());
            }
            for line in held {
                self.store_line(access, line, report, changed).await?;
            }
        }
        Ok(())
    }

    async fn store_line(
        &self,
        access: &Access,
        line: Line,
        report: &mut ImportReport,
        changed: &mut Vec<ArticleId>,
    ) -> ServiceResult<()> {
        let ws = access.workspace_id;
        let existing = match &line.external_id {
            Some(e) => self.store.find_article_by_external_id(ws, e).await?,
            None => None,
        };
        let stored = match existing {
            Some(cur) if cur.content == line.content => {
                report.unchanged += 1;
                report.imported += 1;
                return Ok(());
            }
            Some(cur) => self
                .store_article_update(access, cur, line.external_id, line.content)
                .await
                .map(|a| (a, false)),
            None => self
                .store_new_article(access, line.external_id, line.content)
                .await
                .map(|a| (a, true)),
        };
        match stored {
            Ok((a, created)) => {
                report.imported += 1;
                if created {
                    report.created += 1;
                } else {
                    report.updated += 1;
                }
                changed.push(a.id);
                Ok(())
            }
            Err(ServiceError::Conflict(code)) => {
                report.failed.push(LineFailure {
                    line: line.no,
                    code: code.to_string(),
                    message: "changed concurrently or external_id taken; try again".into(),
                });
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A throw-away in-memory index of the workspace's published articles
    /// with `lines` applied (matched by external id).
    async fn candidate_index(&self, access: &Access, lines: &[Line]) -> ServiceResult<KbIndex> {
        let ws = access.workspace_id;
        let index = KbIndex::open(None, self.knowledge.index.options()).map_err(super::internal)?;
        index.set_synonyms(ws.0, &self.store.kb_synonyms(ws).await?);
        let mut docs: HashMap<String, kefu_kb::ArticleDoc> = HashMap::new();
        for a in self.store.published_articles(ws).await? {
            let key = a.external_id.clone().unwrap_or_else(|| a.id.to_string());
            docs.insert(key, doc(&a));
        }
        let now = self.clock.now();
        for l in lines {
            let key = l
                .external_id
                .clone()
                .unwrap_or_else(|| ArticleId::new().to_string());
            let a = Article {
                id: docs
                    .get(&key)
                    .map_or_else(ArticleId::new, |d| ArticleId(d.article_id)),
                workspace_id: ws,
                external_id: l.external_id.clone(),
                content: l.content.clone(),
                version: 1,
                created_at: now,
                updated_at: now,
                deleted_at: None,
            };
            if a.is_searchable() {
                docs.insert(key, doc(&a));
            } else {
                docs.remove(&key);
            }
        }
        let all: Vec<_> = docs.into_values().collect();
        for chunk in all.chunks(500) {
            index.upsert(chunk).map_err(super::internal)?;
        }
        Ok(index)
    }

    /// Writes every live article (drafts too) as JSON Lines; returns how
    /// many. `progress` is told the count so far.
    pub async fn export_articles<W: AsyncWrite + Unpin + Send>(
        &self,
        access: &Access,
        out: &mut W,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> ServiceResult<usize> {
        access.require(Action::ViewKnowledge)?;
        let mut after = None;
        let mut n = 0;
        loop {
            let filter = ArticleFilter {
                status: None,
                after,
                limit: 500,
            };
            let page = self
                .store
                .list_articles(access.workspace_id, &filter)
                .await?;
            for a in &page {
                let line = ExportLine {
                    id: a.id,
                    external_id: &a.external_id,
                    title: &a.content.title,
                    body: &a.content.body,
                    questions: &a.content.questions,
                    tags: &a.content.tags,
                    category: &a.content.category,
                    locale: &a.content.locale,
                    status: a.content.status,
                };
                let mut text = serde_json::to_string(&line).map_err(super::internal)?;
                text.push('\n');
                out.write_all(text.as_bytes())
                    .await
                    .map_err(super::internal)?;
                n += 1;
            }
            progress(n);
            match page.last() {
                Some(last) if page.len() == 500 => after = Some(last.id),
                _ => break,
            }
        }
        out.flush().await.map_err(super::internal)?;
        Ok(n)
    }
}

#[cfg(test)]
#[path = "import_props.rs"]
mod props;
