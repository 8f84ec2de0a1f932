//! Every real provider error body in `shared/fixtures/provider-errors.json` is classified
//! exactly as the fixture expects: reason, window, limit and wait.

mod shared_fixtures;

use rota::engine::Headers;
use rota::model::{Dialect, Reason, Window};
use rota::providers::classify;

fn reason_named(s: &str) -> Reason {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .unwrap_or_else(|e| panic!("unknown reason {s}: {e}"))
}

fn window_named(v: &serde_json::Value) -> Option<Window> {
    if v.is_null() {
        None
    } else {
        Some(serde_json::from_value(v.clone()).unwrap())
    }
}

#[test]
fn every_fixture_case_reads_as_expected() {
    let path = shared_fixtures::fixtures_dir().join("provider-errors.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in cases {
        let provider = case["provider"].as_str().unwrap();
        let status = case["status"].as_u64().unwrap() as u16;
        let body = match &case["body"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let headers: Headers = case
            .get("headers")
            .and_then(|h| h.as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_lowercase(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let got = classify(Dialect::of_provider(provider), status, &headers, &body, 0);
        let e = &case["expect"];
        let want = (
            reason_named(e["reason"].as_str().unwrap()),
            window_named(&e["window"]),
            e["limit"].as_u64(),
            e["retry_after_ms"].as_u64(),
        );
        let have = (got.reason, got.window, got.limit, got.retry_after_ms);
        if want != have {
            failures.push(format!(
                "{} ({provider} {status}): want {want:?}, got {have:?}",
                case["source"]
            ));
        }
        assert!(!got.message.is_empty());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
