//! Issue 14, hardening point 15: the NDJSON import end to end on both
//! engines, fed seeded soups of lines — valid articles (Chinese, English,
//! any Unicode, controls in bodies), blank lines, bytes that are not UTF-8,
//! NUL, broken JSON, articles that fail the checks and huge lines, with
//! `\n` and `\r\n` breaks. Every valid line is stored, every bad line is
//! reported once with its own number and code, and imported + failed +
//! blank = lines. (The line reader alone runs many more cases:
//! kefu-service `kb::import::props`.) A failure names its seed.

use crate::kb::kb;
use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

on_both_backends!(every_line_of_a_soup_is_stored_or_reported);

/// A line and the failure code it must get (`None`: stored; `Some("")`:
/// blank, neither).
fn line(rng: &mut StdRng, seed: u64, no: usize) -> (Vec<u8>, Option<&'static str>) {
    const TEXT: &[&str] = &[
        "退货",
        "营业时间",
        "refund",
        "𠜎",
        "\u{202e}",
        "e\u{301}",
        "😀",
        " ",
        "\"",
        "\\",
        "<script>",
    ];
    let mut text =
        |n: usize| -> String { (0..n).map(|_| TEXT[rng.gen_range(0..TEXT.len())]).collect() };
    let title = format!("t{} {}", no, text(3));
    let body = format!("b {}\u{7}\n{}", text(5), text(5));
    let valid = json!({"external_id": format!("s{seed}-{no}"), "title": title, "body": body});
    match rng.gen_range(0..10) {
        0..=3 => (valid.to_string().into_bytes(), None),
        4 => (b"  \t".to_vec(), Some("")),
        5 => {
            let mut b = valid.to_string().into_bytes();
            let at = rng.gen_range(0..b.len());
            // Inserted before an ASCII byte, so never inside a character.
            let at = (at..b.len()).find(|&i| b[i].is_ascii()).unwrap_or(b.len());
            b.splice(at..at, [0xff, 0xfe]);
            (b, Some("not_utf8"))
        }
        6 => (
            json!({"title": title, "body": format!("{body}\0")})
                .to_string()
                .into_bytes(),
            Some("validation_failed"),
        ),
        7 => {
            let s = valid.to_string();
            let cut = (1..s.len())
                .filter(|&i| s.is_char_boundary(i))
                .nth(rng.gen_range(0..s.len() / 2))
                .unwrap_or(1);
            (s.as_bytes()[..cut].to_vec(), Some("invalid_json"))
        }
        8 => (
            json!({"body": body}).to_string().into_bytes(),
            Some("validation_failed"),
        ),
        _ => (
            json!({"title": title, "body": "长".repeat(50_001)})
                .to_string()
                .into_bytes(),
            Some("validation_failed"),
        ),
    }
}

async fn articles(app: &TestApp, owner: &Owner) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let r = app
            .get(
                &kb(owner, &format!("kb/articles?limit=100{after}")),
                Some(&owner.access_token),
            )
            .await
            .expect(200);
        let items = r.body["items"].as_array().unwrap().clone();
        all.extend(items);
        match r.body["next_cursor"].as_str() {
            Some(c) => after = format!("&cursor={c}"),
            None => return all,
        }
    }
}

async fn every_line_of_a_soup_is_stored_or_reported(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let mut stored_before = 0;
    for seed in 0..3u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = rng.gen_range(20..40);
        let mut body = Vec::new();
        let mut expected_failures = Vec::new();
        let (mut valid, mut blank) = (0, 0);
        for no in 1..=n {
            let (bytes, outcome) = line(&mut rng, seed, no);
            body.extend_from_slice(&bytes);
            if rng.gen_bool(0.3) {
                body.push(b'\r');
            }
            if no < n || rng.gen_bool(0.5) {
                body.push(b'\n');
            }
            match outcome {
                None => valid += 1,
                Some("") => blank += 1,
                Some(code) => expected_failures.push((no as i64, code.to_string())),
            }
        }
        let res = app
            .client
            .post(app.url(&kb(&owner, "kb/import")))
            .bearer_auth(&owner.access_token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        let r = TestApp::reply(res).await.expect(200);
        let failed: Vec<(i64, String)> = r.body["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["line"].as_i64().unwrap(),
                    f["code"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(failed, expected_failures, "seed {seed}: {}", r.body);
        assert_eq!(r.body["imported"], valid, "seed {seed}: {}", r.body);
        assert_eq!(r.body["created"], valid, "seed {seed}: {}", r.body);
        assert_eq!(valid + blank + failed.len(), n, "seed {seed}");
        // Stored is stored: every valid line is an article now.
        let stored = articles(&app, &owner).await;
        assert_eq!(stored.len(), stored_before + valid, "seed {seed}");
        stored_before = stored.len();
        let prefix = format!("s{seed}-");
        let ids = stored
            .iter()
            .filter(|a| {
                a["external_id"]
                    .as_str()
                    .is_some_and(|e| e.starts_with(&prefix))
            })
            .count();
        assert_eq!(ids, valid, "seed {seed}");
    }
}
