//! Knowledge-base articles, their history and vectors; synonym groups; bot
//! settings and turns.

use crate::chat::{conversation, visitor_msg};
use crate::support::*;
use chrono::Duration;
use kefu_domain::chat::{MessageMeta, NewMessage, SenderKind};
use kefu_domain::kb::*;
use kefu_domain::model::ActorKind;
use kefu_domain::store::Store;
use kefu_domain::{ArticleId, BotTurnId, MessageId, StoreError, WorkspaceId};
use std::sync::Arc;

crate::store_contract!(
    articles_keep_their_history_and_are_deleted_softly,
    external_ids_are_unique_among_live_articles_of_a_workspace,
    listings_page_filter_and_stay_in_their_workspace,
    embeddings_follow_article_versions,
    bot_settings_and_turns_round_trip,
    bot_messages_keep_their_citations,
    synonyms_are_replaced_per_workspace,
);

fn author() -> Author {
    Author {
        kind: ActorKind::User,
        id: Some(uuid::Uuid::now_v7()),
    }
}

pub(crate) fn article(ws: WorkspaceId, title: &str, external_id: Option<&str>) -> Article {
    Article {
        id: ArticleId::new(),
        workspace_id: ws,
        external_id: external_id.map(str::to_string),
        content: ArticleContent {
            title: title.into(),
            body: "请在**订单详情**页点击“申请退款”。".into(),
            questions: vec!["怎么退款".into(), "退款流程".into()],
            tags: vec!["售后".into()],
            category: Some("订单".into()),
            locale: "zh-CN".into(),
            status: ArticleStatus::Published,
        },
        version: 1,
        created_at: now(),
        updated_at: now(),
        deleted_at: None,
    }
}

async fn articles_keep_their_history_and_are_deleted_softly(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "a@example.com").await;
    let a = article(ws, "如何退款", Some("refund"));
    let who = author();
    store
        .create_article(&a, who, record(ws, "kb.article_created"))
        .await
        .unwrap();
    assert_eq!(store.get_article(ws, a.id).await.unwrap(), a);

    let mut edited = a.clone();
    edited.content.title = "如何申请退款".into();
    edited.version = 2;
    edited.updated_at = now() + Duration::seconds(1);
    store
        .update_article(&edited, who, record(ws, "kb.article_updated"))
        .await
        .unwrap();
    assert_eq!(store.get_article(ws, a.id).await.unwrap(), edited);

    // A writer that read version 1 loses to the one that already wrote 2.
    let mut stale = a.clone();
    stale.content.body = "old".into();
    stale.version = 2;
    let r = store
        .update_article(&stale, who, record(ws, "kb.article_updated"))
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict("version_conflict"))),
        "{r:?}"
    );

    let at = now() + Duration::seconds(2);
    let deleted = store
        .delete_article(ws, a.id, who, at, record(ws, "kb.article_deleted"))
        .await
        .unwrap();
    assert_eq!((deleted.version, deleted.deleted_at), (3, Some(at)));
    assert!(matches!(
        store.get_article(ws, a.id).await,
        Err(StoreError::NotFound("article"))
    ));
    assert!(matches!(
        store
            .delete_article(ws, a.id, who, at, record(ws, "kb.article_deleted"))
            .await,
        Err(StoreError::NotFound("article"))
    ));
    let history = store.article_versions(ws, a.id).await.unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|v| (v.version, v.content.title.as_str(), v.deleted))
        .collect();
    assert_eq!(
        summary,
        [
            (1, "如何退款", false),
            (2, "如何申请退款", false),
            (3, "如何申请退款", true)
        ]
    );
    assert_eq!(history[0].author_id, who.id);
    // Deleted articles can still be looked up by id (index refresh).
    let by_id = store.articles_by_id(ws, &[a.id]).await.unwrap();
    assert_eq!(by_id[0].deleted_at, Some(at));
    assert!(store.published_articles(ws).await.unwrap().is_empty());
}

