//! Which frames a socket's peer gets for a bus event: a pure function of
//! who the peer is and the event. The socket supplies the one fact it has
//! to look up (whether a visitor's conversation is in the socket's inbox)
//! and adds the queue position a visitor waiting in the queue is shown.

use super::protocol::{ConversationView, ParticipantDto, ServerFrame};
use crate::routes::dto::MessageDto;
use kefu_domain::bus::{Event, Participant};
use kefu_domain::{ContactId, Role, TeamId, UserId, WorkspaceId};
use std::collections::HashMap;

/// The peer, as far as visibility goes.
pub(super) enum Viewer<'a> {
    /// A visitor's widget: their contact, and whether the event's
    /// conversation (if it names one) is in this socket's inbox.
    Visitor { contact: ContactId, in_inbox: bool },
    /// A member: their roles and teams per workspace.
    Member {
        me: UserId,
        roles: &'a HashMap<WorkspaceId, Role>,
        teams: &'a HashMap<WorkspaceId, Vec<TeamId>>,
    },
}

/// The frames `viewer` gets for `ev` (often none).
pub(super) fn frames(viewer: &Viewer<'_>, ev: &Event) -> Vec<ServerFrame> {
    match viewer {
        Viewer::Visitor { contact, in_inbox } => {
            if ev.contact() != Some(*contact) || (ev.conversation().is_some() && !in_inbox) {
                return Vec::new();
            }
            match ev {
                Event::MessageCreated { message, .. } if !message.private => {
                    vec![created(message)]
                }
                Event::MessageCreated { .. } => Vec::new(),
                Event::ConversationUpdated { conversation: c } => {
                    vec![ServerFrame::ConversationUpdated {
                        conversation: ConversationView::Visitor(c.clone().into()),
                    }]
                }
                // Their own typing is not echoed; agents' private-note
                // typing is not shown.
                Event::Typing {
                    about,
                    who: Participant::Agent(a),
                    on,
                    private: false,
                } => vec![ServerFrame::Typing {
                    conversation_id: about.conversation_id.0,
                    who: participant(&Participant::Agent(*a)),
                    on: *on,
                    private: false,
                }],
                Event::Typing { .. } | Event::Viewing { .. } => Vec::new(),
                Event::Read { about, who, seq } => vec![ServerFrame::Read {
                    conversation_id: about.conversation_id.0,
                    who: participant(who),
                    seq: *seq,
                }],
                Event::BotDraft {
                    about,
                    message_id,
                    delta,
                } => vec![ServerFrame::delta(about, *message_id, delta)],
                Event::KnowledgeChanged { .. } | Event::AccessChanged { .. } => Vec::new(),
            }
        }
        Viewer::Member { me, roles, teams } => {
            let Some(ws) = ev.workspace() else {
                return Vec::new();
            };
            let Some(role) = roles.get(&ws) else {
                return Vec::new();
            };
            let my_teams = teams.get(&ws).map_or(&[][..], Vec::as_slice);
            let (assignee, team) = ev.placement();
            if !role.sees_conversation(*me, assignee, team, my_teams) {
                // A conversation that moved out of sight leaves the list.
                return match ev {
                    Event::ConversationUpdated { conversation } => {
                        vec![ServerFrame::ConversationHidden {
                            conversation_id: conversation.id.0,
                        }]
                    }
                    _ => Vec::new(),
                };
            }
            match ev {
                Event::MessageCreated { message, .. } => vec![created(message)],
                Event::ConversationUpdated { conversation } => {
                    vec![ServerFrame::ConversationUpdated {
                        conversation: ConversationView::Agent(conversation.clone().into()),
                    }]
                }
                Event::Typing {
                    about,
                    who,
                    on,
                    private,
                } if *who != Participant::Agent(*me) => {
                    vec![ServerFrame::Typing {
                        conversation_id: about.conversation_id.0,
                        who: participant(who),
                        on: *on,
                        private: *private,
                    }]
                }
                Event::Typing { .. } => Vec::new(),
                Event::Viewing { about, who, on } if who != me => vec![ServerFrame::Viewing {
                    conversation_id: about.conversation_id.0,
                    who: participant(&Participant::Agent(*who)),
                    on: *on,
                }],
                Event::Viewing { .. } => Vec::new(),
                Event::Read { about, who, seq } if *who != Participant::Agent(*me) => {
                    vec![ServerFrame::Read {
                        conversation_id: about.conversation_id.0,
                        who: participant(who),
                        seq: *seq,
                    }]
                }
                Event::Read { .. } => Vec::new(),
                Event::BotDraft {
                    about,
                    message_id,
                    delta,
                } => vec![ServerFrame::delta(about, *message_id, delta)],
                Event::KnowledgeChanged { .. } | Event::AccessChanged { .. } => Vec::new(),
            }
        }
    }
}

