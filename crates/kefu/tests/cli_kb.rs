//! `kefu kb import | export | reindex | eval`, run as the real binary
//! against a temporary data directory (SQLite; one PostgreSQL variant uses
//! `KEFU_TEST_DATABASE_URL`).

use kefu_store::testing::TestDb;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

mod support;

use support::{create_owner as workspace, kefu, text, BIN};

fn kb(data_dir: &Path, db_url: Option<&str>, args: &[&str]) -> Output {
    kefu(data_dir, db_url)
        .arg("kb")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

const REFUND: &str = r#"{"external_id":"refund","title":"如何申请退款","body":"在订单页面点击“申请退款”，填写退款原因后提交。审核通过后，款项会在3到5个工作日内原路退回。","questions":["怎么申请退款","退款多久到账"],"tags":["billing"],"category":"订单"}"#;
const INVOICE: &str = r#"{"external_id":"invoice","title":"如何开具发票","body":"在订单详情页点击“申请发票”，填写发票抬头和税号，电子发票会发送到您的邮箱。","questions":["怎么开发票","发票抬头填错了怎么办"]}"#;
const PASSWORD: &str = r#"{"external_id":"pw","title":"How to reset your password","body":"Open the sign-in page, click Forgot password, and follow the link we e-mail you to choose a new password.","questions":["I forgot my password"],"locale":"en"}"#;

/// Three good lines (1, 3, 5) and two bad ones (2: not JSON; 4: no title).
fn articles_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("articles.jsonl");
    let lines = [
        REFUND,
        r#"{"external_id": "broken", "title": "#,
        INVOICE,
        r#"{"external_id":"untitled","body":"a body without a title"}"#,
        PASSWORD,
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn import(data: &Path, db_url: Option<&str>, file: &Path, ws: &str) -> Output {
    kb(
        data,
        db_url,
        &["import", file.to_str().unwrap(), "--workspace", ws],
    )
}

async fn import_reports_failed_lines_and_updates_by_external_id(db_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ws = workspace(&data, db_url, "owner@example.com");
    let file = articles_file(dir.path());

    let out = import(&data, db_url, &file, &ws);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "some lines failed: {stdout}{}",
        text(&out.stderr)
    );
    assert!(
        stdout
            .contains("imported 3 article(s): 3 created, 0 updated, 0 unchanged; 2 line(s) failed"),
        "{stdout}"
    );
    assert!(stdout.contains("line 2: invalid_json: "), "{stdout}");
    assert!(
        stdout.contains("line 4: validation_failed: title: required"),
        "{stdout}"
    );
    assert!(!stdout.contains("line 1:") && !stdout.contains("line 3:"));

    // Edit one article; the others are identical: one update, no creation.
    let edited = dir.path().join("edited.jsonl");
    let refund = REFUND.replace("3到5个工作日", "1到3个工作日");
    std::fs::write(&edited, format!("{refund}\n{INVOICE}\n\n{PASSWORD}\n")).unwrap();
    let out = import(&data, db_url, &edited, &ws);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout
            .contains("imported 3 article(s): 0 created, 1 updated, 2 unchanged; 0 line(s) failed"),
        "{stdout}"
    );

    // stdin works too (`-`).
    let mut child = kefu(&data, db_url)
        .args(["kb", "import", "-", "--workspace", &ws])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 article(s): 0 created, 0 updated, 1 unchanged"),
        "{}",
        text(&out.stdout)
    );
    // Not a terminal: no progress drawing on stderr.
    assert!(!text(&out.stderr).contains("lines read"));
}

#[tokio::test]
async fn import_reports_failed_lines_and_updates_by_external_id_sqlite() {
    import_reports_failed_lines_and_updates_by_external_id(None).await;
}

#[tokio::test]
async fn import_reports_failed_lines_and_updates_by_external_id_postgres() {
    let db = TestDb::postgres().await;
    import_reports_failed_lines_and_updates_by_external_id(Some(&db.url)).await;
    db.cleanup().await;
}

