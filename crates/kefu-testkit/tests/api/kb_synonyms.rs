//! A workspace's synonym groups over HTTP: they round-trip as stored, make
//! `kb/search` find an article by a word it does not use, are refused with
//! a code and a message naming the group at fault, and stay in their
//! workspace.

use crate::kb::{kb, search};
use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    synonyms_round_trip_and_widen_search,
    synonym_lists_are_validated,
    synonyms_stay_in_their_workspace,
);

async fn put(app: &TestApp, owner: &Owner, token: &str, body: Value) -> kefu_testkit::Reply {
    app.call(
        Method::PUT,
        &kb(owner, "kb/synonyms"),
        Some(token),
        Some(body),
    )
    .await
}

/// External ids of the hits for `q`.
async fn found(app: &TestApp, owner: &Owner, q: &str) -> Vec<Value> {
    search(app, owner, q)
        .await
        .iter()
        .map(|h| h["external_id"].clone())
        .collect()
}

/// An article that says 退货 (returns) and never 退款 (refund), and one
/// about something else.
async fn seed(app: &TestApp, owner: &Owner) {
    for (ext, title, body) in [
        (
            "returns",
            "退货流程",
            "在订单详情页点击“申请退货”，寄回商品后三个工作日内处理完毕。",
        ),
        (
            "invoice",
            "开具发票",
            "在订单页面填写抬头和税号即可开具电子发票。",
        ),
    ] {
        app.post(
            &kb(owner, "kb/articles"),
            Some(&owner.access_token),
            json!({"external_id": ext, "title": title, "body": body}),
        )
        .await
        .expect(201);
    }
}

async fn synonyms_round_trip_and_widen_search(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let t = owner.access_token.as_str();
    seed(&app, &owner).await;
    let path = kb(&owner, "kb/synonyms");

    // Nothing saved yet: an empty list, and 退款 finds nothing.
    let empty = app.get(&path, Some(t)).await.expect(200);
    assert_eq!(empty.body, json!({"groups": []}));
    assert!(
        !found(&app, &owner, "退款")
            .await
            .contains(&json!("returns")),
        "without synonyms the returns article does not mention 退款"
    );

    // Saved as cleaned: terms trimmed, empty terms and groups dropped, a
    // repeated term kept once.
    let saved = put(
        &app,
        &owner,
        t,
        json!({"groups": [[" 退货 ", "退款", "", "退款"], [], ["  "], ["发票", "开票"]]}),
    )
    .await
    .expect(200);
    let stored = json!({"groups": [["退货", "退款"], ["发票", "开票"]]});
    assert_eq!(saved.body, stored);
    assert_eq!(app.get(&path, Some(t)).await.expect(200).body, stored);

    // The very next search finds the article by the other word.
    let hits = found(&app, &owner, "退款").await;
    assert_eq!(hits.first(), Some(&json!("returns")), "{hits:?}");
    // A word the article uses still finds it first.
    assert_eq!(
        found(&app, &owner, "退货").await.first(),
        Some(&json!("returns"))
    );

    // Audited, with counts.
    let audit = app.get(&kb(&owner, "audit-log"), Some(t)).await.expect(200);
    let entry = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "kb.synonyms_updated")
        .unwrap_or_else(|| panic!("audited: {}", audit.body))
        .clone();
    assert_eq!(
        entry["details"],
        json!({"groups": 2, "terms": 4}),
        "{entry}"
    );

    // Agents read the list but do not change it; supervisors do.
    let (_, agent) = app.member(&owner, "agent@example.com", "agent").await;
    assert_eq!(app.get(&path, Some(&agent)).await.expect(200).body, stored);
    put(&app, &owner, &agent, json!({"groups": []}))
        .await
        .expect_error(403, "forbidden");
    let (_, supervisor) = app
        .member(&owner, "supervisor@example.com", "supervisor")
        .await;
    put(
        &app,
        &owner,
        &supervisor,
        json!({"groups": [["快递", "物流"]]}),
    )
    .await
    .expect(200);

    // Replacing the list drops the old groups from search at once.
    assert!(
        !found(&app, &owner, "退款")
            .await
            .contains(&json!("returns")),
        "the 退货/退款 group is gone"
    );
    put(&app, &owner, t, json!({"groups": []}))
        .await
        .expect(200);
    assert_eq!(
        app.get(&path, Some(t)).await.expect(200).body,
        json!({"groups": []})
    );
}

