//! Typed identifiers. Every id is a UUIDv7 (time-ordered, so primary-key
//! indexes stay append-mostly) wrapped in a newtype so that a `UserId` can
//! never be passed where a `WorkspaceId` is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

id_type!(
    /// A tenant: every workspace-scoped row carries one.
    WorkspaceId
);
id_type!(
    /// A person who signs in to the console (agent, supervisor, admin, owner).
    UserId
);
id_type!(
    /// A login session: the family of refresh tokens issued from one login.
    SessionId
);
id_type!(
    /// One refresh token in a session's rotation chain.
    RefreshTokenId
);
id_type!(
    /// A pending or accepted invitation to join a workspace.
    InvitationId
);
id_type!(
    /// A scoped API token for integrations.
    ApiTokenId
);
id_type!(
    /// One audit-log entry.
    AuditEntryId
);
id_type!(
    /// A channel through which visitors reach a workspace (a web widget).
    InboxId
);
id_type!(
    /// A visitor or customer, known or anonymous.
    ContactId
);
id_type!(
    /// One conversation: a gap-free, sequence-numbered log of messages.
    ConversationId
);
id_type!(
    /// One message in a conversation.
    MessageId
);
id_type!(
    /// A team of agents with its own queue.
    TeamId
);
id_type!(
    /// One entry in a conversation's assignment history.
    AssignmentId
);
id_type!(
    /// A knowledge-base article (stable across its versions).
    ArticleId
);
id_type!(
    /// One bot turn: the question, what was retrieved and what was decided.
    BotTurnId
);
id_type!(
    /// A canned response (a saved reply).
    CannedResponseId
);
id_type!(
    /// A file a visitor or an agent uploaded for a conversation.
    AttachmentId
);
id_type!(
    /// An address range a workspace refuses visitors from.
    BlockedRangeId
);
id_type!(
    /// An e-mail in the outbox.
    EmailId
);
