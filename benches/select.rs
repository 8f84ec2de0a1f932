//! Decision speed: `reserve` + `complete` on 4 pools × 50 models × 10 accounts whose windows
//! hold many entries. Four shapes: the first model fits; the first 49 of every pool are full
//! for the day (the engine scans 490 account slots before granting); every model is full (the
//! answer is an exact `Wait`); every model is full and each slot in pool order frees earlier
//! than the last, the worst order for the engine (no slot can be skipped).

use criterion::{Criterion, criterion_group, criterion_main};
use rota::catalog::ModelSpec;
use rota::engine::fleet::{Fleet, FleetParts, ProviderParts};
use rota::engine::{Decision, Demand, EngineState, KeyRef, Pool, complete, reserve};
use rota::model::{Limits, Millis, ModelRef, Task, Usage};
use std::hint::black_box;

const MODELS: usize = 50;
const ACCOUNTS: usize = 10;
const MINUTE_MARKS: u64 = 200;
const DAY_BUCKETS: u64 = 300;
const T0: Millis = 1_800_000_000_000;

/// Builds the fleet and a state where the first `full` models of each pool are out of RPD.
/// With `stagger`, every account slot in pool order frees a little earlier than the one
/// before it, so no slot can be skipped for freeing later than the best wait found so far.
fn setup(full: usize, stagger: bool) -> (Fleet, EngineState) {
    let mut models = Vec::new();
    let mut providers = Vec::new();
    let mut pools = std::collections::BTreeMap::new();
    for (pi, task) in Task::POOLS.into_iter().enumerate() {
        let provider = format!("p{pi}");
        providers.push(ProviderParts {
            name: provider.clone(),
            enabled: true,
            keys: (0..ACCOUNTS)
                .map(|a| KeyRef {
                    provider: provider.clone(),
                    account: format!("acct-{a}"),
                    masked: format!("…{a:04}"),
                    ..KeyRef::default()
                })
                .collect(),
        });
        let mut list = Vec::new();
        for mi in 0..MODELS {
            let mut s = ModelSpec::bare(ModelRef::new(&provider, format!("model-{mi}")));
            s.tools = true;
            s.context_window = Some(131_072);
            s.limits = Limits {
                rpm: Some(1_000_000),
                tpm: Some(1_000_000_000),
                rpd: Some(if mi < full {
                    MINUTE_MARKS + DAY_BUCKETS
                } else {
                    1_000_000_000
                }),
                tpd: Some(1_000_000_000_000),
                ..Limits::default()
            };
            list.push(s.model.clone());
            models.push(s);
        }
        pools.insert(task, list);
    }
    let fleet = Fleet::from_parts(FleetParts {
        models,
        providers,
        pools,
        transcription_order: vec![],
        safety_margin: 0.0,
        max_file_bytes: 25_000_000,
        max_cooldown_ms: 3_600_000,
    });
    let mut st = EngineState::default();
    for m in &fleet.models {
        for a in &m.accounts {
            let early = if stagger { a.ix as u64 * 100 } else { 0 };
            let w = &mut st.slots.get_or_default(&a.slot).windows;
            // Older requests: one per minute bucket over the last few hours.
            for b in 0..DAY_BUCKETS {
                w.add(
                    T0 - (DAY_BUCKETS - b) * 60_000 - 61_000 - early,
                    [1, 500, 0],
                );
            }
            // The last minute: many exact marks.
            for k in 0..MINUTE_MARKS {
                w.add(T0 - 60_000 + k * 250, [1, 500, 0]);
            }
        }
    }
    (fleet, st)
}

fn demand(task: Task) -> Demand {
    Demand {
        prompt_tokens: 400,
        max_tokens: 600,
        ..Demand::new(Pool::Chat(task))
    }
}

fn bench(c: &mut Criterion) {
    let demands: Vec<Demand> = Task::POOLS.into_iter().map(demand).collect();
    let usage = Usage {
        prompt_tokens: 380,
        completion_tokens: 200,
    };
    for (name, full) in [("first_fits", 0), ("scan_49_full", MODELS - 1)] {
        let (fleet, mut st) = setup(full, false);
        let mut now = T0;
        let mut i = 0usize;
        c.bench_function(&format!("reserve_complete/{name}"), |b| {
            b.iter(|| {
                now += 1;
                i += 1;
                let d = &demands[i % 4];
                match reserve(&fleet, &mut st, black_box(d), now) {
                    Decision::Grant(g) => complete(&fleet, &mut st, &g, &usage, now),
                    other => panic!("setup must leave room: {other:?}"),
                }
            })
        });
    }
    for (name, stagger) in [("all_full_wait", false), ("all_full_wait_staggered", true)] {
        let (fleet, mut st) = setup(MODELS, stagger);
        let mut i = 0usize;
        c.bench_function(&format!("reserve/{name}"), |b| {
            b.iter(|| {
                i += 1;
                let d = &demands[i % 4];
                match reserve(&fleet, &mut st, black_box(d), T0 + 1) {
                    Decision::Wait { until, .. } => black_box(until),
                    other => panic!("every model must be full: {other:?}"),
                }
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
