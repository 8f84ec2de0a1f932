//! Model discovery for custom endpoints: a `[[providers.custom]]` that declares no
//! `[[providers.custom.models]]` (a local llama.cpp, vLLM or Ollama server) gets its models
//! from its own `GET /models` when rota starts, and they join the `fast` pool.

use super::{Client, Endpoint};
use crate::config::Config;
use std::time::Duration;

/// The longest a start waits for one custom endpoint's model list: these are local or
/// nearby servers, and every command waits for the answer before its first request.
pub const DISCOVER_TIMEOUT: Duration = Duration::from_secs(3);

/// Words in a model id that mark a model which does not chat (embeddings, speech,
/// rerankers, moderation, images): such ids are not added to the chat pools.
const NOT_CHAT: [&str; 7] = [
    "embed",
    "whisper",
    "tts",
    "rerank",
    "moderation",
    "dall-e",
    "stable-diffusion",
];

/// Whether a listed id looks like a chat model (and is printable: ids end up on the
/// terminal in status lines and notices).
fn is_chat_id(id: &str) -> bool {
    let lower = id.to_ascii_lowercase();
    !id.is_empty()
        && !id.chars().any(char::is_control)
        && !NOT_CHAT.iter().any(|w| lower.contains(w))
}

/// Reads the model list of every custom provider that declares none and adds what it lists
/// to `config` (see [`Config::add_discovered`]). Returns one notice per provider whose list
/// could not be read or named no chat model: what happened and what to write instead.
pub async fn discover_custom_models(config: &mut Config, client: &Client) -> Vec<String> {
    let targets: Vec<(String, Endpoint)> = config
        .undeclared_custom_providers()
        .into_iter()
        .filter_map(|p| {
            p.keys
                .first()
                .map(|k| (p.name.clone(), Endpoint::new(p, k)))
        })
        .collect();
    let lists = futures_util::future::join_all(targets.iter().map(|(_, ep)| async move {
        tokio::time::timeout(DISCOVER_TIMEOUT, client.list_models(ep)).await
    }))
    .await;
    let mut notices = Vec::new();
    for ((provider, ep), listed) in targets.iter().zip(lists) {
        let short = provider.trim_start_matches("custom:");
        let hint = format!(
            "declare its models under [[providers.custom.models]] of `{short}` (id and tasks)"
        );
        match listed {
            Ok(Ok(ids)) => {
                let chat: Vec<String> = ids.into_iter().filter(|id| is_chat_id(id)).collect();
                if chat.is_empty() {
                    notices.push(format!(
                        "custom provider `{short}` lists no chat model at {}/models; {hint}",
                        crate::config::url::shown(&ep.base_url)
                    ));
                } else {
                    tracing::info!(provider, models = ?chat, "discovered models");
                    config.add_discovered(provider, &chat);
                }
            }
            Ok(Err(e)) => notices.push(format!(
                "custom provider `{short}`: could not list its models ({e}); {hint}"
            )),
            Err(_) => notices.push(format!(
                "custom provider `{short}`: {}/models gave no answer in {} s; {hint}",
                crate::config::url::shown(&ep.base_url),
                DISCOVER_TIMEOUT.as_secs()
            )),
        }
    }
    for n in &notices {
        tracing::warn!("{n}");
    }
    notices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_speech_and_image_models_are_not_chat() {
        for id in [
            "nomic-embed-text",
            "text-embedding-3-small",
            "whisper-1",
            "Kokoro-TTS",
            "bge-reranker-v2",
            "omni-moderation-latest",
            "dall-e-3",
            "evil\u{1b}]0;title\u{7}",
            "",
        ] {
            assert!(!is_chat_id(id), "{id}");
        }
        for id in ["qwen2.5-7b-instruct", "llama3.2:3b", "gpt-oss-20b"] {
            assert!(is_chat_id(id), "{id}");
        }
    }
}
