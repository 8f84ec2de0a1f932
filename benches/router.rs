//! What the router adds, against the simulated fleet with zero latency (huge limits, no
//! time to first token, no pacing):
//!
//! - `router/direct` vs `router/run`: one streamed chat request and its drain, straight
//!   through `providers::Client::chat`, and the same body through `Router::run`;
//! - then (printed, not criterion) percentiles over many runs: the added latency (p50/p99)
//!   and the time from a 429 reply leaving a fake server to the next request arriving at it
//!   (p50/p95), as the server's own clock sees it.
//!
//! `cargo bench --bench router` (add `-- --quick` for a shorter criterion pass).

use criterion::{Criterion, criterion_group};
use rota::config::{Backend, Config};
use rota::model::{ModelRef, Task};
use rota::providers::{Client, Endpoint, Timeouts};
use rota::router::events::Event;
use rota::router::{ChatRequest, End, Router};
use rota::sim::{Scenario, SimHandle};
use rota::store::MemoryStore;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

const FLEET: &str = r#"
[defaults]
max_tokens = 64
answer_tokens = 20
tokens_per_sec = 0
ttft = "0ms"

[[providers]]
name = "groq"

[[providers.accounts]]
name = "a"
keys = ["gsk_test_0001"]

[[providers.models]]
id = "m1"
rpm = 100000000
tpm = 100000000000
tasks = ["fast"]
"#;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config(sim: &SimHandle, pool: &[ModelRef]) -> Config {
    let mut c = rota::cli::demo::demo_config(sim, &std::env::temp_dir()).unwrap();
    c.state.backend = Backend::Memory;
    c.state.data_dir = None;
    c.pools.insert(Task::Fast, pool.to_vec());
    c
}

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![rota::message::Message::user("hello there")],
        task: Some(Task::Fast),
        max_tokens: Some(40),
        ..ChatRequest::default()
    }
}

struct Bench {
    sim: SimHandle,
    router: Router,
    client: Client,
    endpoint: Endpoint,
}

async fn setup() -> Bench {
    let sim = rota::sim::start(
        Scenario::from_toml(FLEET).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let c = config(&sim, &[ModelRef::new("groq", "m1")]);
    let endpoint = Endpoint::new(&c.providers[0], &c.providers[0].keys[0]);
    let client = Client::new(Timeouts::from(&c.defaults));
    let router = Router::new(c, Arc::new(MemoryStore::default()));
    Bench {
        sim,
        router,
        client,
        endpoint,
    }
}

async fn direct(b: &Bench) {
    let body = serde_json::json!({
        "model": "m1",
        "messages": [{"role": "user", "content": "hello there"}],
        "max_tokens": 40,
    });
    let mut s = b.client.chat(&b.endpoint, &body).await.unwrap();
    while let Some(ev) = s.next().await {
        ev.unwrap();
    }
}

async fn routed(r: &Router) {
    let (tx, mut rx) = mpsc::channel(256);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    assert_eq!(r.run(request(), &tx).await, End::Answered);
    drop(tx);
    drain.await.unwrap();
}

fn overhead(c: &mut Criterion) {
    let rt = runtime();
    let b = rt.block_on(setup());
    let mut g = c.benchmark_group("router");
    g.bench_function("direct", |bn| bn.iter(|| rt.block_on(direct(&b))));
    g.bench_function("run", |bn| bn.iter(|| rt.block_on(routed(&b.router))));
    g.finish();
    rt.block_on(b.sim.shutdown());
}

criterion_group!(benches, overhead);

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Alternating direct and routed requests, so both see the same machine load.
fn added_latency(n: usize) {
    let rt = runtime();
    let b = rt.block_on(setup());
    let (mut d, mut r) = (Vec::new(), Vec::new());
    rt.block_on(async {
        for _ in 0..50 {
            direct(&b).await;
            routed(&b.router).await;
        }
        for _ in 0..n {
            let t = Instant::now();
            direct(&b).await;
            d.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            routed(&b.router).await;
            r.push(t.elapsed().as_secs_f64() * 1e6);
        }
    });
    let (d50, d99, r50, r99) = (
        pct(&mut d, 0.5),
        pct(&mut d, 0.99),
        pct(&mut r, 0.5),
        pct(&mut r, 0.99),
    );
    println!(
        "added latency over {n} requests: direct p50 {d50:.0} µs p99 {d99:.0} µs; \
         router p50 {r50:.0} µs p99 {r99:.0} µs; added p50 {:.0} µs p99 {:.0} µs",
        r50 - d50,
        r99 - d99
    );
    rt.block_on(b.sim.shutdown());
}

/// A fake Groq: model `limited` answers 429 (Groq's TPM body) and notes when; model `ok`
/// notes when its request arrives and answers a short stream.
async fn fake_groq() -> (String, Arc<Mutex<Vec<(char, Instant)>>>) {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let log: Arc<Mutex<Vec<(char, Instant)>>> = Arc::default();
    let l = log.clone();
    let chat = move |body: axum::Json<serde_json::Value>| {
        let l = l.clone();
        async move {
            if body["model"] == "limited" {
                let msg = r#"{"error":{"message":"Rate limit reached for model `limited` in organization `org_x` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Used 5990, Requested 120. Please try again in 1.1s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing","type":"tokens","code":"rate_limit_exceeded"}}"#;
                l.lock().unwrap().push(('x', Instant::now()));
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("content-type", "application/json"), ("retry-after", "2")],
                    msg,
                )
                    .into_response();
            }
            l.lock().unwrap().push(('o', Instant::now()));
            let sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
            (StatusCode::OK, [("content-type", "text/event-stream")], sse).into_response()
        }
    };
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(chat));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, log)
}

