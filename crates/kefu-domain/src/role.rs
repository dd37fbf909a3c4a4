//! Roles, actions and the one permission table that decides who may do what.
//!
//! Handlers never compare roles themselves: they name an [`Action`] and ask
//! [`Role::allows`]. API tokens additionally carry [`Scope`]s; a token may do
//! an action only if it holds the action's scope *and* its creator's current
//! role allows the action, so a token can never outrank the person behind it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A member's role in one workspace, from most to least privileged.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Supervisor,
    Agent,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Supervisor, Role::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
        }
    }

    /// The permission table. Each action lists the roles allowed to do it.
    pub fn allows(self, action: Action) -> bool {
        use Role::*;
        let allowed: &[Role] = match action {
            Action::ViewWorkspace => &[Owner, Admin, Supervisor, Agent],
            Action::UpdateWorkspaceSettings => &[Owner, Admin],
            Action::ViewMembers => &[Owner, Admin, Supervisor, Agent],
            Action::InviteMembers => &[Owner, Admin],
            Action::ChangeMemberRoles => &[Owner, Admin],
            Action::RemoveMembers => &[Owner, Admin],
            Action::ManageApiTokens => &[Owner, Admin],
            Action::ViewAuditLog => &[Owner, Admin],
            Action::ViewInboxes => &[Owner, Admin, Supervisor, Agent],
            Action::ManageInboxes => &[Owner, Admin],
            Action::ViewConversations => &[Owner, Admin, Supervisor, Agent],
            Action::SendMessages => &[Owner, Admin, Supervisor, Agent],
            Action::ManageTeams => &[Owner, Admin],
            Action::AssignOthers => &[Owner, Admin, Supervisor],
            Action::EditContacts => &[Owner, Admin, Supervisor, Agent],
            Action::MergeContacts => &[Owner, Admin, Supervisor],
            Action::EraseContacts => &[Owner, Admin],
            Action::BlockVisitors => &[Owner, Admin, Supervisor],
            Action::ExportContacts => &[Owner, Admin],
            Action::ViewKnowledge => &[Owner, Admin, Supervisor, Agent],
            Action::ManageKnowledge => &[Owner, Admin, Supervisor],
            Action::ViewAnalytics => &[Owner, Admin, Supervisor],
            Action::ManageCannedResponses => &[Owner, Admin, Supervisor],
            Action::ExportWorkspace => &[Owner],
        };
        allowed.contains(&self)
    }

    /// Whether a member with this role may give `target` to someone, or act on
    /// someone who holds `target`: only owners touch owners.
    pub fn may_manage(self, target: Role) -> bool {
        match target {
            Role::Owner => self == Role::Owner,
            _ => matches!(self, Role::Owner | Role::Admin),
        }
    }

    /// Roles whose members the workspace can require to use a second factor.
    pub fn is_admin_level(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Whether a member with this role sees a conversation assigned to
    /// `assignee` (`None`: unassigned) in `team`'s queue (`None`: the
    /// workspace's general queue): supervisors and above see all; agents see
    /// their own, and unassigned ones in the general queue or in one of
    /// `my_teams`.
    pub fn sees_conversation(
        self,
        me: crate::UserId,
        assignee: Option<crate::UserId>,
        team: Option<crate::TeamId>,
        my_teams: &[crate::TeamId],
    ) -> bool {
        match (self, assignee) {
            (Role::Agent, Some(a)) => a == me,
            (Role::Agent, None) => team.is_none_or(|t| my_teams.contains(&t)),
            _ => true,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownName)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown name")]
pub struct UnknownName;

/// Something a caller wants to do inside a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ViewWorkspace,
    UpdateWorkspaceSettings,
    ViewMembers,
    InviteMembers,
    ChangeMemberRoles,
    RemoveMembers,
    ManageApiTokens,
    ViewAuditLog,
    ViewInboxes,
    ManageInboxes,
    /// Read a conversation the member may see (agents: their own and
    /// unassigned ones; supervisors and above: all).
    ViewConversations,
    SendMessages,
    /// Create teams and choose their members.
    ManageTeams,
    /// Assign, transfer or take over a conversation for someone else.
    AssignOthers,
    /// Edit a contact's name, e-mail, phone and attributes.
    EditContacts,
    /// Merge two contacts (the second's conversations move to the first).
    MergeContacts,
    /// Erase a contact's personal data and message bodies (the right to
    /// erasure): irreversible, so admins and owners only.
    EraseContacts,
    /// Block a contact or an address range (their widget is refused).
    BlockVisitors,
    /// Download the contacts as CSV (personal data in bulk).
    ExportContacts,
    /// Read and search the knowledge base, ask the bot, see suggestions.
    ViewKnowledge,
    /// Write, import, publish and evaluate knowledge-base articles.
    ManageKnowledge,
    /// Read the workspace's analytics (volumes, response times, CSAT).
    ViewAnalytics,
    /// Write the workspace's canned responses (everyone may use them).
    ManageCannedResponses,
    /// Download everything the workspace holds (contacts, conversations,
    /// messages with private notes, articles) in one file. Owners only:
    /// admins and supervisors read conversations one by one, but a bulk
    /// copy of every visitor's personal data is the data owner's call.
    ExportWorkspace,
}

impl Action {
    pub const ALL: [Action; 24] = [
        Action::ViewWorkspace,
        Action::UpdateWorkspaceSettings,
        Action::ViewMembers,
        Action::InviteMembers,
        Action::ChangeMemberRoles,
        Action::RemoveMembers,
        Action::ManageApiTokens,
        Action::ViewAuditLog,
        Action::ViewInboxes,
        Action::ManageInboxes,
        Action::ViewConversations,
        Action::SendMessages,
        Action::ManageTeams,
        Action::AssignOthers,
        Action::EditContacts,
        Action::MergeContacts,
        Action::EraseContacts,
        Action::BlockVisitors,
        Action::ExportContacts,
        Action::ViewKnowledge,
        Action::ManageKnowledge,
        Action::ViewAnalytics,
        Action::ManageCannedResponses,
        Action::ExportWorkspace,
    ];

    /// The API-token scope an action needs.
    pub fn scope(self) -> Scope {
        match self {
            Action::ViewWorkspace | Action::ViewMembers | Action::ViewInboxes => {
                Scope::WorkspaceRead
            }
            Action::ManageInboxes
            | Action::ManageTeams
            | Action::UpdateWorkspaceSettings
            | Action::InviteMembers
            | Action::ChangeMemberRoles
            | Action::RemoveMembers => Scope::WorkspaceAdmin,
            Action::ManageApiTokens => Scope::TokensManage,
            Action::ViewAuditLog => Scope::AuditRead,
            Action::ViewConversations => Scope::ConversationsRead,
            Action::SendMessages
            | Action::AssignOthers
            | Action::EditContacts
            | Action::MergeContacts
            | Action::BlockVisitors
            | Action::ManageCannedResponses => Scope::ConversationsWrite,
            Action::ViewAnalytics => Scope::AnalyticsRead,
            Action::ViewKnowledge => Scope::KbRead,
            Action::ManageKnowledge => Scope::KbWrite,
            Action::ExportWorkspace | Action::ExportContacts => Scope::ExportRead,
            Action::EraseContacts => Scope::WorkspaceAdmin,
        }
    }
}

/// What an API token is allowed to touch.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    #[serde(rename = "workspace:read")]
    WorkspaceRead,
    #[serde(rename = "workspace:admin")]
    WorkspaceAdmin,
    #[serde(rename = "tokens:manage")]
    TokensManage,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "conversations:read")]
    ConversationsRead,
    #[serde(rename = "conversations:write")]
    ConversationsWrite,
    #[serde(rename = "kb:read")]
    KbRead,
    #[serde(rename = "kb:write")]
    KbWrite,
    #[serde(rename = "analytics:read")]
    AnalyticsRead,
    #[serde(rename = "export:read")]
    ExportRead,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::WorkspaceRead,
        Scope::WorkspaceAdmin,
        Scope::TokensManage,
        Scope::AuditRead,
        Scope::ConversationsRead,
        Scope::ConversationsWrite,
        Scope::KbRead,
        Scope::KbWrite,
        Scope::AnalyticsRead,
        Scope::ExportRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::WorkspaceRead => "workspace:read",
            Scope::WorkspaceAdmin => "workspace:admin",
            Scope::TokensManage => "tokens:manage",
            Scope::AuditRead => "audit:read",
            Scope::ConversationsRead => "conversations:read",
            Scope::ConversationsWrite => "conversations:write",
            Scope::KbRead => "kb:read",
            Scope::KbWrite => "kb:write",
            Scope::AnalyticsRead => "analytics:read",
            Scope::ExportRead => "export:read",
        }
    }
}

