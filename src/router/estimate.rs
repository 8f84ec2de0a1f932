//! The prompt estimate a chat request reserves: exact (tiktoken, the largest over the pool's
//! model families) once the encoders are warm, or a quick bound that needs no encoder for a
//! short first request, so a one-shot `rota ask` never waits for them to load.

use crate::message::Message;
use crate::model::ModelRef;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once both tiktoken encoders are built (they take a second or more to load cold).
pub(crate) static ENCODERS_WARM: AtomicBool = AtomicBool::new(false);
/// Starts the warm-up once per process.
static WARMING: Once = Once::new();

/// Prompts up to this many bytes (text only) are reserved by [`quick_bound`] while the
/// encoders are cold, so a one-shot `rota ask` sends its request without waiting for them.
pub const QUICK_MAX_BYTES: usize = 1024;

/// A bound on the prompt tokens of a short text-only request that needs no encoder: a
/// byte-level BPE never makes more tokens than bytes, and the unknown family pads by 1.25;
/// each message adds its role framing and every template at most its fixed preamble (Llama's
/// default system header, harmony's system message). `None` for longer prompts, images or
/// tool calls. Checked against the exact estimate of every catalog model in the tests.
pub fn quick_bound(messages: &[Message]) -> Option<u64> {
    let mut bytes = 0usize;
    for m in messages {
        if !m.tool_calls.is_empty() || m.has_non_text() {
            return None;
        }
        bytes += m.role.as_str().len() + m.texts().map(str::len).sum::<usize>();
        if bytes > QUICK_MAX_BYTES {
            return None;
        }
    }
    Some((bytes as u64 * 5).div_ceil(4) + 16 * messages.len() as u64 + 160)
}

/// Builds the encoders of the pool's families on a background thread, once.
pub(crate) fn warm_encoders(models: &[ModelRef]) {
    let models = models.to_vec();
    WARMING.call_once(move || {
        let spawned = std::thread::Builder::new()
            .name("rota-warm-encoders".into())
            .spawn(move || {
                let hi = [Message::user("hi")];
                let _ = estimate_pool(&models, &hi, &[]);
                ENCODERS_WARM.store(true, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::warn!("could not start the encoder warm-up: {e}");
        }
    });
}

/// The largest estimate of a request over the pool's model families.
pub(crate) fn estimate_pool(
    models: &[ModelRef],
    messages: &[Message],
    tools: &[serde_json::Value],
) -> u64 {
    models
        .iter()
        .map(|m| crate::tokens::estimate_messages(m, messages, tools))
        .max()
        .unwrap_or_else(|| {
            crate::tokens::estimate_messages(&ModelRef::new("unknown", "unknown"), messages, tools)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_bound_covers_every_catalog_models_estimate() {
        let config = crate::config::parse("", "(test)", &|_: &str| None).unwrap();
        let long = "Rate limits differ per provider; héllo wörld ✓ 日本語 {}[]() 42. ".repeat(12);
        let prompts = [
            "",
            "hi",
            "hello",
            "Why does my Python function return None?",
            &long,
        ];
        for p in prompts {
            for system in [None, Some("You are concise.")] {
                let mut msgs = Vec::new();
                if let Some(s) = system {
                    msgs.push(Message::system(s));
                }
                msgs.push(Message::user(p));
                let Some(bound) = quick_bound(&msgs) else {
                    panic!("{} bytes should get a bound", p.len());
                };
                for m in &config.models {
                    let exact = crate::tokens::estimate_messages(&m.model, &msgs, &[]);
                    assert!(bound >= exact, "{}: {bound} < {exact} for {p:?}", m.model);
                }
                let unknown = ModelRef::new("custom:x", "some-model");
                assert!(bound >= crate::tokens::estimate_messages(&unknown, &msgs, &[]));
            }
        }
    }

    #[test]
    fn no_quick_bound_for_long_prompts_images_or_tool_calls() {
        let long = "x".repeat(QUICK_MAX_BYTES + 1);
        assert_eq!(quick_bound(&[Message::user(long)]), None);
        let image = Message::from(serde_json::json!({"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}));
        assert_eq!(quick_bound(&[image]), None);
        let call = Message::from(serde_json::json!({"role": "assistant", "content": null,
            "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]}));
        assert_eq!(quick_bound(&[call]), None);
    }
}