/// From the fake's 429 leaving to the next request arriving (server clock), and from the
/// router's `model_rotation` event to its next `model_selected` (receiver clock).
fn rotation_time(n: usize) {
    let rt = runtime();
    let (wire, events) = rt.block_on(async {
        let sim = rota::sim::start(
            Scenario::from_toml(FLEET).unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let (url, log) = fake_groq().await;
        let pool = [
            ModelRef::new("groq", "limited"),
            ModelRef::new("groq", "ok"),
        ];
        let mut c = config(&sim, &pool);
        c.providers[0].base_url = url;
        let mut spec = c.models[0].clone();
        spec.limits = Default::default();
        c.models = pool
            .iter()
            .map(|m| {
                let mut s = spec.clone();
                s.model = m.clone();
                s
            })
            .collect();
        let (mut wire, mut events) = (Vec::new(), Vec::new());
        for i in 0..n + 20 {
            // A fresh state each time: the 429 cools `limited` for two seconds.
            let router = Router::new(c.clone(), Arc::new(MemoryStore::default()));
            log.lock().unwrap().clear();
            let (tx, mut rx) = mpsc::channel(256);
            let recv = tokio::spawn(async move {
                let (mut rot, mut sel) = (None, None);
                while let Some(e) = rx.recv().await {
                    match e {
                        Event::ModelRotation { .. } => rot = Some(Instant::now()),
                        Event::ModelSelected { attempt: 2, .. } => sel = Some(Instant::now()),
                        _ => {}
                    }
                }
                (rot, sel)
            });
            assert_eq!(router.run(request(), &tx).await, End::Answered);
            drop(tx);
            let (rot, sel) = recv.await.unwrap();
            let l = log.lock().unwrap().clone();
            if i < 20 {
                continue;
            }
            if let ([('x', a), ('o', b)], Some(rot), Some(sel)) = (&l[..], rot, sel) {
                wire.push(b.duration_since(*a).as_secs_f64() * 1e3);
                events.push(sel.duration_since(rot).as_secs_f64() * 1e3);
            }
        }
        sim.shutdown().await;
        (wire, events)
    });
    let (mut wire, mut events) = (wire, events);
    println!(
        "429 to next request over {} rotations: on the wire p50 {:.3} ms p95 {:.3} ms; \
         model_rotation → model_selected p50 {:.3} ms p95 {:.3} ms",
        wire.len(),
        pct(&mut wire, 0.5),
        pct(&mut wire, 0.95),
        pct(&mut events, 0.5),
        pct(&mut events, 0.95),
    );
}

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test");
    if test_mode {
        // `cargo test --benches`: one quick pass of each, no figures.
        added_latency(2);
        rotation_time(1);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    added_latency(2000);
    rotation_time(300);
}
