//! Eight `rota ask` processes at once, 100 prompts at twice the fleet's per-minute capacity,
//! one shared rota.db: the fleet never answers 429 and every request succeeds.

mod shared_support;

use shared_support::{Fleet, MODEL, Rig, ask_in_workers, text, totals};
use std::sync::Arc;

#[test]
fn eight_processes_share_the_limits_and_never_meet_a_429() {
    // Two accounts × 25 rpm = 50 requests a minute; 100 prompts need two windows.
    let rig = Arc::new(Rig::start(Fleet::default()));
    // Like `xargs -P 8 rota ask`: eight workers, each runs one process per prompt.
    let runner = rig.clone();
    let (failures, rotations) = ask_in_workers(100, 8, move |_, args| runner.run(args));
    assert!(failures.is_empty(), "{failures:#?}");
    let stats = rig.stats();
    let (requests, ok, rate_limited) = totals(&stats);
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
