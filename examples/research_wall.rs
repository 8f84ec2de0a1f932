//! Wall time of a three-search research answer against the sim with searches of 400 ms:
//! a model that asks for the three searches in one turn (run at once) against one that asks
//! for one per turn. Prints the median of `N` runs each (default 5).
//!
//! `cargo run --example research_wall -- 5`

use rota::config::Backend;
use rota::model::{ModelRef, Task};
use rota::router::events::Event;
use rota::router::{ChatRequest, End, Router};
use rota::sim::Scenario;
use rota::store::MemoryStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn scenario(calls: u32) -> String {
    format!(
        r#"
[defaults]
max_tokens = 64
answer_tokens = 12
tokens_per_sec = 0
ttft = "0ms"

[search]
latency = "400ms"
wanted = 3

[[providers]]
name = "groq"
[[providers.accounts]]
name = "a"
keys = ["gsk_test_0001"]
[[providers.models]]
id = "r1"
tasks = ["research"]
tools = true
parallel_tool_calls = {calls}
"#
    )
}

async fn once(calls: u32) -> Result<(Duration, usize), String> {
    let sc = Scenario::from_toml(&scenario(calls)).map_err(|e| e.to_string())?;
    let sim = rota::sim::start(sc, "127.0.0.1:0".parse().map_err(|_| "addr")?)
        .await
        .map_err(|e| e.to_string())?;
    let mut c = rota::cli::demo::demo_config(&sim, &std::env::temp_dir()).map_err(|e| e.message)?;
    c.state.backend = Backend::Memory;
    c.pools
        .insert(Task::Research, vec![ModelRef::new("groq", "r1")]);
    let r = Router::new(c, Arc::new(MemoryStore::default()));
    let req = ChatRequest {
        messages: vec![rota::message::Message::user("free tier rate limits")],
        task: Some(Task::Research),
        max_tokens: Some(64),
        ..ChatRequest::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let collect = tokio::spawn(async move {
        let mut searches = 0;
        while let Some(e) = rx.recv().await {
            if matches!(e, Event::ToolResult { ok: true, .. }) {
                searches += 1;
            }
        }
        searches
    });
    let started = Instant::now();
    let end = r.run(req, &tx).await;
    let wall = started.elapsed();
    drop(tx);
    let searches = collect.await.map_err(|e| e.to_string())?;
    sim.shutdown().await;
    if end != End::Answered {
        return Err(format!("the research ended {end:?}"));
    }
    Ok((wall, searches))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    for (label, calls) in [
        ("parallel (3 calls in one turn)", 3),
        ("sequential (one call per turn)", 1),
    ] {
        let mut walls = Vec::new();
        let mut searches = 0;
        for _ in 0..n {
            let (w, s) = once(calls).await?;
            walls.push(w);
            searches = s;
        }
        walls.sort();
        let ms: Vec<String> = walls.iter().map(|w| format!("{}", w.as_millis())).collect();
        println!(
            "{label}: {searches} searches, median {} ms (runs: {} ms)",
            walls[walls.len() / 2].as_millis(),
            ms.join(", ")
        );
    }
    Ok(())
}
