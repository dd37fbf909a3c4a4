use crate::chat::{another, conversation, visitor_msg};
use crate::support::*;
use chrono::Duration;
use kefu_domain::chat::*;
use kefu_domain::routing::*;
use kefu_domain::store::Store;
use kefu_domain::{Role, StoreError, TeamId, UserId, WorkspaceId};
use std::sync::Arc;

crate::store_contract!(
    teams_hold_members_of_their_workspace_only,
    presence_defaults_to_offline_and_counts_load,
    the_router_serves_priority_then_wait_within_capacity,
    the_router_prefers_the_last_agent_and_respects_teams,
    concurrent_routing_assigns_each_conversation_once,
    expected_assignees_make_racing_assignments_conflict,
    queue_standing_counts_who_is_ahead,
    identified_contacts_keep_one_record,
    contact_patches_merge_attributes,
    read_positions_only_move_forward_and_drive_unread_counts,
    labels_and_priority_are_stored_and_filtered,
    a_removed_members_conversations_go_back_to_the_queue,
    queues_and_the_operations_gauges_count_across_workspaces,
);

fn team(ws: WorkspaceId, name: &str, members: Vec<UserId>) -> Team {
    Team {
        id: TeamId::new(),
        workspace_id: ws,
        name: name.into(),
        members,
        created_at: now(),
    }
}

/// A queued conversation for a new visitor, queued `ago_secs` ago.
async fn waiting(
    store: &Arc<dyn Store>,
    base: &Conversation,
    visitor: &str,
    priority: i32,
    ago_secs: i64,
    team: Option<TeamId>,
) -> Conversation {
    let c = another(store, base, visitor, ConversationStatus::Bot).await;
    let at = now() - Duration::seconds(ago_secs);
    let t = Transition {
        team: Some(team),
        reason: Some(AssignmentReason::Queued),
        ..Transition::new(&[ConversationStatus::Bot], ConversationStatus::Queued, at)
    };
    store
        .transition_conversation(c.workspace_id, c.id, &t)
        .await
        .unwrap();
    store
        .update_conversation(c.workspace_id, c.id, Some(priority), None, at)
        .await
        .unwrap()
}

async fn online(store: &Arc<dyn Store>, ws: WorkspaceId, user: UserId, capacity: i32) {
    store
        .set_presence(ws, user, AgentStatus::Online, Some(capacity), 5, now())
        .await
        .unwrap();
}

async fn teams_hold_members_of_their_workspace_only(store: Arc<dyn Store>) {
    let (ws, owner) = workspace(&store, "a@example.com").await;
    let agent = add_member(&store, ws, owner, "agent@example.com", Role::Agent).await;
    let (_, stranger) = workspace(&store, "b@example.com").await;
    let sales = team(ws, "售前", vec![agent]);
    store
        .create_team(&sales, record(ws, "team.created"))
        .await
        .unwrap();
    assert_eq!(store.get_team(ws, sales.id).await.unwrap(), sales);
    assert_eq!(store.member_teams(ws, agent).await.unwrap(), vec![sales.id]);
    // Same name: refused. Someone from another workspace: refused, nothing kept.
    let dup = store
        .create_team(&team(ws, "售前", vec![]), record(ws, "team.created"))
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict("team_name_taken"))),
        "{dup:?}"
    );
    let foreign = team(ws, "售后", vec![agent, stranger]);
    let r = store
        .create_team(&foreign, record(ws, "team.created"))
        .await;
    assert!(matches!(r, Err(StoreError::Rule("not_a_member"))), "{r:?}");
    assert_eq!(store.list_teams(ws).await.unwrap().len(), 1);
    // Another workspace cannot see it.
    let (other_ws, _) = workspace(&store, "c@example.com").await;
    assert!(matches!(
        store.get_team(other_ws, sales.id).await,
        Err(StoreError::NotFound(_))
    ));
    // Update replaces the members; delete sends its queue to the general one.
    let renamed = Team {
        name: "销售".into(),
        members: vec![owner],
        ..sales.clone()
    };
    store
        .update_team(&renamed, record(ws, "team.updated"))
        .await
        .unwrap();
    assert_eq!(store.get_team(ws, sales.id).await.unwrap(), renamed);
    assert!(store.member_teams(ws, agent).await.unwrap().is_empty());
    let (cws, base) = conversation(&store, "d@example.com").await;
    let t = team(cws, "队列", vec![]);
    store
        .create_team(&t, record(cws, "team.created"))
        .await
        .unwrap();
    let queued = waiting(&store, &base, "v-q", 0, 10, Some(t.id)).await;
    assert_eq!(queued.team_id, Some(t.id));
    store
        .delete_team(cws, t.id, record(cws, "team.deleted"))
        .await
        .unwrap();
    let after = store.get_conversation(cws, queued.id).await.unwrap();
    assert_eq!(
        (after.status, after.team_id),
        (ConversationStatus::Queued, None)
    );
}

