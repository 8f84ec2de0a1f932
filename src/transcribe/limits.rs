//! Which providers can take a probed file: accepted formats and upload limits.

use super::format::AudioFormat;
use super::probe::ProbeError;
use crate::catalog::ModelSpec;
use std::path::Path;

/// Bytes in one "MB" of `[transcription] max_file_mb`: decimal, the smaller reading.
pub const BYTES_PER_CONFIG_MB: u64 = 1_000_000;

/// Whether a provider whose format list is `formats` (lowercase names such as `"wav"`, as in
/// [`crate::catalog::AudioLimits::formats`]) accepts `format`. Names compare case-insensitively
/// and may carry a leading dot. An empty list means the provider publishes none (a custom
/// endpoint): it is assumed to take every format rota sends.
pub fn provider_accepts(format: AudioFormat, formats: &[String]) -> bool {
    formats.is_empty()
        || formats.iter().any(|f| {
            f.trim()
                .trim_start_matches('.')
                .eq_ignore_ascii_case(format.name())
        })
}

/// One transcription candidate's upload limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadLimit {
    /// The model, written `provider/id` (or `custom:NAME/id`).
    pub model: String,
    /// Largest upload it takes, in bytes.
    pub bytes: u64,
}

impl UploadLimit {
    /// The upload limit of a transcription model: its published limit, else `max_file_mb`
    /// (`[transcription]`, decimal MB). `None` for a model that does not transcribe.
    pub fn of(spec: &ModelSpec, max_file_mb: u64) -> Option<Self> {
        if !spec.transcription {
            return None;
        }
        let published = spec.audio.as_ref().and_then(|a| a.max_upload_bytes);
        Some(Self {
            model: spec.model.to_string(),
            bytes: published.unwrap_or(max_file_mb.saturating_mul(BYTES_PER_CONFIG_MB)),
        })
    }
}

/// The largest upload limit among the candidates (the first of equals); `None` when there
/// are none.
pub fn largest_upload_limit(limits: &[UploadLimit]) -> Option<&UploadLimit> {
    limits
        .iter()
        .fold(None, |best: Option<&UploadLimit>, l| match best {
            Some(b) if b.bytes >= l.bytes => Some(b),
            _ => Some(l),
        })
}

/// Fails with [`ProbeError::TooLarge`] (naming the largest limit) when a file of `bytes`
/// exceeds every candidate's limit. With no candidates it passes: having none is the
/// router's error to report, not the file's.
pub fn check_upload_size(
    path: &Path,
    bytes: u64,
    limits: &[UploadLimit],
) -> Result<(), ProbeError> {
    match largest_upload_limit(limits) {
        Some(l) if bytes > l.bytes => Err(ProbeError::TooLarge {
            path: path.to_path_buf(),
            bytes,
            largest_model: l.model.clone(),
            largest_limit: l.bytes,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::AudioLimits;
    use crate::model::ModelRef;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn accepts_by_name_case_insensitively() {
        let together = s(&["wav", "mp3", "m4a", "webm", "flac"]);
        assert!(provider_accepts(AudioFormat::Wav, &together));
        assert!(provider_accepts(AudioFormat::Flac, &s(&[".FLAC"])));
        assert!(!provider_accepts(AudioFormat::Ogg, &together));
        assert!(!provider_accepts(AudioFormat::Mp4, &together));
        assert!(!provider_accepts(AudioFormat::Mpga, &together));
        assert!(provider_accepts(AudioFormat::Ogg, &[]));
    }

    fn spec(provider: &str, id: &str, max: Option<u64>, transcription: bool) -> ModelSpec {
        let mut m = ModelSpec::bare(ModelRef::new(provider, id));
        m.transcription = transcription;
        m.audio = Some(AudioLimits {
            max_upload_bytes: max,
            formats: vec![],
            min_billed_secs: 0,
            cost_per_hour: 0.0,
        });
        m
    }

    #[test]
    fn limits_fall_back_to_max_file_mb_and_skip_non_transcribers() {
        let groq = spec("groq", "whisper-large-v3", Some(25_000_000), true);
        let together = spec("together", "openai/whisper-large-v3", None, true);
        let chat = spec("groq", "llama-3.1-8b-instant", None, false);
        assert_eq!(
            UploadLimit::of(&groq, 40).map(|l| l.bytes),
            Some(25_000_000)
        );
        assert_eq!(
            UploadLimit::of(&together, 40),
            Some(UploadLimit {
                model: "together/openai/whisper-large-v3".into(),
                bytes: 40_000_000
            })
        );
        assert_eq!(UploadLimit::of(&chat, 40), None);
    }

    #[test]
    fn too_large_names_the_largest_limit() {
        let limits = vec![
            UploadLimit {
                model: "groq/whisper-large-v3".into(),
                bytes: 25_000_000,
            },
            UploadLimit {
                model: "openai/whisper-1".into(),
                bytes: 25 << 20,
            },
        ];
        assert_eq!(
            largest_upload_limit(&limits).map(|l| l.model.as_str()),
            Some("openai/whisper-1")
        );
        assert!(check_upload_size(Path::new("a.wav"), 25 << 20, &limits).is_ok());
        let err = check_upload_size(Path::new("a.wav"), 30_200_000, &limits)
            .expect_err("30.2 MB is over both");
        let msg = err.to_string();
        assert!(
            msg.contains("a.wav is 30.2 MB, larger than every provider's upload limit (the largest is openai/whisper-1's 25 MiB)"),
            "{msg}"
        );
        assert!(check_upload_size(Path::new("a.wav"), u64::MAX, &[]).is_ok());
    }
}
