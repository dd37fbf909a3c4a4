use crate::support::*;
use kefu_domain::chat::*;
use kefu_domain::store::Store;
use kefu_domain::{ContactId, ConversationId, InboxId, MessageId, StoreError, WorkspaceId};
use std::sync::Arc;

crate::store_contract!(
    stale_conversations_are_the_assigned_ones_waiting_on_the_visitor,
    inboxes_are_found_by_key_and_scoped_by_workspace,
    inboxes_are_edited_and_deleted_only_while_empty,
    contacts_are_created_once_per_visitor,
    seqs_are_gap_free_and_pages_replay,
    resending_a_client_msg_id_stores_nothing,
    concurrent_sends_get_distinct_consecutive_seqs,
    racing_resends_store_one_message,
    private_notes_are_filtered_and_conversations_isolated,
    conversations_list_by_filter_and_page_by_cursor,
    transitions_apply_only_from_the_allowed_states,
    checked_appends_enforce_owner_and_status,
    checked_appends_racing_a_close_never_land_after_it,
);

fn inbox(ws: WorkspaceId, key: &str) -> Inbox {
    Inbox {
        id: InboxId::new(),
        workspace_id: ws,
        name: "网站咨询".into(),
        channel: "web".into(),
        widget_key: key.into(),
        identity_secret: "s3cret".into(),
        allowed_origins: vec!["https://shop.example.cn".into()],
        greeting: Some("您好！有什么可以帮您？".into()),
        bot_enabled: true,
        business_hours: None,
        offline_mode: OfflineMode::Queue,
        automation: Default::default(),
        created_at: now(),
    }
}

/// A workspace with an inbox, a contact and an open conversation.
pub(crate) async fn conversation(
    store: &Arc<dyn Store>,
    email: &str,
) -> (WorkspaceId, Conversation) {
    let (ws, _) = workspace(store, email).await;
    let i = inbox(ws, &format!("key-{}", uuid::Uuid::now_v7()));
    store
        .create_inbox(&i, record(ws, "inbox.created"))
        .await
        .unwrap();
    let contact = store
        .contact_for_visitor(ws, "visitor-1", now())
        .await
        .unwrap();
    let c = Conversation {
        id: ConversationId::new(),
        workspace_id: ws,
        inbox_id: i.id,
        contact_id: contact.id,
        status: ConversationStatus::Bot,
        priority: 0,
        assignee_id: None,
        team_id: None,
        assignment_reason: None,
        queued_at: None,
        labels: Vec::new(),
        last_seq: 0,
        rating: None,
        snoozed_until: None,
        created_at: now(),
        updated_at: now(),
    };
    store.create_conversation(&c).await.unwrap();
    (ws, c)
}

pub(crate) fn visitor_msg(
    contact: ContactId,
    body: &str,
    client_msg_id: Option<&str>,
) -> NewMessage {
    NewMessage {
        id: MessageId::new(),
        sender_kind: SenderKind::Visitor,
        sender_id: Some(contact.0),
        sender_name: None,
        body: body.into(),
        private: false,
        client_msg_id: client_msg_id.map(str::to_string),
        created_at: now(),
        meta: None,
    }
}

async fn inboxes_are_found_by_key_and_scoped_by_workspace(store: Arc<dyn Store>) {
    let (ws_a, _) = workspace(&store, "a@example.com").await;
    let (ws_b, _) = workspace(&store, "b@example.com").await;
    let i = inbox(ws_a, "wk_abc");
    store
        .create_inbox(&i, record(ws_a, "inbox.created"))
        .await
        .unwrap();
    assert_eq!(store.get_inbox(ws_a, i.id).await.unwrap(), i);
    assert_eq!(
        store.find_inbox_by_widget_key("wk_abc").await.unwrap(),
        Some(i.clone())
    );
    assert_eq!(
        store.find_inbox_by_widget_key("wk_nope").await.unwrap(),
        None
    );
    assert_eq!(store.list_inboxes(ws_a).await.unwrap(), vec![i.clone()]);
    assert!(store.list_inboxes(ws_b).await.unwrap().is_empty());
    assert!(matches!(
        store.get_inbox(ws_b, i.id).await,
        Err(StoreError::NotFound(_))
    ));
    let dup = store
        .create_inbox(&inbox(ws_b, "wk_abc"), record(ws_b, "inbox.created"))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let page = store.list_audit(ws_a, None, 1).await.unwrap();
    assert_eq!(page.entries[0].action, "inbox.created");
}

