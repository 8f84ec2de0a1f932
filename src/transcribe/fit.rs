//! Whether any configured transcription provider can take a probed file at all: its format
//! and its size, checked before anything is sent (so a bad file is a usage error, exit 2).

use super::format::AudioFormat;
use super::limits::{UploadLimit, check_upload_size, provider_accepts};
use super::probe::{AudioInfo, ProbeError};
use crate::engine::Fleet;
use std::path::Path;

/// One transcription model a file could go to: its name, upload limit and formats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// `provider/id` (or `custom:NAME/id`).
    pub model: String,
    /// Largest upload it takes, in bytes.
    pub upload_bytes: u64,
    /// Formats it takes (lowercase); empty: it publishes none and is assumed to take all.
    pub formats: Vec<String>,
}

/// The transcription models of the fleet that could be called: provider enabled and keyed.
pub fn offers(fleet: &Fleet) -> Vec<Offer> {
    fleet
        .transcription
        .iter()
        .map(|&mi| &fleet.models[mi])
        .filter(|m| m.enabled && !m.accounts.is_empty() && m.spec.transcription)
        .map(|m| {
            let audio = m.spec.audio.as_ref();
            Offer {
                model: m.spec.model.to_string(),
                upload_bytes: audio
                    .and_then(|a| a.max_upload_bytes)
                    .unwrap_or(fleet.max_file_bytes),
                formats: audio.map(|a| a.formats.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

/// Fails when no offer takes the file: [`ProbeError::NoProviderTakes`] when none takes its
/// format, else [`ProbeError::TooLarge`] (naming the largest limit among those that take the
/// format) when it exceeds every one of them. With no offers at all it passes: having no
/// provider is a credentials problem the router reports.
pub fn check_offers(path: &Path, info: &AudioInfo, offers: &[Offer]) -> Result<(), ProbeError> {
    if offers.is_empty() {
        return Ok(());
    }
    let taking: Vec<&Offer> = offers
        .iter()
        .filter(|o| provider_accepts(info.format, &o.formats))
        .collect();
    if taking.is_empty() {
        let mut takes: Vec<AudioFormat> = AudioFormat::ALL
            .into_iter()
            .filter(|f| offers.iter().any(|o| provider_accepts(*f, &o.formats)))
            .collect();
        takes.dedup();
        return Err(ProbeError::NoProviderTakes {
            path: path.to_path_buf(),
            format: info.format,
            takes: takes.iter().map(|f| f.name().to_string()).collect(),
        });
    }
    let limits: Vec<UploadLimit> = taking
        .iter()
        .map(|o| UploadLimit {
            model: o.model.clone(),
            bytes: o.upload_bytes,
        })
        .collect();
    check_upload_size(path, info.bytes, &limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(model: &str, bytes: u64, formats: &[&str]) -> Offer {
        Offer {
            model: model.into(),
            upload_bytes: bytes,
            formats: formats.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn info(format: AudioFormat, bytes: u64) -> AudioInfo {
        AudioInfo {
            format,
            bytes,
            duration_secs: 3.0,
        }
    }

    #[test]
    fn format_nobody_takes_names_what_they_take() {
        let offers = [offer(
            "together/openai/whisper-large-v3",
            25_000_000,
            &["wav", "mp3", "m4a", "webm", "flac"],
        )];
        let err = check_offers(Path::new("a.ogg"), &info(AudioFormat::Ogg, 1000), &offers)
            .expect_err("together takes no ogg");
        let msg = err.to_string();
        assert!(
            msg.starts_with("a.ogg is Ogg audio, which no configured transcription provider takes (they take flac, mp3, m4a, wav, webm)"),
            "{msg}"
        );
        assert!(check_offers(Path::new("a.wav"), &info(AudioFormat::Wav, 1000), &offers).is_ok());
    }

    #[test]
    fn size_counts_only_providers_taking_the_format() {
        let offers = [
            offer("together/w", 25_000_000, &["wav"]),
            offer("openai/whisper-1", 26_214_400, &["ogg"]),
        ];
        // 25.5 MB wav: only together takes wav, and its limit is 25 MB.
        let err = check_offers(
            Path::new("a.wav"),
            &info(AudioFormat::Wav, 25_500_000),
            &offers,
        )
        .expect_err("too large for together");
        assert!(err.to_string().contains("together/w's 25 MB"), "{err}");
        // The same size in ogg fits openai.
        assert!(
            check_offers(
                Path::new("a.ogg"),
                &info(AudioFormat::Ogg, 25_500_000),
                &offers
            )
            .is_ok()
        );
        assert!(check_offers(Path::new("a.ogg"), &info(AudioFormat::Ogg, 1), &[]).is_ok());
    }
}