async fn presence_defaults_to_offline_and_counts_load(store: Arc<dyn Store>) {
    let (ws, base) = conversation(&store, "a@example.com").await;
    let owner = store.list_members(ws).await.unwrap()[0].user_id;
    let p = store.list_presence(ws, 7).await.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        (p[0].status, p[0].capacity, p[0].load),
        (AgentStatus::Offline, 7, 0)
    );
    online(&store, ws, owner, 3).await;
    let c = waiting(&store, &base, "v-1", 0, 5, None).await;
    let assigned = store.route_queue(ws, now(), 100).await.unwrap();
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0].id, c.id);
    let p = store
        .set_presence(ws, owner, AgentStatus::Away, None, 7, now())
        .await
        .unwrap();
    // Capacity kept when not given; load counts the assigned conversation.
    assert_eq!((p.status, p.capacity, p.load), (AgentStatus::Away, 3, 1));
}

async fn the_router_serves_priority_then_wait_within_capacity(store: Arc<dyn Store>) {
    let (ws, base) = conversation(&store, "a@example.com").await;
    let owner = store.list_members(ws).await.unwrap()[0].user_id;
    let newer = waiting(&store, &base, "v-new", 0, 10, None).await;
    let older = waiting(&store, &base, "v-old", 0, 60, None).await;
    let urgent = waiting(&store, &base, "v-vip", 5, 1, None).await;
    // Nobody online: nothing happens.
    assert!(store.route_queue(ws, now(), 100).await.unwrap().is_empty());
    online(&store, ws, owner, 2).await;
    let got: Vec<_> = store
        .route_queue(ws, now(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.status, c.assignee_id, c.assignment_reason))
        .collect();
    let expect = |id| {
        (
            id,
            ConversationStatus::Assigned,
            Some(owner),
            Some(AssignmentReason::LeastLoaded),
        )
    };
    assert_eq!(got, vec![expect(urgent.id), expect(older.id)]);
    let left = store.get_conversation(ws, newer.id).await.unwrap();
    assert_eq!(
        (left.status, left.assignee_id),
        (ConversationStatus::Queued, None)
    );
    // The history records the reason and how long it waited.
    let h = store.assignments(ws, older.id).await.unwrap();
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[0].reason, AssignmentReason::Queued);
    assert_eq!(h[1].reason, AssignmentReason::LeastLoaded);
    assert_eq!(h[1].actor_id, None);
    assert!(h[1].waited_ms.unwrap() >= 59_000, "{h:?}");
    // Freeing capacity lets the next one in.
    let t = Transition::new(
        &[ConversationStatus::Assigned],
        ConversationStatus::Resolved,
        now(),
    );
    store
        .transition_conversation(ws, urgent.id, &t)
        .await
        .unwrap();
    let next = store.route_queue(ws, now(), 100).await.unwrap();
    assert_eq!(
        next.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![newer.id]
    );
}

