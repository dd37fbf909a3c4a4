//! The contact list, merging two contacts and erasing one.

use crate::chat::{conversation, visitor_msg};
use crate::support::*;
use chrono::Duration;
use kefu_domain::chat::*;
use kefu_domain::kb::{BotDecision, BotTurn};
use kefu_domain::store::Store;
use kefu_domain::{BotTurnId, ContactId, ConversationId, MessageId, StoreError, WorkspaceId};
use std::sync::Arc;

crate::store_contract!(
    contacts_list_by_text_attribute_and_cursor,
    merging_moves_conversations_to_the_survivor,
    erasing_removes_personal_data_and_visitor_bodies,
);

fn profile(name: &str, email: Option<&str>, attrs: serde_json::Value) -> ContactPatch {
    ContactPatch {
        name: Some(Some(name.into())),
        email: Some(email.map(Into::into)),
        phone: None,
        attributes: attrs.as_object().cloned(),
    }
}

/// A new contact created at `secs` past [`now`], with this profile.
async fn contact_at(
    store: &Arc<dyn Store>,
    ws: WorkspaceId,
    visitor: &str,
    secs: i64,
    patch: &ContactPatch,
) -> Contact {
    let at = now() + Duration::seconds(secs);
    let c = store.contact_for_visitor(ws, visitor, at).await.unwrap();
    store.update_contact(ws, c.id, patch, at).await.unwrap()
}

/// A conversation of `contact` in `like`'s inbox.
async fn conversation_of(
    store: &Arc<dyn Store>,
    like: &Conversation,
    contact: ContactId,
) -> Conversation {
    let c = Conversation {
        id: ConversationId::new(),
        contact_id: contact,
        ..like.clone()
    };
    store.create_conversation(&c).await.unwrap();
    c
}

fn ids(found: &[Contact]) -> Vec<ContactId> {
    found.iter().map(|c| c.id).collect()
}

fn filter(query: Option<&str>, attribute: Option<(&str, &str)>) -> ContactFilter {
    ContactFilter {
        query: query.map(Into::into),
        attribute: attribute.map(|(k, v)| (k.into(), v.into())),
        before: None,
        limit: 50,
    }
}

async fn contacts_list_by_text_attribute_and_cursor(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "a@example.com").await;
    let (other, _) = workspace(&store, "b@example.com").await;
    let wang = contact_at(
        &store,
        ws,
        "v-1",
        1,
        &profile(
            "王小明",
            Some("Ming@Example.com"),
            serde_json::json!({"plan": "vip", "orders": 3}),
        ),
    )
    .await;
    let li = contact_at(
        &store,
        ws,
        "v-2",
        2,
        &profile(
            "李雷",
            None,
            serde_json::json!({"plan": "free", "beta": true}),
        ),
    )
    .await;
    let han = contact_at(
        &store,
        ws,
        "v-3",
        3,
        &profile("Han 100%", None, serde_json::json!({"plan": "vip"})),
    )
    .await;
    contact_at(
        &store,
        other,
        "v-1",
        4,
        &profile("王小明", None, serde_json::json!({})),
    )
    .await;

    let all = store.list_contacts(ws, &filter(None, None)).await.unwrap();
    assert_eq!(
        ids(&all),
        [han.id, li.id, wang.id],
        "newest first, this workspace's only"
    );
    assert_eq!(all[2], wang);
    let by = |q: &'static str| {
        let store = store.clone();
        async move {
            ids(&store
                .list_contacts(ws, &filter(Some(q), None))
                .await
                .unwrap())
        }
    };
    assert_eq!(by("小明").await, [wang.id], "a Chinese substring");
    assert_eq!(by("ming@EXAMPLE").await, [wang.id], "e-mail, any case");
    assert_eq!(by("100%").await, [han.id], "LIKE's wildcards are literal");
    assert_eq!(by("%").await, [han.id]);
    assert!(by("明ming").await.is_empty(), "never across two fields");
    let attr = |k: &'static str, v: &'static str| {
        let store = store.clone();
        async move {
            ids(&store
                .list_contacts(ws, &filter(None, Some((k, v))))
                .await
                .unwrap())
        }
    };
    assert_eq!(attr("plan", "vip").await, [han.id, wang.id]);
    assert_eq!(attr("beta", "true").await, [li.id], "a boolean as written");
    assert_eq!(attr("orders", "3").await, [wang.id], "a number as written");
    assert!(attr("plan", "VIP").await.is_empty());
    assert!(attr("nope", "vip").await.is_empty());

    let first = store
        .list_contacts(
            ws,
            &ContactFilter {
                limit: 2,
                ..filter(None, None)
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&first), [han.id, li.id]);
    let last = &first[1];
    let rest = store
        .list_contacts(
            ws,
            &ContactFilter {
                before: Some((last.created_at, last.id)),
                limit: 2,
                ..filter(None, None)
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&rest), [wang.id]);
}

