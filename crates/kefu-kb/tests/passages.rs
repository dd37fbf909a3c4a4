//! Passage retrieval through the real index: the hit carries the passage
//! that matched (its anchor, its text, a snippet cut from it), in Chinese
//! and English; the vector rows pick the passage when they decide; synonym
//! groups widen a query; the decision offers suggestions on the top-three
//! confidence.

mod common;

use common::*;
use kefu_kb::{decide, Decision, Retrieval, SearchQuery, Thresholds};

fn manual_zh(w: uuid::Uuid) -> kefu_kb::ArticleDoc {
    let filler = "本节介绍一般性的使用说明，与具体问题无关。".repeat(30);
    doc(
        w,
        1,
        "manual-zh",
        "使用手册 3.1",
        &[],
        &format!(
            "## 概述\n{filler}\n## 退款规则\n申请退款后，款项会在三个工作日内原路退回到您的支付账户。\n## 发票\n电子发票在订单完成后七天内开具。"
        ),
        "zh-CN",
    )
}

fn manual_en(w: uuid::Uuid) -> kefu_kb::ArticleDoc {
    let filler =
        "This section describes general usage that is unrelated to any question. ".repeat(25);
    doc(
        w,
        2,
        "manual-en",
        "User manual 3.2",
        &[],
        &format!(
            "{filler}\n\n## Changing the delivery address\nOpen the order, choose Edit address and save before the parcel ships.\n\n## Warranty\nEvery device carries a two-year warranty."
        ),
        "en",
    )
}

#[test]
fn a_chinese_hit_carries_the_passage_that_matched() {
    let kb = open_ram();
    let w = ws(1);
    kb.upsert(&[manual_zh(w)]).unwrap();
    let r = kb.search(w, &SearchQuery::text("退款多久到账")).unwrap();
    let h = &r.hits[0];
    assert_eq!(h.external_id.as_deref(), Some("manual-zh"));
    assert_eq!(h.anchor.as_deref(), Some("退款规则"));
    assert!(
        h.passage.starts_with("退款规则\n申请退款后"),
        "{}",
        h.passage
    );
    assert!(!h.passage.contains("一般性的使用说明"), "{}", h.passage);
    assert!(h.snippet.contains("三个工作日"), "{}", h.snippet);
    assert!(!h.snippet.contains("一般性的使用说明"), "{}", h.snippet);

    let r = kb
        .search(w, &SearchQuery::text("电子发票什么时候开"))
        .unwrap();
    assert_eq!(r.hits[0].anchor.as_deref(), Some("发票"));
}

#[test]
fn an_english_hit_carries_the_passage_that_matched() {
    let kb = open_ram();
    let w = ws(1);
    kb.upsert(&[manual_en(w)]).unwrap();
    let r = kb
        .search(
            w,
            &SearchQuery::text("How do I change my delivery address?"),
        )
        .unwrap();
    let h = &r.hits[0];
    assert_eq!(h.anchor.as_deref(), Some("changing-the-delivery-address"));
    assert!(h.snippet.contains("Edit address"), "{}", h.snippet);
    assert!(!h.passage.contains("general usage"), "{}", h.passage);
    let r = kb.search(w, &SearchQuery::text("warranty")).unwrap();
    assert_eq!(r.hits[0].anchor.as_deref(), Some("warranty"));
}

#[test]
fn the_best_vector_row_picks_the_passage() {
    let kb = open_ram();
    let w = ws(1);
    let d = manual_en(w);
    kb.upsert(std::slice::from_ref(&d)).unwrap();
    let rows = kb.vector_texts(&d);
    // Title, then the passages: the filler (one or more), the address
    // section, the warranty section.
    assert_eq!(rows[0], "User manual 3.2");
    let warranty = rows
        .iter()
        .position(|r| r.starts_with("Warranty\n"))
        .expect("a warranty row");
    // Orthogonal unit vectors: the query vector equals the warranty row.
    let vectors: Vec<Vec<f32>> = (0..rows.len())
        .map(|i| {
            (0..rows.len())
                .map(|j| f32::from(u8::from(i == j)))
                .collect()
        })
        .collect();
    kb.set_vectors(w, d.article_id, vectors);
    let q: Vec<f32> = (0..rows.len())
        .map(|j| f32::from(u8::from(j == warranty)))
        .collect();
    let r = kb
        .search(
            w,
            &SearchQuery {
                text: "zzz unrelated",
                locale: None,
                vector: Some(&q),
                limit: 3,
            },
        )
        .unwrap();
    assert_eq!(r.hits[0].anchor.as_deref(), Some("warranty"));
    assert!(r.hits[0].passage.contains("two-year warranty"));
}

#[test]
fn synonym_groups_widen_queries_and_are_per_workspace() {
    let kb = open_ram();
    let (a, b) = (ws(1), ws(2));
    for w in [a, b] {
        kb.upsert(&[doc(
            w,
            1,
            "returns",
            "售后说明",
            &[],
            "七天内可以无理由退货，运费由商家承担。",
            "zh-CN",
        )])
        .unwrap();
    }
    assert_eq!(top(&kb, a, "怎么退款"), None, "nothing says 退款 yet");
    kb.set_synonyms(a, &[vec!["退货".into(), "退款".into()]]);
    assert_eq!(top(&kb, a, "怎么退款").as_deref(), Some("returns"));
    assert_eq!(top(&kb, b, "怎么退款"), None, "another workspace's list");
    kb.set_synonyms(a, &[]);
    assert_eq!(top(&kb, a, "怎么退款"), None, "the list was emptied");
}

#[test]
fn suggestions_rest_on_the_top_three_confidence() {
    let r = Retrieval {
        hits: Vec::new(),
        confidence: 0.1,
        suggest_confidence: 0.5,
    };
    let t = Thresholds {
        answer: 0.8,
        suggest: 0.4,
    };
    // No hits: always a hand-off.
    assert_eq!(decide(&r, &t), Decision::Handoff);
    let kb = open_ram();
    let w = ws(1);
    kb.upsert(&kb_docs(w)).unwrap();
    let mut r = kb.search(w, &SearchQuery::text("怎么退款")).unwrap();
    assert!(!r.hits.is_empty());
    assert!(r.suggest_confidence >= r.confidence);
    r.confidence = 0.1;
    r.suggest_confidence = 0.5;
    assert_eq!(decide(&r, &t), Decision::Suggest);
    r.suggest_confidence = 0.3;
    assert_eq!(decide(&r, &t), Decision::Handoff);
    r.confidence = 0.85;
    assert_eq!(decide(&r, &t), Decision::Answer);
}

#[test]
fn a_body_that_fits_one_passage_is_answered_whole() {
    let kb = open_ram();
    assert!(kb.fits_one_passage("## 退款\n三个工作日内原路退回。\n## 发票\n七天内开具。"));
    assert!(kb.fits_one_passage(""));
    let long = "退款申请提交后，系统会在一个工作日内审核。".repeat(30);
    assert!(!kb.fits_one_passage(&long));
}
