//! Contacts (the people behind visitors), and the conversation signals that
//! are not messages: read positions, unread counts and typing.

use crate::chat::Visitor;
use crate::error::{ServiceError, ServiceResult};
use crate::validate::Checks;
use crate::{Access, Services};
use kefu_domain::bus::{About, Event, Participant};
use kefu_domain::chat::{Contact, ContactFilter, ContactPatch, Conversation, Erased, Message};
use kefu_domain::{Action, ContactId, ConversationId};
use std::collections::HashMap;

/// Most custom attributes on one contact, and their sizes.
const MAX_ATTRIBUTES: usize = 50;
const MAX_ATTRIBUTE_KEY: usize = 64;
const MAX_ATTRIBUTE_TEXT: usize = 1000;

/// A page of the contact list, as asked for.
#[derive(Debug, Clone, Default)]
pub struct ContactQuery {
    pub q: Option<String>,
    /// `key:value`.
    pub attribute: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

pub(crate) fn attribute_key_ok(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= MAX_ATTRIBUTE_KEY
        && k.chars()
            .all(|ch| ch.is_alphanumeric() || "_-.".contains(ch))
}

fn about(c: &Conversation) -> About {
    About {
        workspace_id: c.workspace_id,
        conversation_id: c.id,
        contact_id: c.contact_id,
        assignee: c.assignee_id,
        team: c.team_id,
    }
}

impl Services {
    pub async fn contact(&self, access: &Access, id: ContactId) -> ServiceResult<Contact> {
        access.require(Action::ViewConversations)?;
        Ok(self.store.get_contact(access.workspace_id, id).await?)
    }

    /// Edits name, e-mail, phone and attributes (merged; `null` removes).
    pub async fn update_contact(
        &self,
        access: &Access,
        id: ContactId,
        patch: ContactPatch,
    ) -> ServiceResult<Contact> {
        access.require(Action::EditContacts)?;
        let patch = checked_patch(patch)?;
        // Merged with what is stored, the attributes must stay within the
        // limit: checked before anything is written.
        let now = self.clock.now();
        let current = self.store.get_contact(access.workspace_id, id).await?;
        if current.merged_into.is_some() {
            return Err(ServiceError::Conflict("contact_merged"));
        }
        if current.patched(&patch, now).attributes.len() > MAX_ATTRIBUTES {
            return Err(ServiceError::invalid("attributes", "too_many"));
        }
        Ok(self
            .store
            .update_contact(access.workspace_id, id, &patch, now)
            .await?)
    }

