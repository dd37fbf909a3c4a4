//! The workspace export's keyset reads: pages in id order that resume after
//! their cursor, hold every row of the workspace once and none of another.

use crate::chat::{conversation, visitor_msg};
use crate::support::*;
use kefu_domain::chat::*;
use kefu_domain::store::Store;
use kefu_domain::{ContactId, ConversationId, WorkspaceId};
use std::sync::Arc;

crate::store_contract!(
    contacts_and_conversations_page_in_id_order_within_the_workspace,
    messages_page_by_conversation_and_seq_with_private_notes,
);

/// Another conversation in the workspace (of the conversation `like`), for
/// a new contact.
async fn another(store: &Arc<dyn Store>, like: &Conversation, visitor: &str) -> Conversation {
    let contact = store
        .contact_for_visitor(like.workspace_id, visitor, now())
        .await
        .unwrap();
    let c = Conversation {
        id: ConversationId::new(),
        contact_id: contact.id,
        created_at: now(),
        updated_at: now(),
        ..like.clone()
    };
    store.create_conversation(&c).await.unwrap();
    c
}

/// Every page of `read` from the start, `limit` at a time, each resuming
/// after the previous page's last id.
async fn all_pages<T, F, Fut>(limit: i64, id: impl Fn(&T) -> uuid::Uuid, read: F) -> Vec<T>
where
    F: Fn(Option<uuid::Uuid>) -> Fut,
    Fut: std::future::Future<Output = Vec<T>>,
{
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = read(after).await;
        assert!(page.len() as i64 <= limit);
        let done = (page.len() as i64) < limit;
        after = page.last().map(&id);
        out.extend(page);
        if done {
            return out;
        }
    }
}

async fn contacts_and_conversations_page_in_id_order_within_the_workspace(store: Arc<dyn Store>) {
    let (ws, first) = conversation(&store, "a@example.com").await;
    let mut conversations = vec![first.clone()];
    for i in 2..=5 {
        conversations.push(another(&store, &first, &format!("visitor-{i}")).await);
    }
    // A contact without a conversation is exported too.
    let lone = store
        .contact_for_visitor(ws, "visitor-lone", now())
        .await
        .unwrap();
    let resolve = Transition::new(
        &[ConversationStatus::Bot],
        ConversationStatus::Resolved,
        now(),
    );
    store
        .transition_conversation(ws, conversations[1].id, &resolve)
        .await
        .unwrap();
    let (other_ws, other) = conversation(&store, "b@example.com").await;

    let contacts = all_pages(
        2,
        |c: &Contact| c.id.0,
        |after| {
            let store = store.clone();
            async move {
                store
                    .export_contacts(ws, after.map(ContactId), 2)
                    .await
                    .unwrap()
            }
        },
    )
    .await;
    let mut want: Vec<ContactId> = conversations.iter().map(|c| c.contact_id).collect();
    want.push(lone.id);
    want.sort();
    assert_eq!(contacts.iter().map(|c| c.id).collect::<Vec<_>>(), want);
    assert!(contacts.iter().all(|c| c.workspace_id == ws));
    assert_eq!(
        contacts[0],
        store.get_contact(ws, contacts[0].id).await.unwrap(),
        "the same record as a single read"
    );

    let exported = all_pages(
        2,
        |c: &kefu_domain::store::ExportedConversation| c.conversation.id.0,
        |after| {
            let store = store.clone();
            async move {
                store
                    .export_conversations(ws, after.map(ConversationId), 2)
                    .await
                    .unwrap()
            }
        },
    )
    .await;
    let mut want: Vec<ConversationId> = conversations.iter().map(|c| c.id).collect();
    want.sort();
    assert_eq!(
        exported
            .iter()
            .map(|c| c.conversation.id)
            .collect::<Vec<_>>(),
        want
    );
    for e in &exported {
        let stored = store.get_conversation(ws, e.conversation.id).await.unwrap();
        assert_eq!(e.conversation, stored);
        assert_eq!(
            e.resolved_at.is_some(),
            e.conversation.id == conversations[1].id,
            "only the resolved one has a resolution time"
        );
        assert_eq!(e.first_response_at, None);
    }

    // The other workspace sees only its own; a cursor past the end, nothing.
    let theirs = store
        .export_conversations(other_ws, None, 100)
        .await
        .unwrap();
    assert_eq!(
        theirs.iter().map(|c| c.conversation.id).collect::<Vec<_>>(),
        [other.id]
    );
    assert_eq!(
        store
            .export_contacts(other_ws, None, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    let last = *want.last().unwrap();
    assert!(store
        .export_conversations(ws, Some(last), 100)
        .await
        .unwrap()
        .is_empty());
}

async fn messages_page_by_conversation_and_seq_with_private_notes(store: Arc<dyn Store>) {
    let (ws, first) = conversation(&store, "a@example.com").await;
    let second = another(&store, &first, "visitor-2").await;
    let quiet = another(&store, &first, "visitor-3").await;
    let (other_ws, other) = conversation(&store, "b@example.com").await;
    let say = |ws: WorkspaceId, c: Conversation, body: String, private: bool| {
        let store = store.clone();
        async move {
            let m = NewMessage {
                private,
                ..visitor_msg(c.contact_id, &body, None)
            };
            store.append_message(ws, c.id, &m).await.unwrap();
        }
    };
    for i in 1..=4 {
        say(ws, first.clone(), format!("一{i}"), i == 2).await;
        say(ws, second.clone(), format!("二{i}"), false).await;
        say(other_ws, other.clone(), format!("外{i}"), false).await;
    }
    let mut batch = vec![first.id, second.id, quiet.id, other.id];
    batch.sort();

    // Pages of 3 resume after their last (conversation, seq).
    let mut read = Vec::new();
    let mut after = None;
    loop {
        let page = store.export_messages(ws, &batch, after, 3).await.unwrap();
        after = page.last().map(|m| (m.conversation_id, m.seq));
        let done = page.len() < 3;
        read.extend(page);
        if done {
            break;
        }
    }
    let mut want: Vec<(ConversationId, i64)> = [first.id, second.id]
        .iter()
        .flat_map(|c| (1..=4).map(move |seq| (*c, seq)))
        .collect();
    want.sort();
    assert_eq!(
        read.iter()
            .map(|m| (m.conversation_id, m.seq))
            .collect::<Vec<_>>(),
        want,
        "every message of the workspace's conversations once, none of another workspace"
    );
    let note = read
        .iter()
        .find(|m| m.conversation_id == first.id && m.seq == 2)
        .unwrap();
    assert!(note.private && note.body == "一2", "private notes included");
    assert_eq!(
        read.iter()
            .filter(|m| m.conversation_id == first.id)
            .cloned()
            .collect::<Vec<_>>(),
        store
            .messages_after(ws, first.id, 0, 100, true)
            .await
            .unwrap(),
        "the same records as the conversation's own log"
    );
    assert!(store
        .export_messages(ws, &[], None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .export_messages(other_ws, &[first.id], None, 10)
        .await
        .unwrap()
        .is_empty());
}
