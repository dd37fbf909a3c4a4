//! What the console reads around a conversation: scrolling back, the
//! inbox list's last messages and contacts, a contact's history, the
//! visitor's rating and the response times; and canned responses.

use crate::chat::{conversation, visitor_msg};
use crate::support::*;
use chrono::Duration;
use kefu_domain::analytics::{CannedResponse, Rating};
use kefu_domain::chat::*;
use kefu_domain::store::Store;
use kefu_domain::{CannedResponseId, ContactId, ConversationId, StoreError, UserId};
use std::sync::Arc;

crate::store_contract!(
    history_scrolls_back_and_lists_by_contact,
    the_first_public_agent_reply_after_handoff_is_the_first_response,
    ratings_need_the_contact_and_a_resolved_conversation,
    canned_responses_are_unique_by_shortcut_per_workspace,
    a_conversations_facts_follow_its_life,
);

fn agent_msg(agent: UserId, body: &str, private: bool) -> NewMessage {
    NewMessage {
        sender_kind: SenderKind::Agent,
        sender_id: Some(agent.0),
        private,
        ..visitor_msg(ContactId::new(), body, None)
    }
}

async fn history_scrolls_back_and_lists_by_contact(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let (_, owner) = workspace(&store, "unused@example.com").await;
    for i in 1..=6 {
        let m = if i == 3 {
            agent_msg(owner, "内部备注", true)
        } else {
            visitor_msg(c.contact_id, &format!("第{i}条"), None)
        };
        store.append_message(ws, c.id, &m).await.unwrap();
    }
    let seqs = |v: Vec<Message>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
    // The newest before seq 6, oldest first; private notes only on request.
    let back = store.messages_before(ws, c.id, 6, 3, true).await.unwrap();
    assert_eq!(seqs(back), vec![3, 4, 5]);
    let public = store.messages_before(ws, c.id, 6, 3, false).await.unwrap();
    assert_eq!(seqs(public), vec![2, 4, 5]);
    let start = store.messages_before(ws, c.id, 2, 10, true).await.unwrap();
    assert_eq!(seqs(start), vec![1]);
    assert!(store
        .messages_before(ws, c.id, 1, 10, true)
        .await
        .unwrap()
        .is_empty());

    // A second conversation of the same contact, later, in the same inbox.
    let later = Conversation {
        id: ConversationId::new(),
        created_at: now() + Duration::seconds(1),
        updated_at: now() + Duration::seconds(1),
        ..c.clone()
    };
    store.create_conversation(&later).await.unwrap();
    let empty = Conversation {
        id: ConversationId::new(),
        ..c.clone()
    };
    store.create_conversation(&empty).await.unwrap();
    store
        .append_message(ws, later.id, &visitor_msg(c.contact_id, "又来了", None))
        .await
        .unwrap();
    let mut last = store
        .last_messages(ws, &[c.id, later.id, empty.id, ConversationId::new()])
        .await
        .unwrap();
    last.sort_by_key(|m| m.body.clone());
    assert_eq!(
        last.iter()
            .map(|m| (m.conversation_id, m.seq))
            .collect::<Vec<_>>(),
        vec![(later.id, 1), (c.id, 6)],
        "the newest message of each conversation that has one"
    );
    let by_contact = store
        .contact_conversations(ws, c.inbox_id, c.contact_id, 10)
        .await
        .unwrap();
    assert_eq!(by_contact.len(), 3);
    assert_eq!(by_contact[0].id, later.id, "newest first");
    assert_eq!(
        store
            .contact_conversations(ws, c.inbox_id, c.contact_id, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    let everywhere = store.contact_history(ws, c.contact_id, 10).await.unwrap();
    assert_eq!(everywhere.len(), 3);
    assert_eq!(everywhere[0].id, later.id);
    let contacts = store
        .contacts_by_ids(ws, &[c.contact_id, ContactId::new()])
        .await
        .unwrap();
    assert_eq!(
        contacts.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![c.contact_id]
    );

    // Another workspace sees none of it.
    let (other, _) = workspace(&store, "b@example.com").await;
    assert!(store
        .last_messages(other, &[c.id, later.id])
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .contact_history(other, c.contact_id, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .contacts_by_ids(other, &[c.contact_id])
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.messages_before(other, c.id, 6, 3, true).await,
        Err(StoreError::NotFound(_))
    ));
}

/// The first response is the first public agent message after the
/// conversation went to people: bot-time messages, private notes and
/// later replies do not move it (one rule on both engines, a CTE on
/// PostgreSQL and a trigger on SQLite).
async fn the_first_public_agent_reply_after_handoff_is_the_first_response(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let owner = store.list_members(ws).await.unwrap()[0].user_id;
    assert_eq!(store.response_times(ws, c.id).await.unwrap(), (None, None));
    move_to(
        &store,
        ws,
        c.id,
        &[ConversationStatus::Bot],
        ConversationStatus::Queued,
    )
    .await;
    let (human_at, first) = store.response_times(ws, c.id).await.unwrap();
    assert!(
        human_at.is_some(),
        "handing off records when people took over"
    );
    assert_eq!(first, None);
    store
        .append_message(ws, c.id, &agent_msg(owner, "note", true))
        .await
        .unwrap();
    assert_eq!(store.response_times(ws, c.id).await.unwrap().1, None);
    let mut reply = agent_msg(owner, "您好", false);
    reply.created_at = now() + Duration::seconds(30);
    store.append_message(ws, c.id, &reply).await.unwrap();
    let (_, first) = store.response_times(ws, c.id).await.unwrap();
    assert_eq!(first, Some(reply.created_at));
    let mut again = agent_msg(owner, "还在吗", false);
    again.created_at = now() + Duration::seconds(90);
    store.append_message(ws, c.id, &again).await.unwrap();
    assert_eq!(
        store.response_times(ws, c.id).await.unwrap().1,
        Some(reply.created_at),
        "a later reply does not move it"
    );
    let (other, _) = workspace(&store, "b@example.com").await;
    assert!(matches!(
        store.response_times(other, c.id).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn ratings_need_the_contact_and_a_resolved_conversation(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let rating = |score| Rating {
        score,
        comment: Some("很快".into()),
        rated_at: now(),
    };
    let early = store
        .rate_conversation(ws, c.id, c.contact_id, &rating(5))
        .await;
    assert!(
        matches!(
            early,
            Err(StoreError::Conflict("conversation_not_resolved"))
        ),
        "{early:?}"
    );
    move_to(
        &store,
        ws,
        c.id,
        &[ConversationStatus::Bot],
        ConversationStatus::Resolved,
    )
    .await;
    let stranger = store
        .contact_for_visitor(ws, "v-stranger", now())
        .await
        .unwrap();
    let r = store
        .rate_conversation(ws, c.id, stranger.id, &rating(1))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    let rated = store
        .rate_conversation(ws, c.id, c.contact_id, &rating(4))
        .await
        .unwrap();
    assert_eq!(rated.rating.as_ref().map(|r| r.score), Some(4));
    let replaced = store
        .rate_conversation(ws, c.id, c.contact_id, &rating(2))
        .await
        .unwrap();
    assert_eq!(replaced.rating.as_ref().map(|r| r.score), Some(2));
    assert_eq!(
        store
            .get_conversation(ws, c.id)
            .await
            .unwrap()
            .rating
            .map(|r| (r.score, r.comment)),
        Some((2, Some("很快".into())))
    );
    let (other, _) = workspace(&store, "b@example.com").await;
    let r = store
        .rate_conversation(other, c.id, c.contact_id, &rating(3))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
}

async fn canned_responses_are_unique_by_shortcut_per_workspace(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "a@example.com").await;
    let (other, _) = workspace(&store, "b@example.com").await;
    let canned = |ws, shortcut: &str, body: &str| CannedResponse {
        id: CannedResponseId::new(),
        workspace_id: ws,
        shortcut: shortcut.into(),
        title: Some("问候".into()),
        body: body.into(),
        created_at: now(),
        updated_at: now(),
    };
    let hi = canned(ws, "hi", "您好，请问有什么可以帮您？");
    let bye = canned(ws, "bye", "感谢您的咨询，再见！");
    store.create_canned_response(&hi).await.unwrap();
    store.create_canned_response(&bye).await.unwrap();
    let taken = store
        .create_canned_response(&canned(ws, "hi", "again"))
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict("shortcut_taken"))),
        "{taken:?}"
    );
    // The same shortcut in another workspace is its own.
    store
        .create_canned_response(&canned(other, "hi", "Hello"))
        .await
        .unwrap();
    let list = store.canned_responses(ws).await.unwrap();
    assert_eq!(
        list.iter().map(|c| c.shortcut.as_str()).collect::<Vec<_>>(),
        vec!["bye", "hi"],
        "by shortcut"
    );
    assert_eq!(store.canned_response(ws, hi.id).await.unwrap(), hi);

    let edited = CannedResponse {
        shortcut: "hello".into(),
        title: None,
        body: "您好！".into(),
        updated_at: now() + Duration::seconds(5),
        ..hi.clone()
    };
    store.update_canned_response(&edited).await.unwrap();
    assert_eq!(store.canned_response(ws, hi.id).await.unwrap(), edited);
    let clash = store
        .update_canned_response(&CannedResponse {
            shortcut: "bye".into(),
            ..edited.clone()
        })
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict("shortcut_taken"))),
        "{clash:?}"
    );
    // Another workspace can neither read, change nor delete it.
    assert!(matches!(
        store.canned_response(other, hi.id).await,
        Err(StoreError::NotFound(_))
    ));
    let foreign = store
        .update_canned_response(&CannedResponse {
            workspace_id: other,
            ..edited.clone()
        })
        .await;
    assert!(
        matches!(foreign, Err(StoreError::NotFound(_))),
        "{foreign:?}"
    );
    assert!(matches!(
        store.delete_canned_response(other, hi.id).await,
        Err(StoreError::NotFound(_))
    ));
    store.delete_canned_response(ws, hi.id).await.unwrap();
    assert!(matches!(
        store.canned_response(ws, hi.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_canned_response(ws, hi.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.canned_responses(ws).await.unwrap().len(), 1);
    assert_eq!(store.canned_responses(other).await.unwrap().len(), 1);
}

/// What the analytics read of one conversation: handed off, answered,
/// resolved and rated; only in its own workspace and creation window.
async fn a_conversations_facts_follow_its_life(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let owner = store.list_members(ws).await.unwrap()[0].user_id;
    let window = |from_secs: i64, to_secs: i64| {
        (
            c.created_at + Duration::seconds(from_secs),
            c.created_at + Duration::seconds(to_secs),
        )
    };
    let take = Transition {
        assignee: Some(Some(owner)),
        ..Transition::new(
            &[ConversationStatus::Bot],
            ConversationStatus::Assigned,
            now(),
        )
    };
    store
        .transition_conversation(ws, c.id, &take)
        .await
        .unwrap();
    let mut reply = agent_msg(owner, "您好", false);
    reply.created_at = now() + Duration::seconds(20);
    store.append_message(ws, c.id, &reply).await.unwrap();
    let resolve = Transition::new(
        &[ConversationStatus::Assigned],
        ConversationStatus::Resolved,
        now() + Duration::seconds(60),
    );
    store
        .transition_conversation(ws, c.id, &resolve)
        .await
        .unwrap();
    let rating = Rating {
        score: 4,
        comment: None,
        rated_at: now(),
    };
    store
        .rate_conversation(ws, c.id, c.contact_id, &rating)
        .await
        .unwrap();

    let (from, to) = window(0, 1);
    let facts = store.conversation_facts(ws, from, to).await.unwrap();
    assert_eq!(facts.len(), 1, "{facts:?}");
    let f = &facts[0];
    assert_eq!((f.id, f.created_at), (c.id, c.created_at));
    assert_eq!(f.assignee_id, Some(owner));
    assert!(f.started_with_bot);
    assert!(f.human_at.is_some());
    assert_eq!(f.first_response_at, Some(reply.created_at));
    assert_eq!(f.resolved_at, Some(resolve.at));
    assert_eq!(f.rating, Some(4));
    assert_eq!(f.bot_answers.last_answer_at, None, "the bot never answered");
    // The window is half-open, and other workspaces see nothing.
    let (from, to) = window(-60, 0);
    assert!(store
        .conversation_facts(ws, from, to)
        .await
        .unwrap()
        .is_empty());
    let (other, _) = workspace(&store, "b@example.com").await;
    let (from, to) = window(-60, 60);
    assert!(store
        .conversation_facts(other, from, to)
        .await
        .unwrap()
        .is_empty());
}