    /// The workspace's contacts, newest first, a page at a time; `q`
    /// matches a substring of the name, e-mail, phone or external id, and
    /// `attribute` (`key:value`) an attribute's value.
    pub async fn list_contacts(
        &self,
        access: &Access,
        q: ContactQuery,
    ) -> ServiceResult<(Vec<Contact>, Option<String>)> {
        access.require(Action::ViewConversations)?;
        let mut c = Checks::new();
        let query =
            q.q.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| c.text("q", t, 200));
        let attribute = match q.attribute.as_deref().filter(|a| !a.is_empty()) {
            Some(raw) => match raw.split_once(':') {
                Some((k, v)) if attribute_key_ok(k) && v.chars().count() <= MAX_ATTRIBUTE_TEXT => {
                    Some((k.to_string(), v.to_string()))
                }
                _ => {
                    c.fail("attribute", "invalid");
                    None
                }
            },
            None => None,
        };
        let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(raw) => {
                let parsed = crate::chat::parse_keyset_cursor::<ContactId>(raw);
                if parsed.is_none() {
                    c.fail("cursor", "invalid");
                }
                parsed
            }
            None => None,
        };
        c.finish()?;
        let limit = q
            .limit
            .unwrap_or(crate::chat::DEFAULT_PAGE)
            .clamp(1, crate::chat::MAX_PAGE);
        let mut items = self
            .store
            .list_contacts(
                access.workspace_id,
                &ContactFilter {
                    query,
                    attribute,
                    before,
                    limit: limit + 1,
                },
            )
            .await?;
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items
                .last()
                .map(|c| crate::chat::keyset_cursor(c.created_at, c.id))
        } else {
            None
        };
        Ok((items, next))
    }

    /// Merges `from` into `into` (owner, admin, supervisor): `from`'s
    /// conversations move over and `into` keeps its own details, filled in
    /// from `from`'s where it has none. Recorded in the audit log.
    pub async fn merge_contacts(
        &self,
        access: &Access,
        into: ContactId,
        from: ContactId,
    ) -> ServiceResult<Contact> {
        access.require(Action::MergeContacts)?;
        if into == from {
            return Err(ServiceError::invalid("from_contact_id", "same_contact"));
        }
        let now = self.clock.now();
        let audit = access.audit(
            "contact.merged",
            Some(("contact", into.to_string())),
            serde_json::json!({ "from_contact_id": from.to_string() }),
            now,
        );
        let merged = self
            .store
            .merge_contacts(access.workspace_id, into, from, now, audit)
            .await?;
        // The merged contact's open widget sockets close (4001): a new
        // session finds the survivor, with the conversations that moved.
        self.access_changed(kefu_domain::bus::AccessChange::Contact { contact_id: from });
        Ok(merged)
    }

    /// Erases the contact's personal data and the bodies of their messages
    /// (owners and admins; the right to erasure). The audit log records who
    /// erased which contact and how much, never what.
    pub async fn erase_contact(&self, access: &Access, id: ContactId) -> ServiceResult<Erased> {
        access.require(Action::EraseContacts)?;
        let now = self.clock.now();
        let audit = access.audit(
            "contact.erased",
            Some(("contact", id.to_string())),
            serde_json::json!({}),
            now,
        );
        let erased = self
            .store
            .erase_contact(access.workspace_id, id, now, audit)
            .await?;
        self.delete_files(access.workspace_id, &erased.files).await;
        Ok(erased)
    }

    /// The contact's past and current conversations the member may see.
    pub async fn contact_conversations(
        &self,
        access: &Access,
        id: ContactId,
    ) -> ServiceResult<Vec<Conversation>> {
        access.require(Action::ViewConversations)?;
        self.store.get_contact(access.workspace_id, id).await?;
        let me = access.ctx.principal.user_id();
        let teams = self.store.member_teams(access.workspace_id, me).await?;
        let all = self
            .store
            .contact_history(access.workspace_id, id, crate::chat::MAX_PAGE)
            .await?;
        Ok(all
            .into_iter()
            .filter(|c| {
                access
                    .role
                    .sees_conversation(me, c.assignee_id, c.team_id, &teams)
            })
            .collect())
    }

    /// What a list of conversations shows besides themselves: each one's
    /// contact and newest message (two queries for the page).
    pub async fn conversation_previews(
        &self,
        access: &Access,
        conversations: &[Conversation],
    ) -> ServiceResult<(
        HashMap<ContactId, Contact>,
        HashMap<ConversationId, Message>,
    )> {
        access.require(Action::ViewConversations)?;
        let ws = access.workspace_id;
        let mut contact_ids: Vec<ContactId> = conversations.iter().map(|c| c.contact_id).collect();
        contact_ids.sort_by_key(|c| c.0);
        contact_ids.dedup();
        let ids: Vec<ConversationId> = conversations.iter().map(|c| c.id).collect();
        let contacts = self.store.contacts_by_ids(ws, &contact_ids).await?;
        let last = self.store.last_messages(ws, &ids).await?;
        Ok((
            contacts.into_iter().map(|c| (c.id, c)).collect(),
            last.into_iter().map(|m| (m.conversation_id, m)).collect(),
        ))
    }

    /// The member's unread counts for these conversations.
    pub async fn unread_for_member(
        &self,
        access: &Access,
        conversations: &[ConversationId],
    ) -> ServiceResult<HashMap<ConversationId, i64>> {
        Ok(self
            .store
            .unread_counts(
                access.workspace_id,
                access.ctx.principal.user_id().0,
                conversations,
                true,
            )
            .await?)
    }

    pub async fn unread_for_visitor(
        &self,
        v: &Visitor,
        conversations: &[ConversationId],
    ) -> ServiceResult<HashMap<ConversationId, i64>> {
        Ok(self
            .store
            .unread_counts(v.workspace_id, v.contact_id.0, conversations, false)
            .await?)
    }

    /// A member has read up to `seq`; the others in the conversation hear of
    /// it. Returns the stored position.
    pub async fn member_read(
        &self,
        access: &Access,
        id: ConversationId,
        seq: i64,
    ) -> ServiceResult<i64> {
        let c = self.conversation(access, id).await?;
        let me = access.ctx.principal.user_id();
        let stored = self
            .store
            .mark_read(access.workspace_id, id, me.0, seq, self.clock.now())
            .await?;
        self.announce(Event::Read {
            about: about(&c),
            who: Participant::Agent(me),
            seq: stored,
        });
        Ok(stored)
    }

    pub async fn visitor_read(
        &self,
        v: &Visitor,
        id: ConversationId,
        seq: i64,
    ) -> ServiceResult<i64> {
        let c = self.visitor_conversation(v, id).await?;
        let stored = self
            .store
            .mark_read(v.workspace_id, id, v.contact_id.0, seq, self.clock.now())
            .await?;
        self.announce(Event::Read {
            about: about(&c),
            who: Participant::Visitor(v.contact_id),
            seq: stored,
        });
        Ok(stored)
    }

    /// Typing is relayed, never stored. A member typing a private note
    /// (`private`) is not shown to the visitor.
    pub async fn member_typing(
        &self,
        access: &Access,
        id: ConversationId,
        on: bool,
        private: bool,
    ) -> ServiceResult<()> {
        access.require(Action::SendMessages)?;
        let c = self.conversation(access, id).await?;
        self.announce(Event::Typing {
            about: about(&c),
            who: Participant::Agent(access.ctx.principal.user_id()),
            on,
            private,
        });
        Ok(())
    }

    /// A member has the conversation open in the console, or left it (the
    /// colleagues' "also viewing" cue). Relayed, never stored.
    pub async fn member_viewing(
        &self,
        access: &Access,
        id: ConversationId,
        on: bool,
    ) -> ServiceResult<()> {
        access.require(Action::ViewConversations)?;
        let c = self.conversation(access, id).await?;
        self.announce(Event::Viewing {
            about: about(&c),
            who: access.ctx.principal.user_id(),
            on,
        });
        Ok(())
    }

    pub async fn visitor_typing(
        &self,
        v: &Visitor,
        id: ConversationId,
        on: bool,
    ) -> ServiceResult<()> {
        let c = self.visitor_conversation(v, id).await?;
        self.announce(Event::Typing {
            about: about(&c),
            who: Participant::Visitor(v.contact_id),
            on,
            private: false,
        });
        Ok(())
    }

    /// The visitor's place in the queue for one of their conversations.
    pub async fn visitor_queue(
        &self,
        v: &Visitor,
        id: ConversationId,
    ) -> ServiceResult<Option<crate::routing::QueueInfo>> {
        self.visitor_conversation(v, id).await?;
        self.queue_info(v.workspace_id, id).await
    }
}