async fn synonym_lists_are_validated(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.kb.max_synonym_groups = 3;
        s.kb.max_synonym_terms = 4;
        s.kb.max_synonym_chars = 6;
    })
    .await;
    let owner = app.owner("o@example.com").await;
    let t = owner.access_token.as_str();
    let good = json!({"groups": [["退货", "退款"]]});
    put(&app, &owner, t, good.clone()).await.expect(200);

    let refused = |body: Value, code: &'static str| {
        let put = put(&app, &owner, t, body);
        async move { put.await.expect_error(422, code).body }
    };
    // A group of one term: the message names it (the second group).
    let one = refused(
        json!({"groups": [["发票", "开票"], ["退款", " 退款 "]]}),
        "synonym_group_too_small",
    )
    .await;
    assert_eq!(one["details"]["index"], 1, "{one}");
    let message = one["message"].as_str().unwrap();
    assert!(
        message.contains("Group 2") && message.contains("退款"),
        "{message}"
    );
    let big = refused(
        json!({"groups": [["a1", "b1", "c1", "d1", "e1"]]}),
        "synonym_group_too_large",
    )
    .await;
    assert_eq!(big["details"]["limit"], 4, "{big}");
    let long = refused(
        json!({"groups": [["快递", "快递物流配送服务"]]}),
        "synonym_term_too_long",
    )
    .await;
    assert_eq!(long["details"]["limit"], 6, "{long}");
    refused(
        json!({"groups": [["退货/退款", "退钱"]]}),
        "synonym_term_invalid",
    )
    .await;
    refused(json!({"groups": [["a\tb", "c"]]}), "synonym_term_invalid").await;
    // Only a function word: it could never match, so it is not stored.
    let empty = refused(
        json!({"groups": [["退款", "退货"], ["的", "退钱"]]}),
        "synonym_term_unsearchable",
    )
    .await;
    assert_eq!(empty["details"]["index"], 1, "{empty}");
    assert!(
        empty["message"].as_str().unwrap().contains("Group 2"),
        "{empty}"
    );
    let many = refused(
        json!({"groups": [["a1", "b1"], ["c1", "d1"], ["e1", "f1"], ["g1", "h1"]]}),
        "synonym_groups_too_many",
    )
    .await;
    assert_eq!(many["details"], json!({"count": 4, "limit": 3}), "{many}");
    // Not the shape: refused like any malformed body.
    for bad in [
        json!({"groups": "退货/退款"}),
        json!({"groups": [["退货", 1]]}),
        json!({"groups": [], "extra": true}),
        json!(["退货", "退款"]),
    ] {
        let r = put(&app, &owner, t, bad.clone()).await;
        assert!(r.status.is_client_error(), "{bad}: {}", r.text);
        assert!(!r.code().is_empty(), "{bad}: {}", r.text);
    }
    // Nothing refused was stored.
    let now = app
        .get(&kb(&owner, "kb/synonyms"), Some(t))
        .await
        .expect(200);
    assert_eq!(now.body, good);
}

async fn synonyms_stay_in_their_workspace(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let other = app.owner("other@example.com").await;
    seed(&app, &owner).await;
    seed(&app, &other).await;
    put(
        &app,
        &owner,
        &owner.access_token,
        json!({"groups": [["退货", "退款"]]}),
    )
    .await
    .expect(200);

    // The other workspace's admin can neither read nor write this list:
    // the workspace does not exist for them.
    let foreign = kb(&owner, "kb/synonyms");
    app.get(&foreign, Some(&other.access_token))
        .await
        .expect(404);
    put(
        &app,
        &owner,
        &other.access_token,
        json!({"groups": [["a1", "b1"]]}),
    )
    .await
    .expect(404);
    assert_eq!(
        app.get(&foreign, Some(&owner.access_token))
            .await
            .expect(200)
            .body,
        json!({"groups": [["退货", "退款"]]})
    );

    // Nor does one workspace's list change another's search.
    assert_eq!(
        app.get(&kb(&other, "kb/synonyms"), Some(&other.access_token))
            .await
            .expect(200)
            .body,
        json!({"groups": []})
    );
    assert!(!found(&app, &other, "退款")
        .await
        .contains(&json!("returns")));
    assert_eq!(
        found(&app, &owner, "退款").await.first(),
        Some(&json!("returns"))
    );
}
