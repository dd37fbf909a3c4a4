//! Routing use cases (DESIGN.md §5): teams, agent presence, the queue's
//! automatic assignment, and manual assignment, transfer and take-over —
//! all through one transition path that records why.

use crate::error::{ServiceError, ServiceResult};
use crate::validate::Checks;
use crate::{Access, Services};
use kefu_domain::bus::AccessChange;
use kefu_domain::bus::Event;
use kefu_domain::chat::{Conversation, ConversationStatus, Transition};
use kefu_domain::routing::*;
use kefu_domain::{Action, ConversationId, Role, StoreError, TeamId, UserId, WorkspaceId};
use serde_json::json;

/// Most waiting conversations one routing pass considers.
const ROUTE_BATCH: i64 = 200;

/// Where a conversation should go: to a member, or into a team's queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssignTarget {
    pub assignee: Option<UserId>,
    pub team: Option<TeamId>,
    /// Apply only if the current assignee is this (`Some(None)`: still
    /// unassigned); else 409 `assignment_conflict`.
    pub expect_assignee: Option<Option<UserId>>,
}

/// A visitor's view of their place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueInfo {
    pub position: i64,
    /// `None` when there is no recent assignment to estimate from.
    pub estimated_wait_secs: Option<i64>,
}

fn not_a_member(e: StoreError) -> ServiceError {
    match e {
        StoreError::Rule("not_a_member") => ServiceError::invalid("member_ids", "not_a_member"),
        other => other.into(),
    }
}

impl Services {
    fn team_input(&self, name: &str, members: &[UserId]) -> ServiceResult<(String, Vec<UserId>)> {
        let mut c = Checks::new();
        let name = c.text("name", name, 100);
        if members.len() > 500 {
            c.fail("member_ids", "too_many");
        }
        c.finish()?;
        let mut ids = members.to_vec();
        ids.sort();
        ids.dedup();
        Ok((name, ids))
    }

    pub async fn create_team(
        &self,
        access: &Access,
        name: &str,
        members: &[UserId],
    ) -> ServiceResult<Team> {
        access.require(Action::ManageTeams)?;
        let (name, members) = self.team_input(name, members)?;
        let now = self.clock.now();
        let team = Team {
            id: TeamId::new(),
            workspace_id: access.workspace_id,
            name,
            members,
            created_at: now,
        };
        let audit = access.audit(
            "team.created",
            Some(("team", team.id.to_string())),
            json!({ "name": team.name, "members": team.members }),
            now,
        );
        self.store
            .create_team(&team, audit)
            .await
            .map_err(not_a_member)?;
        self.access_changed(AccessChange::Workspace {
            workspace_id: access.workspace_id,
        });
        Ok(team)
    }

    pub async fn teams(&self, access: &Access) -> ServiceResult<Vec<Team>> {
        access.require(Action::ViewMembers)?;
        Ok(self.store.list_teams(access.workspace_id).await?)
    }

    pub async fn team(&self, access: &Access, id: TeamId) -> ServiceResult<Team> {
        access.require(Action::ViewMembers)?;
        Ok(self.store.get_team(access.workspace_id, id).await?)
    }

    /// Renames and/or replaces the members; new members may take the
    /// team's queue at once.
    pub async fn update_team(
        &self,
        access: &Access,
        id: TeamId,
        name: Option<&str>,
        members: Option<&[UserId]>,
    ) -> ServiceResult<Team> {
        access.require(Action::ManageTeams)?;
        let current = self.store.get_team(access.workspace_id, id).await?;
        let (name, members) = self.team_input(
            name.unwrap_or(&current.name),
            members.unwrap_or(&current.members),
        )?;
        let team = Team {
            name,
            members,
            ..current
        };
        let audit = access.audit(
            "team.updated",
            Some(("team", team.id.to_string())),
            json!({ "name": team.name, "members": team.members }),
            self.clock.now(),
        );
        self.store
            .update_team(&team, audit)
            .await
            .map_err(not_a_member)?;
        self.access_changed(AccessChange::Workspace {
            workspace_id: access.workspace_id,
        });
        self.route(access.workspace_id).await;
        Ok(team)
    }

    /// Its waiting conversations move to the general queue.
    pub async fn delete_team(&self, access: &Access, id: TeamId) -> ServiceResult<()> {
        access.require(Action::ManageTeams)?;
        let team = self.store.get_team(access.workspace_id, id).await?;
        let audit = access.audit(
            "team.deleted",
            Some(("team", team.id.to_string())),
            json!({ "name": team.name }),
            self.clock.now(),
        );
        self.store
            .delete_team(access.workspace_id, id, audit)
            .await?;
        self.access_changed(AccessChange::Workspace {
            workspace_id: access.workspace_id,
        });
        self.route(access.workspace_id).await;
        Ok(())
    }