async fn the_router_prefers_the_last_agent_and_respects_teams(store: Arc<dyn Store>) {
    let (ws, base) = conversation(&store, "a@example.com").await;
    let owner = store.list_members(ws).await.unwrap()[0].user_id;
    let a = add_member(&store, ws, owner, "a1@example.com", Role::Agent).await;
    let b = add_member(&store, ws, owner, "b1@example.com", Role::Agent).await;
    let vip = team(ws, "VIP", vec![b]);
    store
        .create_team(&vip, record(ws, "team.created"))
        .await
        .unwrap();
    // The base conversation's visitor spoke with b before.
    let t = Transition {
        assignee: Some(Some(b)),
        reason: Some(AssignmentReason::Manual),
        ..Transition::new(
            &[ConversationStatus::Bot],
            ConversationStatus::Assigned,
            now(),
        )
    };
    store
        .transition_conversation(ws, base.id, &t)
        .await
        .unwrap();
    let done = Transition::new(
        &[ConversationStatus::Assigned],
        ConversationStatus::Resolved,
        now(),
    );
    store
        .transition_conversation(ws, base.id, &done)
        .await
        .unwrap();
    online(&store, ws, a, 5).await;
    online(&store, ws, b, 5).await;
    // b has one already, so least-loaded would pick a — but b is the last agent.
    let busy = waiting(&store, &base, "v-busy", 0, 30, None).await;
    store
        .transition_conversation(
            ws,
            busy.id,
            &Transition {
                assignee: Some(Some(b)),
                ..Transition::new(
                    &[ConversationStatus::Queued],
                    ConversationStatus::Assigned,
                    now(),
                )
            },
        )
        .await
        .unwrap();
    let returning = Conversation {
        id: kefu_domain::ConversationId::new(),
        status: ConversationStatus::Queued,
        assignee_id: None,
        queued_at: Some(now()),
        created_at: now(),
        updated_at: now(),
        ..base.clone()
    };
    store.create_conversation(&returning).await.unwrap();
    // A VIP-team conversation can only go to b; a general one to anyone.
    let vip_c = waiting(&store, &base, "v-vip", 0, 20, Some(vip.id)).await;
    let general = waiting(&store, &base, "v-gen", 0, 10, None).await;
    let got = store.route_queue(ws, now(), 100).await.unwrap();
    let by_id = |id| got.iter().find(|c| c.id == id).cloned().unwrap();
    let r = by_id(returning.id);
    assert_eq!(
        (r.assignee_id, r.assignment_reason),
        (Some(b), Some(AssignmentReason::LastAgent))
    );
    assert_eq!(by_id(vip_c.id).assignee_id, Some(b));
    assert_eq!(by_id(general.id).assignee_id, Some(a));
    // Offline agents get nothing.
    store
        .set_presence(ws, a, AgentStatus::Offline, None, 5, now())
        .await
        .unwrap();
    store
        .set_presence(ws, b, AgentStatus::Away, None, 5, now())
        .await
        .unwrap();
    let later = waiting(&store, &base, "v-late", 0, 1, None).await;
    assert!(store.route_queue(ws, now(), 100).await.unwrap().is_empty());
    assert_eq!(
        store.get_conversation(ws, later.id).await.unwrap().status,
        ConversationStatus::Queued
    );
}

async fn concurrent_routing_assigns_each_conversation_once(store: Arc<dyn Store>) {
    let (ws, base) = conversation(&store, "a@example.com").await;
    let owner = store.list_members(ws).await.unwrap()[0].user_id;
    let mut agents = vec![owner];
    for i in 0..3 {
        agents.push(
            add_member(
                &store,
                ws,
                owner,
                &format!("ag{i}@example.com"),
                Role::Agent,
            )
            .await,
        );
    }
    for a in &agents {
        online(&store, ws, *a, 4).await;
    }
    let mut queued = Vec::new();
    for i in 0..12 {
        queued.push(waiting(&store, &base, &format!("v-{i}"), 0, 100 - i, None).await);
    }
    // Eight routers at once (as on eight replicas).
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.route_queue(ws, now(), 100).await.unwrap() })
        })
        .collect();
    let mut total = 0;
    for r in runs {
        total += r.await.unwrap().len();
    }
    assert_eq!(total, 12, "every conversation assigned exactly once");
    for c in &queued {
        let h = store.assignments(ws, c.id).await.unwrap();
        let auto = h
            .iter()
            .filter(|a| a.actor_id.is_none() && a.reason != AssignmentReason::Queued);
        assert_eq!(auto.count(), 1, "{h:?}");
    }
    for p in store.list_presence(ws, 5).await.unwrap() {
        assert_eq!(p.load, 3, "spread evenly: {p:?}");
    }
}

