//! `rota serve` over loopback: the official `openai` Python package as the caller (models,
//! chat, stream, tools round trip, transcription, 429 with `retry-after`, 401), and from
//! Rust: request fields reach the provider as the client wrote them, a client that goes
//! away cancels its upstream request (and gives back a reservation the provider never
//! answered), a batch over capacity gets 429s from rota but none from the provider.
//!
//! The Python checks need the `openai` package: `.ci/openai-setup.sh` installs it in a venv
//! and sets `ROTA_OPENAI_PYTHON`; without it they are skipped unless
//! `ROTA_OPENAI_REQUIRED=1`.

use axum::body::{Body, Bytes};
use axum::response::IntoResponse;
use rota::config::{Backend, Config};
use rota::router::Router;
use rota::secret::ApiKey;
use rota::serve::{self, Serve};
use rota::sim::{Scenario, SimHandle};
use rota::store::MemoryStore;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "rota-test-token-0001";

/// The sim's fleet: `fast1` in the fast pool, `tooly` (calls tools when offered them),
/// `busy` (one request a minute, which rota knows) and a Whisper model.
const FLEET: &str = r#"
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
id = "fast1"
tasks = ["fast"]
rpm = 1000

[[providers.models]]
id = "tooly"
tasks = ["code"]
tools = true
rpm = 1000

[[providers.models]]
id = "busy"
tasks = ["research"]
rpm = 1

[[providers.models]]
id = "whisper-large-v3"
transcription = true
"#;

/// A running `rota serve` (in-process) and what it serves.
struct Served {
    url: String,
    router: Arc<Router>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn start(config: Config) -> Served {
        let router = Arc::new(Router::new(config, Arc::new(MemoryStore::default())));
        let state = Serve::new(Arc::clone(&router), Some(ApiKey::new(TOKEN)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            let app = serve::app(state);
            let _ = serve::run_with_grace(
                listener,
                app,
                async {
                    let _ = stopped.await;
                },
                Duration::from_secs(2),
            )
            .await;
        });
        Served {
            url: format!("http://{addr}/v1"),
            router,
            stop: Some(stop),
            done,
        }
    }

