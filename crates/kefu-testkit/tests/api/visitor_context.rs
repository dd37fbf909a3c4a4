//! What agents learn about a visitor: the page, referrer, browser, OS,
//! locale, zone and pages of the visit (the widget's session and page
//! views), the pre-chat form's answers and the site's own attributes.

use kefu_testkit::{on_both_backends, Backend, TestApp};
use serde_json::json;

on_both_backends!(
    the_visit_reaches_the_contact,
    the_prechat_form_applies_when_configured,
);

const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

async fn the_visit_reaches_the_contact(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let inbox = app
        .post(
            &format!("{base}/inboxes"),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web"}),
        )
        .await
        .expect(201);
    let res = app
        .client
        .post(app.url("/api/v1/widget/sessions"))
        .header("User-Agent", CHROME_MAC)
        .json(&json!({
            "widget_key": inbox.body["widget_key"],
            "locale": "zh-CN",
            "page": {
                "url": "https://shop.example.cn/products/42",
                "title": "无线耳机 - 商品详情",
                "referrer": "https://www.baidu.com/s?wd=耳机",
                "time_zone": "Asia/Shanghai"
            }
        }))
        .send()
        .await
        .unwrap();
    let s = TestApp::reply(res).await.expect(201);
    let token = s.body["visitor_token"].as_str().unwrap().to_string();
    let contact = s.body["contact_id"].as_str().unwrap().to_string();
    // Two navigations; one not a web page (dropped), one repeated (kept once).
    for (url, title) in [
        ("https://shop.example.cn/cart", "购物车"),
        ("javascript:alert(1)", "x"),
        ("https://shop.example.cn/cart", "购物车"),
    ] {
        app.post(
            "/api/v1/widget/page-views",
            Some(&token),
            json!({"url": url, "title": title}),
        )
        .await
        .expect(204);
    }
    // The site's own words about its user.
    app.call(
        reqwest::Method::PUT,
        "/api/v1/widget/contact",
        Some(&token),
        Some(json!({"name": "李雷", "attributes": {"plan": "pro", "orders": 3, "vip": true}})),
    )
    .await
    .expect(200);
    app.call(
        reqwest::Method::PUT,
        "/api/v1/widget/contact",
        Some(&token),
        Some(json!({"attributes": {"bad key!": "x"}})),
    )
    .await
    .expect_error(422, "validation_failed");

    let c = app
        .get(
            &format!("{base}/contacts/{contact}"),
            Some(&owner.access_token),
        )
        .await
        .expect(200);
    let v = &c.body["last_visit"];
    assert_eq!(v["url"], "https://shop.example.cn/cart");
    assert_eq!(v["title"], "购物车");
    assert_eq!(v["referrer"], "https://www.baidu.com/s?wd=耳机");
    assert_eq!(v["browser"], "Chrome 120");
    assert_eq!(v["os"], "macOS");
    assert_eq!(v["locale"], "zh-CN");
    assert_eq!(v["time_zone"], "Asia/Shanghai");
    let pages: Vec<&str> = v["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        pages,
        [
            "https://shop.example.cn/products/42",
            "https://shop.example.cn/cart"
        ]
    );
    assert_eq!(c.body["name"], "李雷");
    assert_eq!(
        c.body["attributes"],
        json!({"plan": "pro", "orders": 3, "vip": true})
    );
    // Erasure takes the visit too.
    app.post(
        &format!("{base}/contacts/{contact}/erase"),
        Some(&owner.access_token),
        json!({}),
    )
    .await
    .expect(204);
    let erased = app
        .get(
            &format!("{base}/contacts/{contact}"),
            Some(&owner.access_token),
        )
        .await
        .expect(200);
    assert!(erased.body["last_visit"].is_null());
}

async fn the_prechat_form_applies_when_configured(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let form = json!({"when": "offline", "fields": [
        {"key": "name", "required": true},
        {"key": "email"},
        {"key": "order_no", "label": "订单号", "required": true}
    ]});
    let inbox = app
        .post(
            &format!("{base}/inboxes"),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web", "prechat_form": form}),
        )
        .await
        .expect(201);
    let key = inbox.body["widget_key"].clone();
    let session = |app: &TestApp, key: serde_json::Value| {
        let res = app.client.post(app.url("/api/v1/widget/sessions"));
        async move {
            TestApp::reply(res.json(&json!({"widget_key": key})).send().await.unwrap())
                .await
                .expect(201)
                .body
        }
    };
    // Nobody online: the `offline` form applies.
    let s = session(&app, key.clone()).await;
    assert_eq!(
        s["inbox"]["prechat_form"],
        json!({"when": "offline", "fields": [
            {"key": "name", "label": null, "required": true},
            {"key": "email", "label": null, "required": false},
            {"key": "order_no", "label": "订单号", "required": true}
        ]})
    );
    // Someone online: it does not.
    app.call(
        reqwest::Method::PUT,
        &format!("{base}/agents/me/status"),
        Some(&owner.access_token),
        Some(json!({"status": "online"})),
    )
    .await
    .expect(200);
    let s = session(&app, key.clone()).await;
    assert!(s["inbox"].get("prechat_form").is_none(), "{s}");
    // `always`: asked even with someone online.
    let mut always = form.clone();
    always["when"] = json!("always");
    app.patch(
        &format!("{base}/inboxes/{}", inbox.body["id"].as_str().unwrap()),
        Some(&owner.access_token),
        json!({ "prechat_form": always }),
    )
    .await
    .expect(200);
    let s = session(&app, key).await;
    assert_eq!(s["inbox"]["prechat_form"]["when"], "always");
}
