//! What `rota serve` adds, and what it keeps, against the zero-latency sim:
//!
//! 1. overhead: 2,000 small non-streamed chat requests at concurrency 32 straight to the
//!    sim, then through `rota serve` (in-process, over loopback HTTP both ways); prints
//!    p50/p99 latency of each, the added latency, and throughput. Repeated `RUNS` times
//!    (default 5); the medians are printed last. Then 500 requests one at a time each way:
//!    the latency rota adds on an idle machine.
//! 2. over capacity: twice as many requests as two accounts take in a minute, with the
//!    limits known, at concurrency 32; rota and the sim share a clock that runs 200× fast,
//!    so the minute waits take a fraction of a second. Prints answered, rota's 429s and the
//!    provider's 429s (the target: every request answered, no provider 429).
//!
//! `cargo run --release --example serve_bench -- 5`

use rota::config::{Backend, Config};
use rota::router::Router;
use rota::secret::ApiKey;
use rota::serve::{self, Serve};
use rota::sim::{Scenario, SimHandle};
use rota::store::MemoryStore;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "rota-bench-token";
const REQUESTS: usize = 2_000;
const CONCURRENCY: usize = 32;

fn scenario(rpm: u64) -> String {
    format!(
        r#"
[defaults]
max_tokens = 16
answer_tokens = 8
tokens_per_sec = 0
ttft = "0ms"

[[providers]]
name = "groq"
[[providers.accounts]]
name = "a"
keys = ["gsk_bench_000a"]
[[providers.accounts]]
name = "b"
keys = ["gsk_bench_000b"]
[[providers.models]]
id = "m1"
tasks = ["fast"]
rpm = {rpm}
tpm = 100000000
rpd = 100000000
tpd = 1000000000
"#
    )
}

fn config(sim: &SimHandle) -> Config {
    let mut c = rota::cli::demo::demo_config(sim, &std::env::temp_dir()).expect("demo config");
    c.state.backend = Backend::Memory;
    c.state.data_dir = None;
    c.defaults.safety_margin = 0.0;
    c.defaults.max_wait = Duration::from_secs(300);
    c
}

/// Serves `router` on loopback; returns the base URL (`…/v1`).
async fn serve(router: Arc<Router>) -> String {
    let state = Serve::new(router, Some(ApiKey::new(TOKEN)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve::run(
        listener,
        serve::app(state),
        std::future::pending(),
    ));
    format!("http://{addr}/v1")
}

/// Sends `n` requests, `concurrency` at a time, to `url`; returns each one's latency and
/// status, and the wall time.
async fn load(
    url: &str,
    model: &str,
    n: usize,
    concurrency: usize,
) -> (Vec<(Duration, u16)>, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, url, model) = (
                client.clone(),
                Arc::clone(&next),
                url.to_string(),
                model.to_string(),
            );
            tokio::spawn(async move {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return out;
                    }
                    let body = json!({"model": model, "max_tokens": 16,
                        "messages": [{"role": "user", "content": format!("question {i}")}]});
                    let t = Instant::now();
                    let status = match client
                        .post(format!("{url}/chat/completions"))
                        .bearer_auth(TOKEN)
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            let _ = r.bytes().await;
                            s
                        }
                        Err(_) => 0,
                    };
                    out.push((t.elapsed(), status));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap_or_default());
    }
    (all, started.elapsed())
}

