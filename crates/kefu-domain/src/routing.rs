//! Routing (DESIGN.md §5): teams, agent presence and capacity, and the
//! queue's assignment rule.
//!
//! The rule is a pure function, [`plan`], over a [`Snapshot`] the store reads
//! under a per-workspace lock; both database backends apply the same plan,
//! so the rule is written (and tested) once.

use crate::ids::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: TeamId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub members: Vec<UserId>,
    pub created_at: DateTime<Utc>,
}

/// Whether an agent takes new conversations: only `online` agents are
/// assigned automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Online,
    Away,
    Offline,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Away => "away",
            AgentStatus::Offline => "offline",
        }
    }
}

impl FromStr for AgentStatus {
    type Err = crate::role::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "online" => Ok(AgentStatus::Online),
            "away" => Ok(AgentStatus::Away),
            "offline" => Ok(AgentStatus::Offline),
            _ => Err(crate::role::UnknownName),
        }
    }
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's availability in a workspace, with their current load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub user_id: UserId,
    pub status: AgentStatus,
    /// Most conversations assigned at once (automatic assignment respects
    /// it; a supervisor assigning by hand may exceed it).
    pub capacity: i32,
    /// Conversations assigned to the member now (status `assigned`).
    pub load: i32,
    pub teams: Vec<TeamId>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Why a conversation was assigned (or moved): stored with every assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentReason {
    /// Automatic: the agent the contact last spoke with was free.
    LastAgent,
    /// Automatic: the least-loaded online agent with free capacity.
    LeastLoaded,
    /// An agent took it from the queue.
    SelfAssigned,
    /// A supervisor (or admin) chose the assignee.
    Manual,
    /// Moved to another team's queue.
    Transfer,
    /// A supervisor took over someone else's conversation.
    Takeover,
    /// Back to the queue (handoff, unassign, reopen without an agent).
    Queued,
}

impl AssignmentReason {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentReason::LastAgent => "last_agent",
            AssignmentReason::LeastLoaded => "least_loaded",
            AssignmentReason::SelfAssigned => "self_assigned",
            AssignmentReason::Manual => "manual",
            AssignmentReason::Transfer => "transfer",
            AssignmentReason::Takeover => "takeover",
            AssignmentReason::Queued => "queued",
        }
    }
}

impl FromStr for AssignmentReason {
    type Err = crate::role::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use AssignmentReason::*;
        [
            LastAgent,
            LeastLoaded,
            SelfAssigned,
            Manual,
            Transfer,
            Takeover,
            Queued,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or(crate::role::UnknownName)
    }
}

/// One row of a conversation's assignment history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub id: AssignmentId,
    pub conversation_id: ConversationId,
    pub assignee_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub reason: AssignmentReason,
    /// Who did it; `None` for the automatic router.
    pub actor_id: Option<UserId>,
    /// How long the conversation had waited in the queue, when it left it.
    pub waited_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// A conversation waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub conversation: ConversationId,
    pub contact: ContactId,
    pub team: Option<TeamId>,
    pub priority: i32,
    pub queued_at: DateTime<Utc>,
}

/// An online agent the router may assign to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub user: UserId,
    pub teams: Vec<TeamId>,
    pub capacity: i32,
    pub load: i32,
}

/// What the router sees, read under the workspace's routing lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub queue: Vec<Waiting>,
    /// Online agents only.
    pub agents: Vec<Candidate>,
    /// The agent each waiting contact last spoke with (their latest
    /// conversation that had an assignee).
    pub last_agent: HashMap<ContactId, UserId>,
}

/// One decision of the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub conversation: ConversationId,
    pub assignee: UserId,
    pub reason: AssignmentReason,
}

