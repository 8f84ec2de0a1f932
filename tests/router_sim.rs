//! The router against the in-process simulated fleet over loopback: rotation on every kind
//! of failure, waiting instead of breaking known limits, learning unknown ones.

mod shared_support;
use rota::config::{Backend, Config, KeyConfig, ProviderConfig};
use rota::model::{Limits, ModelRef, Reason, Task, Window};
use rota::router::events::Event;
use rota::router::{ChatRequest, Clock, End, Router};
use rota::secret::ApiKey;
use rota::sim::{Scenario, SimHandle};
use rota::store::MemoryStore;
use shared_support::ask_events as run;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A fleet of one Groq account `a` (key `gsk_test_0001`) serving `m1` and `m2` for the fast
/// pool, answers of a dozen tokens at no pace; `extra` is appended (faults, limits).
fn scenario(m1_limits: &str, extra: &str) -> String {
    format!(
        r#"
[defaults]
max_tokens = 64
answer_tokens = 12
tokens_per_sec = 0
ttft = "0ms"

[[providers]]
name = "groq"

[[providers.accounts]]
name = "a"
keys = ["gsk_test_0001"]

[[providers.models]]
id = "m1"
tasks = ["fast"]
{m1_limits}

[[providers.models]]
id = "m2"
tasks = ["fast"]
{extra}
"#
    )
}

async fn start(toml: &str) -> SimHandle {
    let s = Scenario::from_toml(toml).unwrap();
    rota::sim::start(s, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn mr(s: &str) -> ModelRef {
    let (p, m) = s.split_once('/').unwrap();
    ModelRef::new(p, m)
}

/// The demo's config for this fleet, in memory, with short timeouts and the given pool.
fn config(sim: &SimHandle, pool: &[&str]) -> Config {
    let mut c = rota::cli::demo::demo_config(sim, &std::env::temp_dir()).unwrap();
    c.state.backend = Backend::Memory;
    c.state.data_dir = None;
    c.defaults.connect_timeout = Duration::from_millis(500);
    c.defaults.first_byte_timeout = Duration::from_millis(400);
    c.defaults.idle_timeout = Duration::from_millis(400);
    c.defaults.max_wait = Duration::from_secs(5);
    c.defaults.max_attempts = 3;
    c.pools
        .insert(Task::Fast, pool.iter().map(|m| mr(m)).collect());
    c
}

fn router(c: Config) -> Router {
    Router::new(c, Arc::new(MemoryStore::default()))
}

fn request(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![rota::message::Message::user(text)],
        task: Some(Task::Fast),
        max_tokens: Some(40),
        ..ChatRequest::default()
    }
}

/// (model, masked key, attempt) of every `model_selected`.
fn selected(events: &[Event]) -> Vec<(String, String, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ModelSelected {
                model,
                key,
                attempt,
                ..
            } => Some((model.clone(), key.clone(), *attempt)),
            _ => None,
        })
        .collect()
}

fn rotations(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| matches!(e, Event::ModelRotation { .. }))
        .collect()
}

