//! One transcription's life: probe the file → check some provider takes it → reserve in the
//! transcription pool (the first provider of `[transcription] order` whenever it fits, else
//! round-robin) → upload → classify a failure → rotate at once, or wait for capacity.
//!
//! Everything is told as [`Event`]s, like a chat request: `model_selected` (with
//! `estimated_tokens` 0: a transcription reserves audio seconds, not tokens),
//! `model_rotation`, `no_models_available`, `rate_limit_recovered`, then `transcript` or
//! `error`. The return value says how it ended.

use super::drive::attempt_row;
use super::events::Event;
use super::{End, Router};
use crate::engine::{self, Candidate, Classified, Decision, Demand, Grant, Pool, Unfit};
use crate::model::{Millis, Reason, now_ms};
use crate::providers::{CallError, TranscribeRequest, Transcription};
use crate::store::ledger::{AttemptRow, Outcome};
use crate::transcribe::{AudioInfo, ProbeError, check_offers, offers, probe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
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

/// The clock a transcription routes by: the system's, or a manual one for tests and
/// simulations (waiting for capacity then moves the manual clock forward instead of
/// sleeping).
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// Wall-clock time; waits really sleep.
    #[default]
    System,
    /// Epoch milliseconds held in the atomic; a wait adds to it and returns at once.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// Now, in epoch milliseconds.
    pub fn now(&self) -> Millis {
        match self {
            Clock::System => now_ms(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Waits `ms` (or, for a manual clock, moves it `ms` forward).
    async fn sleep(&self, ms: u64) {
        match self {
            Clock::System => tokio::time::sleep(Duration::from_millis(ms)).await,
            Clock::Manual(t) => {
                t.fetch_add(ms, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Attempts after which a transcription gives up even inside `max_wait` (a loop guard).
const ATTEMPT_CEILING: u32 = 24;

/// What one upload produced.
enum CallEnd {
    Done(Transcription),
    Rotate(CallError),
    Cancelled,
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
        self.transcribe_with_clock(job, tx, &Clock::System).await
    }

    /// [`Router::transcribe`] with the clock given (a manual one in tests).
    pub async fn transcribe_with_clock(
        &self,
        job: TranscribeJob,
        tx: &Sender<Event>,
        clock: &Clock,
    ) -> End {
        let info = match self.check_file(&job.file).await {
            Ok(i) => i,
            Err(e) => {
                error(tx, e.event_kind(), &e.to_string()).await;
                return End::Input;
            }
        };
        let audio_secs = info.duration_secs.max(0.0).ceil() as u64;
        let mut demand = Demand {
            pool: Some(Pool::Transcription),
            audio_secs,
            file_bytes: info.bytes,
            audio_format: Some(info.format.name().to_string()),
            ..Demand::default()
        };
        // Providers check the file name's extension: name the upload after its real format.
        let upload = UploadName::for_file(&job.file, info.format.name());
        let req = |model: &str| TranscribeRequest {
            model: model.to_string(),
            language: job.language.clone(),
            prompt: job.prompt.clone(),
            response_format: job.response_format.clone(),
        };

        let started = clock.now();
        let max_wait = self.config().defaults.max_wait.as_millis() as u64;
        let max_attempts = self.config().defaults.max_attempts.max(1) as usize;
        let mut attempts: u32 = 0;
        let mut rotation: Option<(Candidate, Classified)> = None;
        loop {
            let decision = match decide(self, &demand, clock.now()) {
                Ok(d) => d,
                Err(msg) => {
                    error(tx, "config", &msg).await;
                    return End::Failed;
                }
            };
            if let Some((from, why)) = rotation.take() {
                let ev = Event::rotation(&from, &why, &decision);
                if tx.send(ev).await.is_err() {
                    if let Decision::Grant(g) = &decision {
                        release(self, g);
                    }
                    return End::Cancelled;
                }
            }
            match decision {
                Decision::Grant(grant) => {
                    attempts += 1;
                    let c = &grant.candidate;
                    let ev = Event::ModelSelected {
                        provider: c.model.provider.clone(),
                        model: c.model.id.clone(),
                        key: c.key.masked.clone(),
                        account: c.key.account.clone(),
                        estimated_tokens: 0,
                        attempt: attempts,
                    };
                    if tx.send(ev).await.is_err() {
                        release(self, &grant);
                        return End::Cancelled;
                    }
                    let sent_at = Instant::now();
                    match self
                        .upload(&grant, upload.path(), &req(&c.model.id), tx)
                        .await
                    {
                        CallEnd::Done(t) => {
                            complete(self, &grant, &t, audio_secs, info.bytes, clock.now());
                            let latency_ms = sent_at.elapsed().as_millis() as u64;
                            self.record(&ledger_row(self, &grant, sent_at, Outcome::Ok, None));
                            if attempts > 1 {
                                let _ = tx
                                    .send(Event::RateLimitRecovered {
                                        provider: c.model.provider.clone(),
                                        model: c.model.id.clone(),
                                        attempts,
                                    })
                                    .await;
                            }
                            let _ = tx
                                .send(Event::Transcript {
                                    provider: c.model.provider.clone(),
                                    model: c.model.id.clone(),
                                    text: t.text.trim().to_string(),
                                    bytes: info.bytes,
                                    latency_ms,
                                })
                                .await;
                            return End::Answered;
                        }
                        CallEnd::Cancelled => {
                            release(self, &grant);
                            let row = ledger_row(self, &grant, sent_at, Outcome::Cancelled, None);
                            self.record(&row);
                            return End::Cancelled;
                        }
                        CallEnd::Rotate(err) => {
                            let why = err.classified.clone();
                            fail(self, &grant, &err, clock.now());
                            let mut row = ledger_row(
                                self,
                                &grant,
                                sent_at,
                                Outcome::Failed,
                                Some(why.reason),
                            );
                            row.rotated = true;
                            self.record(&row);
                            if why.reason.skips_model() {
                                demand.skip_models.push(c.model.clone());
                            }
                            demand.tried.push(c.clone());
                            if demand.tried.len() >= max_attempts {
                                // Tried enough distinct candidates: from now on only what the
                                // engine says is ready (cooldowns now hold the failed ones).
                                demand.tried.clear();
                            }
                            if attempts >= ATTEMPT_CEILING {
                                error(
                                    tx,
                                    why.reason.as_str(),
                                    &format!("gave up after {attempts} attempts: {err}"),
                                )
                                .await;
                                return End::Failed;
                            }
                            rotation = Some((c.clone(), why));
                        }
                    }
                }
                Decision::Wait { until, next } => {
                    let now = clock.now();
                    let wait_ms = until.saturating_sub(now);
                    if now.saturating_add(wait_ms) > started.saturating_add(max_wait) {
                        error(
                            tx,
                            "rate_limited",
                            &format!(
                                "every transcription provider is busy: the next one ({next}) \
                                 frees in {}, longer than max_wait ({}); raise [defaults] \
                                 max_wait, or add keys of another account or provider",
                                crate::duration::format(Duration::from_millis(wait_ms)),
                                crate::duration::format(self.config().defaults.max_wait),
                            ),
                        )
                        .await;
                        return End::Failed;
                    }
                    let ev = Event::NoModelsAvailable {
                        task: "transcription".to_string(),
                        wait_ms,
                        next: next.to_string(),
                    };
                    if tx.send(ev).await.is_err() {
                        return End::Cancelled;
                    }
                    tokio::select! {
                        _ = clock.sleep(wait_ms) => {}
                        _ = tx.closed() => return End::Cancelled,
                    }
                }
                Decision::Unfit(unfit) => {
                    let (kind, end, msg) = describe_unfit(&unfit);
                    error(tx, kind, &msg).await;
                    return end;
                }
            }
        }
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

    /// Uploads the file to the granted candidate; cancelled when the receiver goes away.
    async fn upload(
        &self,
        grant: &Grant,
        file: &Path,
        req: &TranscribeRequest,
        tx: &Sender<Event>,
    ) -> CallEnd {
        let Some(endpoint) = self.endpoint(&grant.candidate) else {
            return CallEnd::Rotate(CallError::refused(
                Reason::Auth,
                format!(
                    "no key {} configured for {}",
                    grant.candidate.key.masked, grant.candidate.model.provider
                ),
            ));
        };
        tokio::select! {
            r = self.client().transcribe(&endpoint, file, req) => match r {
                Ok(t) => CallEnd::Done(t),
                Err(e) => CallEnd::Rotate(e),
            },
            _ = tx.closed() => CallEnd::Cancelled,
        }
    }
}

/// The ledger row of one transcription attempt: no tokens; an answered one costs its
/// billed seconds at the model's hourly price, when the price is known.
fn ledger_row(
    router: &Router,
    grant: &Grant,
    sent_at: Instant,
    outcome: Outcome,
    reason: Option<Reason>,
) -> AttemptRow {
    let cost = match outcome {
        Outcome::Ok => router
            .fleet()
            .spec(&grant.candidate.model)
            .and_then(|s| s.audio.as_ref())
            .filter(|a| a.cost_per_hour > 0.0)
            .map(|a| a.cost_per_hour * grant.audio_secs as f64 / 3600.0),
        _ => None,
    };
    attempt_row(
        Pool::Transcription,
        grant,
        0,
        None,
        cost,
        sent_at,
        None,
        outcome,
        reason,
    )
}

/// Sends an `error` event (ignoring a receiver that is gone).
async fn error(tx: &Sender<Event>, kind: &str, message: &str) {
    let _ = tx
        .send(Event::Error {
            kind: kind.to_string(),
            message: message.to_string(),
        })
        .await;
}

/// Reserves atomically through the store.
fn decide(router: &Router, demand: &Demand, now: Millis) -> Result<Decision, String> {
    let mut out = None;
    router
        .store()
        .transact(&mut |state| {
            out = Some(engine::reserve(router.fleet(), state, demand, now));
        })
        .map_err(|e| e.to_string())?;
    out.ok_or_else(|| "the state store did not run the decision".to_string())
}

/// Counts the transcription (billed seconds, stats) and learns from the reply's headers.
fn complete(router: &Router, grant: &Grant, t: &Transcription, secs: u64, bytes: u64, now: u64) {
    let readings = engine::learn::rate_readings(
        crate::model::Dialect::of_provider(&grant.candidate.model.provider),
        &t.headers,
    );
    if let Err(e) = router.store().transact(&mut |state| {
        engine::complete_transcription(router.fleet(), state, grant, secs, bytes, now);
        if !readings.is_empty() {
            engine::sync_headers(router.fleet(), state, &grant.candidate, &readings, now);
        }
    }) {
        tracing::warn!("could not record a transcription: {e}");
    }
}

/// Gives the reservation back (the request was never sent or was cancelled).
fn release(router: &Router, grant: &Grant) {
    if let Err(e) = router.store().transact(&mut |state| {
        engine::release(state, grant);
    }) {
        tracing::warn!("could not release a reservation: {e}");
    }
}

/// Records a failure: the reply's headers, then the engine's reaction to its reason.
fn fail(router: &Router, grant: &Grant, err: &CallError, now: Millis) {
    let readings = engine::learn::rate_readings(
        crate::model::Dialect::of_provider(&grant.candidate.model.provider),
        &err.headers,
    );
    if let Err(e) = router.store().transact(&mut |state| {
        if !readings.is_empty() {
            engine::sync_headers(router.fleet(), state, &grant.candidate, &readings, now);
        }
        engine::fail(router.fleet(), state, grant, &err.classified, now);
    }) {
        tracing::warn!("could not record a failure: {e}");
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
