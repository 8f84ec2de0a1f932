//! Providers that answer badly on purpose (a fake endpoint per test on 127.0.0.1), run
//! through the real binary: huge waits never wrap into a retry storm and cool at most the
//! window they name, `rota reset` lifts the cooldowns, a refused request is sent once and
//! the provider's own words reach the user without escape sequences, a refusal that names
//! the model goes to one other model, and absurd `--max-tokens` is a usage error.

mod shared_support;

use serde_json::json;
use shared_support::{rota_cmd, text};
use std::path::{Path, PathBuf};
use std::process::Output;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-hostile-test-key-0001";

/// A config with one custom provider at `url` serving `m1` then `m2` in the fast pool.
fn config(home: &Path, url: &str, max_wait: &str) -> PathBuf {
    let cfg = home.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[defaults]\nmax_wait = \"{max_wait}\"\n\
             [[providers.custom]]\nname = \"edge\"\nbase_url = \"{url}/v1\"\nkeys = [\"{KEY}\"]\n\
             [[providers.custom.models]]\nid = \"m1\"\ntasks = [\"fast\"]\n\
             [[providers.custom.models]]\nid = \"m2\"\ntasks = [\"fast\"]\n\
             [pools]\nfast = [\"custom:edge/m1\", \"custom:edge/m2\"]\n"
        ),
    )
    .unwrap();
    cfg
}

fn answer_sse(text: &str) -> String {
    format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n\
         data: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}],\
         \"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}}}\n\n\
         data: [DONE]\n\n"
    )
}

fn answers(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/event-stream")
        .set_body_string(answer_sse(text))
}

/// Answers every chat request for `model` (every model when `None`) with `reply`.
async fn reply_for(server: &MockServer, model: Option<&str>, reply: ResponseTemplate) {
    let chat = Mock::given(method("POST")).and(path("/v1/chat/completions"));
    match model {
        Some(m) => chat.and(body_partial_json(json!({"model": m}))),
        None => chat,
    }
    .respond_with(reply)
    .mount(server)
    .await;
}

/// A temporary home and a config over `server` (see [`config`]).
fn home_for(server: &MockServer, max_wait: &str) -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let cfg = config(home.path(), &server.uri(), max_wait);
    (home, cfg)
}

async fn run(home: &Path, cfg: &Path, args: &[&str]) -> Output {
    let mut cmd = rota_cmd(home, Some(cfg), args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// `rota ask --task fast hi` with this home and config.
async fn ask(home: &Path, cfg: &Path) -> Output {
    run(home, cfg, &["ask", "--task", "fast", "hi"]).await
}

async fn chat_requests(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with("/chat/completions"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_retry_after_cools_one_window_and_reset_lifts_it() {
    let server = MockServer::start().await;
    // m1: a 429 on the minute's requests asking for 1e30 s; m2: a message asking for more
    // hours than fit in 64 bits.
    reply_for(&server, Some("m1"), 
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1e30")
                .set_body_json(json!({"error": {
                    "message": "Rate limit reached on requests per minute (RPM): Limit 5, Used 5, Requested 1.",
                    "type": "requests", "code": "rate_limit_exceeded"}})),
        ).await;
    reply_for(
        &server,
        Some("m2"),
        ResponseTemplate::new(429).set_body_json(json!({"error": {
            "message": "Rate limit reached. Please try again in 999999999999999999999h.",
            "type": "rate_limit_error", "code": "rate_limit_exceeded"}})),
    )
    .await;
    let (home, cfg) = home_for(&server, "5s");

    let o = ask(home.path(), &cfg).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("max_wait"), "{err}");
    // One request to each model, then the cooldowns hold: no storm.
    assert_eq!(chat_requests(&server).await, 2, "{err}");

    // The minute's 429 cools about a minute; the one naming no window at most an hour.
    let o = run(home.path(), &cfg, &["status", "--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let entries = status["pools"]["fast"].as_array().unwrap();
    let back = |id: &str| -> u64 {
        let e = entries.iter().find(|e| e["model"] == id).unwrap();
        e["until_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("no until_ms in {e}"))
    };
    assert!((50_000..=62_000).contains(&back("m1")), "{status}");
    assert!((3_000_000..=3_600_000).contains(&back("m2")), "{status}");

    // A second ask sends nothing: both are cooling.
    let o = ask(home.path(), &cfg).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(chat_requests(&server).await, 2);

    let o = run(home.path(), &cfg, &["reset", "custom:edge/m1"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        out.contains("cleared for custom:edge/m1: 1 cooldown"),
        "{out}"
    );
    let o = run(home.path(), &cfg, &["reset"]).await;
    let (out, _) = text(&o);
    assert!(out.contains("cleared everywhere: 1 cooldown"), "{out}");
    let o = run(home.path(), &cfg, &["reset"]).await;
    let (out, _) = text(&o);
    assert!(out.contains("nothing held"), "{out}");
    let o = run(home.path(), &cfg, &["reset", "nosuch"]).await;
    assert_eq!(o.status.code(), Some(2));

    // Lifted: the next ask is sent again.
    ask(home.path(), &cfg).await;
    assert!(chat_requests(&server).await > 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_is_sent_once_and_says_why_without_escapes() {
    let server = MockServer::start().await;
    reply_for(&server, None, ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Invalid value for 'temperature': \u{1b}]0;pwned\u{7}\u{1b}[2Jexpected a number.",
            "type": "invalid_request_error", "param": "temperature", "code": null}}))).await;
    let (home, cfg) = home_for(&server, "30s");
    let o = ask(home.path(), &cfg).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("refused the request"), "{err}");
    assert!(err.contains("Invalid value for 'temperature'"), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    assert_eq!(chat_requests(&server).await, 1);

    // Nothing was cooled or backed off for it: the same ask is sent at once again.
    let o = run(
        home.path(),
        &cfg,
        &["ask", "--json", "--task", "fast", "hi"],
    )
    .await;
    let (out, _) = text(&o);
    assert!(out.contains("\"invalid_request\""), "{out}");
    assert_eq!(chat_requests(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_naming_the_model_goes_to_one_other_model() {
    let server = MockServer::start().await;
    reply_for(
        &server,
        Some("m1"),
        ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "reasoning_effort is not supported by this model",
            "type": "invalid_request_error"}})),
    )
    .await;
    reply_for(&server, Some("m2"), answers("hello from m2")).await;
    let (home, cfg) = home_for(&server, "30s");
    let o = ask(home.path(), &cfg).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(out.trim(), "hello from m2");
    assert_eq!(chat_requests(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_max_tokens_is_a_usage_error_and_sends_nothing() {
    let server = MockServer::start().await;
    reply_for(&server, None, answers("x")).await;
    let (home, cfg) = home_for(&server, "30s");
    let o = run(
        home.path(),
        &cfg,
        &["ask", "--max-tokens", "18446744073709551615", "hi"],
    )
    .await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--max-tokens must be between 1 and 1000000"),
        "{err}"
    );
    assert_eq!(chat_requests(&server).await, 0);
}
