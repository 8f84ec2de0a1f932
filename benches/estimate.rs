//! Estimating a 10,000-token conversation: the router does this before every request, so
//! it must stay well under a millisecond. "warm" re-estimates the same history (as a chat
//! does every turn: long texts' counts are remembered); "cold" estimates new text each time.

use criterion::{Criterion, criterion_group, criterion_main};
use rota::message::Message;
use serde_json::json;
use std::hint::black_box;

/// A conversation of about 10,000 prompt tokens: 40 turns of varied prose and code.
fn conversation(seed: u64) -> Vec<Message> {
    let prose = "Rate limits differ per provider: Groq counts requests per day and tokens per minute, \
        OpenAI counts both per minute, and Together reports per-second figures. ";
    let code = "fn main() {\n    let x: Vec<u64> = (0..10).map(|i| i * i).collect();\n    println!(\"{x:?}\");\n}\n";
    let mut msgs = vec![json!({"role": "system", "content": "You are a careful assistant."})];
    for i in 0..40 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        let body = if i % 3 == 0 {
            code.repeat(6)
        } else {
            prose.repeat(8)
        };
        msgs.push(json!({"role": role, "content": format!("Turn {i} of {seed}. {body}")}));
    }
    msgs.iter().map(Message::from).collect()
}

/// The same size of conversation as model answers often are: lines, a quarter of them with a
/// curly quote or a dash (text outside ASCII).
fn mixed_conversation(seed: u64) -> Vec<Message> {
    let lines = [
        "Groq counts requests per day and tokens per minute for each organization.\n",
        "OpenAI counts both per minute, per model, and the limits grow with the tier.\n",
        "Together reports per-second figures, so a burst can trip it quickly.\n",
        "That\u{2019}s why rota keeps a window per account \u{2014} not per key.\n",
    ];
    let mut msgs = vec![json!({"role": "system", "content": "You are a careful assistant."})];
    for i in 0..40 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        let body: String = (0..16).map(|k| lines[(k + i) % 4]).collect();
        msgs.push(json!({"role": role, "content": format!("Turn {i} of {seed}.\n{body}")}));
    }
    msgs.iter().map(Message::from).collect()
}

fn bench(c: &mut Criterion) {
    let msgs = conversation(0);
    let tokens = rota::tokens::estimate_prompt("openai/gpt-4o", &msgs, &[]);
    eprintln!("conversation: {tokens} tokens (gpt-4o)");
    for model in ["openai/gpt-4o", "groq/llama-3.3-70b-versatile"] {
        c.bench_function(
            &format!("estimate 10k-token conversation {model}, warm"),
            |b| b.iter(|| rota::tokens::estimate_prompt(black_box(model), black_box(&msgs), &[])),
        );
    }
    // Cold: every message is new text, so nothing is remembered from an earlier estimate.
    let mut seed = 1;
    c.bench_function("estimate 10k-token conversation, cold (new text)", |b| {
        b.iter_batched(
            || {
                seed += 1;
                conversation(seed)
            },
            |msgs| rota::tokens::estimate_prompt("openai/gpt-4o", &msgs, &[]),
            criterion::BatchSize::SmallInput,
        )
    });
    let tokens = rota::tokens::estimate_prompt("openai/gpt-4o", &mixed_conversation(0), &[]);
    eprintln!("mixed conversation: {tokens} tokens (gpt-4o)");
    c.bench_function(
        "estimate 10k-token conversation, cold, a quarter of lines beyond ASCII",
        |b| {
            b.iter_batched(
                || {
                    seed += 1;
                    mixed_conversation(seed)
                },
                |msgs| rota::tokens::estimate_prompt("openai/gpt-4o", &msgs, &[]),
                criterion::BatchSize::SmallInput,
            )
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
