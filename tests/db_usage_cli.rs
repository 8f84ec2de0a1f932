//! `rota usage` end to end: the binary reads the ledger in $XDG_DATA_HOME/rota/rota.db.

use rota::engine::Pool;
use rota::model::{Reason, Task, Usage, now_ms};
use rota::store::db::Db;
use rota::store::ledger::{AttemptRow, Ledger, Outcome};
use std::process::Command;

fn rota(data_home: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rota"))
        .args(args)
        .env("XDG_DATA_HOME", data_home)
        .env("HOME", data_home)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn row(at: u64, outcome: Outcome, reason: Option<Reason>) -> AttemptRow {
    AttemptRow {
        at_ms: at,
        task: Pool::Chat(Task::Fast),
        model: "groq/llama-3.1-8b-instant".parse().unwrap(),
        account: None,
        key_suffix: "0001".into(),
        estimated_prompt_tokens: 100,
        usage: (outcome == Outcome::Ok).then_some(Usage {
            prompt_tokens: 100,
            completion_tokens: 20,
        }),
        cost_usd: None,
        latency_ms: 250,
        first_token_ms: Some(80),
        outcome,
        reason,
        rotated: reason.is_some(),
        request_id: None,
    }
}

#[test]
fn no_database_yet_is_friendly() {
    let home = tempfile::tempdir().unwrap();
    let (code, out, err) = rota(home.path(), &["usage"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no requests recorded yet"), "{out}");
    // Looking did not create a database.
    assert!(!home.path().join("rota").join("rota.db").exists());
    let (code, out, _) = rota(home.path(), &["usage", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rows"], serde_json::json!([]));
    assert!(v["since"].is_null());
}

#[test]
fn sums_the_ledger_and_honours_since() {
    let home = tempfile::tempdir().unwrap();
    let db = Db::open(&home.path().join("rota").join("rota.db")).unwrap();
    let l = Ledger::default();
    let now = now_ms();
    l.record(&db, &row(now - 3 * 86_400_000, Outcome::Ok, None))
        .unwrap();
    l.record(
        &db,
        &row(now - 1000, Outcome::Failed, Some(Reason::RateLimited)),
    )
    .unwrap();
    l.record(&db, &row(now - 500, Outcome::Ok, None)).unwrap();
    drop(db);

    let (code, out, err) = rota(home.path(), &["usage", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rows"][0]["requests"], 3);
    assert_eq!(v["rows"][0]["rate_limited"], 1);
    assert_eq!(v["rows"][0]["prompt_tokens"], 200);

    let (code, out, _) = rota(home.path(), &["usage", "--since", "1d", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rows"][0]["requests"], 2);
    assert!(v["since"].as_str().unwrap().ends_with('Z'));

    let (code, out, _) = rota(home.path(), &["usage"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("MODEL"), "{out}");
    assert!(out.contains("groq/llama-3.1-8b-instant"), "{out}");

    let (code, _, err) = rota(home.path(), &["usage", "--since", "a week"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("rota: error:") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn corrupt_database_fails_with_the_fix() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("rota");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rota.db"), vec![0x42u8; 4096]).unwrap();
    let (code, out, err) = rota(home.path(), &["usage"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("is not a valid rota database"), "{err}");
    assert!(err.contains(".bad"), "{err}");
}
