//! Attachments' records: uploads, claimed by their uploader's message.

use crate::chat::conversation;
use crate::support::*;
use kefu_domain::attachments::{Attachment, Uploader};
use kefu_domain::store::Store;
use kefu_domain::{AttachmentId, ConversationId, MessageId, StoreError, WorkspaceId};
use std::sync::Arc;

crate::store_contract!(attachments_are_claimed_by_their_uploader_all_or_none);

fn upload(ws: WorkspaceId, uploader: Uploader, name: &str, bytes: i64) -> Attachment {
    Attachment {
        id: AttachmentId::new(),
        workspace_id: ws,
        uploader,
        conversation_id: None,
        message_id: None,
        filename: name.into(),
        content_type: "image/png".into(),
        bytes,
        sha256: "ab".repeat(32),
        created_at: now(),
    }
}

async fn attachments_are_claimed_by_their_uploader_all_or_none(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let (other_ws, _) = workspace(&store, "b@example.com").await;
    let visitor = Uploader::Visitor(c.contact_id);
    let a = upload(ws, visitor, "发票.png", 1000);
    let b = upload(ws, visitor, "b.png", 24);
    let theirs = upload(
        ws,
        Uploader::Agent(kefu_domain::UserId::new()),
        "agent.png",
        5,
    );
    for x in [&a, &b, &theirs] {
        store.create_attachment(x).await.unwrap();
    }
    assert_eq!(store.get_attachment(ws, a.id).await.unwrap(), a);
    assert!(matches!(
        store.get_attachment(other_ws, a.id).await,
        Err(StoreError::NotFound("attachment"))
    ));
    assert_eq!(store.attachment_bytes(ws).await.unwrap(), 1029);
    assert_eq!(store.attachment_bytes(other_ws).await.unwrap(), 0);

    let msg = MessageId::new();
    // Someone else's upload, or an unknown id, among them: nothing is claimed.
    for ids in [vec![a.id, theirs.id], vec![a.id, AttachmentId::new()]] {
        assert!(matches!(
            store.claim_attachments(ws, &ids, visitor, c.id, msg).await,
            Err(StoreError::NotFound("attachment"))
        ));
    }
    assert_eq!(
        store.get_attachment(ws, a.id).await.unwrap().message_id,
        None
    );
    assert!(matches!(
        store
            .claim_attachments(other_ws, &[a.id], visitor, c.id, msg)
            .await,
        Err(StoreError::NotFound("attachment"))
    ));

    let claimed = store
        .claim_attachments(ws, &[b.id, a.id], visitor, c.id, msg)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|x| x.id).collect::<Vec<_>>(),
        [b.id, a.id],
        "in the order asked"
    );
    assert!(claimed
        .iter()
        .all(|x| x.conversation_id == Some(c.id) && x.message_id == Some(msg)));
    // A resent message claims them again; the first message keeps them.
    let again = store
        .claim_attachments(ws, &[a.id], visitor, c.id, MessageId::new())
        .await
        .unwrap();
    assert_eq!(again[0].message_id, Some(msg));
    // Never into another conversation.
    assert!(matches!(
        store
            .claim_attachments(
                ws,
                &[a.id],
                visitor,
                ConversationId::new(),
                MessageId::new()
            )
            .await,
        Err(StoreError::NotFound("attachment"))
    ));
    assert!(store
        .claim_attachments(ws, &[], visitor, c.id, msg)
        .await
        .unwrap()
        .is_empty());
}