impl FromStr for Scope {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full table, written out as the product documents it, so a change
    /// to `allows` must be made here as well, on purpose.
    #[test]
    fn permission_table_matches_documentation() {
        use Action::*;
        #[rustfmt::skip]
        let expected: &[(Action, [bool; 4])] = &[
            //                          owner  admin  super  agent
            (ViewWorkspace,           [true,  true,  true,  true ]),
            (UpdateWorkspaceSettings, [true,  true,  false, false]),
            (ViewMembers,             [true,  true,  true,  true ]),
            (InviteMembers,           [true,  true,  false, false]),
            (ChangeMemberRoles,       [true,  true,  false, false]),
            (RemoveMembers,           [true,  true,  false, false]),
            (ManageApiTokens,         [true,  true,  false, false]),
            (ViewAuditLog,            [true,  true,  false, false]),
            (ViewInboxes,             [true,  true,  true,  true ]),
            (ManageInboxes,           [true,  true,  false, false]),
            (ViewConversations,       [true,  true,  true,  true ]),
            (SendMessages,            [true,  true,  true,  true ]),
            (ManageTeams,             [true,  true,  false, false]),
            (AssignOthers,            [true,  true,  true,  false]),
            (EditContacts,            [true,  true,  true,  true ]),
            (MergeContacts,           [true,  true,  true,  false]),
            (EraseContacts,           [true,  true,  false, false]),
            (BlockVisitors,           [true,  true,  true,  false]),
            (ExportContacts,          [true,  true,  false, false]),
            (ViewKnowledge,           [true,  true,  true,  true ]),
            (ManageKnowledge,         [true,  true,  true,  false]),
            (ViewAnalytics,           [true,  true,  true,  false]),
            (ManageCannedResponses,   [true,  true,  true,  false]),
            (ExportWorkspace,         [true,  false, false, false]),
        ];
        assert_eq!(
            expected.len(),
            Action::ALL.len(),
            "every action is in the table"
        );
        for (action, row) in expected {
            for (role, want) in Role::ALL.iter().zip(row) {
                assert_eq!(role.allows(*action), *want, "{role} × {action:?}");
            }
        }
    }

