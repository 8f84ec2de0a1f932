//! Replays every recorded request in `shared/fixtures/recordings/` and compares rota's
//! prompt estimate with the `prompt_tokens` the provider reported in the recorded stream:
//! median absolute error ≤ 5 %, none over 15 %.

mod shared_fixtures;

use rota::tokens::estimate_request;
use serde_json::Value;

/// The provider rota names from a recording's `provider:` tag.
fn provider_of(rec: &Value) -> String {
    let tag = rec["metadata"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find_map(|t| t.strip_prefix("provider:"))
        .unwrap();
    match tag {
        "togetherai" => "together".to_string(),
        other => other.to_string(),
    }
}

/// The last `prompt_tokens` the stream reported (Groq repeats it; any copy is the same).
fn reported_prompt_tokens(sse: &str) -> u64 {
    let mut last = None;
    for line in sse.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        for usage in [&chunk["usage"], &chunk["x_groq"]["usage"]] {
            if let Some(n) = usage["prompt_tokens"].as_u64() {
                last = Some(n);
            }
        }
    }
    last.expect("a usage chunk in the stream")
}

#[test]
fn estimates_match_recorded_prompt_tokens() {
    let dir = shared_fixtures::fixtures_dir().join("recordings");
    let mut errors = Vec::new();
    let mut report = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let rec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let provider = provider_of(&rec);
        for interaction in rec["interactions"].as_array().unwrap() {
            let body: Value =
                serde_json::from_str(interaction["request"]["body"].as_str().unwrap()).unwrap();
            let model = format!("{provider}/{}", body["model"].as_str().unwrap());
            let real = reported_prompt_tokens(interaction["response"]["body"].as_str().unwrap());
            let est = estimate_request(&body, Some(&model)).prompt_tokens;
            let err = (est as f64 - real as f64).abs() / real as f64;
            report.push(format!(
                "{}: {model}: estimate {est}, real {real}, error {:.1} %",
                path.display(),
                err * 100.0
            ));
            errors.push(err);
        }
    }
    assert!(!errors.is_empty(), "no recordings in {}", dir.display());
    let report = report.join("\n");
    let mut sorted = errors.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    assert!(
        median <= 0.05,
        "median error {:.1} %\n{report}",
        median * 100.0
    );
    assert!(
        sorted[n - 1] <= 0.15,
        "worst error {:.1} %\n{report}",
        sorted[n - 1] * 100.0
    );
    println!("{report}\nmedian {:.1} %", median * 100.0);
}

/// Runs the built `rota estimate` with `args` and `stdin`; returns (exit code, stdout, stderr).
fn rota_estimate(args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_rota"))
        .arg("estimate")
        .args(args)
        .env("ROTA_CONFIG", "/nonexistent/rota-test-config.toml")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn cli_prints_exactly_the_estimate_line() {
    let body = r#"{"model":"llama-3.3-70b-versatile","messages":[{"role":"system","content":"You are concise."},{"role":"user","content":"Reply with exactly: Hello!"}],"max_tokens":20}"#;
    let (code, out, err) = rota_estimate(&["--model", "groq/llama-3.3-70b-versatile"], body);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let p = v["prompt_tokens"].as_u64().unwrap();
    assert_eq!(
        out,
        format!("{{\"prompt_tokens\":{p},\"reserve_tokens\":{}}}\n", p + 20)
    );
    assert!((40..=50).contains(&p), "{p}");

    // From a file, with the body's own model (a bare OpenAI id) and the default answer budget.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(
        &file,
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .unwrap();
    let (code, out, _) = rota_estimate(&[file.to_str().unwrap()], "");
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v["reserve_tokens"].as_u64().unwrap(),
        v["prompt_tokens"].as_u64().unwrap() + 1024
    );
}

#[test]
fn cli_rejects_bad_input_with_a_hint_and_exit_2() {
    for (args, stdin, what) in [
        (vec!["/nonexistent/body.json"], "", "cannot read"),
        (vec![], "{not json", "not valid JSON"),
        (
            vec![],
            r#"{"model":"gpt-4o","messages":[]}"#,
            "no `messages`",
        ),
        (vec![], r#"{"model":"gpt-4o"}"#, "no `messages`"),
        (
            vec!["--model", "nomodel"],
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            "not a model reference",
        ),
    ] {
        let (code, out, err) = rota_estimate(&args, stdin);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.starts_with("rota: error: "), "{err}");
        assert!(err.contains(what), "{err}");
    }
    let (_, _, err) = rota_estimate(&[], "{not json");
    assert!(err.contains("\nhint: "), "{err}");
}
