//! The one attempt loop every job runs: decide → grant → call → settle, or classify the
//! failure and rotate; wait for capacity; or say why nothing can ever take the job.
//!
//! What differs between a chat answer and a transcription (how to call, how to settle, what
//! to say when nothing fits) is a [`Job`]; the rest is written once here: the clock read
//! inside each transaction, the guard that releases a reservation whose future is dropped,
//! the restamp when a reply arrives, the new round after every candidate was tried, the
//! wait bounded by `max_wait`, and the ledger row of every attempt.

use super::events::Event;
use super::{End, Router};
use crate::engine::{self, Candidate, Classified, Decision, Demand, EngineState, Fleet, Grant};
use crate::engine::{Headers, Unfit};
use crate::model::{Millis, ModelRef, Reason};
use crate::providers::CallError;
use crate::store::StoreError;
use crate::store::ledger::{AttemptRow, Outcome};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The engine's decision for `demand`, in one transaction of `store`, with `now` read
/// inside it.
fn reserve_in(
    store: &dyn crate::store::Store,
    fleet: &Fleet,
    demand: &Demand,
    clock: &crate::clock::Clock,
) -> Result<Decision, StoreError> {
    let mut out = None;
    store.transact(&mut |state| {
        out = Some(engine::reserve(fleet, state, demand, clock.now()));
    })?;
    out.ok_or_else(|| StoreError::Backend("the state store did not run the decision".into()))
}

/// Attempts after which a job gives up even inside `max_wait` (a guard against loops).
const ATTEMPT_CEILING: u32 = 24;

/// What one call of a job produced.
pub(crate) enum Called<A> {
    /// The whole answer.
    Answered(A),
    /// Failed before anything reached the caller: rotate.
    Rotate(CallError),
    /// Broke after part of the answer was shown (`usize` bytes): keep it, end with an error.
    Broken(CallError, usize),
    /// The caller went away.
    Cancelled,
}

/// One attempt's timing, for events and the ledger.
pub(crate) struct Attempt {
    /// 1-based attempt number within the job.
    pub number: u32,
    /// When the request left.
    pub sent_at: Instant,
    /// From the request leaving to the first text or thinking.
    pub first_token_ms: Option<u64>,
    /// Set once the provider's reply began: from then on it has counted the request, so a
    /// cancelled or dropped attempt keeps its reservation instead of giving it back.
    pub replied: Arc<std::sync::atomic::AtomicBool>,
}

impl Attempt {
    /// Milliseconds since the request left.
    pub fn elapsed_ms(&self) -> u64 {
        self.sent_at.elapsed().as_millis() as u64
    }

