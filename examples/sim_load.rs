//! Load generator for the simulated fleet: serves it on ONE core (a current-thread runtime
//! on its own thread) and fires a bounded number of small non-streamed chat requests at it
//! over loopback from a separate client runtime, then prints requests per second.
//!
//! Run: `cargo run --release --example sim_load -- [REQUESTS] [CONCURRENCY]`
//! (defaults 50000 and 64).

use rota::sim::{Scenario, start};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const SCENARIO: &str = r#"
[[providers]]
name = "groq"
[[providers.accounts]]
name = "a"
keys = ["gsk_test_load_0001"]
[[providers.models]]
id = "llama-3.1-8b-instant"
rpm = 1000000000
rpd = 1000000000
tpm = 1000000000000
tpd = 1000000000000
answer_tokens = 12
tokens_per_sec = 0
ttft = "0ms"
"#;

/// CPU time of the calling thread (Linux: /proc/thread-self/stat, 100 ticks a second).
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50_000);
    let concurrency: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);

    // The server: one thread, one current-thread runtime.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || -> Result<serde_json::Value, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let sc = Scenario::from_toml(SCENARIO).map_err(|e| e.to_string())?;
            let sim = start(sc, "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?)
                .await
                .map_err(|e| e.to_string())?;
            let _ = tx.send(sim.base_url("groq"));
            let cpu0 = thread_cpu_secs();
            let _ = stop_rx.await;
            let mut stats = sim.stats();
            if let (Some(a), Some(b)) = (cpu0, thread_cpu_secs()) {
                stats["server_cpu_secs"] = serde_json::json!(b - a);
            }
            sim.shutdown().await;
            Ok(stats)
        })
    });
    let url = rx.recv()?;

    // The client: its own multi-thread runtime.
    let rt = tokio::runtime::Runtime::new()?;
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let elapsed = rt.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency as usize)
            .build()?;
        let body = serde_json::json!({"model": "llama-3.1-8b-instant",
            "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 16});
        let body = Arc::new(serde_json::to_vec(&body)?);
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            let (ok, bad, next) = (ok.clone(), bad.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let r = client
                        .post(format!("{url}/chat/completions"))
                        .bearer_auth("gsk_test_load_0001")
                        .header("content-type", "application/json")
                        .body(body.as_ref().clone())
                        .send()
                        .await;
                    let fine = match r {
                        Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if fine {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        Ok::<_, Box<dyn std::error::Error>>(t0.elapsed())
    })?;
    let _ = stop_tx.send(());
    let stats = server.join().map_err(|_| "server thread panicked")??;
    let ok = ok.load(Ordering::Relaxed);
    println!(
        "{ok} ok, {} failed in {:.2}s: {:.0} requests/s (server on one core, concurrency {concurrency})",
        bad.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64()
    );
    if let Some(cpu) = stats["server_cpu_secs"].as_f64().filter(|c| *c > 0.0) {
        println!(
            "server thread used {cpu:.2} s of CPU: {:.0} requests per CPU-second (one core)",
            ok as f64 / cpu
        );
    }
    println!("sim counted: {}", stats["totals"]);
    Ok(())
}