async fn external_ids_are_unique_among_live_articles_of_a_workspace(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "a@example.com").await;
    let (other, _) = workspace(&store, "b@example.com").await;
    let first = article(ws, "A", Some("faq-1"));
    store
        .create_article(&first, author(), record(ws, "kb.article_created"))
        .await
        .unwrap();
    let twin = article(ws, "B", Some("faq-1"));
    let r = store
        .create_article(&twin, author(), record(ws, "kb.article_created"))
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict("external_id_taken"))),
        "{r:?}"
    );
    // Another workspace may use the same external id.
    store
        .create_article(
            &article(other, "C", Some("faq-1")),
            author(),
            record(other, "kb.article_created"),
        )
        .await
        .unwrap();
    let found = store
        .find_article_by_external_id(ws, "faq-1")
        .await
        .unwrap();
    assert_eq!(found.map(|a| a.id), Some(first.id));
    assert_eq!(
        store.find_article_by_external_id(ws, "nope").await.unwrap(),
        None
    );
    // Once deleted, the external id is free again.
    store
        .delete_article(
            ws,
            first.id,
            author(),
            now(),
            record(ws, "kb.article_deleted"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .find_article_by_external_id(ws, "faq-1")
            .await
            .unwrap(),
        None
    );
    store
        .create_article(&twin, author(), record(ws, "kb.article_created"))
        .await
        .unwrap();
}

async fn listings_page_filter_and_stay_in_their_workspace(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "a@example.com").await;
    let (other, _) = workspace(&store, "b@example.com").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut a = article(ws, &format!("文章 {i}"), None);
        if i == 2 {
            a.content.status = ArticleStatus::Draft;
        }
        store
            .create_article(&a, author(), record(ws, "kb.article_created"))
            .await
            .unwrap();
        ids.push(a.id);
    }
    let foreign = article(other, "别人的", None);
    store
        .create_article(&foreign, author(), record(other, "kb.article_created"))
        .await
        .unwrap();

    let page = |after, status| ArticleFilter {
        status,
        after,
        limit: 2,
    };
    let first = store.list_articles(ws, &page(None, None)).await.unwrap();
    assert_eq!(first.iter().map(|a| a.id).collect::<Vec<_>>(), ids[..2]);
    let second = store
        .list_articles(ws, &page(Some(ids[1]), None))
        .await
        .unwrap();
    assert_eq!(second.iter().map(|a| a.id).collect::<Vec<_>>(), ids[2..4]);
    let drafts = store
        .list_articles(ws, &page(None, Some(ArticleStatus::Draft)))
        .await
        .unwrap();
    assert_eq!(drafts.iter().map(|a| a.id).collect::<Vec<_>>(), [ids[2]]);
    assert_eq!(store.published_articles(ws).await.unwrap().len(), 4);

    assert!(matches!(
        store.get_article(ws, foreign.id).await,
        Err(StoreError::NotFound("article"))
    ));
    assert!(store
        .articles_by_id(ws, &[foreign.id])
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.article_versions(ws, foreign.id).await,
        Err(StoreError::NotFound("article"))
    ));
    let mut hijack = foreign.clone();
    hijack.workspace_id = ws;
    hijack.version = 2;
    assert!(matches!(
        store
            .update_article(&hijack, author(), record(ws, "kb.article_updated"))
            .await,
        Err(StoreError::NotFound("article"))
    ));
}