async fn expected_assignees_make_racing_assignments_conflict(store: Arc<dyn Store>) {
    let (ws, base) = conversation(&store, "a@example.com").await;
    let owner = store.list_members(ws).await.unwrap()[0].user_id;
    let a = add_member(&store, ws, owner, "a1@example.com", Role::Agent).await;
    let b = add_member(&store, ws, owner, "b1@example.com", Role::Agent).await;
    let c = waiting(&store, &base, "v-1", 0, 5, None).await;
    let take = |who| Transition {
        assignee: Some(Some(who)),
        expect_assignee: Some(None),
        reason: Some(AssignmentReason::SelfAssigned),
        actor: Some(who),
        ..Transition::new(
            &[ConversationStatus::Queued, ConversationStatus::Assigned],
            ConversationStatus::Assigned,
            now(),
        )
    };
    let (s1, s2) = (store.clone(), store.clone());
    let (ta, tb) = (take(a), take(b));
    let (ra, rb) = tokio::join!(
        async move { s1.transition_conversation(ws, c.id, &ta).await },
        async move { s2.transition_conversation(ws, c.id, &tb).await },
    );
    let wins = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{ra:?} {rb:?}");
    let loser = if ra.is_ok() { rb } else { ra };
    assert!(
        matches!(loser, Err(StoreError::Conflict("assignment_conflict"))),
        "{loser:?}"
    );
    let final_c = store.get_conversation(ws, c.id).await.unwrap();
    assert!(final_c.assignee_id == Some(a) || final_c.assignee_id == Some(b));
    let h = store.assignments(ws, c.id).await.unwrap();
    assert_eq!(
        h.iter()
            .filter(|x| x.reason == AssignmentReason::SelfAssigned)
            .count(),
        1
    );
}

async fn queue_standing_counts_who_is_ahead(store: Arc<dyn Store>) {
    let (ws, base) = conversation(&store, "a@example.com").await;
    let first = waiting(&store, &base, "v-1", 0, 60, None).await;
    let second = waiting(&store, &base, "v-2", 0, 30, None).await;
    let urgent = waiting(&store, &base, "v-3", 1, 1, None).await;
    let pos = |c: Conversation| {
        let s = store.clone();
        async move {
            s.queue_standing(ws, c.id, 1800, now())
                .await
                .unwrap()
                .map(|q| q.position)
        }
    };
    assert_eq!(pos(urgent.clone()).await, Some(1));
    assert_eq!(pos(first.clone()).await, Some(2));
    assert_eq!(pos(second.clone()).await, Some(3));
    assert_eq!(pos(base.clone()).await, None, "not queued");
    let s = store
        .queue_standing(ws, first.id, 1800, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.recent_assignments, 0);
}

