//! The owner's export of their workspace: every contact, every conversation
//! followed by its messages (private notes included), and every live
//! knowledge-base article — or, for a table, the conversations alone with
//! the names around them.
//!
//! [`Services::export_workspace`] checks and audits the request and hands
//! back a [`WorkspaceExport`], a cursor over the store: each
//! [`WorkspaceExport::next_page`] is one or two keyset reads and returns a
//! page of records, so however large the workspace, one page is in memory
//! and nothing is read until the caller (the HTTP body, at the client's
//! pace) asks for more. It is not a snapshot: a record created while the
//! export runs may or may not be in it, and none appears twice.

use crate::error::ServiceResult;
use crate::{Access, Services};
use kefu_domain::chat::{Contact, Message};
use kefu_domain::kb::{Article, ArticleFilter};
use kefu_domain::store::{ExportedConversation, Store};
use kefu_domain::{
    Action, ArticleId, ContactId, ConversationId, InboxId, TeamId, UserId, WorkspaceId,
};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Contacts and articles per read.
const PAGE: i64 = 500;
/// Conversations per read.
const CONVERSATIONS_PAGE: i64 = 200;
/// Messages per read (a message holds at most `chat.max_message_chars`,
/// so this bounds a page's size).
const MESSAGES_PAGE: i64 = 250;
/// The conversations whose messages are read together: at most this many,
/// holding about [`BATCH_MESSAGES`] messages between them (a longer
/// conversation is read on its own, page by page).
const BATCH_CONVERSATIONS: usize = 100;
const BATCH_MESSAGES: i64 = 1000;

/// What is written: JSON Lines of every record, or a CSV table of the
/// conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    JsonLines,
    Csv,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::JsonLines => "jsonl",
            ExportFormat::Csv => "csv",
        }
    }
}

/// One record of the export, in the order written.
#[derive(Debug, Clone)]
pub enum ExportRecord {
    Contact(Box<Contact>),
    Conversation(Box<ExportedConversation>, Option<Box<RowNames>>),
    Message(Box<Message>),
    Article(Box<Article>),
}

/// What a table row shows around a conversation (CSV only): names instead
/// of ids.
#[derive(Debug, Clone, Default)]
pub struct RowNames {
    pub inbox: Option<String>,
    pub contact: Option<Contact>,
    pub assignee: Option<String>,
    pub team: Option<String>,
}

/// How many records of each kind were read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportCounts {
    pub contacts: u64,
    pub conversations: u64,
    pub messages: u64,
    pub articles: u64,
}

impl ExportCounts {
    pub fn total(&self) -> u64 {
        self.contacts + self.conversations + self.messages + self.articles
    }
}

enum Stage {
    Contacts(Option<ContactId>),
    Conversations,
    Articles(Option<ArticleId>),
    Done,
}

/// The conversations whose messages are being read, and how far.
struct Batch {
    conversations: VecDeque<ExportedConversation>,
    ids: Vec<ConversationId>,
    after: Option<(ConversationId, i64)>,
}

/// A cursor over one workspace's records; see the module's notes.
pub struct WorkspaceExport {
    store: Arc<dyn Store>,
    workspace: WorkspaceId,
    format: ExportFormat,
    stage: Stage,
    /// Conversations read and not yet written, and where reading goes on.
    pending: VecDeque<ExportedConversation>,
    conversations_after: Option<ConversationId>,
    conversations_read: bool,
    batch: Option<Batch>,
    names: Names,
    counts: ExportCounts,
}

impl Services {
    /// Starts an export of the caller's workspace: owners only (API tokens
    /// need `export:read`). The audit log records it (`workspace.exported`,
    /// with the format) before anything is read.
    pub async fn export_workspace(
        &self,
        access: &Access,
        format: ExportFormat,
    ) -> ServiceResult<WorkspaceExport> {
        access.require(Action::ExportWorkspace)?;
        let ws = access.workspace_id;
        let audit = access.audit(
            "workspace.exported",
            Some(("workspace", ws.to_string())),
            json!({ "format": format.as_str() }),
            self.clock.now(),
        );
        self.store.append_audit(audit).await?;
        let names = match format {
            ExportFormat::Csv => Names::load(&self.store, ws).await?,
            ExportFormat::JsonLines => Names::default(),
        };
        Ok(WorkspaceExport {
            store: self.store.clone(),
            workspace: ws,
            format,
            stage: match format {
                ExportFormat::JsonLines => Stage::Contacts(None),
                ExportFormat::Csv => Stage::Conversations,
            },
            pending: VecDeque::new(),
            conversations_after: None,
            conversations_read: false,
            batch: None,
            names,
            counts: ExportCounts::default(),
        })
    }
}

