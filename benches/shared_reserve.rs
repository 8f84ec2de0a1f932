//! The cost of one reserve through the SQLite store (p50/p99), with a realistic state: the
//! demo fleet (every provider, two accounts each, the default pools) after some traffic.
//! A timing loop, not criterion: criterion reports no p99.
//!
//! `cargo bench --profile dev --bench shared_reserve` (or without `--profile dev` for an
//! optimized build).

use rota::engine::{self, Decision, Demand, EngineState, Fleet, Pool};
use rota::model::{Task, Usage, now_ms};
use rota::store::db::Db;
use rota::store::{MemoryStore, SqliteStore, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn demand(task: Task) -> Demand {
    Demand {
        prompt_tokens: 180,
        max_tokens: 256,
        ..Demand::new(Pool::Chat(task))
    }
}

/// Some traffic: reserves and completions spread over the last minute on every chat pool.
fn warm(fleet: &Fleet, store: &dyn Store) -> usize {
    let start = now_ms().saturating_sub(60_000);
    let mut granted = 0;
    for i in 0..600u64 {
        let task = [Task::Fast, Task::Code, Task::Research, Task::Vision][(i % 4) as usize];
        let at = start + i * 100;
        let mut grant = None;
        let _ = store.transact(&mut |st| {
            if let Decision::Grant(g) = engine::reserve(fleet, st, &demand(task), at) {
                grant = Some(g);
            }
        });
        if let Some(g) = grant {
            granted += 1;
            let usage = Usage {
                prompt_tokens: 175,
                completion_tokens: 60,
            };
            let _ = store.transact(&mut |st| engine::complete(fleet, st, &g, &usage, at + 300));
        }
    }
    granted
}

/// Times `n` reserves (each followed, untimed, by a release so the state stays the same).
fn time_reserves(fleet: &Fleet, store: &dyn Store, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    let tasks = [Task::Fast, Task::Code, Task::Research, Task::Vision];
    for i in 0..n {
        let d = demand(tasks[i % tasks.len()]);
        let mut grant = None;
        let t = Instant::now();
        let r = store.transact(&mut |st| {
            grant = match engine::reserve(fleet, st, &d, now_ms()) {
                Decision::Grant(g) => Some(g),
                _ => None,
            };
        });
        times.push(t.elapsed());
        if r.is_err() {
            eprintln!("a reserve failed: {r:?}");
        }
        if let Some(g) = grant {
            let _ = store.transact(&mut |st| engine::release(st, &g));
        }
    }
    times.sort();
    times
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return eprintln!("skipped: {e}"),
    };
    let sim = match rt.block_on(rota::sim::start(
        rota::sim::Scenario::default_fleet(),
        ([127, 0, 0, 1], 0).into(),
    )) {
        Ok(s) => s,
        Err(e) => return eprintln!("skipped: {e}"),
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return eprintln!("skipped: {e}"),
    };
    let config = match rota::cli::demo::demo_config(&sim, dir.path()) {
        Ok(c) => c,
        Err(e) => return eprintln!("skipped: {e}"),
    };
    let fleet = Fleet::from_config(&config);
    let db = match Db::open(&dir.path().join("rota.db")) {
        Ok(db) => Arc::new(db),
        Err(e) => return eprintln!("skipped: {e}"),
    };
    let n: usize = std::env::args()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(3000);
    let sqlite = SqliteStore::new(db.clone());
    let granted = warm(&fleet, &sqlite);
    let state: EngineState = sqlite.snapshot().unwrap_or_default();
    let blob = db
        .read_blob("engine-state")
        .ok()
        .flatten()
        .map_or(0, |b| b.len());
    println!(
        "state: {} slots, {} inflight, blob {} bytes, {granted} grants of warm-up traffic",
        state.slots.len(),
        state.inflight.len(),
        blob
    );
    let memory = MemoryStore::new(state);
    for (name, store) in [("sqlite", &sqlite as &dyn Store), ("memory", &memory)] {
        let t = time_reserves(&fleet, store, n);
        println!(
            "{name}: reserve p50 {:?} p99 {:?} max {:?} over {n}",
            pct(&t, 0.50),
            pct(&t, 0.99),
            pct(&t, 1.0)
        );
    }
    rt.block_on(sim.shutdown());
}
