//! Issue 14, finding 3: a NUL character gave 500 on PostgreSQL on 7 routes,
//! three of them open to anyone (login, widget sessions, widget messages).
//! This feeds every text field of every operation in the OpenAPI document
//! (JSON bodies, query parameters, path parameters) hostile Unicode — NUL,
//! lone surrogates as JSON escapes, other controls, bidi and zero-width
//! marks, noncharacters, a BOM, astral characters, long strings — and
//! asserts what must hold on both engines: no 5xx, ever. Seeded, so a
//! failure names the request that reproduces it.

use kefu_testkit::{on_both_backends, Backend, TestApp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

on_both_backends!(no_text_field_of_the_api_gives_a_5xx);

/// Raw JSON string bodies (already escaped, without the quotes): what a
/// client can put between the quotes, including what `serde_json::Value`
/// itself could never hold (a lone surrogate).
const PIECES: &[&str] = &[
    "\\u0000",
    "a\\u0000b",
    "\\ud800",
    "\\udfff",
    "x\\udbff",
    "\\ud83d\\ude00",
    "\\u0001\\u0007\\u001b[31m",
    "\\u007f\\u0085",
    "\\u202e\\u2066",
    "\\u200b\\u200d\\ufeff",
    "\\uffff\\ufffe",
    "𠜎𠜱",
    "你好，世界",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00",
    "<script>alert(1)</script>",
    "\\\\u0000",
    "e\\u0301\\u0301\\u0301",
    "\\n\\r\\t",
];

/// One hostile JSON string literal (with quotes).
fn hostile(rng: &mut StdRng) -> String {
    let n = rng.gen_range(1..=3);
    let mut s = String::from("\"");
    for _ in 0..n {
        s.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
    }
    if rng.gen_bool(0.1) {
        s.push_str(&"长".repeat(rng.gen_range(100..3000)));
    }
    s.push('"');
    s
}

/// The same for a query string or a path segment: percent-encoded bytes
/// of hostile text (a NUL, controls, invalid UTF-8).
fn hostile_param(rng: &mut StdRng) -> &'static str {
    const P: &[&str] = &[
        "%00",
        "a%00b",
        "%ED%A0%80",
        "%FF%FE",
        "%E2%80%AE",
        "%EF%BB%BF",
        "%F0%A0%9C%8E",
        "%27%20OR%201%3D1",
        "..%2F..%2F",
        "%0D%0A",
    ];
    P[rng.gen_range(0..P.len())]
}

/// Follows a `$ref` into `components`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let path = r.trim_start_matches("#/").split('/');
            path.fold(doc, |node, seg| &node[seg])
        }
        None => schema,
    }
}

/// A JSON text for `schema` whose strings are hostile (written as text, so
/// that it can hold escapes no `Value` can).
fn body_for(doc: &Value, schema: &Value, rng: &mut StdRng, depth: usize) -> String {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["oneOf"]
        .as_array()
        .or(schema["anyOf"].as_array())
        .or(schema["allOf"].as_array())
        .and_then(|v| v.first())
    {
        return body_for(doc, first, rng, depth);
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema["properties"].is_object() => "object",
        _ => "string",
    };
    match ty {
        "object" if depth < 4 => {
            let props = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let fields: Vec<String> = props
                .iter()
                .map(|(k, s)| format!("{}:{}", json!(k), body_for(doc, s, rng, depth + 1)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        "array" if depth < 4 => {
            let item = body_for(doc, &schema["items"], rng, depth + 1);
            format!("[{item}]")
        }
        "integer" => rng.gen_range(-2..100).to_string(),
        "number" => "0.5".into(),
        "boolean" => rng.gen_bool(0.5).to_string(),
        "null" => "null".into(),
        _ if schema["enum"].is_array() && rng.gen_bool(0.5) => schema["enum"][0].to_string(),
        _ if schema["format"] == "uuid" && rng.gen_bool(0.5) => {
            json!(uuid::Uuid::now_v7()).to_string()
        }
        _ => hostile(rng),
    }
}

async fn no_text_field_of_the_api_gives_a_5xx(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.http.rate_limit.enabled = false;
        s.auth.service.throttle.ip_attempts = 1_000_000;
        s.auth.service.throttle.account_failures = 1_000_000;
    })
    .await;
    let owner = app.owner("o@example.com").await;
    let inbox = app
        .post(
            &format!("/api/v1/workspaces/{}/inboxes", owner.workspace_id),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web"}),
        )
        .await
        .expect(201);
    let visitor = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": inbox.body["widget_key"]}),
        )
        .await
        .expect(201);
    let visitor_token = visitor.body["visitor_token"].as_str().unwrap().to_string();
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200).body;
    let mut rng = StdRng::seed_from_u64(0x6b656675);
    let (mut requests, mut fields) = (0, 0);
    let mut failures = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            // Signing out would end the run's own session.
            if path.contains("logout") || path.contains("sessions/revoke") {
                continue;
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let body_schema = &op["requestBody"]["content"]["application/json"]["schema"];
            for round in 0..6 {
                // Path: the real workspace (and, in half the rounds, a
                // hostile segment elsewhere); query: hostile strings.
                let mut url = format!("/api/v1{path}");
                let mut query = Vec::new();
                for p in &params {
                    let name = p["name"].as_str().unwrap();
                    let value = if name == "workspace_id" {
                        owner.workspace_id.clone()
                    } else if round % 2 == 0 {
                        hostile_param(&mut rng).to_string()
                    } else {
                        uuid::Uuid::now_v7().to_string()
                    };
                    match p["in"].as_str() {
                        Some("path") => url = url.replace(&format!("{{{name}}}"), &value),
                        Some("query") => {
                            fields += 1;
                            query.push(format!("{name}={}", hostile_param(&mut rng)));
                        }
                        _ => {}
                    }
                }
                if !query.is_empty() {
                    url = format!("{url}?{}", query.join("&"));
                }
                let body = if body_schema.is_object() {
                    fields += 1;
                    Some(body_for(&doc, body_schema, &mut rng, 0))
                } else {
                    None
                };
                let token = if path.starts_with("/widget") {
                    Some(visitor_token.as_str())
                } else if path.starts_with("/auth") || path.starts_with("/invitations") {
                    None
                } else {
                    Some(owner.access_token.as_str())
                };
                let mut req = app
                    .client
                    .request(method.parse().unwrap(), format!("http://{}{url}", app.addr));
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                if let Some(b) = &body {
                    req = req
                        .header("content-type", "application/json")
                        .body(b.clone());
                }
                let res = req.send().await.expect("the server answers");
                requests += 1;
                let status = res.status().as_u16();
                if status >= 500 {
                    let text = res.text().await.unwrap_or_default();
                    failures.push(format!(
                        "{method} {url} → {status} {text}\n  body: {}",
                        body.as_deref()
                            .unwrap_or("-")
                            .chars()
                            .take(300)
                            .collect::<String>()
                    ));
                }
            }
        }
    }
    assert!(
        requests > 300,
        "only {requests} requests: is the document complete?"
    );
    assert!(fields > 200, "only {fields} hostile fields");
    assert!(
        failures.is_empty(),
        "{} of {requests} requests gave a 5xx:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Still serving, and nothing hostile got in as a visible message.
    app.get("/api/v1/me", Some(&owner.access_token))
        .await
        .expect(200);
    app.stop().await;
}