    /// The provider's reply began (it has counted the request).
    pub fn replied(&self) {
        self.replied
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the provider's reply began.
    pub fn has_replied(&self) -> bool {
        self.replied.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Stops the first-token clock, once.
    pub fn first_token(&mut self) {
        if self.first_token_ms.is_none() {
            self.first_token_ms = Some(self.elapsed_ms());
        }
    }
}

/// What differs between the jobs the router runs (a chat answer, a transcription).
pub(crate) trait Job: Sync {
    /// What a successful call returns.
    type Answer: Send;

    /// What the job needs from the engine (the loop adds what it tried and skipped).
    fn demand(&self) -> Demand;

    /// The pool's name in `no_models_available` (`fast`, `transcription`, …).
    fn label(&self) -> String;

    /// The prompt tokens `model_selected` reports (0 for audio).
    fn estimated_tokens(&self) -> u64;

    /// Calls the granted candidate. A chat job calls [`Router::arrived`] when the reply's
    /// headers come, before the body.
    async fn call(
        &self,
        router: &Router,
        grant: &Grant,
        out: &Out<'_>,
        attempt: &mut Attempt,
    ) -> Called<Self::Answer>;

    /// Counts an answered attempt in the shared state and returns its ledger row and the
    /// events that close it (`done`, `transcript`; a research step's own events).
    async fn settle(
        &self,
        router: &Router,
        grant: &Grant,
        answer: Self::Answer,
        attempt: &Attempt,
    ) -> (AttemptRow, Vec<Event>);

    /// Counts an attempt that broke after `shown` bytes of its answer reached the caller
    /// and returns its ledger row and the `error` event. By default the reservation stays
    /// counted as it is (the provider saw the request); a job that streams its answer says
    /// what was really used.
    async fn broken(
        &self,
        router: &Router,
        grant: &Grant,
        err: CallError,
        shown: usize,
        attempt: &Attempt,
    ) -> (AttemptRow, Event) {
        let g = grant.clone();
        if let Err(e) = router
            .transact(move |_, state, _| engine::keep(state, &g))
            .await
        {
            tracing::warn!("could not keep a broken request counted: {e}");
        }
        let mut row = self.row(router, grant, attempt, Outcome::Failed);
        row.reason = Some(err.reason());
        let error = Event::Error {
            kind: err.reason().as_str().to_string(),
            message: format!(
                "the answer from {} broke after {shown} bytes: {err}",
                grant.candidate.model
            ),
            retry_after_ms: None,
        };
        (row, error)
    }

    /// The ledger row of an attempt that did not answer (no usage, no cost).
    fn row(
        &self,
        router: &Router,
        grant: &Grant,
        attempt: &Attempt,
        outcome: Outcome,
    ) -> AttemptRow;

    /// The message when the next candidate frees later than `max_wait` allows.
    fn too_long(&self, next: &ModelRef, wait: Duration, max_wait: Duration) -> String;

    /// The `error` kind, end and message for a demand nothing can ever take.
    fn unfit(&self, router: &Router, unfit: &Unfit) -> (&'static str, End, String);

    /// How long this job may wait for capacity; `None`: `[defaults] max_wait`.
    fn max_wait(&self) -> Option<Duration> {
        None
    }

    /// Asks less of the engine when nothing can take the demand now (a research turn that
    /// wants parallel tool calls takes a sequential tool model instead); says what changed.
    /// `None`: the demand stays as it is. Called at most once per job.
    fn relax(&self, demand: &mut Demand) -> Option<String> {
        let _ = demand;
        None
    }
}

impl Router {
    /// Runs `job` to its end, sending every event on `tx`.
    pub(crate) async fn attempt<J: Job>(&self, job: &J, tx: &mpsc::Sender<Event>) -> End {
        let out = Out(tx);
        let mut demand = job.demand();
        let started = self.clock.now();
        let max_wait = job.max_wait().unwrap_or(self.config.defaults.max_wait);
        let max_attempts = self.config.defaults.max_attempts.max(1) as usize;
        let mut attempts: u32 = 0;
        let mut rotation: Option<(Candidate, Classified)> = None;
        let mut last_reason: Option<Reason> = None;
        let mut refused_once = false;
        let mut relaxed = false;
        loop {
            let mut decision = match self.decide(&demand).await {
                Ok(d) => d,
                Err(e) => {
                    out.error("config", &e.to_string()).await;
                    return End::Config;
                }
            };
            if matches!(decision, Decision::Unfit(Unfit::Exhausted { .. }))
                && !demand.tried.is_empty()
            {
                // Every remaining candidate was tried in this round: start a new one. The
                // failures' cooldowns and backoffs now hold them, so the engine answers with
                // the exact wait (or a disabled-everything `Exhausted`).
                demand.tried.clear();
                decision = match self.decide(&demand).await {
                    Ok(d) => d,
                    Err(e) => {
                        out.error("config", &e.to_string()).await;
                        return End::Config;
                    }
                };
            }
            if !relaxed
                && matches!(
                    decision,
                    Decision::Wait { .. }
                        | Decision::Unfit(Unfit::NoCapableModel { .. } | Unfit::TooLarge { .. })
                )
                && let Some(note) = job.relax(&mut demand)
            {
                relaxed = true;
                if !out.send(Event::Notice { message: note }).await {
                    return End::Cancelled;
                }
                continue;
            }
            if let Some((from, why)) = rotation.take() {
                let ev = Event::rotation(&from, &why, &decision);
                if !out.send(ev).await {
                    if let Decision::Grant(g) = &decision {
                        self.release(g).await;
                    }
                    return End::Cancelled;
                }
            }
            let grant = match decision {
                Decision::Grant(grant) => grant,
                Decision::Wait { until, next } => {
                    let now = self.clock.now();
                    let wait_ms = until.saturating_sub(now);
                    let max_wait_ms = max_wait.as_millis() as u64;
                    if now.saturating_add(wait_ms) > started.saturating_add(max_wait_ms) {
                        let msg = job.too_long(&next, Duration::from_millis(wait_ms), max_wait);
                        out.busy(&msg, wait_ms).await;
                        return End::Failed;
                    }
                    let ev = Event::NoModelsAvailable {
                        task: job.label(),
                        wait_ms,
                        next: next.to_string(),
                    };
                    if !out.send(ev).await {
                        return End::Cancelled;
                    }
                    tokio::select! {
                        _ = self.clock.sleep_until(until) => {}
                        _ = tx.closed() => return End::Cancelled,
                    }
                    continue;
                }
                Decision::Unfit(unfit) => {
                    let (mut kind, end, msg) = job.unfit(self, &unfit);
                    if let (Unfit::Exhausted { .. }, Some(last)) = (&unfit, last_reason) {
                        kind = last.as_str();
                    }
                    out.error(kind, &msg).await;
                    return end;
                }
            };

            attempts += 1;
            let c = &grant.candidate;
            let ev = Event::ModelSelected {
                provider: c.model.provider.clone(),
                model: c.model.id.clone(),
                key: c.key.masked.clone(),
                account: c.key.account.clone(),
                estimated_tokens: job.estimated_tokens(),
                attempt: attempts,
            };
            if !out.send(ev).await {
                self.release(&grant).await;
                return End::Cancelled;
            }
            let mut attempt = Attempt {
                number: attempts,
                sent_at: Instant::now(),
                first_token_ms: None,
                replied: Arc::default(),
            };
            // Settles the reservation if this future is dropped mid-call (a runtime shutting
            // down, an aborted batch task); disarmed once the call has ended.
            let held = Held::new(self, &grant, Arc::clone(&attempt.replied));
            let called = job.call(self, &grant, &out, &mut attempt).await;
            held.disarm();
            match called {
                Called::Answered(answer) => {
                    let (row, last) = job.settle(self, &grant, answer, &attempt).await;
                    self.record(row).await;
                    if attempts > 1 {
                        out.send(Event::RateLimitRecovered {
                            provider: c.model.provider.clone(),
                            model: c.model.id.clone(),
                            attempts,
                        })
                        .await;
                    }
                    for ev in last {
                        out.send(ev).await;
                    }
                    return End::Answered;
                }
                Called::Broken(err, shown) => {
                    let (row, last) = job.broken(self, &grant, err, shown, &attempt).await;
                    self.record(row).await;
                    out.send(last).await;
                    return End::Failed;
                }
                Called::Cancelled => {
                    let (g, replied) = (grant.clone(), attempt.has_replied());
                    let settled = self
                        .transact(move |_, state, _| engine::abandon(state, &g, replied))
                        .await;
                    if let Err(e) = settled {
                        tracing::warn!("could not settle a cancelled request: {e}");
                    }
                    self.record(job.row(self, &grant, &attempt, Outcome::Cancelled))
                        .await;
                    return End::Cancelled;
                }
                Called::Rotate(err) => {
                    let why = err.classified.clone();
                    tracing::debug!(
                        model = %c.model,
                        account = %c.key.account,
                        reason = %why.reason,
                        window = ?why.window,
                        limit = ?why.limit,
                        retry_after_ms = ?why.retry_after_ms,
                        "rotating"
                    );
                    self.fail(&grant, &err).await;
                    let mut row = job.row(self, &grant, &attempt, Outcome::Failed);
                    row.reason = Some(why.reason);
                    let refused = why.reason == Reason::InvalidRequest;
                    // A refused request goes to one other model only when what was refused
                    // is plausibly this model's (a parameter, a feature).
                    let elsewhere =
                        refused && !refused_once && crate::providers::model_specific(&why.message);
                    row.rotated = !refused || elsewhere;
                    self.record(row).await;
                    if refused && !elsewhere {
                        let msg = format!("{} refused the request: {}", c.model, why.message);
                        out.error("invalid_request", &msg).await;
                        return End::Failed;
                    }
                    refused_once |= refused;
                    if engine::policy::policy(why.reason).skips_model {
                        demand.skip_models.push(c.model.clone());
                    }
                    demand.tried.push(c.clone());
                    if demand.tried.len() >= max_attempts {
                        // Tried enough distinct candidates: from now on only what the engine
                        // says is ready (cooldowns now hold the failed ones).
                        demand.tried.clear();
                    }
                    last_reason = Some(why.reason);
                    if attempts >= ATTEMPT_CEILING {
                        let msg = format!("gave up after {attempts} attempts: {err}");
                        out.error(why.reason.as_str(), &msg).await;
                        return End::Failed;
                    }
                    rotation = Some((c.clone(), why));
                }
            }
        }
    }

    /// Runs `f` on the shared state in one transaction, off the async workers (a store may
    /// wait for another process's lock; a quick one, [`crate::store::Store::is_quick`], runs in place),
    /// with `now` read inside the transaction: waiting for
    /// the lock must not date a decision in the past. `f` may run more than once (a store
    /// retries a transaction it could not commit).
    pub(crate) async fn transact<R, F>(&self, mut f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnMut(&Fleet, &mut EngineState, Millis) -> R + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        let fleet = Arc::clone(&self.fleet);
        let clock = self.clock.clone();
        let mut run = move || {
            let mut out = None;
            store.transact(&mut |state| out = Some(f(&fleet, state, clock.now())))?;
            out.ok_or_else(|| StoreError::Backend("the state store did not run the change".into()))
        };
        if self.store.is_quick() {
            return run();
        }
        match tokio::task::spawn_blocking(run).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Backend(format!("the state task stopped: {e}"))),
        }
    }

    /// Reserves for the demand atomically: the engine's decision. If the caller goes away
    /// while the store decides, a grant nobody will call is given back at once.
    async fn decide(&self, demand: &Demand) -> Result<Decision, StoreError> {
        let (store, fleet, clock) = (
            Arc::clone(&self.store),
            Arc::clone(&self.fleet),
            self.clock.clone(),
        );
        if self.store.is_quick() {
            // Nothing awaits between the decision and its return: no grant can be left
            // unclaimed.
            return reserve_in(&*store, &fleet, demand, &clock);
        }
        let demand = demand.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::task::spawn_blocking(move || {
            if tx.is_closed() {
                return; // The caller went away while this waited for a thread.
            }
            let done = reserve_in(&*store, &fleet, &demand, &clock);
            if let Err(Ok(Decision::Grant(g))) = tx.send(done)
                && let Err(e) = store.transact(&mut |state| engine::release(state, &g))
            {
                tracing::warn!("could not release an unclaimed reservation: {e}");
            }
        });
        let mut pending = Pending {
            rx: Some(rx),
            store: Arc::clone(&self.store),
        };
        let got = match pending.rx.as_mut() {
            Some(rx) => rx.await,
            None => return Err(StoreError::Backend("the state task stopped".into())),
        };
        pending.rx = None;
        got.unwrap_or_else(|_| Err(StoreError::Backend("the state task stopped".into())))
    }

    /// Gives a reservation back (the request was never sent, or was cancelled).
    pub(crate) async fn release(&self, grant: &Grant) {
        let g = grant.clone();
        if let Err(e) = self
            .transact(move |_, state, _| engine::release(state, &g))
            .await
        {
            tracing::warn!("could not release a reservation: {e}");
        }
    }

    /// Records a failure in one transaction: a reply that arrived dates what stays counted
    /// now, its rate-limit headers teach, then the engine reacts to the reason.
    async fn fail(&self, grant: &Grant, err: &CallError) {
        let readings = rate_readings(grant, &err.headers);
        let (g, why, replied) = (grant.clone(), err.classified.clone(), err.status.is_some());
        let done = self
            .transact(move |fleet, state, now| {
                if replied {
                    engine::restamp(state, &g, now);
                }
                if !readings.is_empty() {
                    engine::sync_headers(fleet, state, &g.candidate, &readings, now);
                }
                engine::fail(fleet, state, &g, &why, now);
            })
            .await;
        if let Err(e) = done {
            tracing::warn!("could not record a failure: {e}");
        }
    }

    /// The reply's headers arrived, so the provider has counted the request: move the
    /// reservation to now and learn from the rate-limit headers, in one transaction.
    pub(crate) async fn arrived(&self, grant: &Grant, headers: &Headers) {
        let readings = rate_readings(grant, headers);
        let g = grant.clone();
        let done = self
            .transact(move |fleet, state, now| {
                engine::restamp(state, &g, now);
                if !readings.is_empty() {
                    engine::sync_headers(fleet, state, &g.candidate, &readings, now);
                }
            })
            .await;
        if let Err(e) = done {
            tracing::warn!("could not record the reply's arrival: {e}");
        }
    }

    /// The ledger row of one attempt of `grant` in `pool`, without usage or cost.
    pub(crate) fn attempt_row(
        &self,
        pool: engine::Pool,
        grant: &Grant,
        attempt: &Attempt,
        estimated_prompt_tokens: u64,
        outcome: Outcome,
    ) -> AttemptRow {
        let latency_ms = attempt.elapsed_ms();
        AttemptRow {
            at_ms: self.clock.now().saturating_sub(latency_ms),
            task: pool,
            model: grant.candidate.model.clone(),
            account: Some(grant.candidate.key.account.clone()),
            key_suffix: grant.candidate.key.masked.clone(),
            estimated_prompt_tokens,
            usage: None,
            cost_usd: None,
            latency_ms,
            first_token_ms: attempt.first_token_ms,
            outcome,
            reason: None,
            rotated: false,
            request_id: None,
        }
    }
}

/// The provider's rate-limit readings in a reply's headers.
fn rate_readings(grant: &Grant, headers: &Headers) -> Vec<engine::RateReading> {
    crate::providers::rate_readings(
        crate::model::Dialect::of_provider(&grant.candidate.model.provider),
        headers,
    )
}

/// A decision on its way from the store. Dropped before it was read (the caller went away
/// just as it came), a grant in it is given back; one that comes later is given back by the
/// task that made it.
struct Pending {
    rx: Option<tokio::sync::oneshot::Receiver<Result<Decision, StoreError>>>,
    store: Arc<dyn crate::store::Store>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else { return };
        if let Ok(Ok(Decision::Grant(g))) = rx.try_recv()
            && let Err(e) = self.store.transact(&mut |state| engine::release(state, &g))
        {
            tracing::warn!("could not release an unclaimed reservation: {e}");
        }
    }
}

