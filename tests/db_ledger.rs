//! The request ledger: what one attempt row keeps, the per-model summary, and pruning.

use rota::engine::Pool;
use rota::model::{ModelRef, Reason, Task, Usage};
use rota::secret::ApiKey;
use rota::store::db::Db;
use rota::store::ledger::{self, AttemptRow, Ledger, Outcome};
use std::time::Duration;

const DAY: u64 = 86_400_000;
const T0: u64 = 1_800_000_000_000;

fn ok(model: &str, at: u64, est: u64, prompt: u64, latency: u64) -> AttemptRow {
    AttemptRow {
        at_ms: at,
        task: Pool::Chat(Task::Fast),
        model: model.parse().unwrap(),
        account: Some("a".into()),
        key_suffix: ledger::key_suffix(&ApiKey::new("gsk_test_0001")),
        estimated_prompt_tokens: est,
        usage: Some(Usage {
            prompt_tokens: prompt,
            completion_tokens: 10,
        }),
        cost_usd: Some(0.001),
        latency_ms: latency,
        first_token_ms: Some(latency / 4),
        outcome: Outcome::Ok,
        reason: None,
        rotated: false,
        request_id: Some(format!("req_{at}")),
    }
}

fn failed(model: &str, at: u64, reason: Reason, rotated: bool) -> AttemptRow {
    AttemptRow {
        usage: None,
        cost_usd: None,
        latency_ms: 30,
        first_token_ms: None,
        outcome: Outcome::Failed,
        reason: Some(reason),
        rotated,
        ..ok(model, at, 100, 0, 0)
    }
}

#[test]
fn summary_counts_tokens_errors_and_percentiles() {
    let db = Db::open_in_memory().unwrap();
    let l = Ledger::default();
    let m = "groq/llama-3.1-8b-instant";
    // Estimate errors: |90-100|/100 = 10%, |105-100|/100 = 5%, |100-100| = 0%, |120-100| = 20%
    // → median of {0, 5, 10, 20} = 7.5%.
    let cases = [
        (90, 100, 100),
        (105, 100, 200),
        (100, 100, 300),
        (120, 100, 400),
    ];
    for (i, (est, real, lat)) in cases.into_iter().enumerate() {
        l.record(&db, &ok(m, T0 + i as u64, est, real, lat))
            .unwrap();
    }
    l.record(&db, &failed(m, T0 + 10, Reason::RateLimited, true))
        .unwrap();
    l.record(&db, &failed(m, T0 + 11, Reason::RateLimited, true))
        .unwrap();
    l.record(&db, &failed(m, T0 + 12, Reason::ServerError, false))
        .unwrap();
    let mut cancelled = ok(m, T0 + 13, 50, 0, 5000);
    cancelled.outcome = Outcome::Cancelled;
    cancelled.usage = None;
    l.record(&db, &cancelled).unwrap();
    // A second model with latencies 1..=20 ms.
    for i in 1..=20 {
        l.record(&db, &ok("openai/gpt-4o-mini", T0 + 100 + i, 10, 10, i))
            .unwrap();
    }

    let rows = ledger::usage_summary(&db, None).unwrap();
    assert_eq!(rows.len(), 2);
    let g = &rows[0];
    assert_eq!(
        (g.provider.as_str(), g.model.as_str()),
        ("groq", "llama-3.1-8b-instant")
    );
    assert_eq!(g.requests, 8);
    assert_eq!(g.ok, 4);
    assert_eq!(g.rate_limited, 2);
    assert_eq!(g.rotations, 2);
    assert_eq!(g.prompt_tokens, 400);
    assert_eq!(g.completion_tokens, 40);
    assert!((g.cost_usd - 0.005).abs() < 1e-9, "{}", g.cost_usd);
    assert_eq!(g.estimate_error_pct, Some(7.5));
    // Latency over ok attempts only: 100, 200, 300, 400 (the 5 s cancelled one is left out).
    assert_eq!(g.latency_p50_ms, Some(200));
    assert_eq!(g.latency_p95_ms, Some(400));
    let o = &rows[1];
    assert_eq!(o.provider, "openai");
    assert_eq!(o.requests, 20);
    assert_eq!(o.rate_limited, 0);
    assert_eq!(o.estimate_error_pct, Some(0.0));
    assert_eq!(o.latency_p50_ms, Some(10));
    assert_eq!(o.latency_p95_ms, Some(19));

    // --since keeps only the newer rows.
    let rows = ledger::usage_summary(&db, Some(T0 + 100)).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].provider, "openai");
}