async fn identified_contacts_keep_one_record(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "a@example.com").await;
    // An anonymous browser signs in: its contact becomes the identified one.
    let anon = store
        .contact_for_visitor(ws, "v_browser1", now())
        .await
        .unwrap();
    let who = store
        .contact_for_identity(ws, "user-42", "v_browser1", now())
        .await
        .unwrap();
    assert_eq!(who.id, anon.id);
    assert_eq!(who.external_id.as_deref(), Some("user-42"));
    // Another browser of the same user: the same contact.
    let again = store
        .contact_for_identity(ws, "user-42", "v_browser2", now())
        .await
        .unwrap();
    assert_eq!(again.id, anon.id);
    // Someone else on the first browser gets their own contact (and id).
    let other = store
        .contact_for_identity(ws, "user-7", "v_browser1", now())
        .await
        .unwrap();
    assert_ne!(other.id, anon.id);
    assert_ne!(other.visitor_id, "v_browser1");
    // Per workspace.
    let (ws2, _) = workspace(&store, "b@example.com").await;
    let elsewhere = store
        .contact_for_identity(ws2, "user-42", "v_browser1", now())
        .await
        .unwrap();
    assert_ne!(elsewhere.id, anon.id);
    assert!(matches!(
        store.get_contact(ws2, anon.id).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn contact_patches_merge_attributes(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "a@example.com").await;
    let c = store.contact_for_visitor(ws, "v_x", now()).await.unwrap();
    let attrs = |v: serde_json::Value| v.as_object().unwrap().clone();
    let p = ContactPatch {
        name: Some(Some("张三".into())),
        phone: Some(Some("+86 138 0000 0000".into())),
        attributes: Some(attrs(serde_json::json!({"plan": "pro", "seats": 5}))),
        ..Default::default()
    };
    store.update_contact(ws, c.id, &p, now()).await.unwrap();
    let p2 = ContactPatch {
        phone: Some(None),
        attributes: Some(attrs(serde_json::json!({"plan": null, "vip": true}))),
        ..Default::default()
    };
    let got = store.update_contact(ws, c.id, &p2, now()).await.unwrap();
    assert_eq!(got.name.as_deref(), Some("张三"));
    assert_eq!(got.phone, None);
    assert_eq!(
        serde_json::Value::Object(got.attributes.clone()),
        serde_json::json!({"seats": 5, "vip": true})
    );
    assert_eq!(store.get_contact(ws, c.id).await.unwrap(), got);
    let (ws2, _) = workspace(&store, "b@example.com").await;
    assert!(matches!(
        store.update_contact(ws2, c.id, &p2, now()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn read_positions_only_move_forward_and_drive_unread_counts(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let agent = store.list_members(ws).await.unwrap()[0].user_id;
    for i in 0..4 {
        store
            .append_message(
                ws,
                c.id,
                &visitor_msg(c.contact_id, &format!("第{i}条"), None),
            )
            .await
            .unwrap();
    }
    let mut note = visitor_msg(c.contact_id, "内部备注", None);
    note.sender_kind = SenderKind::Agent;
    note.sender_id = Some(agent.0);
    note.private = true;
    store.append_message(ws, c.id, &note).await.unwrap();
    let unread = |reader: uuid::Uuid, private: bool| {
        let s = store.clone();
        async move {
            s.unread_counts(ws, reader, &[c.id], private)
                .await
                .unwrap()
                .get(&c.id)
                .copied()
                .unwrap_or(0)
        }
    };
    // The agent's own note is not unread for them; the visitor never counts notes.
    assert_eq!(unread(agent.0, true).await, 4);
    assert_eq!(unread(c.contact_id.0, false).await, 0);
    assert_eq!(
        store.mark_read(ws, c.id, agent.0, 3, now()).await.unwrap(),
        3
    );
    assert_eq!(unread(agent.0, true).await, 1);
    // Never back, never past the end.
    assert_eq!(
        store.mark_read(ws, c.id, agent.0, 1, now()).await.unwrap(),
        3
    );
    assert_eq!(
        store.mark_read(ws, c.id, agent.0, 99, now()).await.unwrap(),
        5
    );
    assert_eq!(unread(agent.0, true).await, 0);
    let (ws2, _) = workspace(&store, "b@example.com").await;
    assert!(matches!(
        store.mark_read(ws2, c.id, agent.0, 1, now()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn labels_and_priority_are_stored_and_filtered(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let other = another(&store, &c, "v-2", ConversationStatus::Bot).await;
    let labels = vec!["退款".to_string(), "vip".to_string()];
    let got = store
        .update_conversation(ws, c.id, Some(3), Some(&labels), now())
        .await
        .unwrap();
    assert_eq!((got.priority, got.labels.clone()), (3, labels));
    let found = store
        .list_conversations(
            ws,
            &ConversationFilter {
                label: Some("退款".into()),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c.id]);
    // Text search reaches message bodies (Chinese substrings included).
    store
        .append_message(
            ws,
            other.id,
            &visitor_msg(other.contact_id, "我的订单还没发货", None),
        )
        .await
        .unwrap();
    let found = store
        .list_conversations(
            ws,
            &ConversationFilter {
                text: Some("发货".into()),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![other.id]
    );
    let none = store
        .list_conversations(
            ws,
            &ConversationFilter {
                text: Some("100%".into()),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(none.is_empty(), "wildcards are literal");
}

async fn a_removed_members_conversations_go_back_to_the_queue(store: Arc<dyn Store>) {
    let (ws, base) = conversation(&store, "a@example.com").await;
    let owner = store.list_members(ws).await.unwrap()[0].user_id;
    let agent = add_member(&store, ws, owner, "ag@example.com", Role::Agent).await;
    let t = team(ws, "售后", vec![agent]);
    store
        .create_team(&t, record(ws, "team.created"))
        .await
        .unwrap();
    online(&store, ws, agent, 5).await;
    let c = waiting(&store, &base, "v-1", 0, 5, None).await;
    let got = store.route_queue(ws, now(), 100).await.unwrap();
    assert_eq!(got[0].assignee_id, Some(agent));
    store
        .remove_member(ws, agent, record(ws, "member.removed"))
        .await
        .unwrap();
    let back = store.get_conversation(ws, c.id).await.unwrap();
    assert_eq!(
        (back.status, back.assignee_id),
        (ConversationStatus::Queued, None)
    );
    assert!(store.get_team(ws, t.id).await.unwrap().members.is_empty());
    assert!(store
        .list_presence(ws, 5)
        .await
        .unwrap()
        .iter()
        .all(|p| p.user_id != agent));
    // Nobody is online now: it waits.
    assert!(store.route_queue(ws, now(), 100).await.unwrap().is_empty());
}

/// The periodic router's list of workspaces with someone waiting, and the
/// cluster-wide gauges, on a fresh database.
async fn queues_and_the_operations_gauges_count_across_workspaces(store: Arc<dyn Store>) {
    let (ws, base) = conversation(&store, "a@example.com").await;
    let (quiet, _) = conversation(&store, "b@example.com").await;
    assert!(store.workspaces_with_queue().await.unwrap().is_empty());
    let g = store.ops_gauges(None).await.unwrap();
    assert_eq!(
        (g.queued_general, g.queued_team, g.agents_online),
        (0, 0, 0)
    );
    assert_eq!(g.inboxes.len(), 2, "one row per inbox: {:?}", g.inboxes);
    // Each inbox with its hours, and whether its workspace has an agent on.
    assert!(g.inboxes.iter().all(|(hours, on)| hours.is_none() && !on));

    let owner = store.list_members(ws).await.unwrap()[0].user_id;
    let vip = team(ws, "VIP", vec![owner]);
    store
        .create_team(&vip, record(ws, "team.created"))
        .await
        .unwrap();
    waiting(&store, &base, "v-1", 0, 10, None).await;
    waiting(&store, &base, "v-2", 0, 5, None).await;
    waiting(&store, &base, "v-3", 0, 1, Some(vip.id)).await;
    online(&store, ws, owner, 5).await;
    assert_eq!(store.workspaces_with_queue().await.unwrap(), vec![ws]);
    let g = store.ops_gauges(None).await.unwrap();
    assert_eq!(
        (g.queued_general, g.queued_team, g.agents_online),
        (2, 1, 1)
    );
    let quiet_owner = store.list_members(quiet).await.unwrap()[0].user_id;
    online(&store, quiet, quiet_owner, 5).await;
    assert_eq!(store.ops_gauges(None).await.unwrap().agents_online, 2);
}