impl WorkspaceExport {
    pub fn format(&self) -> ExportFormat {
        self.format
    }

    /// The records read so far.
    pub fn counts(&self) -> ExportCounts {
        self.counts
    }

    /// The next page of records (never empty), or `None` once everything
    /// was returned.
    pub async fn next_page(&mut self) -> ServiceResult<Option<Vec<ExportRecord>>> {
        loop {
            let page = match self.stage {
                Stage::Contacts(after) => self.contacts(after).await?,
                Stage::Conversations => self.conversations().await?,
                Stage::Articles(after) => self.articles(after).await?,
                Stage::Done => return Ok(None),
            };
            if !page.is_empty() {
                return Ok(Some(page));
            }
        }
    }

    async fn contacts(&mut self, after: Option<ContactId>) -> ServiceResult<Vec<ExportRecord>> {
        let page = self
            .store
            .export_contacts(self.workspace, after, PAGE)
            .await?;
        self.stage = match page.last() {
            Some(last) if page.len() as i64 == PAGE => Stage::Contacts(Some(last.id)),
            _ => Stage::Conversations,
        };
        self.counts.contacts += page.len() as u64;
        Ok(page
            .into_iter()
            .map(|c| ExportRecord::Contact(Box::new(c)))
            .collect())
    }

    /// Conversations, each followed by its messages (for JSON Lines), or a
    /// page of table rows (for CSV).
    async fn conversations(&mut self) -> ServiceResult<Vec<ExportRecord>> {
        if self.batch.is_none() {
            if self.pending.is_empty() && !self.read_conversations().await? {
                self.stage = match self.format {
                    ExportFormat::JsonLines => Stage::Articles(None),
                    ExportFormat::Csv => Stage::Done,
                };
                return Ok(Vec::new());
            }
            if self.format == ExportFormat::Csv {
                let rows: Vec<_> = self.pending.drain(..).collect();
                return self.table_rows(rows).await;
            }
            self.batch = Some(self.next_batch());
        }
        let Some(batch) = self.batch.as_mut() else {
            return Ok(Vec::new());
        };
        let messages = match batch.ids.as_slice() {
            // A long conversation alone: a range of its (conversation, seq)
            // index from the cursor on.
            [only] => {
                let after = batch.after.map_or(0, |(_, seq)| seq);
                self.store
                    .messages_after(self.workspace, *only, after, MESSAGES_PAGE, true)
                    .await?
            }
            // Several short ones: their messages together (the batch bounds
            // what each read looks at).
            ids => {
                self.store
                    .export_messages(self.workspace, ids, batch.after, MESSAGES_PAGE)
                    .await?
            }
        };
        let complete = (messages.len() as i64) < MESSAGES_PAGE;
        let mut out = Vec::with_capacity(messages.len() + batch.conversations.len());
        for m in messages {
            // Each conversation goes out before its first message: both are
            // in id order.
            while batch
                .conversations
                .front()
                .is_some_and(|c| c.conversation.id <= m.conversation_id)
            {
                let c = batch.conversations.pop_front().expect("front exists");
                out.push(ExportRecord::Conversation(Box::new(c), None));
            }
            batch.after = Some((m.conversation_id, m.seq));
            out.push(ExportRecord::Message(Box::new(m)));
        }
        if complete {
            // The rest have no (more) messages.
            out.extend(
                batch
                    .conversations
                    .drain(..)
                    .map(|c| ExportRecord::Conversation(Box::new(c), None)),
            );
            self.batch = None;
        }
        for r in &out {
            match r {
                ExportRecord::Conversation(..) => self.counts.conversations += 1,
                ExportRecord::Message(_) => self.counts.messages += 1,
                _ => {}
            }
        }
        Ok(out)
    }