#[test]
fn rows_round_trip_and_keep_only_the_key_suffix() {
    let db = Db::open_in_memory().unwrap();
    let l = Ledger::default();
    let mut row = failed("custom:local/qwen", T0, Reason::RequestTooLarge, true);
    // Even if a caller hands over a whole key, only its last four characters are stored.
    row.key_suffix = "sk-test-0123456789wxyz".into();
    l.record(&db, &row).unwrap();
    let back = ledger::attempts(&db, None).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].key_suffix, "wxyz");
    let expected = AttemptRow {
        key_suffix: "wxyz".into(),
        ..row
    };
    assert_eq!(back[0], expected);
    assert_eq!(back[0].model, ModelRef::new("custom:local", "qwen"));
    let dump = db
        .read(|c| {
            c.query_row("SELECT group_concat(key_suffix) FROM attempts", [], |r| {
                r.get::<_, String>(0)
            })
        })
        .unwrap();
    assert!(!dump.contains("sk-test"), "{dump}");
}

#[test]
fn prunes_past_the_horizon_at_most_hourly() {
    let db = Db::open_in_memory().unwrap();
    let l = Ledger::new(Duration::from_millis(10 * DAY));
    let m = "groq/m";
    // Old rows, recorded by another (earlier) process.
    let old = Ledger::new(Duration::from_millis(1000 * DAY));
    old.record(&db, &ok(m, T0 - 30 * DAY, 1, 1, 1)).unwrap();
    old.record(&db, &ok(m, T0 - 11 * DAY, 1, 1, 1)).unwrap();
    old.record(&db, &ok(m, T0 - 9 * DAY, 1, 1, 1)).unwrap();
    assert_eq!(ledger::attempts(&db, None).unwrap().len(), 3);

    // This process's first record prunes what is older than 10 days.
    l.record(&db, &ok(m, T0, 1, 1, 1)).unwrap();
    let left: Vec<u64> = ledger::attempts(&db, None)
        .unwrap()
        .iter()
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(left, vec![T0 - 9 * DAY, T0]);

    // Within the hour: no pruning, even though a row fell past the horizon meanwhile.
    old.record(&db, &ok(m, T0 - 20 * DAY, 1, 1, 1)).unwrap();
    l.record(&db, &ok(m, T0 + 59 * 60_000, 1, 1, 1)).unwrap();
    assert_eq!(ledger::attempts(&db, None).unwrap().len(), 4);

    // An hour later it prunes again.
    l.record(&db, &ok(m, T0 + 61 * 60_000, 1, 1, 1)).unwrap();
    assert_eq!(ledger::attempts(&db, None).unwrap().len(), 4);
    assert!(
        ledger::attempts(&db, None)
            .unwrap()
            .iter()
            .all(|r| r.at_ms >= T0 - 10 * DAY)
    );

    // Explicit prune.
    assert_eq!(l.prune(&db, T0 + 11 * DAY).unwrap(), 4);
    assert!(ledger::attempts(&db, None).unwrap().is_empty());
}

#[test]
fn every_reason_reads_back_rotas_own_local_failures_too() {
    let db = Db::open_in_memory().unwrap();
    let l = Ledger::default();
    for (i, r) in Reason::ALL.into_iter().enumerate() {
        l.record(&db, &failed("groq/m", T0 + i as u64, r, true))
            .unwrap();
    }
    let back: Vec<Option<Reason>> = ledger::attempts(&db, None)
        .unwrap()
        .iter()
        .map(|a| a.reason)
        .collect();
    assert_eq!(back, Reason::ALL.map(Some));
}
