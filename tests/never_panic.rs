//! "Arbitrary bytes never panic": the proptest twins of the fuzz targets in `fuzz/`, in the
//! normal test suite. Each parser of outside input (the SSE decoder, the error-body
//! classifier, the rate-limit header readers, durations, the config loader, batch lines and
//! output files, the typed message reader) gets a few hundred generated inputs: raw bytes,
//! and text shaped like what it reads so the generator gets past the first check. What each
//! input must satisfy is written once in `fuzz/src/checks.rs`, shared with the fuzz targets.

#[path = "../fuzz/src/checks.rs"]
mod checks;

use proptest::prelude::*;
use serde_json::Value;

/// Few enough cases that the whole file runs in seconds.
fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, nested a few levels, with the keys the readers look for.
fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("role".to_string()),
        Just("content".to_string()),
        Just("type".to_string()),
        Just("text".to_string()),
        Just("tool_calls".to_string()),
        Just("function".to_string()),
        Just("arguments".to_string()),
        Just("id".to_string()),
        Just("index".to_string()),
        Just("message".to_string()),
        Just("error".to_string()),
        Just("code".to_string()),
        Just("choices".to_string()),
        Just("delta".to_string()),
        Just("usage".to_string()),
        Just("finish_reason".to_string()),
        Just("image_url".to_string()),
        Just("url".to_string()),
        ".{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("user"),
            Just("assistant"),
            Just("tool"),
            Just("system"),
            Just("text"),
            Just("image_url"),
            Just("function"),
            Just("stop"),
        ]
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A stream body: SSE events whose data is JSON shaped like chunks, comments, odd line
/// ends, and sometimes `[DONE]` or garbage.
fn sse_body() -> impl Strategy<Value = Vec<u8>> {
    let event = prop_oneof![
        json().prop_map(|v| format!("data: {v}\n\n")),
        json()
            .prop_map(|v| format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{v}}}]}}\r\n\r\n")),
        json().prop_map(|v| format!("data:{{\"error\":{v}}}\n\n")),
        Just("data: [DONE]\n\n".to_string()),
        Just(": keep-alive\r".to_string()),
        Just("event: error\n".to_string()),
        Just("id: 7\nretry: 10\n".to_string()),
        "data:[ -~]{0,20}\n".prop_map(|s| s),
        "[\r\n]{1,3}".prop_map(|s| s),
    ];
    (
        prop::collection::vec(event, 0..10),
        prop::collection::vec(any::<u8>(), 3),
    )
        .prop_map(|(events, ctl)| {
            let mut b = ctl;
            b.extend(events.concat().into_bytes());
            b
        })
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn sse_parser_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        checks::sse(&data);
    }

    #[test]
    fn sse_parser_events(data in sse_body()) {
        checks::sse(&data);
    }

    #[test]
    fn stream_decoder_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        checks::stream(&data);
    }

    #[test]
    fn stream_decoder_chunks(data in sse_body()) {
        checks::stream(&data);
    }

    #[test]
    fn error_body_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        checks::error_body(&data);
    }

    #[test]
    fn error_body_json(
        ctl in prop::collection::vec(any::<u8>(), 11),
        headers in "([a-z-]{0,8}:[ -~]{0,12}\n){0,4}|(\u{0}[0-9.]{0,8}(ms|s|m|h)?\n){0,4}",
        body in json(),
    ) {
        let headers = headers.into_bytes();
        let mut data = ctl;
        data.push(headers.len().min(255) as u8);
        data.extend(headers);
        data.extend(serde_json::json!({ "error": body }).to_string().into_bytes());
        checks::error_body(&data);
    }

    #[test]
    fn rate_headers_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        checks::rate_headers(&data);
    }

    #[test]
    fn rate_headers_values(
        ctl in prop::collection::vec(any::<u8>(), 9),
        lines in prop::collection::vec(
            (any::<u8>(), "[0-9.]{0,12}|([0-9]{1,4}(\\.[0-9]{1,4})?(ms|h|m|s)){1,3}|-?[0-9e+.]{1,20}|[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT"),
            0..8,
        ),
    ) {
        let mut data = ctl;
        for (pick, value) in lines {
            // Not 0 mod 4 and not a newline: the byte picks a known header name.
            let pick = if pick.is_multiple_of(4) || pick == b'\n' { pick.wrapping_add(1) } else { pick };
            data.push(pick);
            data.extend(value.into_bytes());
            data.push(b'\n');
        }
        checks::rate_headers(&data);
    }

    #[test]
    fn duration_text(text in ".{0,24}") {
        checks::duration(text.as_bytes());
    }

    #[test]
    fn duration_shaped(text in " ?([0-9]{0,25}(\\.[0-9]{0,25})?(ms|h|m|s)){0,4} ?") {
        checks::duration(text.as_bytes());
    }

    #[test]
    fn config_text(data in prop::collection::vec(any::<u8>(), 0..512)) {
        checks::config(&data);
    }

    #[test]
    fn config_example_mutated(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, "[\\[\\]\"'=.#a-z0-9 \n{}-]{0,4}"), 1..6),
    ) {
        // The shipped example, with a few bytes cut, inserted or replaced.
        let mut text = include_str!("../config.example.toml").as_bytes().to_vec();
        for (at, op, s) in edits {
            let i = at.index(text.len() + 1);
            match op {
                0 => {
                    let end = (i + s.len()).min(text.len());
                    text.drain(i..end);
                }
                1 | 2 => {
                    text.splice(i..i, s.bytes());
                }
                _ => {
                    let end = (i + s.len()).min(text.len());
                    text.splice(i..end, s.bytes());
                }
            }
        }
        checks::config(&text);
    }

    #[test]
    fn batch_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        checks::batch(&data);
    }

    #[test]
    fn batch_lines(
        task in any::<u8>(),
        lines in prop::collection::vec(
            (json(), json(), json(), prop::option::of(any::<u64>()), prop::option::of(".{0,8}")),
            1..6,
        ),
    ) {
        let mut data = vec![task];
        for (id, prompt, messages, max_tokens, task) in lines {
            let mut line = serde_json::Map::new();
            line.insert("id".into(), id);
            if !prompt.is_null() {
                line.insert("prompt".into(), prompt);
            }
            if messages.is_array() {
                line.insert("messages".into(), messages);
            }
            if let Some(m) = max_tokens {
                line.insert("max_tokens".into(), m.into());
            }
            if let Some(t) = task {
                line.insert("task".into(), t.into());
            }
            data.extend(Value::Object(line).to_string().into_bytes());
            data.push(b'\n');
        }
        checks::batch(&data);
    }

    #[test]
    fn batch_output_lines(
        lines in prop::collection::vec((json(), any::<bool>(), prop::option::of(any::<u64>())), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        // Output lines as a batch writes them, and the file torn anywhere.
        let mut out = Vec::new();
        for (id, ok, line) in lines {
            let mut v = serde_json::json!({"id": id, "ok": ok});
            if !ok {
                v["error"] = serde_json::json!({"kind": "input", "message": "m"});
            }
            if let Some(n) = line {
                v["line"] = n.into();
            }
            out.extend(v.to_string().into_bytes());
            out.push(b'\n');
        }
        out.truncate(cut.index(out.len() + 1));
        let _ = rota::cli::batch::settled_keys(&out);
    }

    #[test]
    fn message_json(v in json()) {
        checks::message_value(&v);
    }

    #[test]
    fn message_messages(items in prop::collection::vec(json(), 0..4)) {
        for v in &items {
            checks::message_value(&serde_json::json!({"role": "user", "content": v}));
            checks::message_value(&serde_json::json!({"role": "assistant", "tool_calls": [v]}));
        }
    }

    #[test]
    fn message_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        checks::message(&data);
    }
}

/// The inputs the fuzz targets found worth keeping, replayed here (see `fuzz/README.md`).
#[test]
fn regressions_from_the_fuzzers() {
    type Check = fn(&[u8]);
    let targets: [(&str, Check); 8] = [
        ("sse", checks::sse),
        ("stream", checks::stream),
        ("error_body", checks::error_body),
        ("rate_headers", checks::rate_headers),
        ("duration", checks::duration),
        ("config", checks::config),
        ("batch", checks::batch),
        ("message", checks::message),
    ];
    for (name, check) in targets {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join("regressions")
            .join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(data) = std::fs::read(e.path()) {
                check(&data);
            }
        }
    }
}

/// Found by the `sse` fuzz target: an empty chunk between a CR and its LF made the LF a
/// line of its own, so a blank line ended the event early (two events instead of one).
#[test]
fn an_empty_chunk_between_cr_and_lf_is_not_a_blank_line() {
    use rota::providers::sse::SseParser;
    let mut p = SseParser::new();
    let mut events = p.feed(b"data: a\r");
    events.extend(p.feed(b""));
    events.extend(p.feed(b"\ndata: b\n\n"));
    events.extend(p.finish());
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].data, "a\nb");
}
