//! Index lifecycle with real tantivy: tenant isolation, upsert/remove/clear,
//! persistence and reopening, analyzer-change wipes, vectors and fusion.

mod common;

use std::sync::Arc;

use common::*;
use kefu_kb::{AnalyzerOptions, KbIndex, SearchQuery};

#[test]
fn workspaces_are_isolated() {
    let kb = open_ram();
    let (a, b) = (ws(1), ws(2));
    kb.upsert(&kb_docs(a)).unwrap();
    let mut other = doc(
        b,
        99,
        "b-only",
        "Parking",
        &["where can I park"],
        "Parking is behind the building.",
        "en",
    );
    other.article_id = uuid::Uuid::from_u128(5000);
    kb.upsert(&[other]).unwrap();
    // a's content is invisible from b and vice versa.
    let r = kb.search(b, &SearchQuery::text("怎么退款 refund")).unwrap();
    assert!(
        r.hits
            .iter()
            .all(|h| h.external_id.as_deref() == Some("b-only")),
        "{r:?}"
    );
    assert!(kb
        .search(a, &SearchQuery::text("parking"))
        .unwrap()
        .hits
        .is_empty());
    assert!(kb
        .search(ws(3), &SearchQuery::text("refund"))
        .unwrap()
        .hits
        .is_empty());
    assert_eq!(kb.versions(b).len(), 1);
    assert_eq!(kb.versions(a).len(), 7);
}

#[test]
fn scores_do_not_depend_on_other_tenants() {
    let kb = open_ram();
    let (a, b) = (ws(1), ws(2));
    kb.upsert(&kb_docs(a)).unwrap();
    let before = kb
        .search(a, &SearchQuery::text("refund order page"))
        .unwrap();
    // A big second tenant full of "refund" must not change a's statistics.
    let noise: Vec<_> = (0..200)
        .map(|i| {
            doc(
                b,
                100 + i,
                "n",
                "refund refund",
                &["refund?"],
                "refund order page",
                "en",
            )
        })
        .collect();
    kb.upsert(&noise).unwrap();
    let after = kb
        .search(a, &SearchQuery::text("refund order page"))
        .unwrap();
    assert_eq!(before.hits.len(), after.hits.len());
    for (x, y) in before.hits.iter().zip(&after.hits) {
        assert_eq!(x.article_id, y.article_id);
        assert!((x.score - y.score).abs() < 1e-4 && (x.confidence - y.confidence).abs() < 1e-4);
    }
}

#[test]
fn upsert_replaces_remove_and_clear() {
    let kb = open_ram();
    let w = ws(1);
    kb.upsert(&kb_docs(w)).unwrap();
    let mut changed = kb_docs(w)[0].clone();
    changed.title = "积分兑换".into();
    changed.questions = vec!["积分怎么用".into()];
    changed.body = "积分可以在商城兑换礼品。".into();
    changed.version = 2;
    kb.upsert(&[changed]).unwrap();
    assert_eq!(kb.versions(w)[&art(1)], 2);
    assert_eq!(top(&kb, w, "积分兑换").as_deref(), Some("refund-zh"));
    let r = kb.search(w, &SearchQuery::text("申请退款")).unwrap();
    assert!(
        r.hits.iter().all(|h| h.article_id != art(1)),
        "old content still indexed: {r:?}"
    );

    kb.remove(w, &[art(2), uuid::Uuid::from_u128(424242)])
        .unwrap();
    assert!(!kb.versions(w).contains_key(&art(2)));
    assert!(kb
        .search(w, &SearchQuery::text("退货"))
        .unwrap()
        .hits
        .iter()
        .all(|h| h.article_id != art(2)));

    kb.clear_workspace(w).unwrap();
    assert!(kb.versions(w).is_empty());
    assert!(kb
        .search(w, &SearchQuery::text("refund"))
        .unwrap()
        .hits
        .is_empty());
}

#[test]
fn reopen_from_disk_keeps_docs_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let w = ws(7);
    {
        let kb = KbIndex::open(Some(dir.path()), AnalyzerOptions::default()).unwrap();
        let mut docs = kb_docs(w);
        docs[2].version = 5;
        kb.upsert(&docs).unwrap();
        kb.remove(w, &[art(4)]).unwrap();
    }
    let kb = KbIndex::open(Some(dir.path()), AnalyzerOptions::default()).unwrap();
    let v = kb.versions(w);
    assert_eq!(v.len(), 6);
    assert_eq!(v[&art(3)], 5);
    assert_eq!(top(&kb, w, "退貨").as_deref(), Some("return-zh"));
    assert!(kb
        .search(w, &SearchQuery::text("发票"))
        .unwrap()
        .hits
        .iter()
        .all(|h| h.article_id != art(4)));
}