async fn inboxes_are_edited_and_deleted_only_while_empty(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let (other, _) = workspace(&store, "b@example.com").await;
    let before = store.get_inbox(ws, c.inbox_id).await.unwrap();
    let edited = Inbox {
        name: "售后".into(),
        allowed_origins: vec!["https://m.example.cn".into()],
        greeting: None,
        bot_enabled: false,
        offline_mode: OfflineMode::Form,
        // Not editable: kept as they were.
        widget_key: "wk_changed".into(),
        identity_secret: "other".into(),
        channel: "email".into(),
        ..before.clone()
    };
    store
        .update_inbox(&edited, record(ws, "inbox.updated"))
        .await
        .unwrap();
    let after = store.get_inbox(ws, c.inbox_id).await.unwrap();
    assert_eq!(
        after,
        Inbox {
            widget_key: before.widget_key.clone(),
            identity_secret: before.identity_secret.clone(),
            channel: before.channel.clone(),
            ..edited.clone()
        }
    );
    let foreign = store
        .update_inbox(
            &Inbox {
                workspace_id: other,
                ..edited.clone()
            },
            record(other, "inbox.updated"),
        )
        .await;
    assert!(
        matches!(foreign, Err(StoreError::NotFound(_))),
        "{foreign:?}"
    );
    assert_eq!(store.get_inbox(ws, c.inbox_id).await.unwrap(), after);
    // Nothing a visitor sent goes with an inbox.
    let busy = store
        .delete_inbox(ws, c.inbox_id, record(ws, "inbox.deleted"))
        .await;
    assert!(
        matches!(busy, Err(StoreError::Conflict("inbox_has_conversations"))),
        "{busy:?}"
    );
    let empty = inbox(ws, "wk_empty");
    store
        .create_inbox(&empty, record(ws, "inbox.created"))
        .await
        .unwrap();
    let foreign = store
        .delete_inbox(other, empty.id, record(other, "inbox.deleted"))
        .await;
    assert!(
        matches!(foreign, Err(StoreError::NotFound(_))),
        "{foreign:?}"
    );
    store
        .delete_inbox(ws, empty.id, record(ws, "inbox.deleted"))
        .await
        .unwrap();
    assert!(matches!(
        store.get_inbox(ws, empty.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.find_inbox_by_widget_key("wk_empty").await.unwrap(),
        None
    );
    let actions: Vec<String> = store
        .list_audit(ws, None, 10)
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions[..2], ["inbox.deleted", "inbox.created"]);
    assert!(actions.contains(&"inbox.updated".to_string()));
}

async fn contacts_are_created_once_per_visitor(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "a@example.com").await;
    let (other, _) = workspace(&store, "b@example.com").await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let s = store.clone();
        set.spawn(async move { s.contact_for_visitor(ws, "v-42", now()).await.unwrap().id });
    }
    let mut ids = std::collections::BTreeSet::new();
    while let Some(id) = set.join_next().await {
        ids.insert(id.unwrap());
    }
    assert_eq!(ids.len(), 1, "one contact for one visitor id");
    let elsewhere = store
        .contact_for_visitor(other, "v-42", now())
        .await
        .unwrap();
    assert!(
        !ids.contains(&elsewhere.id),
        "visitor ids are per workspace"
    );
}