#[test]
fn export_round_trips_into_another_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ws = workspace(&data, None, "a@example.com");
    let other = workspace(&data, None, "b@example.com");
    assert_ne!(ws, other);
    let file = articles_file(dir.path());
    assert_eq!(import(&data, None, &file, &ws).status.code(), Some(1));

    let exported = dir.path().join("export.jsonl");
    let out = kb(
        &data,
        None,
        &[
            "export",
            "--workspace",
            &ws,
            "--out",
            exported.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "the file gets the articles");
    assert!(
        text(&out.stderr).contains("3 article(s) exported to"),
        "{}",
        text(&out.stderr)
    );
    let body = std::fs::read_to_string(&exported).unwrap();
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{body}");
    for (ext, title) in [
        ("refund", "如何申请退款"),
        ("invoice", "如何开具发票"),
        ("pw", "How to reset your password"),
    ] {
        let l = lines
            .iter()
            .find(|l| l["external_id"] == ext)
            .unwrap_or_else(|| panic!("{ext} exported: {body}"));
        assert_eq!(l["title"], title);
        assert_eq!(l["status"], "published");
        assert!(l["id"].is_string());
    }
    let refund = lines.iter().find(|l| l["external_id"] == "refund").unwrap();
    assert_eq!(refund["questions"][0], "怎么申请退款");
    assert_eq!(refund["tags"][0], "billing");
    assert_eq!(refund["category"], "订单");
    assert_eq!(refund["locale"], "zh-CN", "inferred from the text");

    // The export imports as it is.
    let out = import(&data, None, &exported, &other);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("imported 3 article(s): 3 created, 0 updated, 0 unchanged"),
        "{}",
        text(&out.stdout)
    );
    // …and exports the same, to stdout.
    let out = kb(&data, None, &["export", "--workspace", &other]);
    assert!(out.status.success());
    let again: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(again.len(), 3);
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("id");
        v
    };
    let mut a: Vec<_> = lines.iter().map(strip).collect();
    let mut b: Vec<_> = again.iter().map(strip).collect();
    let key = |v: &serde_json::Value| v["external_id"].as_str().unwrap().to_string();
    a.sort_by_key(key);
    b.sort_by_key(key);
    assert_eq!(a, b, "same content in the second workspace");
    assert!(text(&out.stderr).contains("3 article(s) exported to stdout"));
}

fn questions_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("questions.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"question": "怎么申请退款", "expected_external_id": "refund"}"#,
            "\n",
            r#"{"question": "how do I reset my password", "expected_external_id": "pw", "locale": "en"}"#,
            "\n",
            r#"{"question": "发票怎么开", "expected_external_id": "invoice"}"#,
            "\n",
            r#"{"question": "今天天气怎么样", "expected_external_id": null}"#,
            "\n",
        ),
    )
    .unwrap();
    path
}

