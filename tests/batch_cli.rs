//! `rota batch` end to end against the simulated fleet: result lines only on stdout, a bad
//! line gets its own `ok:false` line with kind `input`, the ledger (`rota usage --json`) and
//! the shared state (`rota status --json` in another process) show what the batch did.

mod shared_support;

use shared_support::{Fleet, MODEL, Rig, batch_input, ok_ids, text, totals};

#[test]
fn batch_writes_only_result_lines_and_reports_bad_lines_in_place() {
    let rig = Rig::start(Fleet::default());
    let dir = rig.home.path();
    let input = batch_input(dir, 12);
    // Three bad lines among the good ones.
    let mut body = std::fs::read_to_string(&input).unwrap();
    body.push_str("this is not json\n");
    body.push_str("{\"id\": \"no-prompt\"}\n");
    body.push_str("{\"id\": \"bad-task\", \"prompt\": \"hi\", \"task\": \"poetry\"}\n");
    body.push('\n');
    std::fs::write(&input, body).unwrap();

    // stderr is a pipe here, not a terminal: no progress bar anywhere.
    let o = rig.run(&["batch", input.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "some lines failed: {err}");
    assert!(
        err.is_empty(),
        "nothing on stderr without a terminal: {err}"
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 15, "{out}");
    let mut ok = ok_ids(&out);
    ok.sort();
    let mut want: Vec<String> = (0..12).map(|i| format!("q{i}")).collect();
    want.sort();
    assert_eq!(ok, want);
    for l in lines.iter().filter(|l| l["ok"] == true) {
        assert_eq!(l["provider"], "groq");
        assert_eq!(l["model"], MODEL);
        assert!(!l["text"].as_str().unwrap().is_empty());
        assert!(l["usage"]["completion_tokens"].as_u64().unwrap() > 0);
        assert_eq!(l["attempts"], 1);
    }
    let bad: Vec<&serde_json::Value> = lines.iter().filter(|l| l["ok"] == false).collect();
    assert_eq!(bad.len(), 3);
    for l in &bad {
        assert_eq!(l["error"]["kind"], "input", "{l}");
        assert!(!l["error"]["message"].as_str().unwrap().is_empty());
    }
    let ids: Vec<&str> = bad.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"line-13") && ids.contains(&"no-prompt") && ids.contains(&"bad-task"));

    let (requests, served, rate_limited) = totals(&rig.stats());
    assert_eq!((requests, served, rate_limited), (12, 12, 0));

    // The ledger, read by another process.
    let o = rig.run(&["usage", "--json"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{v}");
    let r = &rows[0];
    assert_eq!(
        (r["provider"].as_str(), r["model"].as_str()),
        (Some("groq"), Some(MODEL))
    );
    assert_eq!(r["requests"], 12);
    assert_eq!(r["ok"], 12);
    assert_eq!(r["rate_limited"], 0);
    assert!(r["prompt_tokens"].as_u64().unwrap() > 0, "{v}");
    assert!(r["completion_tokens"].as_u64().unwrap() > 0, "{v}");

    // The shared windows, read by another process: 12 requests in this minute.
    let o = rig.run(&["status", "--json"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let fast = v["pools"]["fast"].as_array().unwrap();
    let entry = fast
        .iter()
        .find(|e| e["model"] == MODEL)
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(entry["provider"], "groq");
    assert_eq!(entry["state"], "available", "{entry}");
    let rpm = &entry["windows"]["rpm"];
    assert_eq!(rpm["used"], 12, "{entry}");
    assert_eq!(rpm["limit"], 25, "per account: {entry}");
}

#[test]
fn status_in_another_process_sees_a_running_batch() {
    // Slow answers: the batch is still running while status looks.
    let rig = Rig::start(Fleet {
        rpm: 25,
        answer_tokens: 40,
        tokens_per_sec: 20,
    });
    let input = batch_input(rig.home.path(), 4);
    let out = rig.home.path().join("out.jsonl");
    let mut child = rig
        .rota(&[
            "batch",
            "--concurrency",
            "4",
            "-o",
            out.to_str().unwrap(),
            input.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    // Poll (no fixed sleep) until the other process's reservations show up.
    let mut seen = None;
    for _ in 0..200 {
        let o = rig.run(&["status", "--json"]);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text(&o).0.trim()) {
            let used = v["pools"]["fast"][0]["windows"]["rpm"]["used"]
                .as_u64()
                .unwrap_or(0);
            if used > 0 {
                seen = Some(used);
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success());
    let used = seen.expect("status never saw the batch's usage");
    assert!((1..=4).contains(&used), "{used}");
    assert_eq!(totals(&rig.stats()).2, 0);
}
