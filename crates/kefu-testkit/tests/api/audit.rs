use kefu_domain::audit::verify_chain;
use kefu_testkit::{on_both_backends, Backend, TestApp};
use serde_json::json;

on_both_backends!(
    administrative_actions_are_audited,
    audit_log_pages_with_a_cursor
);

async fn administrative_actions_are_audited(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let (agent_id, agent) = app.member(&owner, "agent@example.com", "agent").await;
    app.patch(
        &format!("{base}/members/{agent_id}"),
        Some(&owner.access_token),
        json!({"role": "supervisor"}),
    )
    .await
    .expect(200);
    let t = app
        .post(
            &format!("{base}/api-tokens"),
            Some(&owner.access_token),
            json!({"name": "ci", "scopes": ["audit:read"]}),
        )
        .await
        .expect(201);
    app.delete(
        &format!("{base}/api-tokens/{}", t.body["id"].as_str().unwrap()),
        Some(&owner.access_token),
    )
    .await
    .expect(204);
    app.patch(
        &base,
        Some(&owner.access_token),
        json!({"name": "客服中心"}),
    )
    .await
    .expect(200);
    app.delete(
        &format!("{base}/members/{agent_id}"),
        Some(&owner.access_token),
    )
    .await
    .expect(204);

    let log = app
        .get(&format!("{base}/audit-log"), Some(&owner.access_token))
        .await
        .expect(200);
    let items = log.body["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "member.removed",
            "workspace.updated",
            "api_token.revoked",
            "api_token.created",
            "member.role_changed",
            "invitation.accepted",
            "invitation.created",
            "workspace.created",
        ]
    );
    let role_change = &items[4];
    assert_eq!(role_change["actor_kind"], "user");
    assert_eq!(role_change["target_id"], agent_id.as_str());
    assert_eq!(
        role_change["details"],
        json!({"from": "agent", "to": "supervisor"})
    );
    assert_eq!(role_change["ip"], "127.0.0.1");
    assert!(role_change["created_at"].is_string());
    // No secrets and no invitee e-mail in the log.
    assert!(
        !log.text.contains("kefu_pat_")
            && !log.text.contains("kefu_inv_")
            && !log.text.contains("agent@example.com"),
        "{}",
        log.text
    );
    // The chain behind it verifies.
    let ws = owner.workspace_id.parse().unwrap();
    let (entries, head_seq, head_hash) = app.store.audit_chain(ws).await.unwrap();
    assert_eq!(
        verify_chain(
            &kefu_domain::audit::ChainCheck::Keyed(app.store.audit_chain_key().unwrap()),
            &entries,
            head_seq,
            &head_hash
        ),
        vec![]
    );
    // Former member (now removed) cannot read it; 404 as for any stranger.
    app.get(&format!("{base}/audit-log"), Some(&agent))
        .await
        .expect(404);
    app.stop().await;
}

async fn audit_log_pages_with_a_cursor(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    for i in 0..5 {
        app.post(
            &format!("{base}/invitations"),
            Some(&owner.access_token),
            json!({"email": format!("p{i}@example.com"), "role": "agent"}),
        )
        .await
        .expect(201);
    }
    let mut seqs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}/audit-log?limit=2&cursor={c}"),
            None => format!("{base}/audit-log?limit=2"),
        };
        let page = app.get(&path, Some(&owner.access_token)).await.expect(200);
        seqs.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seqs, vec![6, 5, 4, 3, 2, 1]);
    app.get(
        &format!("{base}/audit-log?cursor=abc"),
        Some(&owner.access_token),
    )
    .await
    .expect_error(422, "validation_failed");
    app.stop().await;
}
