//! Behaviour of the estimator beyond the recordings: scaling, overheads, defaults.

use super::*;
use serde_json::json;

/// [`super::estimate_prompt`] over messages written as JSON (read as the faces read them).
fn estimate_prompt(model: &str, messages: &[Value], tools: &[Value]) -> u64 {
    let typed: Vec<Message> = messages.iter().map(Message::from).collect();
    super::estimate_prompt(model, &typed, tools)
}

fn hello() -> Vec<Value> {
    vec![
        json!({"role": "system", "content": "You are concise."}),
        json!({"role": "user", "content": "Reply with exactly: Hello!"}),
    ]
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Get current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}})
}

#[test]
fn say_hello_costs_what_providers_report() {
    // Reported: 21 prompt tokens on gpt-4o-mini, 45 on Llama 3.3 (Groq and Together).
    let mini = estimate_prompt("openai/gpt-4o-mini", &hello(), &[]);
    assert!((19..=23).contains(&mini), "gpt-4o-mini: {mini}");
    for m in [
        "groq/llama-3.3-70b-versatile",
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
    ] {
        let n = estimate_prompt(m, &hello(), &[]);
        assert!((43..=47).contains(&n), "{m}: {n}");
    }
}

#[test]
fn long_prompts_scale_with_their_text() {
    let text = |words: usize| -> Vec<Value> {
        let t = "The quick brown fox jumps over the lazy dog. ".repeat(words / 10);
        vec![json!({"role": "user", "content": t})]
    };
    for m in [
        "openai/gpt-4o",
        "groq/llama-3.3-70b-versatile",
        "groq/openai/gpt-oss-20b",
        "groq/qwen/qwen3-32b",
        "custom:x/unknown",
    ] {
        let short = estimate_prompt(m, &text(1000), &[]);
        let long = estimate_prompt(m, &text(10_000), &[]);
        let ratio = long as f64 / short as f64;
        assert!((9.0..10.5).contains(&ratio), "{m}: {short} → {long}");
        assert!(short > 900, "{m}: {short}");
    }
}

#[test]
fn a_tool_adds_tokens_and_more_messages_add_overhead() {
    for m in [
        "openai/gpt-4o-mini",
        "groq/llama-3.3-70b-versatile",
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "groq/openai/gpt-oss-120b",
        "groq/qwen/qwen3-32b",
        "custom:x/y",
        "groq/meta-llama/llama-4-scout-17b-16e-instruct",
    ] {
        let base = estimate_prompt(m, &hello(), &[]);
        let one = estimate_prompt(m, &hello(), &[weather_tool()]);
        let two = estimate_prompt(m, &hello(), &[weather_tool(), weather_tool()]);
        assert!(one > base + 10, "{m}: {base} → {one}");
        assert!(two > one + 10, "{m}: {one} → {two}");
        let mut more = hello();
        more.push(json!({"role": "assistant", "content": "Hello!"}));
        more.push(json!({"role": "user", "content": "Again"}));
        let longer = estimate_prompt(m, &more, &[]);
        // Two short messages: their text (~3 tokens) plus per-message overhead.
        assert!(longer >= base + 7, "{m}: {base} → {longer}");
    }
}

#[test]
fn tool_calls_and_results_count() {
    let mut msgs = hello();
    let base = estimate_prompt("openai/gpt-4o", &msgs, &[]);
    msgs.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"units\":\"celsius\"}"}}]}));
    let with_call = estimate_prompt("openai/gpt-4o", &msgs, &[]);
    assert!(with_call >= base + 15, "{base} → {with_call}");
    msgs.push(json!({"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 18, \"sky\": \"cloudy\"}"}));
    let with_result = estimate_prompt("openai/gpt-4o", &msgs, &[]);
    assert!(with_result >= with_call + 15, "{with_call} → {with_result}");
}

#[test]
fn names_cost_a_little() {
    let plain = vec![json!({"role": "user", "content": "hi"})];
    let named = vec![json!({"role": "user", "name": "alice", "content": "hi"})];
    let a = estimate_prompt("openai/gpt-4o", &plain, &[]);
    let b = estimate_prompt("openai/gpt-4o", &named, &[]);
    assert!(b >= a + 2, "{a} → {b}");
}

#[test]
fn images_follow_the_tile_rule_when_the_size_is_known() {
    let url = format!(
        "data:image/png;base64,{}",
        image::tests::b64(&image::tests::png_header(1024, 1024))
    );
    let msg = |detail: &str| {
        vec![json!({"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": url, "detail": detail}}]})]
    };
    let text_only = estimate_prompt(
        "openai/gpt-4o",
        &[json!({"role": "user", "content": [{"type": "text", "text": "What is this?"}]})],
        &[],
    );
    assert_eq!(
        estimate_prompt("openai/gpt-4o", &msg("high"), &[]),
        text_only + 765
    );
    assert_eq!(
        estimate_prompt("openai/gpt-4o", &msg("low"), &[]),
        text_only + 85
    );
    // A URL whose size is unknown costs the rule's maximum.
    let remote = vec![
        json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}),
    ];
    assert!(estimate_prompt("openai/gpt-4o", &remote, &[]) > 1445);
    assert!(
        estimate_prompt(
            "groq/meta-llama/llama-4-scout-17b-16e-instruct",
            &remote,
            &[]
        ) > 2000
    );
}

#[test]
fn unknown_models_over_estimate() {
    let mut msgs = hello();
    msgs.push(json!({"role": "user", "content": "Summarise the history of the Roman empire in three paragraphs, please."}));
    let unknown = estimate_prompt("custom:local/mystery", &msgs, &[weather_tool()]);
    for m in [
        "openai/gpt-4o",
        "groq/llama-3.3-70b-versatile",
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "groq/qwen/qwen3-32b",
    ] {
        let known = estimate_prompt(m, &msgs, &[weather_tool()]);
        assert!(unknown >= known, "{m}: {known} > unknown {unknown}");
    }
}

#[test]
fn reservation_uses_max_tokens_or_the_task_default() {
    let body = json!({"model": "gpt-4o-mini", "messages": hello(), "max_tokens": 20});
    let e = estimate_request(&body, None);
    assert_eq!(e.reserve_tokens, e.prompt_tokens + 20);
    let body = json!({"model": "gpt-4o-mini", "messages": hello(), "max_completion_tokens": 77});
    let e = estimate_request(&body, None);
    assert_eq!(e.reserve_tokens, e.prompt_tokens + 77);
    let body = json!({"model": "gpt-4o-mini", "messages": hello()});
    let e = estimate_request(&body, None);
    assert_eq!(e.reserve_tokens, e.prompt_tokens + 1024);
    assert_eq!(default_max_tokens(Task::Code), 2048);
    assert_eq!(default_max_tokens(Task::Research), 3072);
    assert_eq!(default_max_tokens(Task::Vision), 1024);
    assert_eq!(
        default_max_tokens(Task::Auto),
        default_max_tokens(Task::Fast)
    );
    // --model overrides the body's model.
    let groq = estimate_request(&body, Some("groq/llama-3.3-70b-versatile"));
    assert!(groq.prompt_tokens > e.prompt_tokens + 15);
}

#[test]
fn model_ref_entry_point_matches_the_string_one() {
    let m: ModelRef = "groq/llama-3.3-70b-versatile".parse().unwrap();
    assert_eq!(
        estimate_messages(
            &m,
            &hello().iter().map(Message::from).collect::<Vec<_>>(),
            &[]
        ),
        estimate_prompt("groq/llama-3.3-70b-versatile", &hello(), &[])
    );
}