#[test]
fn eval_reports_hit_rates_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ws = workspace(&data, None, "owner@example.com");
    import(&data, None, &articles_file(dir.path()), &ws);
    let q = questions_file(dir.path());
    let q = q.to_str().unwrap();

    let out = kb(&data, None, &["eval", "--workspace", &ws, "--questions", q]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    for row in [
        "hit@1",
        "hit@3",
        "MRR@10",
        "answer precision",
        "off-topic handoff",
    ] {
        assert!(report.contains(row), "{row} missing:\n{report}");
    }
    assert!(
        report.contains("cases              4  (in scope 3, off-topic 1)"),
        "{report}"
    );
    // Then the thresholds and the curve, one row per threshold.
    assert!(
        report.contains("thresholds         answer 0.80, suggest 0.40"),
        "{report}"
    );
    assert!(report.contains("as suggest threshold:"), "{report}");
    for t in ["0.00", "0.05", "0.60", "1.00"] {
        assert!(
            report
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{t}  "))),
            "no row for {t}:\n{report}"
        );
    }

    let out = kb(
        &data,
        None,
        &["eval", "--workspace", &ws, "--questions", q, "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["cases"], 4);
    assert_eq!(r["in_scope"], 3);
    assert_eq!(r["hit_at_1"], 1.0, "{r}");
    assert_eq!(r["hit_at_3"], 1.0, "{r}");
    assert_eq!(r["off_topic_handoff"], 1.0, "the weather is off-topic: {r}");
}

/// `kefu kb eval --json` prints what `POST …/kb/eval` answers on the same
/// workspace and file: the same report, curve and thresholds included.
async fn eval_json_is_what_the_api_answers(db_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ws = workspace(&data, db_url, "owner@example.com");
    import(&data, db_url, &articles_file(dir.path()), &ws);
    let q = questions_file(dir.path());
    let out = kb(
        &data,
        db_url,
        &[
            "eval",
            "--workspace",
            &ws,
            "--questions",
            q.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["curve"].as_array().map(Vec::len), Some(21), "{cli}");
    assert_eq!(
        cli["thresholds"],
        serde_json::json!({"answer": 0.8, "suggest": 0.4})
    );

    let server = support::serve(&data, db_url, &[]);
    let client = reqwest::Client::new();
    let login = support::login(&client, &server.base(), "owner@example.com").await;
    let api = support::json_of(
        client
            .post(format!("{}/api/v1/workspaces/{ws}/kb/eval", server.base()))
            .bearer_auth(login["access_token"].as_str().unwrap())
            .body(std::fs::read_to_string(&q).unwrap()),
    )
    .await;
    assert_eq!(cli, api);
}

#[tokio::test]
async fn eval_json_is_what_the_api_answers_sqlite() {
    eval_json_is_what_the_api_answers(None).await;
}

#[tokio::test]
async fn eval_json_is_what_the_api_answers_postgres() {
    let db = TestDb::postgres().await;
    eval_json_is_what_the_api_answers(Some(&db.url)).await;
    db.cleanup().await;
}

#[test]
fn bad_input_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ws = workspace(&data, None, "owner@example.com");
    let file = articles_file(dir.path());
    let file = file.to_str().unwrap();
    let unknown = "0190c7a4-0000-7000-8000-000000000000";

    for (args, expect) in [
        (
            vec!["import", file, "--workspace", unknown],
            format!("workspace {unknown} not found"),
        ),
        (
            vec!["import", file, "--workspace", "no-such-team"],
            "workspace no-such-team not found".to_string(),
        ),
        (
            vec!["export", "--workspace", unknown],
            format!("workspace {unknown} not found"),
        ),
        (
            vec!["reindex", "--workspace", unknown],
            format!("workspace {unknown} not found"),
        ),
        (
            vec!["import", "/no/such/file.jsonl", "--workspace", &ws],
            "cannot read /no/such/file.jsonl".to_string(),
        ),
        (
            vec![
                "eval",
                "--workspace",
                &ws,
                "--questions",
                "/no/such/questions.jsonl",
            ],
            "cannot read the questions file /no/such/questions.jsonl".to_string(),
        ),
    ] {
        let out = kb(&data, None, &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = text(&out.stderr);
        assert!(
            err.contains(&expect),
            "{args:?}: expected {expect:?} in\n{err}"
        );
    }

    // A questions file with a bad line names the line.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"question\": \"怎么退款\", \"expected_external_id\": \"refund\"}\n{\"question\": oops}\n",
    )
    .unwrap();
    let out = kb(
        &data,
        None,
        &[
            "eval",
            "--workspace",
            &ws,
            "--questions",
            bad.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("bad.jsonl: line 2:"), "{err}");
    // An empty one says so.
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let out = kb(
        &data,
        None,
        &[
            "eval",
            "--workspace",
            &ws,
            "--questions",
            empty.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("has no questions"),
        "{}",
        text(&out.stderr)
    );
    // A line that is not UTF-8 is one failed line (issue 14, finding 4):
    // the lines after it are imported.
    let latin1 = dir.path().join("latin1.jsonl");
    let mut bytes = b"{\"title\": \"caf\xe9\", \"body\": \"x\"}\n".to_vec();
    bytes.extend_from_slice(format!("{INVOICE}\n").as_bytes());
    std::fs::write(&latin1, bytes).unwrap();
    let out = import(&data, None, &latin1, &ws);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("line 1: not_utf8: "), "{stdout}");
    assert!(stdout.contains("imported 1 article(s)"), "{stdout}");
}

#[test]
fn reindex_rebuilds_the_index_from_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ws = workspace(&data, None, "a@example.com");
    let other = workspace(&data, None, "b@example.com");
    let file = articles_file(dir.path());
    import(&data, None, &file, &ws);
    std::fs::write(dir.path().join("one.jsonl"), format!("{PASSWORD}\n")).unwrap();
    import(&data, None, &dir.path().join("one.jsonl"), &other);

    let index = data.join("kb-index");
    let _ = std::fs::remove_dir_all(&index);
    let out = kb(&data, None, &["reindex"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("4 article(s) indexed for 2 workspace(s)"),
        "{stdout}"
    );
    assert!(index.is_dir());

    // Again: the index is deleted and rebuilt, whatever it held.
    let out = kb(&data, None, &["reindex"]);
    assert!(text(&out.stdout).contains("4 article(s) indexed"));
    // One workspace.
    let out = kb(&data, None, &["reindex", "--workspace", &ws]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("3 article(s) indexed for workspace {ws}")),
        "{stdout}"
    );
}

/// A running `kefu serve` child; killed if the test fails half-way.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(data_dir: &Path) -> Server {
    let mut child = kefu(data_dir, None)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("\"addr\"") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("server announced its address");
    Server(child)
}

#[test]
fn import_runs_beside_a_server_and_reindex_refuses_to() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ws = workspace(&data, None, "owner@example.com");
    let server = serve(&data);

    // Import and eval keep their own index: no fight over the server's.
    let out = import(&data, None, &articles_file(dir.path()), &ws);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let q = questions_file(dir.path());
    let out = kb(
        &data,
        None,
        &[
            "eval",
            "--workspace",
            &ws,
            "--questions",
            q.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Reindex needs the server's index: it refuses, and leaves it whole.
    let files_before = std::fs::read_dir(data.join("kb-index")).unwrap().count();
    let out = kb(&data, None, &["reindex"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("in use by another process") && err.contains("Stop the server first"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(data.join("kb-index")).unwrap().count(),
        files_before
    );
    drop(server);

    let out = kb(&data, None, &["reindex"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("3 article(s) indexed"));
}

/// The workspace's evaluation gate, written as the HTTP API would.
async fn set_gate(data: &Path, ws: &str, questions: &str, min_hit_at_1: f64) {
    use sqlx::Connection;
    let url = format!("sqlite://{}/kefu.db", data.display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let settings = serde_json::json!({
        "answer_threshold": 0.6,
        "suggest_threshold": 0.2,
        "max_unhelpful": 2,
        "eval_gate": {
            "questions": questions,
            "min_hit_at_1": min_hit_at_1,
            "min_off_topic_handoff": 0.0,
        },
    });
    sqlx::query(
        "INSERT INTO bot_settings (workspace_id, settings) VALUES ($1, $2) \
         ON CONFLICT (workspace_id) DO UPDATE SET settings = excluded.settings",
    )
    .bind(uuid::Uuid::parse_str(ws).unwrap())
    .bind(settings.to_string())
    .execute(&mut c)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_refused_gate_writes_nothing_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ws = workspace(&data, None, "owner@example.com");
    let file = articles_file(dir.path());
    // Asks about an article the import does not bring.
    set_gate(
        &data,
        &ws,
        "{\"question\": \"运费怎么算\", \"expected_external_id\": \"shipping\"}\n",
        0.9,
    )
    .await;
    let out = import(&data, None, &file, &ws);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("the workspace's evaluation gate refused the import; nothing was written: hit@1 0.000 (minimum 0.900)"),
        "{stdout}"
    );
    let out = kb(&data, None, &["export", "--workspace", &ws]);
    assert!(out.stdout.is_empty(), "nothing imported");

    // A gate the import passes.
    set_gate(
        &data,
        &ws,
        "{\"question\": \"怎么申请退款\", \"expected_external_id\": \"refund\"}\n",
        0.9,
    )
    .await;
    let out = import(&data, None, &file, &ws);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "lines 2 and 4 still fail: {stdout}"
    );
    assert!(
        stdout.contains("evaluation gate passed: hit@1 1.000 (minimum 0.900)"),
        "{stdout}"
    );
    assert!(stdout.contains("3 created"), "{stdout}");
}

#[test]
fn help_explains_the_commands() {
    let out = Command::new(BIN).args(["kb", "--help"]).output().unwrap();
    let help = text(&out.stdout);
    for cmd in ["import", "export", "reindex", "eval"] {
        assert!(help.contains(cmd), "{cmd} missing:\n{help}");
    }
    let out = Command::new(BIN)
        .args(["kb", "import", "--help"])
        .output()
        .unwrap();
    let help = text(&out.stdout);
    for s in [
        "--workspace",
        "Exit status",
        "some lines failed",
        "evaluation gate",
        "A running server is not told",
        "HTTP API",
        "external_id",
    ] {
        assert!(help.contains(s), "{s} missing:\n{help}");
    }
}
