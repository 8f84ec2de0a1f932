//! One transcription's life: probe the file → check some provider takes it → reserve in the
//! transcription pool (the first provider of `[transcription] order` whenever it fits, else
//! round-robin) → upload → classify a failure → rotate at once, or wait for capacity. The
//! probe is this module's; the rest is the attempt loop every job shares, over an upload.
//!
//! Everything is told as [`Event`]s, like a chat request: `model_selected` (with
//! `estimated_tokens` 0: a transcription reserves audio seconds, not tokens),
//! `model_rotation`, `no_models_available`, `rate_limit_recovered`, then `transcript` or
//! `error`. The return value says how it ended.

use super::attempt::{Attempt, Called, Job, Out};
use super::events::Event;
use super::{End, Router};
use crate::engine::{self, Demand, Grant, Pool, Unfit};
use crate::model::ModelRef;
use crate::providers::{TranscribeRequest, Transcription};
use crate::store::ledger::{AttemptRow, Outcome};
use crate::transcribe::{AudioInfo, ProbeError, check_offers, offers, probe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{self, Sender};

/// One file to transcribe, as a face hands it to the router.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TranscribeJob {
    /// The audio file.
    pub file: PathBuf,
    /// The spoken language (ISO-639-1), if known.
    pub language: Option<String>,
    /// Text to guide the model (names, spelling).
    pub prompt: Option<String>,
    /// `json` (default when `None`), `text`, `verbose_json`, `srt` or `vtt`.
    pub response_format: Option<String>,
}

impl Router {
    /// Starts a transcription in the background; events arrive on the receiver, dropping it
    /// cancels the request (and releases its reservation).
    pub fn start_transcribe(self: &Arc<Self>, job: TranscribeJob) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel(64);
        let me = Arc::clone(self);
        tokio::spawn(async move {
            me.transcribe(job, &tx).await;
        });
        rx
    }

    /// Transcribes one file to its end, sending every event on `tx`.
    pub async fn transcribe(&self, job: TranscribeJob, tx: &Sender<Event>) -> End {
        let info = match self.check_file(&job.file).await {
            Ok(i) => i,
            Err(e) => {
                let _ = tx
                    .send(Event::Error {
                        kind: e.event_kind().to_string(),
                        message: e.to_string(),
                        retry_after_ms: None,
                    })
                    .await;
                return End::Input;
            }
        };
        let audio_secs = info.duration_secs.max(0.0).ceil() as u64;
        let audio = AudioJob {
            demand: Demand {
                audio_secs,
                file_bytes: info.bytes,
                audio_format: Some(info.format.name().to_string()),
                ..Demand::new(Pool::Transcription)
            },
            // Providers check the file name's extension: name the upload after its real format.
            upload: UploadName::for_file(&job.file, info.format.name()),
            job,
            audio_secs,
            bytes: info.bytes,
        };
        self.attempt(&audio, tx).await
    }

    /// Probes the file and checks some configured provider takes its format and size.
    async fn check_file(&self, file: &Path) -> Result<AudioInfo, ProbeError> {
        let path = file.to_path_buf();
        let offers = offers(self.fleet());
        let probed = tokio::task::spawn_blocking(move || {
            let info = probe(&path)?;
            check_offers(&path, &info, &offers)?;
            Ok(info)
        })
        .await;
        match probed {
            Ok(r) => r,
            Err(e) => Err(ProbeError::Unreadable {
                path: file.to_path_buf(),
                source: std::io::Error::other(format!("the probe stopped: {e}")),
            }),
        }
    }
}

/// One probed file, as the attempt loop runs it.
struct AudioJob {
    job: TranscribeJob,
    demand: Demand,
    upload: UploadName,
    audio_secs: u64,
    bytes: u64,
}

impl Job for AudioJob {
    type Answer = Transcription;

    fn demand(&self) -> Demand {
        self.demand.clone()
    }

    fn label(&self) -> String {
        "transcription".to_string()
    }

    fn estimated_tokens(&self) -> u64 {
        0
    }

    /// Uploads the file to the granted candidate; cancelled when the receiver goes away.
    async fn call(
        &self,
        router: &Router,
        grant: &Grant,
        out: &Out<'_>,
        _attempt: &mut Attempt,
    ) -> Called<Transcription> {
        let endpoint = match router.endpoint_for(&grant.candidate) {
            Ok(e) => e,
            Err(e) => return Called::Rotate(e),
        };
        let req = TranscribeRequest {
            model: grant.candidate.model.id.clone(),
            language: self.job.language.clone(),
            prompt: self.job.prompt.clone(),
            response_format: self.job.response_format.clone(),
        };
        tokio::select! {
            r = router.client().transcribe(&endpoint, self.upload.path(), &req) => match r {
                Ok(t) => Called::Answered(t),
                Err(e) => Called::Rotate(e),
            },
            _ = out.closed() => Called::Cancelled,
        }
    }