async fn seqs_are_gap_free_and_pages_replay(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    for i in 1..=5 {
        let a = store
            .append_message(
                ws,
                c.id,
                &visitor_msg(c.contact_id, &format!("第{i}条"), Some(&format!("c{i}"))),
            )
            .await
            .unwrap();
        match a {
            Appended::New(m) => assert_eq!(m.seq, i),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(store.get_conversation(ws, c.id).await.unwrap().last_seq, 5);
    let page = store.messages_after(ws, c.id, 2, 2, true).await.unwrap();
    let seqs: Vec<i64> = page.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![3, 4]);
    assert_eq!(page[0].body, "第3条");
    let rest = store.messages_after(ws, c.id, 4, 100, true).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert!(store
        .messages_after(ws, c.id, 5, 100, true)
        .await
        .unwrap()
        .is_empty());
    let open = store
        .open_conversation(ws, c.inbox_id, c.contact_id)
        .await
        .unwrap();
    assert_eq!(open.map(|o| o.id), Some(c.id));
}

async fn resending_a_client_msg_id_stores_nothing(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let first = store
        .append_message(ws, c.id, &visitor_msg(c.contact_id, "hi", Some("m-1")))
        .await
        .unwrap();
    let again = store
        .append_message(ws, c.id, &visitor_msg(c.contact_id, "hi", Some("m-1")))
        .await
        .unwrap();
    let Appended::Duplicate(dup) = again else {
        panic!("{again:?}")
    };
    assert_eq!((dup.id, dup.seq), (first.message().id, 1));
    assert_eq!(
        store.get_conversation(ws, c.id).await.unwrap().last_seq,
        1,
        "no seq consumed"
    );
    assert_eq!(
        store
            .messages_after(ws, c.id, 0, 10, true)
            .await
            .unwrap()
            .len(),
        1
    );
    // The same key from another sender is another message.
    let agent = NewMessage {
        sender_kind: SenderKind::Agent,
        sender_id: Some(uuid::Uuid::now_v7()),
        sender_name: Some("小王".into()),
        ..visitor_msg(c.contact_id, "您好", Some("m-1"))
    };
    let a = store.append_message(ws, c.id, &agent).await.unwrap();
    assert!(matches!(a, Appended::New(ref m) if m.seq == 2), "{a:?}");
    // The agent's name at the time is kept with the message.
    let stored = store.messages_after(ws, c.id, 1, 10, true).await.unwrap();
    assert_eq!(stored[0].sender_name.as_deref(), Some("小王"));
    // Messages without a key are never deduplicated.
    for _ in 0..2 {
        store
            .append_message(ws, c.id, &visitor_msg(c.contact_id, "again", None))
            .await
            .unwrap();
    }
    assert_eq!(store.get_conversation(ws, c.id).await.unwrap().last_seq, 4);
}

async fn concurrent_sends_get_distinct_consecutive_seqs(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let s = store.clone();
        let m = visitor_msg(c.contact_id, "x", Some(&format!("k{i}")));
        set.spawn(async move { s.append_message(ws, c.id, &m).await.unwrap().message().seq });
    }
    let mut seqs = Vec::new();
    while let Some(seq) = set.join_next().await {
        seqs.push(seq.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (1..=20).collect::<Vec<i64>>());
    assert_eq!(
        stored_seqs(&store, ws, c.id).await,
        (1..=20).collect::<Vec<i64>>()
    );
}

async fn racing_resends_store_one_message(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let m = visitor_msg(c.contact_id, "only once", Some("retry-me"));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let s = store.clone();
        let m = NewMessage {
            id: MessageId::new(),
            ..m.clone()
        };
        set.spawn(async move { s.append_message(ws, c.id, &m).await.unwrap() });
    }
    let mut new = 0;
    let mut ids = std::collections::BTreeSet::new();
    while let Some(a) = set.join_next().await {
        let a = a.unwrap();
        new += matches!(a, Appended::New(_)) as u32;
        ids.insert(a.message().id);
    }
    assert_eq!(new, 1, "exactly one send stored");
    assert_eq!(ids.len(), 1, "every ack names the same message");
    assert_eq!(store.get_conversation(ws, c.id).await.unwrap().last_seq, 1);
}