/// The latencies of a load, shortest first.
fn sorted(v: &[(Duration, u16)]) -> Vec<Duration> {
    let mut l: Vec<Duration> = v.iter().map(|(d, _)| *d).collect();
    l.sort();
    l
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn overhead(runs: usize) {
    let sim = rota::sim::start(
        Scenario::from_toml(&scenario(100_000_000)).expect("scenario"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("sim");
    let router = Arc::new(Router::new(config(&sim), Arc::new(MemoryStore::default())));
    let url = serve(router).await;
    let direct = sim.base_url("groq");
    // Warm both paths (connections, encoders).
    let _ = load(&url, "rota/fast", 200, CONCURRENCY).await;
    let _ = load(&direct, "m1", 200, CONCURRENCY).await;
    let mut cols: [Vec<f64>; 6] = Default::default();
    for run in 1..=runs {
        let (d, dwall) = load(&direct, "m1", REQUESTS, CONCURRENCY).await;
        let (s, swall) = load(&url, "rota/fast", REQUESTS, CONCURRENCY).await;
        let ok = s.iter().filter(|(_, st)| *st == 200).count();
        let (d, s) = (sorted(&d), sorted(&s));
        let row = [
            ms(pct(&d, 0.5)),
            ms(pct(&d, 0.99)),
            ms(pct(&s, 0.5)),
            ms(pct(&s, 0.99)),
            REQUESTS as f64 / dwall.as_secs_f64(),
            REQUESTS as f64 / swall.as_secs_f64(),
        ];
        println!(
            "run {run}: direct p50 {:.2} ms p99 {:.2} ms {:.0} req/s | serve p50 {:.2} ms p99 {:.2} ms {:.0} req/s | answered {ok}/{REQUESTS}",
            row[0], row[1], row[4], row[2], row[3], row[5]
        );
        for (c, v) in cols.iter_mut().zip(row) {
            c.push(v);
        }
    }
    // One at a time: the latency rota adds to a request on an idle machine.
    let mut seq: [Vec<f64>; 4] = Default::default();
    for _ in 0..runs {
        let (d, _) = load(&direct, "m1", 500, 1).await;
        let (s, _) = load(&url, "rota/fast", 500, 1).await;
        let (d, s) = (sorted(&d), sorted(&s));
        for (c, v) in seq.iter_mut().zip([
            ms(pct(&d, 0.5)),
            ms(pct(&d, 0.99)),
            ms(pct(&s, 0.5)),
            ms(pct(&s, 0.99)),
        ]) {
            c.push(v);
        }
    }
    let q: Vec<f64> = seq.into_iter().map(median).collect();
    println!(
        "one at a time, median of {runs} × 500: direct p50 {:.3} ms p99 {:.3} ms; serve p50 {:.3} ms p99 {:.3} ms; added p50 {:.3} ms p99 {:.3} ms",
        q[0],
        q[1],
        q[2],
        q[3],
        q[2] - q[0],
        q[3] - q[1]
    );
    let m: Vec<f64> = cols.into_iter().map(median).collect();
    println!(
        "median of {runs}: direct p50 {:.2} ms p99 {:.2} ms {:.0} req/s; serve p50 {:.2} ms p99 {:.2} ms {:.0} req/s; added p50 {:.2} ms p99 {:.2} ms",
        m[0],
        m[1],
        m[4],
        m[2],
        m[3],
        m[5],
        m[2] - m[0],
        m[3] - m[1]
    );
    sim.shutdown().await;
}

async fn over_capacity() {
    let clock = rota::clock::Clock::driven(rota::model::now_ms());
    let rpm = 100;
    let sim = rota::sim::start_with_clock(
        Scenario::from_toml(&scenario(rpm)).expect("scenario"),
        "127.0.0.1:0".parse().expect("addr"),
        clock.clone(),
    )
    .await
    .expect("sim");
    let router = Arc::new(
        Router::new(config(&sim), Arc::new(MemoryStore::default())).with_clock(clock.clone()),
    );
    let url = serve(router).await;
    // 200× fast: a simulated second every 5 ms.
    let ticking = clock.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            ticking.advance(1_000);
        }
    });
    let n = (rpm * 2 * 2) as usize; // twice what two accounts take in a minute
    let (got, wall) = load(&url, "rota/fast", n, CONCURRENCY).await;
    ticker.abort();
    let ok = got.iter().filter(|(_, s)| *s == 200).count();
    let limited = got.iter().filter(|(_, s)| *s == 429).count();
    let stats = sim.stats();
    println!(
        "over capacity: {n} requests for 2 accounts × {rpm} rpm: answered {ok}, rota 429 {limited}, provider 429 {}, wall {:.2} s (simulated minutes at 200×)",
        stats["totals"]["429"],
        wall.as_secs_f64()
    );
    sim.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    overhead(runs).await;
    over_capacity().await;
}
