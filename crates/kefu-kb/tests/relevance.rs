//! Relevance with real tantivy: Chinese segmentation and folding, English
//! stemming, field weighting, snippets and confidence behaviour.

mod common;

use common::*;
use kefu_kb::{decide, Decision, SearchQuery, Thresholds};

#[test]
fn chinese_segmentation_finds_the_article() {
    let kb = open_ram();
    let w = ws(1);
    kb.upsert(&kb_docs(w)).unwrap();
    assert_eq!(top(&kb, w, "怎么退款").as_deref(), Some("refund-zh"));
    assert_eq!(top(&kb, w, "我想开个发票").as_deref(), Some("invoice-zh"));
}

#[test]
fn traditional_and_full_width_fold() {
    let kb = open_ram();
    let w = ws(1);
    kb.upsert(&kb_docs(w)).unwrap();
    assert_eq!(top(&kb, w, "退貨").as_deref(), Some("return-zh"));
    assert_eq!(top(&kb, w, "ＶＩＰ会员").as_deref(), Some("vip-zh"));
    assert_eq!(top(&kb, w, "Vip會員").as_deref(), Some("vip-zh"));
}

#[test]
fn english_stemming() {
    let kb = open_ram();
    let w = ws(1);
    kb.upsert(&kb_docs(w)).unwrap();
    assert_eq!(top(&kb, w, "refunds").as_deref(), Some("refund-en"));
    assert_eq!(top(&kb, w, "REFUNDING").as_deref(), Some("refund-en"));
    assert_eq!(top(&kb, w, "passwords").as_deref(), Some("password-en"));
}

#[test]
fn title_and_questions_outweigh_body() {
    let kb = open_ram();
    let w = ws(1);
    kb.upsert(&[
        doc(
            w,
            1,
            "body",
            "Account settings",
            &[],
            "Change your avatar and your voucher codes here.",
            "en",
        ),
        doc(
            w,
            2,
            "title",
            "Voucher codes",
            &[],
            "Manage account settings and avatar here.",
            "en",
        ),
        doc(
            w,
            3,
            "question",
            "Promotions",
            &["where do voucher codes go"],
            "Enter it at checkout.",
            "en",
        ),
    ])
    .unwrap();
    let r = kb.search(w, &SearchQuery::text("voucher codes")).unwrap();
    let ids: Vec<_> = r
        .hits
        .iter()
        .map(|h| h.external_id.clone().unwrap())
        .collect();
    assert_eq!(ids.last().map(String::as_str), Some("body"), "{ids:?}");
    assert!(r.hits[0].score > r.hits[2].score);
}

#[test]
fn snippet_is_plain_short_and_near_the_match() {
    let kb = open_ram();
    let w = ws(1);
    let long = format!(
        "{} 退款将在3个工作日内原路退回。{}",
        "前言".repeat(100),
        "附录".repeat(100)
    );
    kb.upsert(&[doc(
        w,
        1,
        "long",
        "售后",
        &[],
        &format!("# 标题\n**粗体** {long}"),
        "zh-CN",
    )])
    .unwrap();
    let r = kb.search(w, &SearchQuery::text("退款多久到账")).unwrap();
    let s = &r.hits[0].snippet;
    assert!(s.contains("退款将在"), "{s}");
    assert!(!s.contains('*') && !s.contains('#'), "{s}");
    assert!(s.chars().count() <= 160, "{}", s.chars().count());
}

#[test]
fn confidence_separates_known_from_unrelated_questions() {
    let kb = open_ram();
    let w = ws(1);
    kb.upsert(&kb_docs(w)).unwrap();
    let t = Thresholds::default();
    let known = kb
        .search(w, &SearchQuery::text("How do I get my money back?"))
        .unwrap();
    assert_eq!(known.hits[0].external_id.as_deref(), Some("refund-en"));
    assert!(known.confidence >= t.answer, "{}", known.confidence);
    assert_eq!(decide(&known, &t), Decision::Answer);
    assert!((known.confidence - known.hits[0].confidence).abs() < 1e-6);

    let unrelated = kb
        .search(
            w,
            &SearchQuery::text("who wrote the declaration of independence"),
        )
        .unwrap();
    assert!(unrelated.confidence < t.suggest, "{}", unrelated.confidence);
    assert_eq!(decide(&unrelated, &t), Decision::Handoff);

    let empty = kb.search(w, &SearchQuery::text("？！ the of")).unwrap();
    assert!(empty.hits.is_empty());
    assert_eq!(empty.confidence, 0.0);
    for h in known.hits.iter().chain(&unrelated.hits) {
        assert!((0.0..=1.0).contains(&h.confidence));
    }
}

#[test]
fn limit_and_locale() {
    let kb = open_ram();
    let w = ws(1);
    kb.upsert(&kb_docs(w)).unwrap();
    let q = SearchQuery {
        text: "退款 refund",
        locale: Some("en-US"),
        vector: None,
        limit: 1,
    };
    let r = kb.search(w, &q).unwrap();
    assert_eq!(r.hits.len(), 1);
    let q = SearchQuery { limit: 0, ..q };
    assert_eq!(kb.search(w, &q).unwrap().hits.len(), 1);
}
