//! The built-in model catalog: every model rota knows, with its capabilities, published
//! limits, prices and where each figure came from. Data lives in `builtin.toml` (embedded);
//! the config's `[[models]]` and custom providers adjust and extend it.

use crate::model::{Limits, ModelRef, Task};
use serde::{Deserialize, Serialize};

/// What one model can do and what it costs, after the config was applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Which model of which provider.
    pub model: ModelRef,
    /// The chat pools it belongs to by default (empty for Whisper models).
    pub tasks: Vec<Task>,
    /// Accepts `tools`.
    pub tools: bool,
    /// Accepts several tool calls in one answer.
    pub parallel_tools: bool,
    /// Accepts image content parts.
    pub vision: bool,
    /// A reasoning model: streams its thinking, and (OpenAI) takes `max_completion_tokens`.
    #[serde(default)]
    pub reasoning: bool,
    /// The `reasoning_effort` values the model accepts (empty: send none).
    #[serde(default)]
    pub reasoning_efforts: Vec<String>,
    /// Serves `/audio/transcriptions`.
    pub transcription: bool,
    /// Published or configured limits per account (learned ones live in the engine).
    pub limits: Limits,
    /// Context window in tokens, when known.
    pub context_window: Option<u64>,
    /// Largest `max_tokens` accepted, when known.
    pub max_output_tokens: Option<u64>,
    /// USD per million prompt tokens.
    pub input_cost_per_mtok: f64,
    /// USD per million completion tokens.
    pub output_cost_per_mtok: f64,
    /// Lower is preferred.
    pub priority: u32,
    /// Image limits of a vision model.
    pub images: Option<ImageLimits>,
    /// Upload limits of a transcription model.
    pub audio: Option<AudioLimits>,
    /// Where the figures came from (`URL (read YYYY-MM-DD)`), for `rota status` and docs.
    pub source: Option<String>,
}

/// What a vision model accepts per request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageLimits {
    /// Images per request.
    pub max_images: u32,
    /// Bytes per base64 image.
    pub max_image_bytes: u64,
    /// Megapixels per image.
    pub max_megapixels: Option<f64>,
}

/// What a transcription model accepts per request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudioLimits {
    /// Upload limit in bytes; `None` when the provider publishes none (then `[transcription]
    /// max_file_mb` applies).
    pub max_upload_bytes: Option<u64>,
    /// Accepted container formats, lowercase (`flac`, `mp3`, `wav`, …).
    pub formats: Vec<String>,
    /// Seconds billed at least per request (Groq: 10).
    pub min_billed_secs: u32,
    /// USD per audio hour.
    pub cost_per_hour: f64,
}

impl ModelSpec {
    /// A spec with no capabilities, no limits and default priority, for building in code.
    pub fn bare(model: ModelRef) -> Self {
        Self {
            model,
            tasks: Vec::new(),
            tools: false,
            parallel_tools: false,
            vision: false,
            reasoning: false,
            reasoning_efforts: Vec::new(),
            transcription: false,
            limits: Limits::default(),
            context_window: None,
            max_output_tokens: None,
            input_cost_per_mtok: 0.0,
            output_cost_per_mtok: 0.0,
            priority: 999,
            images: None,
            audio: None,
            source: None,
        }
    }

    /// USD for the given usage.
    pub fn cost(&self, usage: &crate::model::Usage) -> f64 {
        (usage.prompt_tokens as f64 * self.input_cost_per_mtok
            + usage.completion_tokens as f64 * self.output_cost_per_mtok)
            / 1_000_000.0
    }
}

/// The embedded catalog text (`src/catalog/builtin.toml`).
pub const BUILTIN_TOML: &str = include_str!("builtin.toml");

/// Label used in messages about the embedded catalog.
pub const BUILTIN_LABEL: &str = "<built-in catalog>";

/// The built-in catalog, parsed from the embedded `builtin.toml` (once per process).
pub fn builtin() -> Vec<ModelSpec> {
    static CATALOG: std::sync::OnceLock<Vec<ModelSpec>> = std::sync::OnceLock::new();
    CATALOG
        .get_or_init(|| match parse_catalog(BUILTIN_TOML, BUILTIN_LABEL) {
            Ok(models) => models,
            Err(e) => {
                // The embedded file is checked by tests; this only guards a broken build.
                tracing::error!("the built-in catalog does not parse:\n{e}");
                Vec::new()
            }
        })
        .clone()
}

/// Parses a catalog file: `[[models]]` entries with `provider`, `id` and the model fields of
/// [`crate::config::MODEL_FIELDS`]. Every problem is reported with its place.
pub fn parse_catalog(
    text: &str,
    label: &str,
) -> Result<Vec<ModelSpec>, crate::config::ConfigErrors> {
    crate::config::load::parse_catalog(text, label)
}

mod retired;
pub use retired::{RETIRED, Retired, retired};

#[cfg(test)]
mod tests;
