//! Response shapes shared by several resources.

use chrono::{DateTime, Utc};
use kefu_domain::model::{Member, User, WorkspaceMembership};
use kefu_domain::Role;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub totp_enabled: bool,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.0,
            email: u.email.clone(),
            name: u.name.clone(),
            totp_enabled: u.totp_enabled,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceRoleDto {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
}

impl From<&WorkspaceMembership> for WorkspaceRoleDto {
    fn from(m: &WorkspaceMembership) -> Self {
        Self {
            id: m.workspace.id.0,
            name: m.workspace.name.clone(),
            role: m.role,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDto {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// `active` (removed members are not listed).
    pub status: &'static str,
    pub joined_at: DateTime<Utc>,
}

impl From<Member> for MemberDto {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id.0,
            email: m.email,
            name: m.name,
            role: m.role,
            status: "active",
            joined_at: m.joined_at,
        }
    }
}
