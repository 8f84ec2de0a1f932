//! Eight `rota ask` processes at once, 100 prompts at twice the fleet's per-minute capacity,
//! one shared rota.db: the fleet never answers 429 and every request succeeds.

mod shared_support;

use shared_support::{Fleet, MODEL, Rig, text, totals};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[test]
fn eight_processes_share_the_limits_and_never_meet_a_429() {
    // Two accounts × 25 rpm = 50 requests a minute; 100 prompts need two windows.
    let rig = Arc::new(Rig::start(Fleet::default()));
    let prompts: VecDeque<usize> = (0..100).collect();
    let queue = Arc::new(Mutex::new(prompts));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let rotations = Arc::new(Mutex::new(Vec::new()));
    // Like `xargs -P 8 rota ask`: eight workers, each runs one process per prompt.
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (rig, queue, failures, rotations) = (
                rig.clone(),
                queue.clone(),
                failures.clone(),
                rotations.clone(),
            );
            std::thread::spawn(move || {
                loop {
                    let Some(i) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    let prompt = format!("question {i}: say something short");
                    let o = rig.run(&[
                        "ask",
                        "--json",
                        "--task",
                        "fast",
                        "--max-tokens",
                        "32",
                        &prompt,
                    ]);
                    let (out, err) = text(&o);
                    let events: Vec<serde_json::Value> = out
                        .lines()
                        .filter_map(|l| serde_json::from_str(l).ok())
                        .collect();
                    let done = events.iter().any(|e| e["event"] == "done");
                    if o.status.code() != Some(0) || !done {
                        failures.lock().unwrap().push(format!("{i}: {out} {err}"));
                    }
                    // What a 429 said, should one come: how far off our windows were.
                    rotations.lock().unwrap().extend(
                        events
                            .into_iter()
                            .filter(|e| e["event"] == "model_rotation")
                            .map(|e| e.to_string()),
                    );
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    let stats = rig.stats();
    let (requests, ok, rate_limited) = totals(&stats);
    let rotations = rotations.lock().unwrap();
    assert_eq!(rate_limited, 0, "{rotations:#?} {stats:#}");
    assert!(rotations.is_empty(), "{rotations:#?}");
    assert_eq!((requests, ok), (100, 100), "{stats:#}");
    // Both accounts carried half.
    for acc in ["a", "b"] {
        let served = stats["providers"]["groq"]["accounts"][acc][MODEL]["ok"]
            .as_u64()
            .unwrap_or(0);
        assert!(served >= 25, "account {acc} served {served}: {stats:#}");
    }
    // The shared ledger saw every attempt of every process.
    let o = rig.run(&["usage", "--json"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let row = &v["rows"][0];
    assert_eq!(row["model"], MODEL, "{v}");
    assert_eq!(row["requests"], 100, "{v}");
    assert_eq!(row["ok"], 100, "{v}");
    assert_eq!(row["rate_limited"], 0, "{v}");
}