fn text(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The single rotation's reason and `to`.
fn one_rotation(events: &[Event]) -> (Reason, Option<String>) {
    let r = rotations(events);
    assert_eq!(r.len(), 1, "{events:#?}");
    match r[0] {
        Event::ModelRotation { reason, to, .. } => (*reason, to.clone()),
        _ => unreachable!(),
    }
}

fn done_attempts(events: &[Event]) -> Option<u32> {
    events.iter().find_map(|e| match e {
        Event::Done { attempts, .. } => Some(*attempts),
        _ => None,
    })
}

/// Fills the sim's window for `model` with a direct call the router does not know about.
async fn use_up(sim: &SimHandle, model: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/chat/completions", sim.base_url("groq")))
        .bearer_auth("gsk_test_0001")
        .json(&serde_json::json!({
            "model": model, "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.text().await.unwrap();
}

fn stat(sim: &SimHandle, account: &str, model: &str, field: &str) -> u64 {
    sim.stats()["providers"]["groq"]["accounts"][account][model][field]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_429_on_the_first_model_is_answered_by_the_second() {
    let sim = start(&scenario("rpm = 1", "")).await;
    use_up(&sim, "m1").await;
    let r = router(config(&sim, &["groq/m1", "groq/m2"]));
    let (end, ev) = run(&r, request("hello there")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    assert_eq!(
        ev[0],
        Event::TaskSelected {
            task: Task::Fast,
            auto: false
        }
    );
    let sel = selected(&ev);
    assert_eq!(
        sel,
        vec![
            ("m1".to_string(), "…0001".to_string(), 1),
            ("m2".to_string(), "…0001".to_string(), 2)
        ]
    );
    match rotations(&ev)[..] {
        [
            Event::ModelRotation {
                from,
                to,
                key,
                reason,
                window,
                retry_after_ms,
                limit,
            },
        ] => {
            assert_eq!(from, "groq/m1");
            assert_eq!(to.as_deref(), Some("groq/m2"));
            assert_eq!(key, "…0001");
            assert_eq!(*reason, Reason::RateLimited);
            assert_eq!(*window, Some(Window::Rpm));
            assert!(retry_after_ms.is_some_and(|ms| ms > 0 && ms <= 61_000));
            assert_eq!(*limit, Some(1));
        }
        _ => panic!("one rotation expected: {ev:#?}"),
    }
    // Order: selected 1, rotation, selected 2, deltas, recovered, done.
    let kinds: Vec<&str> = ev
        .iter()
        .map(|e| match e {
            Event::TaskSelected { .. } => "task",
            Event::ModelSelected { .. } => "selected",
            Event::ModelRotation { .. } => "rotation",
            Event::Delta { .. } => "delta",
            Event::RateLimitRecovered { .. } => "recovered",
            Event::Done { .. } => "done",
            _ => "other",
        })
        .collect();
    let mut dedup = kinds.clone();
    dedup.dedup();
    assert_eq!(
        dedup,
        [
            "task",
            "selected",
            "rotation",
            "selected",
            "delta",
            "recovered",
            "done"
        ]
    );
    assert!(ev.contains(&Event::RateLimitRecovered {
        provider: "groq".into(),
        model: "m2".into(),
        attempts: 2
    }));
    assert_eq!(done_attempts(&ev), Some(2));
    assert!(!text(&ev).is_empty());
    assert_eq!(stat(&sim, "a", "m1", "429"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn request_too_large_skips_the_model_now_and_later() {
    let sim = start(&scenario("tpm = 30", "")).await;
    let mut c = config(&sim, &["groq/m1", "groq/m2"]);
    for m in &mut c.models {
        m.limits = Limits::default();
    }
    let r = router(c);
    let (end, ev) = run(&r, request("hello there")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    let (reason, to) = one_rotation(&ev);
    assert_eq!(reason, Reason::RequestTooLarge);
    assert_eq!(to.as_deref(), Some("groq/m2"));
    match rotations(&ev)[0] {
        Event::ModelRotation { window, limit, .. } => {
            assert_eq!((*window, *limit), (Some(Window::Tpm), Some(30)));
        }
        _ => unreachable!(),
    }
    // The learned limit keeps the next request away from m1.
    let (end, ev) = run(&r, request("hello again")).await;
    assert_eq!(end, End::Answered);
    assert_eq!(selected(&ev), vec![("m2".into(), "…0001".into(), 1)]);
    assert_eq!(stat(&sim, "a", "m1", "413"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_invalid_key_is_disabled_and_the_next_key_is_used() {
    let sim = start(&scenario("", "")).await;
    let mut c = config(&sim, &["groq/m2"]);
    c.providers[0].keys.insert(
        0,
        KeyConfig {
            key: Some(ApiKey::new("gsk_test_bogus_9999")),
            account: "a".into(),
        },
    );
    let r = router(c);
    let (end, ev) = run(&r, request("hello there")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    assert_eq!(one_rotation(&ev), (Reason::Auth, Some("groq/m2".into())));
    assert_eq!(
        selected(&ev),
        vec![
            ("m2".into(), "…9999".into(), 1),
            ("m2".into(), "…0001".into(), 2)
        ]
    );
    let (_, ev) = run(&r, request("hello again")).await;
    assert_eq!(selected(&ev), vec![("m2".into(), "…0001".into(), 1)]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_retired_model_is_dropped() {
    let sim = start(&scenario("", "")).await;
    let mut c = config(&sim, &["groq/retired", "groq/m2"]);
    let mut spec = c
        .models
        .iter()
        .find(|m| m.model.id == "m2")
        .unwrap()
        .clone();
    spec.model = mr("groq/retired");
    c.models.push(spec);
    let r = router(c);
    let (end, ev) = run(&r, request("hello there")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    assert_eq!(
        one_rotation(&ev),
        (Reason::Decommissioned, Some("groq/m2".into()))
    );
    let (_, ev) = run(&r, request("hello again")).await;
    assert_eq!(selected(&ev), vec![("m2".into(), "…0001".into(), 1)]);
    sim.shutdown().await;
}

/// A tiny OpenAI-shaped server: the key `sk-test-spent-0000` is out of quota (the real
/// body), any other key gets a short streamed answer.
async fn quota_server() -> (String, tokio::task::JoinHandle<()>) {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    async fn chat(headers: HeaderMap) -> axum::response::Response {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth.ends_with("sk-test-spent-0000") {
            let body = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("content-type", "application/json")],
                body,
            )
                .into_response();
        }
        let sse = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"paid \"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"answer\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n",
            "data: [DONE]\n\n"
        );
        (StatusCode::OK, [("content-type", "text/event-stream")], sse).into_response()
    }
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(chat));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

#[tokio::test]
async fn a_spent_key_is_disabled_and_the_next_key_is_used() {
    let sim = start(&scenario("", "")).await;
    let (url, server) = quota_server().await;
    let mut c = config(&sim, &["openai/q1"]);
    c.providers.push(ProviderConfig {
        name: "openai".into(),
        base_url: url,
        keys: ["sk-test-spent-0000", "sk-test-good-0002"]
            .iter()
            .map(|k| KeyConfig {
                key: Some(ApiKey::new(k)),
                account: "o".into(),
            })
            .collect(),
        enabled: true,
    });
    let mut spec = c
        .models
        .iter()
        .find(|m| m.model.id == "m2")
        .unwrap()
        .clone();
    spec.model = mr("openai/q1");
    c.models.push(spec);
    let r = router(c);
    let (end, ev) = run(&r, request("hello there")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    assert_eq!(
        one_rotation(&ev),
        (Reason::QuotaExhausted, Some("openai/q1".into()))
    );
    assert_eq!(
        selected(&ev),
        vec![
            ("q1".into(), "…0000".into(), 1),
            ("q1".into(), "…0002".into(), 2)
        ]
    );
    assert_eq!(text(&ev), "paid answer");
    let (_, ev) = run(&r, request("hello again")).await;
    assert_eq!(selected(&ev), vec![("q1".into(), "…0002".into(), 1)]);
    server.abort();
    sim.shutdown().await;
}

fn fault(kind: &str, after_tokens: u32) -> String {
    format!(
        "\n[[faults]]\nprovider = \"groq\"\nmodel = \"m1\"\nkind = \"{kind}\"\nprobability = 1.0\nafter_tokens = {after_tokens}\n"
    )
}

#[tokio::test]
async fn each_fault_before_text_gives_its_reason_and_the_next_model_answers() {
    let cases = [
        ("http_500", Reason::ServerError),
        ("http_503", Reason::Overloaded),
        ("hang_before_headers", Reason::Timeout),
        ("hang_mid_stream", Reason::Timeout),
        ("cut_stream", Reason::Connection),
        ("malformed_chunk", Reason::BadResponse),
    ];
    // A failing server backs off its whole provider (engine policy), so the second model
    // lives at another provider: the rotation to it is immediate.
    let other = r#"
[[providers]]
name = "openai"

[[providers.accounts]]
name = "o"
keys = ["sk-test-0001"]

[[providers.models]]
id = "m3"
tasks = ["fast"]
"#;
    for (kind, want) in cases {
        let sim = start(&scenario("", &format!("{}{other}", fault(kind, 0)))).await;
        let r = router(config(&sim, &["groq/m1", "openai/m3"]));
        let (end, ev) = run(&r, request("hello there")).await;
        assert_eq!(end, End::Answered, "{kind}: {ev:#?}");
        assert_eq!(
            one_rotation(&ev),
            (want, Some("openai/m3".into())),
            "{kind}: {ev:#?}"
        );
        assert_eq!(done_attempts(&ev), Some(2), "{kind}");
        assert!(!text(&ev).is_empty(), "{kind}");
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn every_candidate_failing_ends_with_the_last_reason() {
    let faults = format!("{}{}", fault("http_500", 0), {
        "\n[[faults]]\nprovider = \"groq\"\nmodel = \"m2\"\nkind = \"http_500\"\nprobability = 1.0\n"
    });
    let sim = start(&scenario("", &faults)).await;
    let mut c = config(&sim, &["groq/m1", "groq/m2"]);
    c.defaults.max_wait = Duration::from_millis(200);
    let r = router(c);
    let (end, ev) = run(&r, request("hello there")).await;
    assert_eq!(end, End::Failed, "{ev:#?}");
    assert!(matches!(ev.last(), Some(Event::Error { .. })), "{ev:#?}");
    assert!(!ev.iter().any(|e| matches!(e, Event::Done { .. })));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_stream_broken_after_text_keeps_it_and_ends_with_an_error() {
    for kind in ["cut_stream", "hang_mid_stream", "malformed_chunk"] {
        let sim = start(&scenario("", &fault(kind, 4))).await;
        let r = router(config(&sim, &["groq/m1", "groq/m2"]));
        let (end, ev) = run(&r, request("hello there")).await;
        assert_eq!(end, End::Failed, "{kind}: {ev:#?}");
        assert_eq!(selected(&ev).len(), 1, "no second model: {ev:#?}");
        assert!(!text(&ev).is_empty(), "{kind}");
        match ev.last() {
            Some(Event::Error { message, .. }) => {
                assert!(message.contains("partial answer is kept"), "{message}")
            }
            other => panic!("{kind}: {other:?}"),
        }
        assert!(rotations(&ev).is_empty());
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn cancelling_releases_the_reservation() {
    use rota::store::Store;
    let sim = start(&scenario("", &fault("hang_before_headers", 0))).await;
    let mut c = config(&sim, &["groq/m1"]);
    c.defaults.first_byte_timeout = Duration::from_secs(30);
    let store = Arc::new(MemoryStore::default());
    let r = Arc::new(Router::new(c, store.clone()));
    // 1. The receiver goes away (Esc, Ctrl+C).
    let mut rx = r.ask(request("hello there"));
    while !matches!(rx.recv().await, Some(Event::ModelSelected { .. })) {}
    assert_eq!(store.snapshot().unwrap().inflight.len(), 1);
    drop(rx);
    let mut freed = false;
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if store.snapshot().unwrap().inflight.is_empty() {
            freed = true;
            break;
        }
    }
    assert!(freed, "dropping the receiver left the reservation");
    // 2. The request's future itself is dropped (an aborted task, a runtime shutting down).
    let (tx, mut rx) = mpsc::channel(64);
    let r2 = r.clone();
    let task = tokio::spawn(async move { r2.run(request("hello there"), &tx).await });
    while !matches!(rx.recv().await, Some(Event::ModelSelected { .. })) {}
    assert_eq!(store.snapshot().unwrap().inflight.len(), 1);
    task.abort();
    let _ = task.await;
    // The guard releases on a blocking thread (a store may wait for a lock): soon, not at
    // once.
    let mut freed = false;
    for _ in 0..500 {
        if store.snapshot().unwrap().inflight.is_empty() {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(freed, "dropping the request's future left the reservation");
    sim.shutdown().await;
}

/// Two accounts × two models, `rpm` each.
fn fleet(rpm: u32) -> String {
    format!(
        r#"
[defaults]
max_tokens = 32
answer_tokens = 6
tokens_per_sec = 0
ttft = "0ms"

[[providers]]
name = "groq"

[[providers.accounts]]
name = "a"
keys = ["gsk_test_0001"]

[[providers.accounts]]
name = "b"
keys = ["gsk_test_0002"]

[[providers.models]]
id = "m1"
rpm = {rpm}
tasks = ["fast"]

[[providers.models]]
id = "m2"
rpm = {rpm}
tasks = ["fast"]
"#
    )
}

/// The fleet's windows are a minute long and half the requests must wait for them. rota and
/// the sim share a driven clock: once the first hundred are answered and settled, the test
/// moves it past the minute instead of waiting a real one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_limits_mean_no_429_at_twice_the_capacity() {
    use rota::store::Store;
    let clock = Clock::driven(rota::model::now_ms());
    let scenario = Scenario::from_toml(&fleet(25)).unwrap();
    let addr = "127.0.0.1:0".parse().unwrap();
    let sim = rota::sim::start_with_clock(scenario, addr, clock.clone())
        .await
        .unwrap();
    let mut c = config(&sim, &["groq/m1", "groq/m2"]);
    // Capacity: 2 accounts × 2 models × 25 requests a minute = 100; no margin, so the 200
    // requests take exactly two windows and the second hundred waits one (< max_wait).
    c.defaults.safety_margin = 0.0;
    c.defaults.max_wait = Duration::from_secs(120);
    let store = Arc::new(MemoryStore::default());
    let r = Arc::new(Router::new(c, store.clone()).with_clock(clock.clone()));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            run(&r, request(&format!("question {i}"))).await
        }));
    }
    // The first window's hundred answered and settled: nothing is in flight across the
    // move.
    let mut full = false;
    for _ in 0..1_000 {
        let ok = sim.stats()["totals"]["ok"].as_u64().unwrap_or(0);
        if ok == 100 && store.snapshot().unwrap().inflight.is_empty() {
            full = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(full, "{}", sim.stats()["totals"]);
    clock.advance(61_000);
    let mut waited = 0;
    for t in tasks {
        let (end, ev) = t.await.unwrap();
        assert_eq!(end, End::Answered, "{ev:#?}");
        assert!(rotations(&ev).is_empty(), "{ev:#?}");
        if ev
            .iter()
            .any(|e| matches!(e, Event::NoModelsAvailable { .. }))
        {
            waited += 1;
        }
    }
    let totals = &sim.stats()["totals"];
    assert_eq!(totals["429"], 0, "{totals}");
    assert_eq!(totals["ok"], 200, "{totals}");
    assert_eq!(waited, 100, "{waited} waited");
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_limits_are_learned_from_the_first_429_of_each_slot() {
    let sim = start(&fleet(5)).await;
    let mut c = config(&sim, &["groq/m1", "groq/m2"]);
    for m in &mut c.models {
        m.limits = Limits::default();
    }
    c.defaults.max_wait = Duration::from_secs(1);
    let r = router(c);
    for i in 0..20 {
        let (end, ev) = run(&r, request(&format!("question {i}"))).await;
        assert_eq!(end, End::Answered, "request {i}: {ev:#?}");
    }
    let mut total = 0;
    for a in ["a", "b"] {
        for m in ["m1", "m2"] {
            let n = stat(&sim, a, m, "429");
            assert!(n <= 1, "{a} {m}: {n} 429s");
            assert_eq!(stat(&sim, a, m, "ok"), 5, "{a} {m}");
            total += n;
        }
    }
    assert_eq!(total, 3, "the last slot never filled up");
    // The 21st request meets the last slot's first 429 (it never told its limit); then the
    // whole fleet is known to be full: the next request gives up (max_wait 1 s) without
    // provoking another 429.
    let (end, ev) = run(&r, request("one more")).await;
    assert_eq!(end, End::Failed, "{ev:#?}");
    assert_eq!(stat(&sim, "b", "m2", "429"), 1);
    let (end, ev) = run(&r, request("and another")).await;
    assert_eq!(end, End::Failed, "{ev:#?}");
    assert!(selected(&ev).is_empty(), "{ev:#?}");
    assert!(
        matches!(ev.last(), Some(Event::Error { kind, .. }) if kind == "rate_limited"),
        "{ev:#?}"
    );
    assert_eq!(sim.stats()["totals"]["429"], 4);
    sim.shutdown().await;
}

/// Two keys of one account that end in the same four characters are two keys: both are
/// used, and the provider refusing one takes only that one out of rotation.
#[tokio::test]
async fn keys_with_the_same_last_four_are_told_apart() {
    use wiremock::matchers::header;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let answer = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1}}"#;
    Mock::given(header("authorization", "Bearer gsk_refused_key_0001"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            r#"{"error":{"message":"Invalid API Key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(header("authorization", "Bearer gsk_working_key_0001"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(answer, "application/json"))
        .mount(&server)
        .await;
    let text = format!(
        r#"[state]
backend = "memory"
[providers.groq]
keys = [
  {{ key = "gsk_refused_key_0001", account = "org" }},
  {{ key = "gsk_working_key_0001", account = "org" }},
]
base_url = "{}/v1"
[providers.openai]
enabled = false
[providers.together]
enabled = false
[pools]
fast = ["groq/openai/gpt-oss-20b"]
"#,
        server.uri()
    );
    let config = rota::config::parse(&text, "(test)", &|_: &str| None).unwrap();
    let store = Arc::new(MemoryStore::default());
    let r = Router::new(config, store.clone());
    for i in 0..3 {
        let (end, ev) = run(&r, request(&format!("question {i}"))).await;
        assert_eq!(end, End::Answered, "{ev:#?}");
    }
    let used: std::collections::BTreeSet<String> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|q| {
            q.headers
                .get("authorization")?
                .to_str()
                .ok()
                .map(String::from)
        })
        .collect();
    assert_eq!(used.len(), 2, "both keys were called: {used:?}");
    use rota::store::Store;
    let disabled = store.snapshot().unwrap().disabled_keys;
    assert_eq!(
        disabled.len(),
        1,
        "only the refused key is out: {disabled:?}"
    );
    assert!(
        disabled
            .keys()
            .all(|id| !id.contains("0001_") && !id.contains("gsk_"))
    );
}

/// A request cancelled after its answer began was counted by the provider: it stays in the
/// window (released, rota would believe the minute has room the provider says it has not).
#[tokio::test]
async fn a_request_cancelled_mid_answer_stays_counted() {
    use rota::store::Store;
    let sim = start(&scenario("rpm = 100", &fault("hang_mid_stream", 2))).await;
    let mut c = config(&sim, &["groq/m1"]);
    c.defaults.idle_timeout = Duration::from_secs(30);
    let store = Arc::new(MemoryStore::default());
    let r = Arc::new(Router::new(c, store.clone()));
    let mut rx = r.ask(request("hello there"));
    while !matches!(rx.recv().await, Some(Event::Delta { .. })) {}
    drop(rx);
    let mut settled = false;
    for _ in 0..500 {
        if store.snapshot().unwrap().inflight.is_empty() {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(settled, "the cancelled request is still in flight");
    let used: u64 = r
        .status()
        .unwrap()
        .pools
        .values()
        .flatten()
        .filter(|e| e.model == "m1")
        .filter_map(|e| e.windows.get(&Window::Rpm).map(|w| w.used))
        .max()
        .unwrap_or(0);
    assert_eq!(used, 1, "the provider counted it, so rota does too");
    sim.shutdown().await;
}