/// The patch with its texts trimmed-empty → cleared, validated.
pub(crate) fn checked_patch(patch: ContactPatch) -> ServiceResult<ContactPatch> {
    let mut c = Checks::new();
    let text = |c: &mut Checks, field: &str, v: &Option<Option<String>>, max: usize| match v {
        Some(Some(s)) if s.trim().is_empty() => Some(None),
        Some(Some(s)) => Some(Some(c.text(field, s, max))),
        other => other.clone(),
    };
    let name = text(&mut c, "name", &patch.name, 200);
    let email = text(&mut c, "email", &patch.email, 254);
    if let Some(Some(e)) = &email {
        let (local, domain) = e.split_once('@').unwrap_or(("", ""));
        if local.is_empty() || !domain.contains('.') || e.chars().any(char::is_whitespace) {
            c.fail("email", "invalid");
        }
    }
    let phone = text(&mut c, "phone", &patch.phone, 40);
    if let Some(Some(p)) = &phone {
        let digits = p.chars().filter(char::is_ascii_digit).count();
        if digits < 3
            || !p
                .chars()
                .all(|ch| ch.is_ascii_digit() || " +-().".contains(ch))
        {
            c.fail("phone", "invalid");
        }
    }
    if let Some(attrs) = &patch.attributes {
        if attrs.len() > MAX_ATTRIBUTES {
            c.fail("attributes", "too_many");
        }
        for (k, v) in attrs {
            let key_ok = attribute_key_ok(k);
            let value_ok = match v {
                serde_json::Value::String(s) => s.chars().count() <= MAX_ATTRIBUTE_TEXT,
                serde_json::Value::Number(_)
                | serde_json::Value::Bool(_)
                | serde_json::Value::Null => true,
                _ => false,
            };
            if !key_ok {
                c.fail("attributes", "invalid_key");
            } else if !value_ok {
                c.fail("attributes", "invalid_value");
            }
        }
    }
    c.finish()?;
    Ok(ContactPatch {
        name,
        email,
        phone,
        attributes: patch.attributes,
    })
}