async fn embeddings_follow_article_versions(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "a@example.com").await;
    let (other, _) = workspace(&store, "b@example.com").await;
    let a = article(ws, "如何退款", None);
    let mut draft = article(ws, "草稿", None);
    draft.content.status = ArticleStatus::Draft;
    for x in [&a, &draft] {
        store
            .create_article(x, author(), record(ws, "kb.article_created"))
            .await
            .unwrap();
    }
    let missing = store.articles_missing_embedding("e5", 10).await.unwrap();
    assert_eq!(missing.iter().map(|m| m.id).collect::<Vec<_>>(), [a.id]);
    // What kb/status reads: published versions, and how many have vectors.
    assert_eq!(store.published_versions(ws).await.unwrap(), [(a.id, 1)]);
    assert!(store.published_versions(other).await.unwrap().is_empty());
    assert_eq!(store.embedded_count(ws, "e5").await.unwrap(), 0);
    assert_eq!(
        store
            .ops_gauges(Some("e5"))
            .await
            .unwrap()
            .embeddings_pending,
        1
    );

    let e = ArticleEmbedding {
        article_id: a.id,
        version: 1,
        model: "e5".into(),
        vectors: vec![vec![0.25, -0.5, 1.0e-3], vec![1.0, 0.0, 0.0]],
    };
    store.put_embedding(ws, &e).await.unwrap();
    // Another workspace cannot attach a vector to this article.
    store
        .put_embedding(
            other,
            &ArticleEmbedding {
                vectors: vec![vec![9.0; 3]],
                ..e.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.embeddings(ws, "e5", None).await.unwrap(),
        vec![e.clone()]
    );
    assert_eq!(
        store.embeddings(ws, "e5", Some(&[a.id])).await.unwrap(),
        vec![e.clone()]
    );
    assert!(store
        .embeddings(ws, "e5", Some(&[draft.id]))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .embeddings(other, "e5", None)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.embedded_count(ws, "e5").await.unwrap(), 1);
    assert_eq!(store.embedded_count(ws, "bge").await.unwrap(), 0);
    assert_eq!(store.embedded_count(other, "e5").await.unwrap(), 0);
    assert_eq!(
        store
            .ops_gauges(Some("e5"))
            .await
            .unwrap()
            .embeddings_pending,
        0
    );
    assert!(store
        .articles_missing_embedding("e5", 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .articles_missing_embedding("bge", 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // An edit makes the vector stale; an older vector never overwrites a newer.
    let mut edited = a.clone();
    edited.version = 2;
    edited.content.body = "新的流程".into();
    store
        .update_article(&edited, author(), record(ws, "kb.article_updated"))
        .await
        .unwrap();
    assert_eq!(
        store
            .articles_missing_embedding("e5", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.published_versions(ws).await.unwrap(), [(a.id, 2)]);
    assert_eq!(
        store.embedded_count(ws, "e5").await.unwrap(),
        0,
        "a vector of an older version does not count"
    );
    let newer = ArticleEmbedding {
        version: 2,
        vectors: vec![vec![1.0, 0.0, 0.0]],
        ..e.clone()
    };
    store.put_embedding(ws, &newer).await.unwrap();
    store.put_embedding(ws, &e).await.unwrap();
    assert_eq!(store.embeddings(ws, "e5", None).await.unwrap(), [newer]);
    assert!(store
        .articles_missing_embedding("e5", 10)
        .await
        .unwrap()
        .is_empty());
}

async fn synonyms_are_replaced_per_workspace(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "a@example.com").await;
    let (other, _) = workspace(&store, "b@example.com").await;
    assert!(store.kb_synonyms(ws).await.unwrap().is_empty());
    let first = vec![
        vec!["退货".to_string(), "退款".to_string()],
        vec![
            "发票".to_string(),
            "开票".to_string(),
            "invoice".to_string(),
        ],
    ];
    store
        .put_kb_synonyms(ws, &first, now(), record(ws, "kb.synonyms_updated"))
        .await
        .unwrap();
    assert_eq!(store.kb_synonyms(ws).await.unwrap(), first);
    assert!(store.kb_synonyms(other).await.unwrap().is_empty());
    let second = vec![vec!["快递".to_string(), "物流".to_string()]];
    store
        .put_kb_synonyms(ws, &second, now(), record(ws, "kb.synonyms_updated"))
        .await
        .unwrap();
    assert_eq!(store.kb_synonyms(ws).await.unwrap(), second);
    let audit = store.list_audit(ws, None, 10).await.unwrap();
    assert_eq!(
        audit
            .entries
            .iter()
            .filter(|e| e.action == "kb.synonyms_updated")
            .count(),
        2,
        "each change is audited in its transaction"
    );
}

async fn bot_settings_and_turns_round_trip(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    assert_eq!(store.get_bot_settings(ws).await.unwrap(), None);
    let settings = BotSettings {
        answer_threshold: 0.7,
        suggest_threshold: 0.35,
        handoff_phrases: vec!["找经理".into()],
        max_unhelpful: 2,
        eval_gate: Some(EvalGate {
            questions: "{\"question\":\"q\",\"expected_external_id\":null}\n".into(),
            min_hit_at_1: 0.8,
            min_off_topic_handoff: 0.9,
        }),
    };
    store
        .put_bot_settings(ws, &settings, record(ws, "bot.settings_updated"))
        .await
        .unwrap();
    assert_eq!(store.get_bot_settings(ws).await.unwrap(), Some(settings));

    let turn = |q: MessageId, reply: MessageId, decision, secs| BotTurn {
        id: BotTurnId::new(),
        workspace_id: ws,
        conversation_id: c.id,
        question_message_id: q,
        reply_message_id: Some(reply),
        question: "怎么退款".into(),
        decision,
        confidence: 0.625,
        reason: (decision == BotDecision::Handoff).then_some(HandoffReason::LowConfidence),
        articles: vec![ArticleRef {
            article_id: ArticleId::new(),
            external_id: Some("refund".into()),
            title: "如何退款".into(),
            anchor: Some("p1".into()),
        }],
        helpful: None,
        created_at: now() + Duration::seconds(secs),
    };
    let first = turn(MessageId::new(), MessageId::new(), BotDecision::Answer, 0);
    let second = turn(MessageId::new(), MessageId::new(), BotDecision::Handoff, 1);
    store.record_bot_turn(&first).await.unwrap();
    store.record_bot_turn(&second).await.unwrap();
    // One turn per visitor message: a second replica's claim fails.
    let again = turn(
        first.question_message_id,
        MessageId::new(),
        BotDecision::Answer,
        2,
    );
    assert!(matches!(
        store.record_bot_turn(&again).await,
        Err(StoreError::Conflict("bot_turn_exists"))
    ));
    assert_eq!(
        store.bot_turns(ws, c.id, 10).await.unwrap(),
        [second.clone(), first.clone()]
    );
    let rated = store
        .set_bot_feedback(ws, c.id, first.reply_message_id.unwrap(), false)
        .await
        .unwrap();
    assert_eq!(rated.helpful, Some(false));
    assert!(matches!(
        store
            .set_bot_feedback(ws, c.id, MessageId::new(), true)
            .await,
        Err(StoreError::NotFound("bot_turn"))
    ));
    let (other, _) = workspace(&store, "b@example.com").await;
    assert!(store.bot_turns(other, c.id, 10).await.unwrap().is_empty());
}

async fn bot_messages_keep_their_citations(store: Arc<dyn Store>) {
    let (ws, c) = conversation(&store, "a@example.com").await;
    let meta = MessageMeta {
        decision: Some(BotDecision::Answer),
        citations: vec![ArticleRef {
            article_id: ArticleId::new(),
            external_id: None,
            title: "如何退款".into(),
            anchor: None,
        }],
        suggestions: vec![],
        feedback: true,
        handoff_reason: None,
        attachments: vec![],
        auto_reply: None,
        next_open_at: None,
    };
    let bot = NewMessage {
        sender_kind: SenderKind::Bot,
        sender_id: None,
        sender_name: None,
        meta: Some(meta.clone()),
        ..visitor_msg(c.contact_id, "请在订单详情页申请退款。[1]", None)
    };
    store.append_message(ws, c.id, &bot).await.unwrap();
    let plain = visitor_msg(c.contact_id, "谢谢", Some("m-1"));
    store.append_checked(ws, c.id, None, &plain).await.unwrap();
    let stored = store.messages_after(ws, c.id, 0, 10, false).await.unwrap();
    assert_eq!(stored[0].meta, Some(meta));
    assert_eq!(stored[1].meta, None);
}