    /// Counts the transcription (billed seconds, stats) and learns from the reply's
    /// headers; the reservation is dated when the reply arrived, as a chat answer's is.
    async fn settle(
        &self,
        router: &Router,
        grant: &Grant,
        t: Transcription,
        attempt: &Attempt,
    ) -> (AttemptRow, Vec<Event>) {
        let readings = crate::providers::rate_readings(
            crate::model::Dialect::of_provider(&grant.candidate.model.provider),
            &t.headers,
        );
        let (g, secs, bytes) = (grant.clone(), self.audio_secs, self.bytes);
        let done = router
            .transact(move |fleet, state, now| {
                engine::restamp(state, &g, now);
                engine::complete_transcription(fleet, state, &g, secs, bytes, now);
                if !readings.is_empty() {
                    engine::sync_headers(fleet, state, &g.candidate, &readings, now);
                }
            })
            .await;
        if let Err(e) = done {
            tracing::warn!("could not record a transcription: {e}");
        }
        let mut row = self.row(router, grant, attempt, Outcome::Ok);
        // Billed seconds at the model's hourly price, when the price is known.
        row.cost_usd = router
            .fleet()
            .spec(&grant.candidate.model)
            .and_then(|s| s.audio.as_ref())
            .filter(|a| a.cost_per_hour > 0.0)
            .map(|a| a.cost_per_hour * grant.audio_secs as f64 / 3600.0);
        let transcript = Event::Transcript {
            provider: grant.candidate.model.provider.clone(),
            model: grant.candidate.model.id.clone(),
            text: t.text.trim().to_string(),
            bytes: self.bytes,
            latency_ms: attempt.elapsed_ms(),
        };
        (row, vec![transcript])
    }

    /// No tokens: a transcription reserves audio seconds.
    fn row(
        &self,
        router: &Router,
        grant: &Grant,
        attempt: &Attempt,
        outcome: Outcome,
    ) -> AttemptRow {
        router.attempt_row(Pool::Transcription, grant, attempt, 0, outcome)
    }

    fn too_long(&self, next: &ModelRef, wait: Duration, max_wait: Duration) -> String {
        format!(
            "every transcription provider is busy: the next one ({next}) frees in {}, longer \
             than max_wait ({}); raise [defaults] max_wait, or add keys of another account or \
             provider",
            crate::duration::format(wait),
            crate::duration::format(max_wait),
        )
    }

    fn unfit(&self, _router: &Router, unfit: &Unfit) -> (&'static str, End, String) {
        describe_unfit(unfit)
    }
}

/// The error kind, end and message for a transcription nothing can take.
fn describe_unfit(unfit: &Unfit) -> (&'static str, End, String) {
    match unfit {
        Unfit::NoCredentials { .. } => (
            "no_credentials",
            End::NoCredentials,
            "no usable API key for a transcription provider: set GROQ_API_KEY or \
             OPENAI_API_KEY, add one with `rota keys add groq`, or configure a custom provider \
             whose model has `transcription = true`"
                .to_string(),
        ),
        Unfit::TooLarge { needed, largest } => (
            "input",
            End::Input,
            format!(
                "the file holds {needed} s of audio but the most any transcription provider \
                 takes in one request is {largest} s: split it into shorter parts"
            ),
        ),
        Unfit::NoCapableModel { why } => (
            "input",
            End::Input,
            format!("no transcription provider can take this file: {why}"),
        ),
        Unfit::Exhausted { why } => (
            "server_error",
            End::Failed,
            format!("every transcription provider failed or is disabled: {why}"),
        ),
    }
}

/// The path the upload is read from: the file itself when its extension already names its
/// format, else a symlink `audio.FORMAT` to it in a temporary directory (so the provider
/// sees the right extension while the file is still streamed from where it is).
struct UploadName {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl UploadName {
    fn for_file(file: &Path, format: &str) -> Self {
        let ext = file
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if ext.as_deref() == Some(format) {
            return Self {
                path: file.to_path_buf(),
                _dir: None,
            };
        }
        Self::linked(file, format).unwrap_or_else(|| Self {
            path: file.to_path_buf(),
            _dir: None,
        })
    }

    #[cfg(unix)]
    fn linked(file: &Path, format: &str) -> Option<Self> {
        let target = std::fs::canonicalize(file).ok()?;
        let dir = tempfile::Builder::new()
            .prefix("rota-upload-")
            .tempdir()
            .ok()?;
        let path = dir.path().join(format!("audio.{format}"));
        std::os::unix::fs::symlink(&target, &path).ok()?;
        Some(Self {
            path,
            _dir: Some(dir),
        })
    }

    #[cfg(not(unix))]
    fn linked(_file: &Path, _format: &str) -> Option<Self> {
        None
    }

    fn path(&self) -> &Path {
        &self.path
    }
}