/// The contacts CSV's columns.
const CSV_HEADER: &str =
    "id,name,email,phone,external_id,attributes,created_at,updated_at,blocked_at,erased_at\r\n";

impl Services {
    /// Starts a CSV export of the contacts the query matches (owners and
    /// admins): audited once, here; then [`Services::contacts_csv_page`]
    /// gives the rows a page at a time.
    pub async fn begin_contacts_export(
        &self,
        access: &Access,
        q: &ContactQuery,
    ) -> ServiceResult<()> {
        access.require(Action::ExportContacts)?;
        let audit = access.audit(
            "contact.exported",
            None,
            serde_json::json!({ "q": q.q, "attribute": q.attribute }),
            self.clock.now(),
        );
        self.store.append_audit(audit).await?;
        Ok(())
    }

    /// One page of the export: the UTF-8 byte-order mark and the header
    /// first (without a cursor; spreadsheet programs then read Chinese
    /// right), then one RFC 4180 row per contact; the cursor of the next
    /// page, if any.
    pub async fn contacts_csv_page(
        &self,
        access: &Access,
        q: ContactQuery,
    ) -> ServiceResult<(String, Option<String>)> {
        access.require(Action::ExportContacts)?;
        let first = q.cursor.is_none();
        let (items, next) = self
            .list_contacts(
                access,
                ContactQuery {
                    limit: Some(crate::chat::MAX_PAGE),
                    ..q
                },
            )
            .await?;
        let mut out = String::new();
        if first {
            out.push('\u{feff}');
            out.push_str(CSV_HEADER);
        }
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.to_rfc3339()).unwrap_or_default()
        };
        for c in items {
            let attributes = if c.attributes.is_empty() {
                String::new()
            } else {
                serde_json::Value::Object(c.attributes).to_string()
            };
            let cells = [
                c.id.to_string(),
                c.name.unwrap_or_default(),
                c.email.unwrap_or_default(),
                c.phone.unwrap_or_default(),
                c.external_id.unwrap_or_default(),
                attributes,
                c.created_at.to_rfc3339(),
                c.updated_at.to_rfc3339(),
                time(c.blocked_at),
                time(c.erased_at),
            ];
            let row: Vec<String> = cells.iter().map(|v| csv_cell(v)).collect();
            out.push_str(&row.join(","));
            out.push_str("\r\n");
        }
        Ok((out, next))
    }
}

/// A CSV cell: quoted when it holds a comma, quote or line break; a text
/// a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) gets
/// a leading `'` (OWASP's CSV-injection advice).
fn csv_cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod csv_tests {
    use super::csv_cell;

    #[test]
    fn cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("王芳"), "王芳");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+86 138"), "'+86 138");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }
}
