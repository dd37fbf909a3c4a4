//! Point-in-time recovery on PostgreSQL, rehearsed: runs the drill
//! `scripts/drills/pitr` (docs/operations/pitr.md) against this build's
//! `kefu` binary. The drill creates its own throwaway cluster with the local
//! PostgreSQL server binaries; without them it fails, and so does this test
//! (skip it with `--skip postgres`).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

#[test]
fn postgres_point_in_time_recovery() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/drills/pitr");
    let mut cmd = Command::new(&script);
    // Keep the developer's environment from leaking into the drill.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("KEFU_")) {
        cmd.env_remove(k);
    }
    let out = cmd
        .env("KEFU_BIN", env!("CARGO_BIN_EXE_kefu"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        out.status.success(),
        "the drill failed: {}\n{context}",
        out.status
    );

    // pitr: ok rto_s=… rpo_s=… restored_messages=… messages_before_t=… …
    let last = stdout.lines().last().unwrap_or_default();
    let fields = last
        .strip_prefix("pitr: ok ")
        .unwrap_or_else(|| panic!("the last line is not `pitr: ok …`\n{context}"));
    let fields: HashMap<&str, f64> = fields
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            let v = v
                .parse()
                .unwrap_or_else(|_| panic!("{k}={v} is not a number\n{context}"));
            (k, v)
        })
        .collect();
    let get = |k: &str| {
        *fields
            .get(k)
            .unwrap_or_else(|| panic!("{k} missing from the last line\n{context}"))
    };

    // Everything committed before T is back; nothing after T is.
    let before = get("messages_before_t");
    let after = get("messages_after_t");
    assert!(before > 0.0 && after > 0.0, "{context}");
    assert_eq!(get("restored_messages"), before, "{context}");
    assert_eq!(get("restored_after_t"), 0.0, "{context}");
    assert_eq!(get("conversations"), 3.0, "{context}");
    // The figures are measured, and plausible.
    let rpo = get("rpo_s");
    assert!(
        (0.0..=get("archive_timeout_s")).contains(&rpo),
        "RPO {rpo}\n{context}"
    );
    assert_eq!(get("archive_timeout_s"), 60.0, "{context}");
    let rto = get("rto_s");
    assert!(rto > 0.0 && rto < 120.0, "RTO {rto}\n{context}");
}