async fn private_notes_are_filtered_and_conversations_isolated(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let (other_ws, _) = conversation(&store, "b@example.com").await;
    store
        .append_message(ws, c.id, &visitor_msg(c.contact_id, "public", None))
        .await
        .unwrap();
    let note = NewMessage {
        sender_kind: SenderKind::Agent,
        sender_id: Some(uuid::Uuid::now_v7()),
        sender_name: None,
        private: true,
        ..visitor_msg(c.contact_id, "VIP, be nice", None)
    };
    store.append_message(ws, c.id, &note).await.unwrap();
    let visitor_view = store.messages_after(ws, c.id, 0, 10, false).await.unwrap();
    assert_eq!(
        visitor_view
            .iter()
            .map(|m| m.body.as_str())
            .collect::<Vec<_>>(),
        vec!["public"]
    );
    assert_eq!(
        store
            .messages_after(ws, c.id, 0, 10, true)
            .await
            .unwrap()
            .len(),
        2
    );
    // Another workspace sees nothing and can write nothing.
    assert!(matches!(
        store.get_conversation(other_ws, c.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.messages_after(other_ws, c.id, 0, 10, true).await,
        Err(StoreError::NotFound(_))
    ));
    let cross = store
        .append_message(other_ws, c.id, &visitor_msg(c.contact_id, "intrude", None))
        .await;
    assert!(matches!(cross, Err(StoreError::NotFound(_))), "{cross:?}");
    assert_eq!(store.get_conversation(ws, c.id).await.unwrap().last_seq, 2);
}

/// One more conversation in the same inbox, for another visitor.
pub(crate) async fn another(
    store: &Arc<dyn Store>,
    c: &Conversation,
    visitor: &str,
    status: ConversationStatus,
) -> Conversation {
    let contact = store
        .contact_for_visitor(c.workspace_id, visitor, now())
        .await
        .unwrap();
    let n = Conversation {
        id: ConversationId::new(),
        contact_id: contact.id,
        status,
        created_at: now(),
        updated_at: now(),
        ..c.clone()
    };
    store.create_conversation(&n).await.unwrap();
    n
}

async fn conversations_list_by_filter_and_page_by_cursor(store: Arc<dyn Store>) {
    let (ws, first) = conversation(&store, "a@example.com").await;
    let (_, owner) = {
        let m = store.list_members(ws).await.unwrap();
        (ws, m[0].user_id)
    };
    let mut all = vec![first.clone()];
    for i in 0..4 {
        all.push(
            another(
                &store,
                &first,
                &format!("v-{i}"),
                ConversationStatus::Queued,
            )
            .await,
        );
    }
    let mine = Transition {
        assignee: Some(Some(owner)),
        ..Transition::new(
            &[ConversationStatus::Queued],
            ConversationStatus::Assigned,
            now(),
        )
    };
    store
        .transition_conversation(ws, all[1].id, &mine)
        .await
        .unwrap();
    let other_agent = kefu_domain::UserId::new();

    let queued = store
        .list_conversations(
            ws,
            &ConversationFilter {
                status: Some(ConversationStatus::Queued),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(queued.len(), 3);
    let assigned = store
        .list_conversations(
            ws,
            &ConversationFilter {
                assignee: Some(owner),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        assigned.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![all[1].id]
    );
    let visible = store
        .list_conversations(
            ws,
            &ConversationFilter {
                visible_to_agent: Some(other_agent),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        visible.len(),
        4,
        "everything but the conversation assigned to someone else"
    );

    // Paging: newest activity first, two at a time, no repeats, no gaps.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_conversations(
                ws,
                &ConversationFilter {
                    after,
                    limit: 2,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|c| (c.updated_at, c.id));
        seen.extend(page);
    }
    assert_eq!(seen.len(), 5);
    assert!(seen
        .windows(2)
        .all(|w| (w[0].updated_at, w[0].id) > (w[1].updated_at, w[1].id)));
    let (other_ws, _) = workspace(&store, "b@example.com").await;
    let none = store
        .list_conversations(
            other_ws,
            &ConversationFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn transitions_apply_only_from_the_allowed_states(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let handoff = Transition {
        assignee: None,
        ..Transition::new(
            &[ConversationStatus::Bot],
            ConversationStatus::Queued,
            now(),
        )
    };
    let after = store
        .transition_conversation(ws, c.id, &handoff)
        .await
        .unwrap();
    assert_eq!(after.status, ConversationStatus::Queued);
    let again = store.transition_conversation(ws, c.id, &handoff).await;
    assert!(
        matches!(again, Err(StoreError::Conflict("invalid_transition"))),
        "{again:?}"
    );
    let (other_ws, _) = workspace(&store, "b@example.com").await;
    let cross = store
        .transition_conversation(other_ws, c.id, &handoff)
        .await;
    assert!(matches!(cross, Err(StoreError::NotFound(_))), "{cross:?}");
    let unassign = Transition {
        assignee: Some(None),
        ..Transition::new(
            &[ConversationStatus::Queued],
            ConversationStatus::Resolved,
            now(),
        )
    };
    let resolved = store
        .transition_conversation(ws, c.id, &unassign)
        .await
        .unwrap();
    assert_eq!(
        (resolved.status, resolved.assignee_id),
        (ConversationStatus::Resolved, None)
    );
    assert_eq!(store.get_conversation(ws, c.id).await.unwrap(), resolved);
}

async fn checked_appends_enforce_owner_and_status(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let owner = Some((c.contact_id, c.inbox_id));
    let (first, after) = store
        .append_checked(
            ws,
            c.id,
            owner,
            &visitor_msg(c.contact_id, "你好", Some("m-1")),
        )
        .await
        .unwrap();
    assert!(matches!(first, Appended::New(_)));
    assert_eq!(first.message().seq, 1);
    assert_eq!(
        (after.id, after.last_seq, after.status),
        (c.id, 1, ConversationStatus::Bot)
    );
    // A resend: the original, nothing stored.
    let (again, _) = store
        .append_checked(
            ws,
            c.id,
            owner,
            &visitor_msg(c.contact_id, "你好", Some("m-1")),
        )
        .await
        .unwrap();
    assert!(matches!(again, Appended::Duplicate(ref m) if m.id == first.message().id));
    // Someone else's conversation, or another workspace's: not found.
    let stranger = store
        .contact_for_visitor(ws, "v-other", now())
        .await
        .unwrap();
    let r = store
        .append_checked(
            ws,
            c.id,
            Some((stranger.id, c.inbox_id)),
            &visitor_msg(stranger.id, "x", Some("s-1")),
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    let (other_ws, _) = workspace(&store, "b@example.com").await;
    let r = store
        .append_checked(
            other_ws,
            c.id,
            None,
            &visitor_msg(c.contact_id, "x", Some("s-2")),
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    // Resolved: appended, and reported as resolved (the service reopens it).
    let resolve = Transition::new(
        &[ConversationStatus::Bot],
        ConversationStatus::Resolved,
        now(),
    );
    store
        .transition_conversation(ws, c.id, &resolve)
        .await
        .unwrap();
    let (_, after) = store
        .append_checked(
            ws,
            c.id,
            owner,
            &visitor_msg(c.contact_id, "还在吗", Some("m-2")),
        )
        .await
        .unwrap();
    assert_eq!(
        (after.status, after.last_seq),
        (ConversationStatus::Resolved, 2)
    );
    // Closed: refused, nothing stored.
    let close = Transition::new(
        &[ConversationStatus::Resolved],
        ConversationStatus::Closed,
        now(),
    );
    store
        .transition_conversation(ws, c.id, &close)
        .await
        .unwrap();
    let r = store
        .append_checked(
            ws,
            c.id,
            owner,
            &visitor_msg(c.contact_id, "喂", Some("m-3")),
        )
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict("conversation_closed"))),
        "{r:?}"
    );
    assert_eq!(store.get_conversation(ws, c.id).await.unwrap().last_seq, 2);
}

/// SQLite only: every append must let SQLite checkpoint its write-ahead log.
/// A statement that is not stepped to its end never triggers the
/// auto-checkpoint, and the log then grows until one huge checkpoint stalls
/// every writer (found by the chat benchmark).
#[tokio::test]
async fn sqlite_appends_keep_the_wal_small() {
    // Without the background checkpoint, SQLite's own (every 1,000 pages)
    // is all there is: 3,000 appends (~100 MB of log pages) leave a log of
    // a few MB when each append is stepped to its end, and over 100 MB
    // when not. Deterministic: nothing else checkpoints.
    let wal = wal_after_appends(std::time::Duration::ZERO, 3000).await;
    assert!(wal < 16 * 1024 * 1024, "the WAL grew to {wal} bytes");
    // With it (the default), a writer that never pauses keeps the
    // background pass from finishing; the writer's own checkpoint at
    // 64 MiB bounds the log (on a loaded machine a checkpoint that cannot
    // restart the log lets it run on a little: 87 MB was seen).
    let wal = wal_after_appends(std::time::Duration::from_millis(250), 6000).await;
    assert!(wal < 128 * 1024 * 1024, "the WAL grew to {wal} bytes");
}

/// The size of a fresh SQLite database's log after `n` appends of 1,000
/// Han characters each, with this background checkpoint interval.
async fn wal_after_appends(interval: std::time::Duration, n: usize) -> u64 {
    let db = kefu_store::testing::TestDb::sqlite();
    let store = kefu_store::connect(&kefu_store::ConnectOptions {
        sqlite_checkpoint_interval: interval,
        ..kefu_store::testing::options(&db.url)
    })
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    let (ws, c) = conversation(&store, "a@example.com").await;
    let body = "字".repeat(1000);
    for i in 0..n {
        let mut m = visitor_msg(c.contact_id, &body, Some(&format!("m-{i}")));
        m.id = MessageId::new();
        store.append_message(ws, c.id, &m).await.unwrap();
    }
    let path = db.url.trim_start_matches("sqlite://").to_string() + "-wal";
    let wal = std::fs::metadata(&path).unwrap().len();
    drop(store);
    db.cleanup().await;
    wal
}

/// Checked appends racing a close: once the close has committed, nothing
/// lands. Every append either succeeds and is stored at or below the last
/// seq the close saw, or is refused as closed; no message is lost either
/// way. (SQLite once checked on a snapshot and wrote afterwards, so an
/// append that read "open" before the close landed after it.)
async fn checked_appends_racing_a_close_never_land_after_it(store: Arc<dyn Store>) {
    for round in 0..5 {
        let (ws, c) = conversation(&store, &format!("r{round}@example.com")).await;
        let owner = Some((c.contact_id, c.inbox_id));
        let mut set = tokio::task::JoinSet::new();
        for i in 0..30 {
            let s = store.clone();
            let m = visitor_msg(c.contact_id, "x", Some(&format!("k{i}")));
            set.spawn(async move {
                s.append_checked(ws, c.id, owner, &m)
                    .await
                    .map(|(a, _)| a.message().seq)
            });
        }
        // Let some of them start, then close while the rest are in flight.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        use ConversationStatus::*;
        let closed = move_to(&store, ws, c.id, &[Bot, Queued, Assigned, Resolved], Closed).await;
        let mut accepted = Vec::new();
        while let Some(r) = set.join_next().await {
            match r.unwrap() {
                Ok(seq) => accepted.push(seq),
                Err(StoreError::Conflict("conversation_closed")) => {}
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        accepted.sort();
        let stored = stored_seqs(&store, ws, c.id).await;
        assert_eq!(
            stored, accepted,
            "round {round}: every accepted append is stored"
        );
        assert!(
            stored.iter().all(|&seq| seq <= closed.last_seq),
            "round {round}: the close saw last seq {}, yet {stored:?} were stored",
            closed.last_seq
        );
        let after = store.get_conversation(ws, c.id).await.unwrap();
        assert_eq!(after.last_seq, closed.last_seq, "round {round}");
    }
}

/// The seqs of the conversation's stored messages (the first 100).
async fn stored_seqs(store: &Arc<dyn Store>, ws: WorkspaceId, c: ConversationId) -> Vec<i64> {
    store
        .messages_after(ws, c, 0, 100, true)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect()
}

/// Auto-resolve's candidates: assigned, the team spoke last in public,
/// quiet since the cutoff, not snoozed. A conversation with the bot is
/// never one, however stale (the transition would refuse it, and a batch
/// full of them would starve the assigned ones).
async fn stale_conversations_are_the_assigned_ones_waiting_on_the_visitor(store: Arc<dyn Store>) {
    let (ws, bot) = conversation(&store, "s@example.com").await;
    let reply = |kind: SenderKind, private: bool| NewMessage {
        sender_kind: kind,
        sender_id: None,
        private,
        ..visitor_msg(bot.contact_id, "…", None)
    };
    store
        .append_message(ws, bot.id, &reply(SenderKind::Bot, false))
        .await
        .unwrap();
    // Two more conversations of the same inbox and contact.
    let another = |status| Conversation {
        id: ConversationId::new(),
        status,
        ..bot.clone()
    };
    let answered = another(ConversationStatus::Assigned);
    let waiting_on_team = another(ConversationStatus::Assigned);
    let noted = another(ConversationStatus::Assigned);
    let snoozed = another(ConversationStatus::Assigned);
    for c in [&answered, &waiting_on_team, &noted, &snoozed] {
        store.create_conversation(c).await.unwrap();
    }
    for c in [&answered, &snoozed] {
        store
            .append_message(ws, c.id, &reply(SenderKind::Agent, false))
            .await
            .unwrap();
    }
    store
        .append_message(
            ws,
            waiting_on_team.id,
            &visitor_msg(bot.contact_id, "?", None),
        )
        .await
        .unwrap();
    store
        .append_message(ws, noted.id, &visitor_msg(bot.contact_id, "?", None))
        .await
        .unwrap();
    store
        .append_message(ws, noted.id, &reply(SenderKind::Agent, true))
        .await
        .unwrap();
    let later = now() + chrono::Duration::hours(1);
    store
        .snooze_conversation(ws, snoozed.id, Some(later), now())
        .await
        .unwrap();
    let stale = store
        .stale_conversations(ws, bot.inbox_id, later, 100)
        .await
        .unwrap();
    assert_eq!(stale, vec![answered.id]);
    // Not yet quiet long enough: none.
    let early = now() - chrono::Duration::hours(1);
    assert!(store
        .stale_conversations(ws, bot.inbox_id, early, 100)
        .await
        .unwrap()
        .is_empty());
}
