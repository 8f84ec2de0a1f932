//! The fields of one model, shared by the built-in catalog, `[[models]]` and
//! `[[providers.custom.models]]`: each present field is checked and applied to a spec.

use super::error::Sink;
use super::walk::Section;
use crate::catalog::{AudioLimits, ImageLimits, ModelSpec};
use crate::model::{Task, Window};

/// Every model field (besides `provider` and `id`).
pub const MODEL_FIELDS: &[&str] = &[
    "tasks",
    "tools",
    "parallel_tools",
    "vision",
    "reasoning",
    "reasoning_efforts",
    "transcription",
    "rpm",
    "tpm",
    "rpd",
    "tpd",
    "ash",
    "asd",
    "context_window",
    "max_output_tokens",
    "input_cost_per_mtok",
    "output_cost_per_mtok",
    "priority",
    "max_images",
    "max_image_bytes",
    "max_megapixels",
    "max_upload_bytes",
    "formats",
    "min_billed_secs",
    "cost_per_hour",
    "source",
];

/// Image limits given when a model gains vision without saying them (Groq's published ones).
pub const DEFAULT_IMAGES: ImageLimits = ImageLimits {
    max_images: 5,
    max_image_bytes: 4_000_000,
    max_megapixels: None,
};

/// Applies every field present in `sec` to `spec`, reporting bad ones.
pub(crate) fn apply(sink: &mut Sink, sec: &Section, spec: &mut ModelSpec) {
    if let Some(list) = sec.str_list(sink, "tasks", "[\"fast\", \"code\"]") {
        let mut tasks = Vec::new();
        for (name, span) in list {
            match name.parse::<Task>() {
                Ok(Task::Auto) => sink.at(
                    span,
                    format!("`auto` in `tasks` of [{}] is not a pool", sec.name),
                    "use fast, research, code or vision",
                ),
                Ok(t) if tasks.contains(&t) => sink.at(
                    span,
                    format!("task `{name}` is listed twice in [{}]", sec.name),
                    "list each task once",
                ),
                Ok(t) => tasks.push(t),
                Err(_) => sink.at(
                    span,
                    format!("`{name}` in `tasks` of [{}] is not a task", sec.name),
                    "use fast, research, code or vision",
                ),
            }
        }
        spec.tasks = tasks;
    }
    for (key, slot) in [
        ("tools", &mut spec.tools),
        ("parallel_tools", &mut spec.parallel_tools),
        ("vision", &mut spec.vision),
        ("reasoning", &mut spec.reasoning),
        ("transcription", &mut spec.transcription),
    ] {
        if let Some(b) = sec.bool(sink, key) {
            *slot = b;
        }
    }
    if let Some(list) = sec.str_list(sink, "reasoning_efforts", "[\"low\", \"medium\", \"high\"]") {
        spec.reasoning_efforts = list.into_iter().map(|(s, _)| s).collect();
    }
    for w in Window::ALL {
        if let Some(n) = sec.positive(sink, w.as_str(), "30") {
            spec.limits.set(w, Some(n));
        }
    }
    if let Some(n) = sec.positive(sink, "context_window", "131072") {
        spec.context_window = Some(n);
    }
    if let Some(n) = sec.positive(sink, "max_output_tokens", "8192") {
        spec.max_output_tokens = Some(n);
    }
    if let Some(x) = sec.non_negative_f64(sink, "input_cost_per_mtok", "0.59") {
        spec.input_cost_per_mtok = x;
    }
    if let Some(x) = sec.non_negative_f64(sink, "output_cost_per_mtok", "0.79") {
        spec.output_cost_per_mtok = x;
    }
    if let Some(n) = sec.non_negative(sink, "priority", "10") {
        spec.priority = u32::try_from(n).unwrap_or(u32::MAX);
    }
    let max_images = sec.positive(sink, "max_images", "5");
    let max_image_bytes = sec.positive(sink, "max_image_bytes", "4000000");
    let max_megapixels = sec.non_negative_f64(sink, "max_megapixels", "33");
    if max_images.is_some() || max_image_bytes.is_some() || max_megapixels.is_some() {
        let img = spec.images.get_or_insert(DEFAULT_IMAGES);
        if let Some(n) = max_images {
            img.max_images = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = max_image_bytes {
            img.max_image_bytes = n;
        }
        if max_megapixels.is_some() {
            img.max_megapixels = max_megapixels;
        }
    }
    if spec.vision && spec.images.is_none() {
        spec.images = Some(DEFAULT_IMAGES);
    }
    let upload = sec.positive(sink, "max_upload_bytes", "25000000");
    let formats = sec.str_list(sink, "formats", "[\"flac\", \"mp3\", \"wav\"]");
    let min_billed = sec.non_negative(sink, "min_billed_secs", "10");
    let per_hour = sec.non_negative_f64(sink, "cost_per_hour", "0.111");
    if upload.is_some()
        || formats.is_some()
        || min_billed.is_some()
        || per_hour.is_some()
        || spec.transcription
    {
        let audio = spec.audio.get_or_insert(AudioLimits {
            max_upload_bytes: None,
            formats: Vec::new(),
            min_billed_secs: 0,
            cost_per_hour: 0.0,
        });
        if upload.is_some() {
            audio.max_upload_bytes = upload;
        }
        if let Some(f) = formats {
            audio.formats = f.into_iter().map(|(s, _)| s.to_ascii_lowercase()).collect();
        }
        if let Some(n) = min_billed {
            audio.min_billed_secs = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(x) = per_hour {
            audio.cost_per_hour = x;
        }
    }
    if let Some(s) = sec.str(sink, "source", "\"https://… (read 2026-01-01)\"") {
        spec.source = Some(s);
    }
}
