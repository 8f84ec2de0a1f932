//! The memory store makes decisions atomic: threads reserving through it never jointly pass
//! a limit, and the state it keeps is the one the engine left.

use rota::catalog::ModelSpec;
use rota::engine::fleet::{Fleet, FleetParts, ProviderParts};
use rota::engine::{Decision, Demand, EngineState, KeyRef, Pool, reserve};
use rota::model::{Limits, ModelRef, Task, Window};
use rota::store::{MemoryStore, Store};
use std::sync::Arc;

fn fleet() -> Fleet {
    let mut s = ModelSpec::bare(ModelRef::new("groq", "m"));
    s.limits = Limits {
        rpm: Some(20),
        ..Limits::default()
    };
    Fleet::from_parts(FleetParts {
        models: vec![s],
        providers: vec![ProviderParts {
            name: "groq".into(),
            enabled: true,
            keys: vec![KeyRef {
                provider: "groq".into(),
                account: "a".into(),
                masked: "…0001".into(),
                ..KeyRef::default()
            }],
        }],
        pools: [(Task::Fast, vec![ModelRef::new("groq", "m")])]
            .into_iter()
            .collect(),
        transcription_order: vec![],
        safety_margin: 0.0,
        max_file_bytes: 1,
        max_cooldown_ms: 3_600_000,
    })
}

#[test]
fn concurrent_reservations_through_the_store_never_pass_the_limit() {
    let fleet = Arc::new(fleet());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(EngineState::default()));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (fleet, store) = (Arc::clone(&fleet), Arc::clone(&store));
            std::thread::spawn(move || {
                let mut grants = 0;
                for _ in 0..10 {
                    let d = Demand {
                        prompt_tokens: 1,
                        max_tokens: 1,
                        ..Demand::new(Pool::Chat(Task::Fast))
                    };
                    let mut out = None;
                    store
                        .transact(&mut |st| out = Some(reserve(&fleet, st, &d, 1_000)))
                        .unwrap();
                    if matches!(out, Some(Decision::Grant(_))) {
                        grants += 1;
                    }
                }
                grants
            })
        })
        .collect();
    let total: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 20);
    let st = store.snapshot().unwrap();
    assert_eq!(st.slots["a@groq/m"].windows.used(Window::Rpm, 1_000), 20);
    assert_eq!(st.next_grant_id, 20);
}