/// A reservation in flight, settled on drop unless disarmed, so a job whose future is
/// dropped (not just one that sees its receiver close) never leaves its reservation in
/// flight: released when the provider had not replied yet, kept counted once it had. It is
/// settled before the drop returns (a runtime shutting down runs no more tasks), on a
/// multi-threaded runtime with the worker handed over to other tasks meanwhile.
struct Held<'a> {
    router: &'a Router,
    grant: Option<Grant>,
    replied: Arc<std::sync::atomic::AtomicBool>,
}

impl<'a> Held<'a> {
    fn new(router: &'a Router, grant: &Grant, replied: Arc<std::sync::atomic::AtomicBool>) -> Self {
        Self {
            router,
            grant: Some(grant.clone()),
            replied,
        }
    }

    /// The call ended normally; its outcome decides what happens to the reservation.
    fn disarm(mut self) {
        self.grant = None;
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let Some(g) = self.grant.take() else { return };
        let counted = self.replied.load(std::sync::atomic::Ordering::Acquire);
        let store = &self.router.store;
        let settle = || {
            let done = store.transact(&mut |state| engine::abandon(state, &g, counted));
            if let Err(e) = done {
                tracing::warn!("could not settle a dropped request's reservation: {e}");
            }
        };
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(settle),
            _ => settle(),
        }
    }
}

/// Sends a job's events; `false` once the receiver is gone.
pub(crate) struct Out<'a>(pub(crate) &'a mpsc::Sender<Event>);

impl Out<'_> {
    /// Sends one event; `false` when the receiver is gone.
    pub async fn send(&self, ev: Event) -> bool {
        self.0.send(ev).await.is_ok()
    }

    /// Sends an `error` event (ignoring a receiver that is gone).
    pub async fn error(&self, kind: &str, message: &str) {
        self.send_error(kind, message, None).await;
    }

    /// Sends the `error` event of a job that gives up because the next capacity frees in
    /// `wait_ms`, later than its `max_wait` (kind `rate_limited`, with the wait).
    pub async fn busy(&self, message: &str, wait_ms: u64) {
        self.send_error(Reason::RateLimited.as_str(), message, Some(wait_ms))
            .await;
    }

    async fn send_error(&self, kind: &str, message: &str, retry_after_ms: Option<u64>) {
        let _ = self
            .0
            .send(Event::Error {
                kind: kind.to_string(),
                message: message.to_string(),
                retry_after_ms,
            })
            .await;
    }

    /// Resolves when the receiver is gone.
    pub async fn closed(&self) {
        self.0.closed().await
    }
}