async fn merging_moves_conversations_to_the_survivor(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let (other, _) = workspace(&store, "b@example.com").await;
    let survivor = store
        .update_contact(
            ws,
            c.contact_id,
            &profile("王芳", None, serde_json::json!({"plan": "pro"})),
            now(),
        )
        .await
        .unwrap();
    let dup = store
        .contact_for_identity(ws, "user-7", "v-phone", now())
        .await
        .unwrap();
    let dup = store
        .update_contact(
            ws,
            dup.id,
            &profile(
                "Fang",
                Some("fang@example.com"),
                serde_json::json!({"plan": "free", "city": "杭州"}),
            ),
            now(),
        )
        .await
        .unwrap();
    let theirs = conversation_of(&store, &c, dup.id).await;
    store
        .append_message(
            ws,
            theirs.id,
            &visitor_msg(dup.id, "手机上问的", Some("m-1")),
        )
        .await
        .unwrap();
    store
        .mark_read(ws, theirs.id, dup.id.0, 1, now())
        .await
        .unwrap();

    let merged = store
        .merge_contacts(ws, survivor.id, dup.id, now(), record(ws, "contact.merged"))
        .await
        .unwrap();
    assert_eq!(merged.id, survivor.id);
    assert_eq!(
        merged.name.as_deref(),
        Some("王芳"),
        "the survivor's own name stays"
    );
    assert_eq!(merged.email.as_deref(), Some("fang@example.com"));
    assert_eq!(merged.external_id.as_deref(), Some("user-7"));
    assert_eq!(
        serde_json::Value::Object(merged.attributes.clone()),
        serde_json::json!({"plan": "pro", "city": "杭州"})
    );
    assert_eq!(store.get_contact(ws, survivor.id).await.unwrap(), merged);
    let gone = store.get_contact(ws, dup.id).await.unwrap();
    assert_eq!(gone.merged_into, Some(survivor.id));
    assert_eq!(gone.external_id, None, "the unique external id moved");

    // The conversation, its messages (with their sender) and the read
    // position went along.
    let moved = store.get_conversation(ws, theirs.id).await.unwrap();
    assert_eq!(moved.contact_id, survivor.id);
    let history = store.contact_history(ws, survivor.id, 10).await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(store
        .contact_history(ws, dup.id, 10)
        .await
        .unwrap()
        .is_empty());
    let msgs = store
        .messages_after(ws, theirs.id, 0, 10, false)
        .await
        .unwrap();
    assert_eq!(msgs[0].body, "手机上问的");
    assert_eq!(msgs[0].sender_id, Some(dup.id.0));
    let unread = store
        .unread_counts(ws, survivor.id.0, &[theirs.id], false)
        .await
        .unwrap();
    assert_eq!(unread.get(&theirs.id).copied().unwrap_or(0), 0);

    // The merged contact's browser and the site's user id lead to the
    // survivor; the list leaves the merged one out.
    let again = store
        .contact_for_visitor(ws, "v-phone", now())
        .await
        .unwrap();
    assert_eq!(again.id, survivor.id);
    let signed_in = store
        .contact_for_identity(ws, "user-7", "v-new", now())
        .await
        .unwrap();
    assert_eq!(signed_in.id, survivor.id);
    let listed = store.list_contacts(ws, &filter(None, None)).await.unwrap();
    assert_eq!(ids(&listed), [survivor.id]);

    // A chain: a contact merged into one that is then merged away.
    let third = store
        .contact_for_visitor(ws, "v-third", now())
        .await
        .unwrap();
    let fourth = store
        .contact_for_visitor(ws, "v-fourth", now())
        .await
        .unwrap();
    store
        .merge_contacts(ws, third.id, fourth.id, now(), record(ws, "contact.merged"))
        .await
        .unwrap();
    store
        .merge_contacts(
            ws,
            survivor.id,
            third.id,
            now(),
            record(ws, "contact.merged"),
        )
        .await
        .unwrap();
    let found = store
        .contact_for_visitor(ws, "v-fourth", now())
        .await
        .unwrap();
    assert_eq!(found.id, survivor.id);

    for (into, from) in [(survivor.id, dup.id), (dup.id, survivor.id)] {
        assert!(
            matches!(
                store
                    .merge_contacts(ws, into, from, now(), record(ws, "contact.merged"))
                    .await,
                Err(StoreError::NotFound("contact"))
            ),
            "a merged contact cannot be merged again"
        );
    }
    assert!(matches!(
        store
            .merge_contacts(
                ws,
                survivor.id,
                survivor.id,
                now(),
                record(ws, "contact.merged")
            )
            .await,
        Err(StoreError::Conflict("same_contact"))
    ));
    let stranger = store
        .contact_for_visitor(other, "v-x", now())
        .await
        .unwrap();
    assert!(matches!(
        store
            .merge_contacts(
                ws,
                survivor.id,
                stranger.id,
                now(),
                record(ws, "contact.merged")
            )
            .await,
        Err(StoreError::NotFound("contact"))
    ));
    assert_eq!(
        store
            .get_contact(other, stranger.id)
            .await
            .unwrap()
            .merged_into,
        None
    );
    let page = store.list_audit(ws, None, 1).await.unwrap();
    assert_eq!(page.entries[0].action, "contact.merged");
    assert_eq!(page.entries[0].details["conversations_moved"], 0);
}