    async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.done).await;
    }

    fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .json(&body)
    }

    async fn metrics(&self) -> String {
        reqwest::Client::new()
            .get(self.url.replace("/v1", "/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

async fn sim() -> SimHandle {
    let s = Scenario::from_toml(FLEET).unwrap();
    rota::sim::start(s, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn sim_config(sim: &SimHandle) -> Config {
    let mut c = rota::cli::demo::demo_config(sim, &std::env::temp_dir()).unwrap();
    c.state.backend = Backend::Memory;
    c.state.data_dir = None;
    c.defaults.safety_margin = 0.0;
    c
}

/// A 1-second 16 kHz mono WAV tone.
fn wav(path: &std::path::Path) {
    let rate: u32 = 16_000;
    let samples: Vec<i16> = (0..rate)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 8_000.0) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// The Python with the `openai` package: `$ROTA_OPENAI_PYTHON`, else `python3` if it has
/// the package. `None` (skip) unless `ROTA_OPENAI_REQUIRED=1`.
fn openai_python() -> Option<String> {
    let required = std::env::var("ROTA_OPENAI_REQUIRED").is_ok_and(|v| v == "1");
    let candidates: Vec<String> = std::env::var("ROTA_OPENAI_PYTHON")
        .into_iter()
        .chain(["python3".to_string()])
        .collect();
    for py in candidates {
        let has = std::process::Command::new(&py)
            .args(["-c", "import openai"])
            .output()
            .is_ok_and(|o| o.status.success());
        if has {
            return Some(py);
        }
    }
    assert!(
        !required,
        "ROTA_OPENAI_REQUIRED=1 but no Python with the openai package: run .ci/openai-setup.sh"
    );
    eprintln!("skipped: no Python with the openai package (see .ci/openai-setup.sh)");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_package_talks_to_rota_serve() {
    let Some(python) = openai_python() else {
        return;
    };
    let sim = sim().await;
    let served = Served::start(sim_config(&sim)).await;
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("tone.wav");
    wav(&audio);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scripts/openai_client.py"
    );
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .arg(&served.url)
        .arg(TOKEN)
        .arg(&audio)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for check in [
        "models",
        "chat",
        "headers",
        "stream",
        "tools",
        "transcription",
        "unknown_model",
        "rate_limited",
        "unauthorized",
    ] {
        assert!(
            stdout.contains(&format!("ok {check}\n")),
            "{check}: {stdout}"
        );
    }
    // rota answered the over-capacity request itself: the provider never said 429.
    assert_eq!(sim.stats()["totals"]["429"], 0, "{}", sim.stats());
    let metrics = served.metrics().await;
    assert!(
        metrics
            .contains(r#"rota_http_requests_total{route="/v1/chat/completions",status="429"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("rota_tokens_total{"), "{metrics}");
    // Streamed and whole answers alike count their attempt as answered.
    let answered: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("rota_attempts_total{") && l.contains(r#"outcome="ok""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(answered >= 8, "{metrics}");
    served.shutdown().await;
    sim.shutdown().await;
}

/// What an upstream test provider saw and does.
#[derive(Default)]
struct Upstream {
    bodies: Mutex<Vec<Value>>,
    /// Set when the body of a held stream is dropped (its connection closed).
    closed: AtomicBool,
}

/// Drops into `closed` when the stream it rides in is dropped.
struct OnDrop(Arc<Upstream>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::SeqCst);
    }
}

/// An OpenAI-compatible upstream on loopback: model `hold` streams one piece and then
/// holds the stream open; `silent` never sends its headers; anything else answers "ok".
async fn upstream() -> (SocketAddr, Arc<Upstream>) {
    let up = Arc::new(Upstream::default());
    let state = Arc::clone(&up);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: Bytes| {
            let up = Arc::clone(&state);
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                up.bodies.lock().unwrap().push(v.clone());
                let piece = |delta: Value, finish: Value| {
                    format!(
                        "data: {}\n\n",
                        json!({"id": "x", "object": "chat.completion.chunk", "created": 1,
                               "model": v["model"], "choices": [{"index": 0, "delta": delta,
                               "finish_reason": finish}]})
                    )
                };
                match v["model"].as_str() {
                    Some("silent") => {
                        tokio::time::sleep(Duration::from_secs(600)).await;
                        "".into_response()
                    }
                    Some("hold") => {
                        let guard = OnDrop(Arc::clone(&up));
                        let first = piece(json!({"content": "first"}), Value::Null);
                        let s = futures_util::stream::unfold(
                            (Some(first), guard),
                            |(next, guard)| async move {
                                match next {
                                    Some(p) => Some((Ok::<_, std::io::Error>(p), (None, guard))),
                                    None => {
                                        tokio::time::sleep(Duration::from_secs(600)).await;
                                        None
                                    }
                                }
                            },
                        );
                        (
                            [("content-type", "text/event-stream")],
                            Body::from_stream(s),
                        )
                            .into_response()
                    }
                    _ => {
                        let text = piece(json!({"content": "ok"}), Value::Null)
                            + &piece(json!({}), json!("stop"))
                            + "data: [DONE]\n\n";
                        ([("content-type", "text/event-stream")], text).into_response()
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, up)
}

/// rota's config for the upstream: one custom provider with models `plain`, `hold` and
/// `silent`, all in the fast pool.
fn upstream_config(addr: SocketAddr) -> Config {
    let toml = format!(
        r#"
[defaults]
safety_margin = 0.0

[[providers.custom]]
name = "up"
base_url = "http://{addr}/v1"
keys = [{{ key = "up-key-0001", account = "a" }}]

[[providers.custom.models]]
id = "plain"
tools = true
rpm = 100
tpm = 100000

[[providers.custom.models]]
id = "hold"
rpm = 100
tpm = 100000

[[providers.custom.models]]
id = "silent"
rpm = 100
tpm = 100000

[pools]
fast = ["custom:up/plain"]

[state]
backend = "memory"
"#
    );
    rota::config::parse(&toml, "(test)", &|_: &str| None).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_fields_reach_the_provider_as_the_client_wrote_them() {
    let (addr, up) = upstream().await;
    let served = Served::start(upstream_config(addr)).await;
    let tools =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let resp = served
        .post(
            "/chat/completions",
            json!({
                "model": "custom:up/plain",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                ],
                "temperature": 0.3, "top_p": 0.9, "seed": 11, "stop": ["END"],
                "response_format": {"type": "json_object"},
                "tools": tools, "tool_choice": "auto", "parallel_tool_calls": false,
                "max_tokens": 77, "user": "u-1",
            }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-rota-model"], "plain");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "ok");
    assert_eq!(v["model"], "custom:up/plain");
    let sent = up.bodies.lock().unwrap().last().cloned().unwrap();
    for (k, want) in [
        ("temperature", json!(0.3)),
        ("top_p", json!(0.9)),
        ("seed", json!(11)),
        ("stop", json!(["END"])),
        ("response_format", json!({"type": "json_object"})),
        ("tool_choice", json!("auto")),
        ("parallel_tool_calls", json!(false)),
        ("user", json!("u-1")),
        ("tools", tools.clone()),
        ("max_tokens", json!(77)),
        ("model", json!("plain")),
    ] {
        assert_eq!(sent[k], want, "{k} in {sent}");
    }
    assert_eq!(sent["messages"][1]["content"][0]["text"], "hi", "{sent}");
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_cancels_upstream_and_gives_back_what_was_never_answered() {
    let (addr, up) = upstream().await;
    let served = Served::start(upstream_config(addr)).await;
    // A stream the client leaves after its first piece: rota closes the upstream one.
    let resp = served
        .post(
            "/chat/completions",
            json!({"model": "custom:up/hold", "stream": true,
                   "messages": [{"role": "user", "content": "go"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    use futures_util::StreamExt;
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("chat.completion.chunk"));
    drop(stream);
    let t0 = Instant::now();
    while !up.closed.load(Ordering::SeqCst) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the upstream stream was not closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A request the provider never answered: leaving gives its reservation back. (A raw
    // connection, so that leaving closes it for sure.)
    let body =
        json!({"model": "custom:up/silent", "messages": [{"role": "user", "content": "go"}]})
            .to_string();
    let host = served
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_string();
    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut conn, head.as_bytes())
        .await
        .unwrap();
    // Tokens `silent`'s minute holds: the request's reservation while it waits.
    let reserved = |router: &Router| -> u64 {
        let now = rota::model::now_ms();
        let st = router.store().snapshot().unwrap();
        st.slots
            .iter()
            .filter(|(name, _)| name.contains("silent"))
            .map(|(_, slot)| slot.windows.used(rota::model::Window::Tpm, now))
            .sum()
    };
    let t0 = Instant::now();
    while reserved(&served.router) == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the request never reserved"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(conn);
    let t0 = Instant::now();
    while reserved(&served.router) != 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the reservation was kept"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t0 = Instant::now();
    while !served
        .metrics()
        .await
        .contains("rota_in_flight_requests 0\n")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "requests still in flight"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_capacity_rota_answers_429_and_the_provider_never_does() {
    let sim = sim().await;
    let served = Served::start(sim_config(&sim)).await;
    // `busy` takes one request a minute: of five at once, one is answered and four get
    // rota's own 429 with the exact wait, without waiting (x-rota-max-wait: 0).
    let sends: Vec<_> = (0..5)
        .map(|i| {
            served
                .post(
                    "/chat/completions",
                    json!({"model": "groq/busy", "messages": [{"role": "user", "content": format!("q{i}")}]}),
                )
                .header("x-rota-max-wait", "0")
                .send()
        })
        .collect();
    let mut ok = 0;
    let mut limited = 0;
    for r in futures_util::future::join_all(sends).await {
        let r = r.unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                limited += 1;
                let secs: u64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=61).contains(&secs), "{secs}");
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
                assert_eq!(v["error"]["code"], "rate_limit_exceeded", "{v}");
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!((ok, limited), (1, 4));
    assert_eq!(sim.stats()["totals"]["429"], 0);
    served.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_in_openais_shape() {
    let sim = sim().await;
    let served = Served::start(sim_config(&sim)).await;
    let client = reqwest::Client::new();
    // No token.
    let r = client
        .get(format!("{}/models", served.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    // /healthz too needs the token.
    let health = served.url.replace("/v1", "/healthz");
    let r = client.get(&health).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client.get(&health).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // An unknown model lists what exists.
    let r = served
        .post(
            "/chat/completions",
            json!({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("groq/fast1"),
        "{v}"
    );
    // A body over the limit.
    let big = "x".repeat(9 * 1024 * 1024);
    let r = served
        .post(
            "/chat/completions",
            json!({"model": "fast", "messages": [{"role": "user", "content": big}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Not JSON.
    let r = client
        .post(format!("{}/chat/completions", served.url))
        .bearer_auth(TOKEN)
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    served.shutdown().await;
    sim.shutdown().await;
}