#[test]
fn analyzer_change_wipes_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let w = ws(8);
    KbIndex::open(Some(dir.path()), AnalyzerOptions::default())
        .unwrap()
        .upsert(&kb_docs(w))
        .unwrap();
    let other = AnalyzerOptions {
        fold_traditional: false,
    };
    let kb = KbIndex::open(Some(dir.path()), other).unwrap();
    assert!(kb.versions(w).is_empty());
    kb.upsert(&kb_docs(w)).unwrap();
    // Without folding, the traditional spelling no longer matches 退货.
    assert_ne!(top(&kb, w, "退貨").as_deref(), Some("return-zh"));
    drop(kb);
    // Same options again: kept.
    assert_eq!(
        KbIndex::open(Some(dir.path()), other)
            .unwrap()
            .versions(w)
            .len(),
        7
    );
}

#[test]
fn a_foreign_directory_is_never_wiped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
    let err = KbIndex::open(Some(dir.path()), AnalyzerOptions::default()).unwrap_err();
    assert!(
        matches!(err, kefu_kb::KbError::ForeignDirectory(_)),
        "{err}"
    );
    assert!(dir.path().join("precious.txt").exists());
    // A missing directory is created.
    let sub = dir.path().join("kb/index");
    KbIndex::open(Some(&sub), AnalyzerOptions::default()).unwrap();
    assert!(sub.join("meta.json").exists());
}

#[test]
fn vectors_fuse_with_lexical_ranking() {
    let kb = open_ram();
    let w = ws(1);
    kb.upsert(&kb_docs(w)).unwrap();
    // Toy 3-d "embeddings": axis 0 = money, 1 = delivery, 2 = account.
    let vecs = [
        (1, [1.0, 0.0, 0.1]),
        (2, [0.7, 0.3, 0.0]),
        (5, [0.9, 0.0, 0.0]),
        (6, [0.0, 1.0, 0.0]),
        (7, [0.0, 0.0, 1.0]),
    ];
    for (n, v) in vecs {
        kb.set_vector(w, art(n), v.to_vec());
    }
    assert_eq!(kb.vector_count(w), 5);
    assert_eq!(kb.vector_count(ws(2)), 0);
    // No lexical overlap at all: the vector alone finds the article.
    let q = SearchQuery {
        text: "parcel eta",
        locale: None,
        vector: Some(&[0.05, 2.0, 0.0]),
        limit: 3,
    };
    let r = kb.search(w, &q).unwrap();
    assert_eq!(r.hits[0].external_id.as_deref(), Some("shipping-en"));
    // Lexically ambiguous ("refund" in two languages): the vector decides.
    let q = SearchQuery {
        text: "refund 退款",
        locale: None,
        vector: Some(&[1.0, 0.0, 0.12]),
        limit: 3,
    };
    let r = kb.search(w, &q).unwrap();
    assert_eq!(r.hits[0].external_id.as_deref(), Some("refund-zh"));
    // A strong lexical match beats a weakly pointing vector.
    let q = SearchQuery {
        text: "I forgot my password",
        locale: None,
        vector: Some(&[0.5, 0.5, 0.4]),
        limit: 3,
    };
    assert_eq!(
        kb.search(w, &q).unwrap().hits[0].external_id.as_deref(),
        Some("password-en")
    );
    // Wrong dimension or zero vectors are ignored rather than failing.
    let q = SearchQuery {
        text: "I forgot my password",
        locale: None,
        vector: Some(&[1.0, 0.0]),
        limit: 3,
    };
    assert_eq!(
        kb.search(w, &q).unwrap().hits[0].external_id.as_deref(),
        Some("password-en")
    );
    kb.remove_vector(w, art(6));
    assert_eq!(kb.vector_count(w), 4);
    kb.clear_workspace(w).unwrap();
    assert_eq!(kb.vector_count(w), 0);
}

#[test]
fn index_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<KbIndex>();
}

#[test]
fn concurrent_searches_and_writes() {
    let kb = Arc::new(open_ram());
    let w = ws(1);
    kb.upsert(&kb_docs(w)).unwrap();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let kb = Arc::clone(&kb);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(top(&kb, w, "怎么退款").as_deref(), Some("refund-zh"));
                }
            })
        })
        .collect();
    for i in 0..10 {
        kb.upsert(&[doc(
            w,
            50 + i,
            "extra",
            "Gift cards",
            &["gift card balance"],
            "Check it online.",
            "en",
        )])
        .unwrap();
    }
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(kb.versions(w).len(), 17);
}