    /// Every member's status, capacity, load and teams.
    pub async fn agents(&self, access: &Access) -> ServiceResult<Vec<Presence>> {
        access.require(Action::ViewMembers)?;
        Ok(self
            .store
            .list_presence(access.workspace_id, self.chat.default_agent_capacity)
            .await?)
    }

    /// Sets a member's status and capacity: their own, or anyone's for
    /// supervisors and above. Going online (or more capacity) may take
    /// waiting conversations at once.
    pub async fn set_presence(
        &self,
        access: &Access,
        user: UserId,
        status: AgentStatus,
        capacity: Option<i32>,
    ) -> ServiceResult<Presence> {
        access.require(Action::ViewConversations)?;
        if user != access.ctx.principal.user_id() {
            access.require(Action::AssignOthers)?;
        }
        if capacity.is_some_and(|c| !(0..=100).contains(&c)) {
            return Err(ServiceError::invalid("capacity", "out_of_range"));
        }
        self.store
            .member_role(access.workspace_id, user)
            .await
            .map_err(|_| ServiceError::NotFound("member"))?;
        let p = self
            .store
            .set_presence(
                access.workspace_id,
                user,
                status,
                capacity,
                self.chat.default_agent_capacity,
                self.clock.now(),
            )
            .await?;
        if status == AgentStatus::Online {
            self.route(access.workspace_id).await;
        }
        Ok(p)
    }

    /// One routing pass over the workspace's queue; announces what it
    /// assigned. Errors are logged, not returned: the change that triggered
    /// routing is already committed, and the periodic pass retries.
    #[tracing::instrument(name = "routing.route", skip_all)]
    pub async fn route(&self, ws: WorkspaceId) -> usize {
        match self
            .store
            .route_queue(ws, self.clock.now(), ROUTE_BATCH)
            .await
        {
            Ok(assigned) => {
                let n = assigned.len();
                let now = self.clock.now();
                for c in assigned {
                    if let Some(q) = c.queued_at {
                        self.metrics
                            .queue_wait
                            .observe(crate::metrics::seconds(q, now));
                    }
                    self.email_assignment(&c, None);
                    self.announce(Event::ConversationUpdated { conversation: c });
                }
                n
            }
            Err(e) => {
                tracing::warn!(workspace_id = %ws, error = %e, "routing pass failed");
                0
            }
        }
    }

    /// A routing pass over every workspace with someone waiting (run
    /// periodically by each replica).
    pub async fn route_all(&self) -> usize {
        match self.store.workspaces_with_queue().await {
            Ok(ws) => {
                let mut n = 0;
                for w in ws {
                    n += self.route(w).await;
                }
                n
            }
            Err(e) => {
                tracing::warn!(error = %e, "listing queues failed");
                0
            }
        }
    }