    /// Reads the next page of conversations into `pending`; false when
    /// there are no more.
    async fn read_conversations(&mut self) -> ServiceResult<bool> {
        if self.conversations_read {
            return Ok(false);
        }
        let page = self
            .store
            .export_conversations(self.workspace, self.conversations_after, CONVERSATIONS_PAGE)
            .await?;
        self.conversations_read = (page.len() as i64) < CONVERSATIONS_PAGE;
        self.conversations_after = page.last().map(|c| c.conversation.id);
        let any = !page.is_empty();
        self.pending.extend(page);
        Ok(any)
    }

    /// Takes the next conversations from `pending` whose messages are read
    /// together: at least one, then while they stay within the batch's
    /// bounds (`last_seq` is a conversation's message count).
    fn next_batch(&mut self) -> Batch {
        let mut conversations = VecDeque::new();
        let mut messages = 0;
        while let Some(next) = self.pending.front() {
            let n = next.conversation.last_seq;
            if !conversations.is_empty()
                && (conversations.len() >= BATCH_CONVERSATIONS || messages + n > BATCH_MESSAGES)
            {
                break;
            }
            messages += n;
            conversations.push_back(self.pending.pop_front().expect("front exists"));
        }
        Batch {
            ids: conversations.iter().map(|c| c.conversation.id).collect(),
            conversations,
            after: None,
        }
    }

    async fn table_rows(
        &mut self,
        rows: Vec<ExportedConversation>,
    ) -> ServiceResult<Vec<ExportRecord>> {
        let mut contact_ids: Vec<ContactId> =
            rows.iter().map(|c| c.conversation.contact_id).collect();
        contact_ids.sort();
        contact_ids.dedup();
        let contacts: HashMap<ContactId, Contact> = self
            .store
            .contacts_by_ids(self.workspace, &contact_ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for c in rows {
            let conv = &c.conversation;
            let names = RowNames {
                inbox: self.names.inboxes.get(&conv.inbox_id).cloned(),
                contact: contacts.get(&conv.contact_id).cloned(),
                assignee: match conv.assignee_id {
                    Some(u) => self.names.user(&self.store, u).await?,
                    None => None,
                },
                team: conv.team_id.and_then(|t| self.names.teams.get(&t).cloned()),
            };
            out.push(ExportRecord::Conversation(
                Box::new(c),
                Some(Box::new(names)),
            ));
        }
        self.counts.conversations += out.len() as u64;
        Ok(out)
    }

    async fn articles(&mut self, after: Option<ArticleId>) -> ServiceResult<Vec<ExportRecord>> {
        let filter = ArticleFilter {
            status: None,
            after,
            limit: PAGE,
        };
        let page = self.store.list_articles(self.workspace, &filter).await?;
        self.stage = match page.last() {
            Some(last) if page.len() as i64 == PAGE => Stage::Articles(Some(last.id)),
            _ => Stage::Done,
        };
        self.counts.articles += page.len() as u64;
        Ok(page
            .into_iter()
            .map(|a| ExportRecord::Article(Box::new(a)))
            .collect())
    }
}

/// The workspace's inbox, team and people names (a few rows each), read
/// once for a table; a former member's name is looked up when first met.
#[derive(Default)]
struct Names {
    inboxes: HashMap<InboxId, String>,
    teams: HashMap<TeamId, String>,
    users: HashMap<UserId, Option<String>>,
}

impl Names {
    async fn load(store: &Arc<dyn Store>, ws: WorkspaceId) -> ServiceResult<Self> {
        Ok(Names {
            inboxes: store
                .list_inboxes(ws)
                .await?
                .into_iter()
                .map(|i| (i.id, i.name))
                .collect(),
            teams: store
                .list_teams(ws)
                .await?
                .into_iter()
                .map(|t| (t.id, t.name))
                .collect(),
            users: store
                .list_members(ws)
                .await?
                .into_iter()
                .map(|m| (m.user_id, Some(m.name)))
                .collect(),
        })
    }

    async fn user(&mut self, store: &Arc<dyn Store>, id: UserId) -> ServiceResult<Option<String>> {
        if let Some(name) = self.users.get(&id) {
            return Ok(name.clone());
        }
        let name = match store.get_user(id).await {
            Ok(u) => Some(u.name),
            Err(kefu_domain::StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        self.users.insert(id, name.clone());
        Ok(name)
    }
}
