//! `rota ask` through the real binary: exit codes and one-line errors for bad input, the
//! no-keys hint, and `--json`. Every run gets its own empty HOME and XDG dirs.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `rota ARGS` with `stdin`, in a fresh home with no keys in the environment.
fn rota(args: &[&str], stdin: &[u8]) -> (Output, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rota"));
    cmd.args(args)
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env_remove("GROQ_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("TOGETHER_API_KEY")
        .env_remove("ROTA_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (out, home)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2, one `rota: error:` line (and at most a hint line), nothing on stdout.
fn assert_usage_error(o: &Output, needle: &str) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("rota: task"))
        .collect();
    assert!(
        lines[0].starts_with("rota: error: ") && lines.len() <= 2,
        "{err}"
    );
    assert!(err.contains(needle), "{needle:?} not in {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn an_empty_prompt_is_a_usage_error() {
    let (o, _h) = rota(&["--demo", "ask", ""], b"");
    assert_usage_error(&o, "empty");
    let (o, _h) = rota(&["--demo", "ask"], b"  \n");
    assert_usage_error(&o, "empty");
}

#[test]
fn an_unknown_task_is_a_usage_error() {
    let (o, _h) = rota(&["--demo", "ask", "--task", "poetry", "hello"], b"");
    assert_usage_error(&o, "poetry");
}

#[test]
fn bad_images_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let (o, _h) = rota(
        &[
            "--demo",
            "ask",
            "--image",
            missing.to_str().unwrap(),
            "what?",
        ],
        b"",
    );
    assert_usage_error(&o, "cannot read image");
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "just some text, not a picture").unwrap();
    let (o, _h) = rota(
        &["--demo", "ask", "--image", text.to_str().unwrap(), "what?"],
        b"",
    );
    assert_usage_error(&o, "not a PNG, JPEG, GIF or WebP image");
    // Over every vision model's image size (the demo's largest takes 20,000,000 bytes).
    let big = dir.path().join("big.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(20_500_000, 0);
    std::fs::write(&big, bytes).unwrap();
    let (o, _h) = rota(
        &["--demo", "ask", "--image", big.to_str().unwrap(), "what?"],
        b"",
    );
    assert_usage_error(&o, "image");
}

#[test]
fn a_prompt_larger_than_every_context_window_says_the_numbers() {
    // Larger than every demo model, GPT-6 family (1.05M tokens) included.
    let prompt = "lorem ipsum dolor sit amet ".repeat(200_000);
    let (o, _h) = rota(&["--demo", "ask", "--task", "fast", "-"], prompt.as_bytes());
    let err = assert_usage_error(&o, "tokens");
    let numbers: Vec<u64> = err
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .filter(|n| *n > 1000)
        .collect();
    assert!(numbers.len() >= 2, "needed and largest: {err}");
    assert!(numbers[0] > numbers[1], "{err}");
}

#[test]
fn no_keys_at_all_exits_3_with_a_hint() {
    let (o, _h) = rota(&["ask", "hello"], b"");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.starts_with("rota: error: "), "{err}");
    for needle in [
        "GROQ_API_KEY",
        "OPENAI_API_KEY",
        "TOGETHER_API_KEY",
        "--demo",
    ] {
        assert!(err.contains(needle), "{needle} missing: {err}");
    }
}

#[test]
fn json_prints_ndjson_events_with_masked_keys() {
    let (o, _h) = rota(&["--demo", "ask", "--json", "hello"], b"");
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut names = Vec::new();
    for line in out.lines() {
        assert!(line.starts_with(r#"{"event":""#), "{line}");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        names.push(v["event"].as_str().unwrap().to_string());
        if let Some(key) = v.get("key") {
            let key = key.as_str().unwrap();
            assert!(key.starts_with('…') && key.chars().count() == 5, "{key}");
        }
    }
    assert!(
        !out.contains("sim-groq") && !out.contains("sim-openai"),
        "{out}"
    );
    assert_eq!(names.first().map(String::as_str), Some("task_selected"));
    assert!(names.iter().any(|n| n == "model_selected"));
    assert!(names.iter().any(|n| n == "delta"));
    assert_eq!(names.last().map(String::as_str), Some("done"));
}

#[test]
fn a_cut_answer_says_so_on_stderr_and_keeps_stdout_for_the_answer() {
    let (o, _h) = rota(
        &[
            "--demo",
            "ask",
            "--task",
            "fast",
            "--max-tokens",
            "3",
            "tell me a long story",
        ],
        b"",
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("rota: answer cut at 3 tokens (max_tokens); rerun with --max-tokens"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("answer cut"), "{out}");
}

#[test]
fn json_done_carries_finish_reason_and_groq_reasoning_events() {
    let (o, _h) = rota(
        &[
            "--demo",
            "ask",
            "--json",
            "--task",
            "fast",
            "why is the sky blue",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let done = lines.iter().find(|l| l["event"] == "done").unwrap();
    assert!(done["finish_reason"].is_string(), "{done}");
    // The demo's fast pool starts with Groq's gpt-oss-20b, which streams its thinking.
    assert_eq!(done["provider"], "groq", "{done}");
    assert!(lines.iter().any(|l| l["event"] == "reasoning"), "{lines:?}");
}

#[test]
fn show_reasoning_sends_thinking_to_stderr_only() {
    let (o, _h) = rota(
        &[
            "--demo",
            "ask",
            "--show-reasoning",
            "--task",
            "fast",
            "why is the sky blue",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (out, err) = (String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(err.contains("The user asks"), "{err}");
    assert!(!out.contains("The user asks"), "{out}");
    let (o, _h) = rota(
        &["--demo", "ask", "--task", "fast", "why is the sky blue"],
        b"",
    );
    assert!(!stderr(&o).contains("The user asks"), "{}", stderr(&o));
}
