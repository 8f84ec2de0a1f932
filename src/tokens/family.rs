//! Which tokenizer and chat template a model uses, from its provider and id.

use super::image::{GPT4O, GPT4O_MINI, ImageRule, UNKNOWN_MODEL_IMAGE_TOKENS};
use crate::model::Dialect;

/// The tokenizer rota counts with. Open models are counted with the OpenAI encoding
/// closest to their own vocabulary (Llama 3 and Qwen ≈ cl100k; Llama 4 ≈ o200k).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `cl100k_base`: gpt-4, gpt-3.5, and the stand-in for Llama 3.x and Qwen.
    Cl100k,
    /// `o200k_base`: gpt-4o, gpt-4.1, gpt-5, the o-series, gpt-oss, Llama 4's stand-in.
    O200k,
}

/// A model family: how its chat template wraps messages and tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// OpenAI chat models: 3 tokens a message, 3 to prime the reply, tools as a TypeScript
    /// namespace.
    OpenAi,
    /// gpt-oss (harmony format): a fixed system preamble, developer instructions, tools as
    /// a TypeScript namespace.
    GptOss,
    /// Llama 3.x: a default system header with the knowledge and today's date; tools
    /// rendered as an instruction block by the provider.
    Llama3,
    /// Llama 4: header tokens per message, no default system header.
    Llama4,
    /// ChatML models (Qwen and the like): `<|im_start|>role … <|im_end|>`; Hermes-style
    /// tool block.
    ChatMl,
    /// Anything else: counted with cl100k and padded (see `docs/estimate.md`).
    Unknown,
}

/// Everything the estimator needs to know about a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The chat template family.
    pub family: Family,
    /// The tokenizer.
    pub encoding: Encoding,
    /// Whose template renders it (tools differ between Groq and Together). `Generic` when
    /// the provider is unknown: the most expensive known rendering is used then.
    pub dialect: Dialect,
    /// How images are counted.
    pub images: ImageRule,
}

/// The profile of `PROVIDER/ID` or a bare id (bare ids take the provider from the id's
/// look: `meta-llama/…` is Together's naming, otherwise unknown).
pub fn profile(model: &str) -> Profile {
    let (provider, id) = split(model);
    let dialect = match provider {
        Some(p) => Dialect::of_provider(p),
        None => Dialect::Generic,
    };
    let lower = id.to_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let (family, encoding) = if name.contains("gpt-oss") {
        (Family::GptOss, Encoding::O200k)
    } else if is_openai_o200k(name) {
        (Family::OpenAi, Encoding::O200k)
    } else if name.starts_with("gpt-4") || name.starts_with("gpt-3.5") {
        (Family::OpenAi, Encoding::Cl100k)
    } else if name.contains("llama-4") || name.contains("llama4") {
        (Family::Llama4, Encoding::O200k)
    } else if name.contains("llama-3") || name.contains("llama3") {
        (Family::Llama3, Encoding::Cl100k)
    } else if name.contains("qwen") || name.contains("qwq") {
        (Family::ChatMl, Encoding::Cl100k)
    } else {
        (Family::Unknown, Encoding::Cl100k)
    };
    let images = match family {
        Family::OpenAi | Family::GptOss if name.starts_with("gpt-4o-mini") => ImageRule::OpenAi {
            base: GPT4O_MINI.base,
            tile: GPT4O_MINI.tile,
        },
        Family::OpenAi | Family::GptOss => ImageRule::OpenAi {
            base: GPT4O.base,
            tile: GPT4O.tile,
        },
        Family::Llama3 | Family::Llama4 | Family::ChatMl => ImageRule::Llama4,
        Family::Unknown => ImageRule::Fixed(UNKNOWN_MODEL_IMAGE_TOKENS),
    };
    Profile {
        family,
        encoding,
        dialect,
        images,
    }
}

/// Splits `PROVIDER/ID` when the first part is a provider rota knows; a bare id (which may
/// itself hold `/`, like `meta-llama/Llama-3.3-70B-Instruct-Turbo`) has no provider.
fn split(model: &str) -> (Option<&str>, &str) {
    match model.split_once('/') {
        Some((p, id))
            if matches!(p, "groq" | "openai" | "together") || p.starts_with("custom:") =>
        {
            (Some(p), id)
        }
        _ => (None, model),
    }
}

/// OpenAI models on `o200k_base`: gpt-4o, gpt-4.1, gpt-4.5, gpt-5, chatgpt-4o, o1/o3/o4.
fn is_openai_o200k(name: &str) -> bool {
    name.starts_with("gpt-4o")
        || name.starts_with("gpt-4.1")
        || name.starts_with("gpt-4.5")
        || name.starts_with("gpt-5")
        || name.starts_with("chatgpt-4o")
        || ["o1", "o3", "o4"]
            .iter()
            .any(|p| name == *p || name.starts_with(&format!("{p}-")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_encodings() {
        let p = profile("openai/gpt-4o-mini");
        assert_eq!(
            (p.family, p.encoding, p.dialect),
            (Family::OpenAi, Encoding::O200k, Dialect::OpenAi)
        );
        assert_eq!(profile("o3-mini").encoding, Encoding::O200k);
        assert_eq!(profile("gpt-4.1-nano").encoding, Encoding::O200k);
        assert_eq!(profile("gpt-4-turbo").encoding, Encoding::Cl100k);
        assert_eq!(profile("gpt-3.5-turbo").encoding, Encoding::Cl100k);
        let g = profile("groq/openai/gpt-oss-120b");
        assert_eq!(
            (g.family, g.encoding, g.dialect),
            (Family::GptOss, Encoding::O200k, Dialect::Groq)
        );
        let t = profile("together/meta-llama/Llama-3.3-70B-Instruct-Turbo");
        assert_eq!((t.family, t.dialect), (Family::Llama3, Dialect::Together));
        let bare = profile("meta-llama/Llama-3.3-70B-Instruct-Turbo");
        assert_eq!(
            (bare.family, bare.dialect),
            (Family::Llama3, Dialect::Generic)
        );
        assert_eq!(
            profile("groq/meta-llama/llama-4-scout-17b-16e-instruct").family,
            Family::Llama4
        );
        assert_eq!(profile("groq/qwen/qwen3-32b").family, Family::ChatMl);
        assert_eq!(profile("custom:local/mystery-7b").family, Family::Unknown);
        assert_eq!(profile("custom:local/mystery-7b").dialect, Dialect::Generic);
    }
}