pub(super) fn created(m: &kefu_domain::chat::Message) -> ServerFrame {
    ServerFrame::MessageCreated {
        conversation_id: m.conversation_id.0,
        seq: m.seq,
        message: MessageDto::from(m.clone()),
    }
}

pub(super) fn participant(p: &Participant) -> ParticipantDto {
    match p {
        Participant::Visitor(_) => ParticipantDto {
            kind: "visitor",
            id: None,
        },
        Participant::Agent(u) => ParticipantDto {
            kind: "agent",
            id: Some(u.0),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kefu_domain::bus::About;
    use kefu_domain::chat::{Conversation, ConversationStatus, Message, SenderKind};
    use kefu_domain::{ConversationId, InboxId, MessageId};

    struct World {
        ws: WorkspaceId,
        contact: ContactId,
        agent: UserId,
        other_agent: UserId,
        vip: TeamId,
        conversation: Conversation,
    }

    fn world() -> World {
        let ws = WorkspaceId::new();
        let contact = ContactId::new();
        let now = chrono::Utc::now();
        World {
            ws,
            contact,
            agent: UserId::new(),
            other_agent: UserId::new(),
            vip: TeamId::new(),
            conversation: Conversation {
                id: ConversationId::new(),
                workspace_id: ws,
                inbox_id: InboxId::new(),
                contact_id: contact,
                status: ConversationStatus::Queued,
                priority: 0,
                assignee_id: None,
                team_id: None,
                assignment_reason: None,
                queued_at: Some(now),
                labels: Vec::new(),
                last_seq: 1,
                rating: None,
                snoozed_until: None,
                created_at: now,
                updated_at: now,
            },
        }
    }

    impl World {
        fn message(&self, private: bool, assignee: Option<UserId>) -> Event {
            Event::MessageCreated {
                message: Message {
                    id: MessageId::new(),
                    workspace_id: self.ws,
                    conversation_id: self.conversation.id,
                    seq: 1,
                    sender_kind: SenderKind::Agent,
                    sender_id: Some(self.agent.0),
                    sender_name: None,
                    body: "您好".into(),
                    private,
                    client_msg_id: None,
                    created_at: chrono::Utc::now(),
                    meta: None,
                },
                contact: self.contact,
                assignee,
                team: None,
            }
        }

        fn about(&self) -> About {
            About {
                workspace_id: self.ws,
                conversation_id: self.conversation.id,
                contact_id: self.contact,
                assignee: None,
                team: None,
            }
        }

        fn visitor(&self, in_inbox: bool) -> Viewer<'static> {
            Viewer::Visitor {
                contact: self.contact,
                in_inbox,
            }
        }
    }

    fn types(frames: Vec<ServerFrame>) -> Vec<String> {
        frames
            .iter()
            .map(|f| {
                serde_json::to_value(f).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn visitors_see_their_own_public_traffic_only() {
        let w = world();
        let mine = w.visitor(true);
        assert_eq!(
            types(frames(&mine, &w.message(false, None))),
            ["message.created"]
        );
        assert!(
            frames(&mine, &w.message(true, None)).is_empty(),
            "private note"
        );
        // Another visitor, or this visitor's socket on another inbox.
        let stranger = Viewer::Visitor {
            contact: ContactId::new(),
            in_inbox: true,
        };
        assert!(frames(&stranger, &w.message(false, None)).is_empty());
        assert!(frames(&w.visitor(false), &w.message(false, None)).is_empty());
        let update = Event::ConversationUpdated {
            conversation: w.conversation.clone(),
        };
        assert_eq!(types(frames(&mine, &update)), ["conversation.updated"]);
        // Typing: an agent's public typing is shown, a private note's and
        // the visitor's own are not.
        let typing = |who, private| Event::Typing {
            about: w.about(),
            who,
            on: true,
            private,
        };
        assert_eq!(
            types(frames(&mine, &typing(Participant::Agent(w.agent), false))),
            ["typing"]
        );
        assert!(frames(&mine, &typing(Participant::Agent(w.agent), true)).is_empty());
        assert!(frames(&mine, &typing(Participant::Visitor(w.contact), false)).is_empty());
        let knowledge = Event::KnowledgeChanged {
            workspace_id: w.ws,
            articles: Vec::new(),
            synonyms: false,
        };
        assert!(frames(&mine, &knowledge).is_empty());
    }

    #[test]
    fn agents_see_what_their_role_and_teams_allow() {
        let w = world();
        let roles = HashMap::from([(w.ws, Role::Agent)]);
        let no_teams = HashMap::new();
        let agent = Viewer::Member {
            me: w.agent,
            roles: &roles,
            teams: &no_teams,
        };
        // Unassigned: seen; assigned to them: seen; to someone else: not.
        assert_eq!(
            types(frames(&agent, &w.message(true, None))),
            ["message.created"]
        );
        assert_eq!(
            types(frames(&agent, &w.message(false, Some(w.agent)))),
            ["message.created"]
        );
        assert!(frames(&agent, &w.message(false, Some(w.other_agent))).is_empty());
        // A conversation taken by someone else leaves their list.
        let taken = Event::ConversationUpdated {
            conversation: Conversation {
                assignee_id: Some(w.other_agent),
                status: ConversationStatus::Assigned,
                ..w.conversation.clone()
            },
        };
        assert_eq!(types(frames(&agent, &taken)), ["conversation.hidden"]);
        // A team's queue: only its members.
        let vip_queue = Event::ConversationUpdated {
            conversation: Conversation {
                team_id: Some(w.vip),
                ..w.conversation.clone()
            },
        };
        assert_eq!(types(frames(&agent, &vip_queue)), ["conversation.hidden"]);
        let in_vip = HashMap::from([(w.ws, vec![w.vip])]);
        let vip_agent = Viewer::Member {
            me: w.agent,
            roles: &roles,
            teams: &in_vip,
        };
        assert_eq!(
            types(frames(&vip_agent, &vip_queue)),
            ["conversation.updated"]
        );
        // Admins see everything; their own typing is not echoed.
        let admin_roles = HashMap::from([(w.ws, Role::Admin)]);
        let admin = Viewer::Member {
            me: w.agent,
            roles: &admin_roles,
            teams: &no_teams,
        };
        assert_eq!(types(frames(&admin, &taken)), ["conversation.updated"]);
        let own_typing = Event::Typing {
            about: w.about(),
            who: Participant::Agent(w.agent),
            on: true,
            private: false,
        };
        assert!(frames(&admin, &own_typing).is_empty());
        // Another workspace's events: nothing.
        let elsewhere = HashMap::from([(WorkspaceId::new(), Role::Owner)]);
        let outsider = Viewer::Member {
            me: w.agent,
            roles: &elsewhere,
            teams: &no_teams,
        };
        assert!(frames(&outsider, &w.message(false, None)).is_empty());
    }

    #[test]
    fn colleagues_see_who_else_is_viewing_and_writing_a_note() {
        let w = world();
        let roles = HashMap::from([(w.ws, Role::Agent)]);
        let no_teams = HashMap::new();
        let colleague = Viewer::Member {
            me: w.other_agent,
            roles: &roles,
            teams: &no_teams,
        };
        let viewing = |assignee| Event::Viewing {
            about: About {
                assignee,
                ..w.about()
            },
            who: w.agent,
            on: true,
        };
        let json = |f: Vec<ServerFrame>| serde_json::to_value(&f).unwrap();
        assert_eq!(
            json(frames(&colleague, &viewing(None))),
            serde_json::json!([{"type": "viewing", "conversation_id": w.conversation.id.0,
                "who": {"type": "agent", "id": w.agent.0}, "on": true}])
        );
        // Not to the viewer themself, not to an agent who may not see the
        // conversation, never to the visitor.
        let me = Viewer::Member {
            me: w.agent,
            roles: &roles,
            teams: &no_teams,
        };
        assert!(frames(&me, &viewing(None)).is_empty());
        assert!(frames(&colleague, &viewing(Some(w.agent))).is_empty());
        assert!(frames(&w.visitor(true), &viewing(None)).is_empty());
        assert_eq!(
            viewing(None).contact(),
            None,
            "not published to the visitor's topic"
        );
        // A colleague's private-note typing says so to members only.
        let note = Event::Typing {
            about: w.about(),
            who: Participant::Agent(w.agent),
            on: true,
            private: true,
        };
        assert_eq!(json(frames(&colleague, &note))[0]["private"], true);
        let public = Event::Typing {
            about: w.about(),
            who: Participant::Agent(w.agent),
            on: true,
            private: false,
        };
        assert!(json(frames(&colleague, &public))[0]
            .get("private")
            .is_none());
    }
}
