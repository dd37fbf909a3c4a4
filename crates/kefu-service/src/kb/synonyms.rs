//! A workspace's synonym groups: terms its visitors use for the same thing
//! (退货/退款, 发票/开票), kept by its admins. Search adds a group's other
//! terms to a question that holds one of them ([`kefu_kb::synonyms`]).
//!
//! The database holds the list; every replica's index holds a copy. A
//! change is applied to this replica's index before the call returns and
//! announced on the bus (`KnowledgeChanged` with `synonyms`), so the other
//! replicas reload it from the database; at start (and after missed
//! events) [`Services::reconcile_workspace`] loads it with the articles.

use crate::config::KbConfig;
use crate::context::Access;
use crate::error::{ServiceError, ServiceResult};
use crate::Services;
use kefu_domain::bus::{Event, Topic};
use kefu_domain::{Action, WorkspaceId};
use serde_json::json;
use std::sync::Arc;

/// Characters that separate terms where people type a list (the console's
/// editor: `退货/退款`, `发票, 开票`, `发票，开票`, `快递、物流`), so no
/// term holds one.
pub const SEPARATORS: [char; 4] = ['/', ',', '，', '、'];

/// The groups as stored: each term trimmed, empty terms and empty groups
/// dropped, a term repeated in its group (ignoring case) kept once; or a
/// refusal naming the first group at fault (`details.index` is its
/// position in `groups`, from 0).
pub(crate) fn check_synonyms(
    cfg: &KbConfig,
    groups: &[Vec<String>],
) -> ServiceResult<Vec<Vec<String>>> {
    let refuse = |code, message: String, details| ServiceError::Refused {
        code,
        message,
        details,
    };
    let opts = kefu_kb::AnalyzerOptions {
        fold_traditional: cfg.fold_traditional,
    };
    let mut out: Vec<Vec<String>> = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        let n = index + 1;
        let mut terms: Vec<String> = Vec::new();
        for term in group {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            if term.chars().count() > cfg.max_synonym_chars {
                return Err(refuse(
                    "synonym_term_too_long",
                    format!(
                        "Group {n}: \"{}…\" is longer than {} characters.",
                        term.chars().take(cfg.max_synonym_chars).collect::<String>(),
                        cfg.max_synonym_chars
                    ),
                    json!({ "index": index, "limit": cfg.max_synonym_chars }),
                ));
            }
            if term
                .chars()
                .any(|c| c.is_control() || SEPARATORS.contains(&c))
            {
                return Err(refuse(
                    "synonym_term_invalid",
                    format!(
                        "Group {n}: \"{}\" holds a line break, a control character or one of / , ， 、 (they separate terms).",
                        term.escape_debug()
                    ),
                    json!({ "index": index, "term": term }),
                ));
            }
            // A term the search would reduce to nothing (only function
            // words such as 的 or "the", or punctuation) could never
            // match: refused rather than stored to do nothing.
            if kefu_kb::analyzer::analyze(term, &opts).words.is_empty() {
                return Err(refuse(
                    "synonym_term_unsearchable",
                    format!(
                        "Group {n}: \"{}\" has no word the search can use (only function words such as 的 or \"the\", or punctuation).",
                        term.escape_debug()
                    ),
                    json!({ "index": index, "term": term }),
                ));
            }
            if !terms
                .iter()
                .any(|t| t.to_lowercase() == term.to_lowercase())
            {
                terms.push(term.to_string());
            }
        }
        match terms.len() {
            0 => continue,
            1 => {
                return Err(refuse(
                    "synonym_group_too_small",
                    format!(
                        "Group {n} (\"{}\") has one term; a group needs at least two.",
                        terms[0]
                    ),
                    json!({ "index": index, "term": terms[0] }),
                ))
            }
            len if len > cfg.max_synonym_terms => {
                return Err(refuse(
                    "synonym_group_too_large",
                    format!(
                        "Group {n} (\"{}\" …) has {len} terms; a group may have at most {}.",
                        terms[0], cfg.max_synonym_terms
                    ),
                    json!({ "index": index, "count": len, "limit": cfg.max_synonym_terms }),
                ))
            }
            _ => out.push(terms),
        }
    }
    if out.len() > cfg.max_synonym_groups {
        return Err(refuse(
            "synonym_groups_too_many",
            format!(
                "The list has {} groups; a workspace may have at most {}.",
                out.len(),
                cfg.max_synonym_groups
            ),
            json!({ "count": out.len(), "limit": cfg.max_synonym_groups }),
        ));
    }
    Ok(out)
}