    /// Assigns, transfers or takes over — one path, each with its reason:
    /// - an agent may only take an unassigned conversation they can see, for
    ///   themselves (`self_assigned`); a colleague's is refused (409
    ///   `invalid_transition`), so two agents taking the same conversation at
    ///   once get one success and one refusal;
    /// - supervisors and above assign anyone (`manual`), take over someone
    ///   else's (`takeover`), or move it to a team's queue (`transfer`);
    /// - neither assignee nor team puts it back in the general queue.
    pub async fn assign(
        &self,
        access: &Access,
        id: ConversationId,
        target: AssignTarget,
    ) -> ServiceResult<Conversation> {
        use ConversationStatus::*;
        access.require(Action::SendMessages)?;
        let me = access.ctx.principal.user_id();
        let others = target.assignee != Some(me) || target.team.is_some();
        if others {
            access.require(Action::AssignOthers)?;
        }
        if let Some(a) = target.assignee {
            match self.store.member_role(access.workspace_id, a).await {
                Ok(_) => {}
                Err(StoreError::NotFound(_)) => {
                    return Err(ServiceError::invalid("assignee_id", "not_a_member"))
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(t) = target.team {
            if let Err(StoreError::NotFound(_)) = self.store.get_team(access.workspace_id, t).await
            {
                return Err(ServiceError::invalid("team_id", "not_found"));
            }
        }
        // An agent too late to take it gets a conflict, not a 404 (it has
        // just left their view because a colleague took it).
        let current = if access.role == Role::Agent {
            let c = self.store.get_conversation(access.workspace_id, id).await?;
            if c.assignee_id.is_some_and(|x| x != me) {
                return Err(ServiceError::Conflict("assignment_conflict"));
            }
            let teams = self.store.member_teams(access.workspace_id, me).await?;
            if !access.role.sees_conversation(me, None, c.team_id, &teams) {
                return Err(ServiceError::NotFound("conversation"));
            }
            c
        } else {
            self.conversation(access, id).await?
        };
        let now = self.clock.now();
        let t = match target.assignee {
            Some(a) => {
                let reason = if a == me && current.assignee_id.is_some_and(|x| x != me) {
                    AssignmentReason::Takeover
                } else if !others {
                    AssignmentReason::SelfAssigned
                } else {
                    AssignmentReason::Manual
                };
                // Agents take only from the queue (or the bot); supervisors
                // may also move an assigned conversation.
                let from: &'static [ConversationStatus] = if access.role == Role::Agent {
                    &[Bot, Queued]
                } else {
                    &[Bot, Queued, Assigned]
                };
                Transition {
                    assignee: Some(Some(a)),
                    team: target.team.map(Some),
                    reason: Some(reason),
                    actor: Some(me),
                    // An agent's "take" must find it still unassigned.
                    expect_assignee: if access.role == Role::Agent {
                        Some(None)
                    } else {
                        target.expect_assignee
                    },
                    ..Transition::new(from, Assigned, now)
                }
            }
            None => Transition {
                assignee: Some(None),
                team: Some(target.team),
                reason: Some(if target.team.is_some() {
                    AssignmentReason::Transfer
                } else {
                    AssignmentReason::Queued
                }),
                actor: Some(me),
                expect_assignee: target.expect_assignee,
                ..Transition::new(&[Bot, Queued, Assigned], Queued, now)
            },
        };
        let updated = self.commit_transition(access, id, t).await?;
        if updated.status == Assigned {
            self.email_assignment(&updated, Some(me));
        }
        if updated.status == Queued {
            self.route(access.workspace_id).await;
        } else if current.status == Queued {
            if let Some(q) = current.queued_at {
                self.metrics
                    .queue_wait
                    .observe(crate::metrics::seconds(q, now));
            }
        }
        Ok(updated)
    }

    /// From the bot to the human queue.
    pub async fn handoff(
        &self,
        access: &Access,
        id: ConversationId,
    ) -> ServiceResult<Conversation> {
        use ConversationStatus::*;
        let t = Transition {
            reason: Some(AssignmentReason::Queued),
            actor: Some(access.ctx.principal.user_id()),
            ..Transition::new(&[Bot], Queued, self.clock.now())
        };
        let updated = self.transition(access, id, t).await?;
        self.route(access.workspace_id).await;
        Ok(updated)
    }

    /// Resolving frees the agent's capacity for the queue.
    pub async fn resolve(
        &self,
        access: &Access,
        id: ConversationId,
    ) -> ServiceResult<Conversation> {
        use ConversationStatus::*;
        let t = Transition::new(&[Bot, Queued, Assigned], Resolved, self.clock.now());
        let updated = self.transition(access, id, t).await?;
        self.route(access.workspace_id).await;
        Ok(updated)
    }

    /// Closing is final: a visitor message afterwards starts a new
    /// conversation, and it frees the agent's capacity.
    pub async fn close(&self, access: &Access, id: ConversationId) -> ServiceResult<Conversation> {
        use ConversationStatus::*;
        let t = Transition::new(&[Bot, Queued, Assigned, Resolved], Closed, self.clock.now());
        let updated = self.transition(access, id, t).await?;
        self.route(access.workspace_id).await;
        Ok(updated)
    }

    /// Back to its agent if it had one, else to the queue.
    pub async fn reopen(&self, access: &Access, id: ConversationId) -> ServiceResult<Conversation> {
        let current = self.conversation(access, id).await?;
        let t = crate::chat::reopening(current.assignee_id.is_some(), self.clock.now());
        let updated = self.transition(access, id, t).await?;
        if updated.status == ConversationStatus::Queued {
            self.route(access.workspace_id).await;
        }
        Ok(updated)
    }

    /// Why the conversation is where it is: every assignment, oldest first.
    pub async fn assignment_history(
        &self,
        access: &Access,
        id: ConversationId,
    ) -> ServiceResult<Vec<Assignment>> {
        self.conversation(access, id).await?;
        Ok(self.store.assignments(access.workspace_id, id).await?)
    }

    /// The visitor's place in the queue and an estimate of the wait: the
    /// position divided by the queue's recent service rate (assignments out
    /// of it in the configured window); no estimate without recent history.
    pub async fn queue_info(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> ServiceResult<Option<QueueInfo>> {
        let window = self.chat.queue_estimate_window_secs.max(60);
        let standing = self
            .store
            .queue_standing(ws, id, window, self.clock.now())
            .await?;
        Ok(standing.map(|s| QueueInfo {
            position: s.position,
            estimated_wait_secs: (s.recent_assignments > 0).then(|| {
                (s.position * s.window_secs + s.recent_assignments - 1) / s.recent_assignments
            }),
        }))
    }
}