    #[test]
    fn agents_see_their_own_and_unassigned_conversations() {
        let (me, other) = (crate::UserId::new(), crate::UserId::new());
        let (mine, theirs) = (crate::TeamId::new(), crate::TeamId::new());
        let teams = [mine];
        assert!(Role::Agent.sees_conversation(me, None, None, &teams));
        assert!(Role::Agent.sees_conversation(me, None, Some(mine), &teams));
        assert!(!Role::Agent.sees_conversation(me, None, Some(theirs), &teams));
        assert!(Role::Agent.sees_conversation(me, Some(me), Some(theirs), &teams));
        assert!(!Role::Agent.sees_conversation(me, Some(other), None, &teams));
        for r in [Role::Owner, Role::Admin, Role::Supervisor] {
            assert!(r.sees_conversation(me, Some(other), Some(theirs), &[]));
        }
    }

    #[test]
    fn only_owners_manage_owners() {
        assert!(Role::Owner.may_manage(Role::Owner));
        assert!(!Role::Admin.may_manage(Role::Owner));
        assert!(Role::Admin.may_manage(Role::Admin));
        assert!(!Role::Supervisor.may_manage(Role::Agent));
        assert!(!Role::Agent.may_manage(Role::Agent));
    }

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("root".parse::<Role>().is_err());
    }
}