async fn erasing_removes_personal_data_and_visitor_bodies(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let person = store
        .update_contact(
            ws,
            c.contact_id,
            &profile(
                "张伟",
                Some("wei@example.com"),
                serde_json::json!({"id_card": "1101"}),
            ),
            now(),
        )
        .await
        .unwrap();
    let asked = store
        .append_message(
            ws,
            c.id,
            &visitor_msg(person.id, "我的手机号是 13800138000", Some("m-1")),
        )
        .await
        .unwrap();
    let agent = NewMessage {
        id: MessageId::new(),
        sender_kind: SenderKind::Agent,
        sender_id: Some(uuid::Uuid::now_v7()),
        sender_name: Some("客服小李".into()),
        body: "收到，我们会联系您".into(),
        private: false,
        client_msg_id: Some("a-1".into()),
        created_at: now(),
        meta: None,
    };
    store.append_message(ws, c.id, &agent).await.unwrap();
    store
        .record_bot_turn(&BotTurn {
            id: BotTurnId::new(),
            workspace_id: ws,
            conversation_id: c.id,
            question_message_id: asked.message().id,
            reply_message_id: None,
            question: "我的手机号是 13800138000".into(),
            decision: BotDecision::Handoff,
            confidence: 0.1,
            reason: None,
            articles: Vec::new(),
            helpful: None,
            created_at: now(),
        })
        .await
        .unwrap();
    // A contact merged into this one earlier kept its own copy of the
    // profile: erased too.
    let older = store
        .contact_for_visitor(ws, "v-older", now())
        .await
        .unwrap();
    store
        .update_contact(
            ws,
            older.id,
            &profile("Zhang Wei", Some("zw@example.com"), serde_json::json!({})),
            now(),
        )
        .await
        .unwrap();
    store
        .merge_contacts(ws, person.id, older.id, now(), record(ws, "contact.merged"))
        .await
        .unwrap();
    // Someone else's conversation is untouched.
    let (_, bystander) = conversation(&store, "b@example.com").await;
    store
        .append_message(
            bystander.workspace_id,
            bystander.id,
            &visitor_msg(bystander.contact_id, "别人的消息", Some("m-1")),
        )
        .await
        .unwrap();

    // Files: one the person sent, one they uploaded and never sent, one an
    // agent sent in their conversation (which stays).
    let file = |uploader| kefu_domain::attachments::Attachment {
        id: kefu_domain::AttachmentId::new(),
        workspace_id: ws,
        uploader,
        conversation_id: None,
        message_id: None,
        filename: "身份证.png".into(),
        content_type: "image/png".into(),
        bytes: 10,
        sha256: "00".repeat(32),
        created_at: now(),
    };
    use kefu_domain::attachments::Uploader;
    let sent_file = file(Uploader::Visitor(person.id));
    let kept_back = file(Uploader::Visitor(person.id));
    let agents = file(Uploader::Agent(kefu_domain::UserId::new()));
    for f in [&sent_file, &kept_back, &agents] {
        store.create_attachment(f).await.unwrap();
    }
    let with_file = NewMessage {
        meta: Some(MessageMeta {
            attachments: vec![sent_file.as_ref()],
            ..MessageMeta::default()
        }),
        ..visitor_msg(person.id, "", Some("m-file"))
    };
    let appended = store.append_message(ws, c.id, &with_file).await.unwrap();
    store
        .claim_attachments(
            ws,
            &[sent_file.id],
            Uploader::Visitor(person.id),
            c.id,
            appended.message().id,
        )
        .await
        .unwrap();

    let later = now() + Duration::seconds(60);
    let erased = store
        .erase_contact(ws, person.id, later, record(ws, "contact.erased"))
        .await
        .unwrap();
    let mut files = erased.files.clone();
    files.sort_by_key(|f| f.0);
    let mut want = vec![sent_file.id, kept_back.id];
    want.sort_by_key(|f| f.0);
    assert_eq!(files, want);
    assert_eq!((erased.messages, erased.conversations), (2, 1));
    for f in [&sent_file, &kept_back] {
        assert!(matches!(
            store.get_attachment(ws, f.id).await,
            Err(StoreError::NotFound("attachment"))
        ));
    }
    assert_eq!(store.get_attachment(ws, agents.id).await.unwrap(), agents);
    let after = store.get_contact(ws, person.id).await.unwrap();
    assert_eq!(
        (after.name, after.email, after.phone, after.external_id),
        (None, None, None, None)
    );
    assert!(after.attributes.is_empty());
    assert_eq!(after.erased_at, Some(later));
    assert_ne!(after.visitor_id, person.visitor_id);
    let older = store.get_contact(ws, older.id).await.unwrap();
    assert_eq!((older.name, older.email), (None, None));
    assert_ne!(older.visitor_id, "v-older");

    let msgs = store.messages_after(ws, c.id, 0, 10, true).await.unwrap();
    let bodies: Vec<(i64, &str)> = msgs.iter().map(|m| (m.seq, m.body.as_str())).collect();
    assert_eq!(bodies, [(1, ""), (2, "收到，我们会联系您"), (3, "")]);
    assert_eq!(msgs[2].meta, None, "the file's name went with it");
    let turns = store.bot_turns(ws, c.id, 10).await.unwrap();
    assert_eq!(turns[0].question, "");
    let theirs = store
        .messages_after(bystander.workspace_id, bystander.id, 0, 10, true)
        .await
        .unwrap();
    assert_eq!(theirs[0].body, "别人的消息");
    // The browser no longer finds the history.
    let fresh = store
        .contact_for_visitor(ws, &person.visitor_id, now())
        .await
        .unwrap();
    assert_ne!(fresh.id, person.id);
    assert!(store
        .contact_history(ws, fresh.id, 10)
        .await
        .unwrap()
        .is_empty());

    let page = store.list_audit(ws, None, 1).await.unwrap();
    let entry = &page.entries[0];
    assert_eq!(entry.action, "contact.erased");
    assert_eq!(
        (&entry.details["messages"], &entry.details["files"]),
        (&2.into(), &2.into())
    );
    let again = store
        .erase_contact(ws, person.id, later, record(ws, "contact.erased"))
        .await
        .unwrap();
    assert_eq!(
        again,
        Erased {
            messages: 0,
            conversations: 1,
            files: vec![]
        }
    );
    assert!(matches!(
        store
            .erase_contact(
                bystander.workspace_id,
                person.id,
                later,
                record(bystander.workspace_id, "contact.erased")
            )
            .await,
        Err(StoreError::NotFound("contact"))
    ));
}