impl Services {
    /// The workspace's synonym groups.
    pub async fn kb_synonyms(&self, access: &Access) -> ServiceResult<Vec<Vec<String>>> {
        access.require(Action::ViewKnowledge)?;
        Ok(self.store.kb_synonyms(access.workspace_id).await?)
    }

    /// Replaces the workspace's synonym groups (see [`check_synonyms`]);
    /// audited; searches see them when the call returns, on this replica
    /// and, moments later, on the others. Returns the groups as stored.
    pub async fn put_kb_synonyms(
        &self,
        access: &Access,
        groups: &[Vec<String>],
    ) -> ServiceResult<Vec<Vec<String>>> {
        access.require(Action::ManageKnowledge)?;
        let groups = check_synonyms(&self.knowledge.config, groups)?;
        let now = self.clock.now();
        let audit = access.audit(
            "kb.synonyms_updated",
            None,
            json!({ "groups": groups.len(), "terms": groups.iter().map(Vec::len).sum::<usize>() }),
            now,
        );
        self.store
            .put_kb_synonyms(access.workspace_id, &groups, now, audit)
            .await?;
        let ws = access.workspace_id;
        self.knowledge.index.set_synonyms(ws.0, &groups);
        self.bus.publish(
            &Topic::Knowledge,
            Arc::new(Event::KnowledgeChanged {
                workspace_id: ws,
                articles: Vec::new(),
                synonyms: true,
            }),
        );
        Ok(groups)
    }

    /// Loads the workspace's synonym groups from the database into this
    /// replica's index.
    pub(crate) async fn refresh_synonyms(&self, ws: WorkspaceId) -> ServiceResult<()> {
        let groups = self.store.kb_synonyms(ws).await?;
        self.knowledge.index.set_synonyms(ws.0, &groups);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(g: &[&[&str]]) -> Vec<Vec<String>> {
        g.iter()
            .map(|g| g.iter().map(|t| t.to_string()).collect())
            .collect()
    }

    fn code(r: ServiceResult<Vec<Vec<String>>>) -> (&'static str, String, serde_json::Value) {
        match r {
            Err(ServiceError::Refused {
                code,
                message,
                details,
            }) => (code, message, details),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn terms_are_trimmed_and_empty_ones_and_repeats_dropped() {
        let cfg = KbConfig::default();
        let ok = check_synonyms(
            &cfg,
            &groups(&[
                &[" 退货 ", "", "退款", "退款"],
                &["", "  "],
                &[],
                &["Refund", "refund", "money back"],
            ]),
        )
        .unwrap();
        assert_eq!(ok, groups(&[&["退货", "退款"], &["Refund", "money back"]]));
    }

    #[test]
    fn each_limit_and_rule_has_its_code_and_names_the_group() {
        let cfg = KbConfig {
            max_synonym_groups: 2,
            max_synonym_terms: 3,
            max_synonym_chars: 4,
            ..KbConfig::default()
        };
        let (c, m, d) = code(check_synonyms(
            &cfg,
            &groups(&[&["退货", "退款"], &["发票", "  发票 "]]),
        ));
        assert_eq!(c, "synonym_group_too_small");
        assert!(m.starts_with("Group 2 (\"发票\")"), "{m}");
        assert_eq!(d["index"], 1);
        let (c, m, _) = code(check_synonyms(
            &cfg,
            &groups(&[&["pen", "ink", "cap", "box"]]),
        ));
        assert_eq!(c, "synonym_group_too_large");
        assert!(m.contains("at most 3"), "{m}");
        let (c, _, d) = code(check_synonyms(&cfg, &groups(&[&["快递", "快递公司名"]])));
        assert_eq!((c, d["limit"].clone()), ("synonym_term_too_long", json!(4)));
        let (c, _, _) = code(check_synonyms(&cfg, &groups(&[&["a/b", "cap"]])));
        assert_eq!(c, "synonym_term_invalid");
        let (c, _, _) = code(check_synonyms(&cfg, &groups(&[&["a\nb", "cap"]])));
        assert_eq!(c, "synonym_term_invalid");
        let (c, _, d) = code(check_synonyms(
            &cfg,
            &groups(&[&["pen", "ink"], &["cap", "box"], &["cup", "mug"]]),
        ));
        assert_eq!(
            (c, d["count"].clone()),
            ("synonym_groups_too_many", json!(3))
        );
        // Empty groups do not count towards the limit.
        assert!(check_synonyms(&cfg, &groups(&[&["pen", "ink"], &[], &["cap", "box"]])).is_ok());
    }
}
