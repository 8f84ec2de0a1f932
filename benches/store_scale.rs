//! The cost of one decision and its settlement (a reserve, then a complete: two store
//! transactions) through each store, and how it grows with the fleet: 4 pools over N models ×
//! 10 accounts, N = 1, 5, 20, 50 (10 to 500 slots), every slot holding a full minute window
//! (30 marks) and a full day of minute buckets (1,440). p50/p99 over many runs.
//!
//! A timing loop, not criterion: criterion reports no p99. Time is the bench's own (2 s per
//! decision), so the windows stay full and steady however fast the loop runs.
//!
//! `cargo bench --bench store_scale [-- N_RUNS]`; Redis is measured when `ROTA_REDIS_URL`
//! names one (`eval "$(bash .ci/redis-setup.sh)"`).

use rota::engine::state::Slot;
use rota::engine::{self, Decision, Demand, EngineState, Fleet, Pool};
use rota::model::{Task, Usage};
use rota::store::db::Db;
use rota::store::{MemoryStore, RedisStore, SqliteStore, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCOUNTS: usize = 10;
const TASKS: [Task; 4] = [Task::Fast, Task::Research, Task::Code, Task::Vision];

/// A config of one custom provider with `models` models, each in every pool, and 10
/// accounts.
fn config(models: usize) -> String {
    let keys: Vec<String> = (0..ACCOUNTS)
        .map(|a| format!("{{ key = \"bench-key-{a:04}\", account = \"a{a}\" }}"))
        .collect();
    let mut s = format!(
        "[state]\nbackend = \"memory\"\n\n[[providers.custom]]\nname = \"bench\"\nbase_url = \"http://127.0.0.1:9/v1\"\nkeys = [{}]\n",
        keys.join(", ")
    );
    for m in 0..models {
        s.push_str(&format!(
            "\n[[providers.custom.models]]\nid = \"m{m}\"\ntasks = [\"fast\", \"research\", \"code\", \"vision\"]\nvision = true\ntools = true\nrpm = 1000000\ntpm = 1000000000\nrpd = 1000000000\ntpd = 1000000000000\ncontext_window = 131072\n"
        ));
    }
    s
}

/// Every slot with a full minute (a mark every 2 s) and a full day of minute buckets.
fn full_state(fleet: &Fleet, now: u64) -> EngineState {
    let mut st = EngineState::default();
    let mut slot = Slot::default();
    for i in (1..=1_440u64).rev() {
        slot.windows.add(now - i * 60_000, [2, 300, 0]);
    }
    for i in (1..=30u64).rev() {
        slot.windows.add(now - i * 2_000, [1, 150, 0]);
    }
    slot.windows.prune(now);
    for m in &fleet.models {
        for a in &m.accounts {
            st.slots.insert(a.slot.clone(), slot.clone());
        }
    }
    st
}

/// Times `n` reserve + complete pairs from `now`, 2 s apart; returns the sorted times.
fn time_pairs(fleet: &Fleet, store: &dyn Store, mut now: u64, n: usize) -> Vec<Duration> {
    let usage = Usage {
        prompt_tokens: 175,
        completion_tokens: 60,
    };
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let d = Demand {
            prompt_tokens: 180,
            max_tokens: 256,
            ..Demand::new(Pool::Chat(TASKS[i % TASKS.len()]))
        };
        now += 2_000;
        let t = Instant::now();
        let mut grant = None;
        if let Err(e) = store.transact(&mut |st| {
            grant = match engine::reserve(fleet, st, &d, now) {
                Decision::Grant(g) => Some(g),
                _ => None,
            }
        }) {
            eprintln!("a reserve failed: {e}");
        }
        if let Some(g) = grant {
            let _ = store.transact(&mut |st| engine::complete(fleet, st, &g, &usage, now + 500));
        } else {
            eprintln!("no grant at run {i}");
        }
        times.push(t.elapsed());
    }
    times.sort();
    times
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn report(name: &str, slots: usize, t: &[Duration]) {
    println!(
        "{name:>6} {slots:>4} slots: reserve+complete p50 {:>9.3?} p99 {:>9.3?} (n={})",
        pct(t, 0.50),
        pct(t, 0.99),
        t.len()
    );
}

fn main() {
    let n: usize = std::env::args()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(2_000);
    let redis_url = std::env::var("ROTA_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if redis_url.is_none() {
        println!("(redis skipped: ROTA_REDIS_URL is not set)");
    }
    let now = rota::model::now_ms();
    for models in [1, 5, 20, 50] {
        let config = match rota::config::parse(&config(models), "(bench)", &|_: &str| None) {
            Ok(c) => c,
            Err(e) => return eprintln!("bench config: {e}"),
        };
        let fleet = Fleet::from_config(&config);
        let slots = models * ACCOUNTS;
        let state = full_state(&fleet, now);
        if models == 50 {
            let bytes = serde_json::to_vec(
                state
                    .slots
                    .iter()
                    .next()
                    .map(|(_, s)| s)
                    .unwrap_or(&Slot::default()),
            )
            .map_or(0, |b| b.len());
            println!("(one slot encoded whole, as the old single blob held it: {bytes} bytes)");
        }

        let memory = MemoryStore::new(state.clone());
        report("memory", slots, &time_pairs(&fleet, &memory, now, n));

        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => return eprintln!("skipped: {e}"),
        };
        let db = match Db::open(&dir.path().join("rota.db")) {
            Ok(db) => Arc::new(db),
            Err(e) => return eprintln!("skipped: {e}"),
        };
        let sqlite = SqliteStore::new(db);
        let _ = sqlite.transact(&mut |st| *st = state.clone());
        report("sqlite", slots, &time_pairs(&fleet, &sqlite, now, n));

        if let Some(url) = &redis_url {
            let prefix = format!("rota-bench-{}-{models}", std::process::id());
            match RedisStore::new(url, &prefix) {
                Ok(redis) => {
                    let _ = redis.transact(&mut |st| *st = state.clone());
                    report("redis", slots, &time_pairs(&fleet, &redis, now, n));
                }
                Err(e) => eprintln!("redis skipped: {e}"),
            }
        }
    }
}