/// The queue's rule: take waiting conversations by priority (higher first)
/// then by wait (longer first); give each to the agent the contact last
/// spoke with if they are online, in the conversation's team and below
/// capacity, else to the least-loaded such agent (ties: the one with the
/// lower load relative to capacity, then a stable order). A conversation in
/// the general queue (no team) may go to any online agent. A conversation no
/// agent can take stays queued without blocking the ones behind it that
/// another team's agents can take.
pub fn plan(snapshot: &Snapshot) -> Vec<Planned> {
    let mut queue: Vec<&Waiting> = snapshot.queue.iter().collect();
    queue.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.queued_at.cmp(&b.queued_at))
            .then(a.conversation.cmp(&b.conversation))
    });
    let mut load: HashMap<UserId, i32> = snapshot.agents.iter().map(|a| (a.user, a.load)).collect();
    let mut out = Vec::new();
    for w in queue {
        let eligible = |a: &&Candidate| {
            load[&a.user] < a.capacity && w.team.is_none_or(|t| a.teams.contains(&t))
        };
        let last = snapshot
            .last_agent
            .get(&w.contact)
            .and_then(|u| snapshot.agents.iter().find(|a| a.user == *u))
            .filter(|a| eligible(a));
        let (chosen, reason) = match last {
            Some(a) => (a, AssignmentReason::LastAgent),
            None => {
                let best = snapshot.agents.iter().filter(eligible).min_by(|a, b| {
                    let (la, lb) = (load[&a.user], load[&b.user]);
                    la.cmp(&lb)
                        // Same load: the one with more room (as a share).
                        .then((la as i64 * b.capacity as i64).cmp(&(lb as i64 * a.capacity as i64)))
                        .then(a.user.cmp(&b.user))
                });
                match best {
                    Some(a) => (a, AssignmentReason::LeastLoaded),
                    None => continue,
                }
            }
        };
        *load.get_mut(&chosen.user).expect("agent has a load") += 1;
        out.push(Planned {
            conversation: w.conversation,
            assignee: chosen.user,
            reason,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn waiting(team: Option<TeamId>, priority: i32, waited_secs: i64) -> Waiting {
        Waiting {
            conversation: ConversationId::new(),
            contact: ContactId::new(),
            team,
            priority,
            queued_at: Utc::now() - Duration::seconds(waited_secs),
        }
    }

    fn agent(teams: &[TeamId], capacity: i32, load: i32) -> Candidate {
        Candidate {
            user: UserId::new(),
            teams: teams.to_vec(),
            capacity,
            load,
        }
    }

    #[test]
    fn priority_first_then_longest_wait() {
        let a = agent(&[], 3, 0);
        let (old, new, urgent) = (
            waiting(None, 0, 60),
            waiting(None, 0, 5),
            waiting(None, 5, 1),
        );
        let later = waiting(None, 0, 1);
        let s = Snapshot {
            queue: vec![new.clone(), later, old.clone(), urgent.clone()],
            agents: vec![a.clone()],
            ..Default::default()
        };
        let order: Vec<_> = plan(&s).into_iter().map(|p| p.conversation).collect();
        assert_eq!(
            order,
            vec![urgent.conversation, old.conversation, new.conversation]
        );
    }

    #[test]
    fn capacity_is_respected_and_load_is_spread() {
        let (a, b) = (agent(&[], 2, 1), agent(&[], 2, 0));
        let s = Snapshot {
            queue: (0..5).map(|i| waiting(None, 0, 100 - i)).collect(),
            agents: vec![a.clone(), b.clone()],
            ..Default::default()
        };
        let p = plan(&s);
        // a has room for 1, b for 2: three assigned, two keep waiting.
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].assignee, b.user, "the least loaded goes first");
        assert_eq!(p.iter().filter(|x| x.assignee == a.user).count(), 1);
        assert_eq!(p.iter().filter(|x| x.assignee == b.user).count(), 2);
        assert!(p.iter().all(|x| x.reason == AssignmentReason::LeastLoaded));
    }

    #[test]
    fn teams_only_take_their_own_queue_and_do_not_block_others() {
        let (sales, support) = (TeamId::new(), TeamId::new());
        let s_agent = agent(&[sales], 1, 0);
        let head = waiting(Some(support), 9, 100); // nobody in support is online
        let behind = waiting(Some(sales), 0, 1);
        let s = Snapshot {
            queue: vec![head, behind.clone()],
            agents: vec![s_agent.clone()],
            ..Default::default()
        };
        assert_eq!(
            plan(&s),
            vec![Planned {
                conversation: behind.conversation,
                assignee: s_agent.user,
                reason: AssignmentReason::LeastLoaded
            }]
        );
    }

    #[test]
    fn the_last_agent_is_preferred_when_free() {
        let (busy_friend, idle) = (agent(&[], 3, 2), agent(&[], 3, 0));
        let w = waiting(None, 0, 10);
        let mut s = Snapshot {
            queue: vec![w.clone()],
            agents: vec![busy_friend.clone(), idle.clone()],
            last_agent: HashMap::from([(w.contact, busy_friend.user)]),
        };
        let p = plan(&s);
        assert_eq!(p[0].assignee, busy_friend.user);
        assert_eq!(p[0].reason, AssignmentReason::LastAgent);
        // Full: the least-loaded agent gets it instead.
        s.agents[0].load = 3;
        let p = plan(&s);
        assert_eq!(p[0].assignee, idle.user);
        assert_eq!(p[0].reason, AssignmentReason::LeastLoaded);
        // Offline (absent from the candidates): likewise.
        s.agents.remove(0);
        assert_eq!(plan(&s)[0].assignee, idle.user);
    }

    #[test]
    fn nobody_online_assigns_nothing() {
        let s = Snapshot {
            queue: vec![waiting(None, 0, 1)],
            ..Default::default()
        };
        assert!(plan(&s).is_empty());
    }

    #[test]
    fn names_round_trip() {
        for r in [
            AssignmentReason::LastAgent,
            AssignmentReason::Takeover,
            AssignmentReason::Queued,
        ] {
            assert_eq!(r.as_str().parse::<AssignmentReason>().unwrap(), r);
        }
        for s in ["online", "away", "offline"] {
            assert_eq!(s.parse::<AgentStatus>().unwrap().as_str(), s);
        }
    }
}
