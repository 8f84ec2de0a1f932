//! Builders for engine tests: fleets, keys and demands without a config file.

use super::fleet::{Fleet, FleetParts, ProviderParts};
use super::{Demand, KeyRef, Pool};
use crate::catalog::{AudioLimits, ModelSpec};
use crate::model::{Limits, ModelRef, Task};

/// A fake key `…000N` of `account`.
pub fn key(provider: &str, account: &str, n: u32) -> KeyRef {
    KeyRef {
        provider: provider.to_string(),
        account: account.to_string(),
        masked: format!("…{n:04}"),
        ..KeyRef::default()
    }
}

/// A chat model with tools, an 8K context and the given limits.
pub fn chat_model(provider: &str, id: &str, limits: Limits) -> ModelSpec {
    let mut s = ModelSpec::bare(ModelRef::new(provider, id));
    s.tools = true;
    s.context_window = Some(8_192);
    s.limits = limits;
    s
}

/// A Whisper-like model taking `formats`, with an optional upload limit.
pub fn whisper(
    provider: &str,
    id: &str,
    rpm: u64,
    max_upload: Option<u64>,
    formats: &[&str],
) -> ModelSpec {
    let mut s = ModelSpec::bare(ModelRef::new(provider, id));
    s.transcription = true;
    s.limits.rpm = Some(rpm);
    s.audio = Some(AudioLimits {
        max_upload_bytes: max_upload,
        formats: formats.iter().map(|f| f.to_string()).collect(),
        min_billed_secs: 10,
        cost_per_hour: 0.0,
    });
    s
}

/// Limits with only RPM and TPM.
pub fn rpm_tpm(rpm: u64, tpm: u64) -> Limits {
    Limits {
        rpm: Some(rpm),
        tpm: Some(tpm),
        ..Limits::default()
    }
}

/// A fleet whose `fast` pool is `models` in order, keys as given, no safety margin.
pub fn fleet(models: Vec<ModelSpec>, keys: Vec<KeyRef>, margin: f64) -> Fleet {
    let mut providers: Vec<ProviderParts> = Vec::new();
    for m in &models {
        if !providers.iter().any(|p| p.name == m.model.provider) {
            providers.push(ProviderParts {
                name: m.model.provider.clone(),
                enabled: true,
                keys: keys
                    .iter()
                    .filter(|k| k.provider == m.model.provider)
                    .cloned()
                    .collect(),
            });
        }
    }
    let fast: Vec<ModelRef> = models
        .iter()
        .filter(|m| !m.transcription)
        .map(|m| m.model.clone())
        .collect();
    let mut order: Vec<String> = Vec::new();
    for m in models.iter().filter(|m| m.transcription) {
        if !order.contains(&m.model.provider) {
            order.push(m.model.provider.clone());
        }
    }
    Fleet::from_parts(FleetParts {
        models,
        providers,
        pools: [(Task::Fast, fast)].into_iter().collect(),
        transcription_order: order,
        safety_margin: margin,
        max_file_bytes: 25_000_000,
        max_cooldown_ms: 3_600_000,
    })
}

/// A fast-pool chat demand.
pub fn chat(prompt: u64, max: u64) -> Demand {
    Demand {
        prompt_tokens: prompt,
        max_tokens: max,
        ..Demand::new(Pool::Chat(Task::Fast))
    }
}

/// A transcription demand.
pub fn audio(secs: u64, bytes: u64, format: &str) -> Demand {
    Demand {
        audio_secs: secs,
        file_bytes: bytes,
        audio_format: Some(format.to_string()),
        ..Demand::new(Pool::Transcription)
    }
}
