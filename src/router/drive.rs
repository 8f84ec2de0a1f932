//! One chat request's life: estimate → reserve → call → stream → classify → rotate or wait.
//!
//! Everything that happens is told as an [`Event`] on the channel; the function's return
//! value says how it ended, so faces can pick an exit code without parsing events.

use super::events::Event;
use super::{ChatRequest, Router, task};
use crate::engine::{self, Candidate, Classified, Decision, Demand, Grant, Pool, Unfit};
use crate::model::{Dialect, ModelRef, Reason, Task, Usage, now_ms};
use crate::providers::{CallError, StreamEvent};
use crate::store::ledger::{AttemptRow, Outcome};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::sync::mpsc;

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The answer arrived whole.
    Answered,
    /// Bad input (exit 2).
    Input,
    /// No usable key for the task (exit 3).
    NoCredentials,
    /// Every candidate failed, or waiting would pass `max_wait` (exit 1).
    Failed,
    /// The caller went away (Esc, Ctrl+C, a dropped batch task).
    Cancelled,
}

/// Attempts after which a request gives up even inside `max_wait` (a guard against loops).
const ATTEMPT_CEILING: u32 = 24;

/// What one call produced.
enum CallEnd {
    /// The whole answer.
    Answered {
        usage: Usage,
        provider_usage: bool,
        finish_reason: Option<String>,
    },
    /// Failed before any text reached the caller: rotate.
    Rotate(CallError),
    /// Broke after text was shown: keep it, end with an error.
    Broken(CallError, usize),
    /// The receiver was dropped.
    Cancelled,
}

impl Router {
    /// Runs one request to its end, sending every event on `tx`.
    pub async fn run(&self, req: ChatRequest, tx: &mpsc::Sender<Event>) -> End {
        let out = Out(tx);
        let images = count_images(&req.messages);
        let prompt = last_user_text(&req.messages);
        let (task, auto) = match req.task {
            None | Some(Task::Auto) => (task::detect(&prompt, images.0), true),
            Some(t) => (t, false),
        };
        if !out.send(Event::TaskSelected { task, auto }).await {
            return End::Cancelled;
        }
        if prompt.trim().is_empty() && images.0 == 0 {
            out.error(
                "input",
                "the prompt is empty: type a question, or pipe one on stdin",
            )
            .await;
            return End::Input;
        }
        let models = self.config.pools.get(&task).cloned().unwrap_or_default();
        let quick = if req.tools.is_empty() && !ENCODERS_WARM.load(Ordering::Acquire) {
            quick_bound(&req.messages)
        } else {
            None
        };
        if quick.is_some() {
            warm_encoders(&models);
        }
        let prompt_tokens =
            quick.unwrap_or_else(|| estimate_pool(&models, &req.messages, &req.tools));
        let max_tokens = req
            .max_tokens
            .unwrap_or_else(|| crate::tokens::default_max_tokens(task))
            .min(super::MAX_ANSWER_TOKENS);
        let mut demand = Demand {
            pool: Some(Pool::Chat(task)),
            prompt_tokens,
            max_tokens,
            answer_ceiling: req
                .max_tokens
                .is_none()
                .then(|| crate::tokens::answer_ceiling(task).max(max_tokens)),
            needs_tools: !req.tools.is_empty(),
            needs_parallel_tools: req.parallel_tool_calls && !req.tools.is_empty(),
            images: images.0 as u32,
            largest_image_bytes: images.1,
            ..Demand::default()
        };

        let started = now_ms();
        let max_wait = self.config.defaults.max_wait.as_millis() as u64;
        let max_attempts = self.config.defaults.max_attempts.max(1) as usize;
        let mut attempts: u32 = 0;
        let mut rotation: Option<(Candidate, Classified)> = None;
        let mut last_reason: Option<Reason> = None;
        let mut refused_once = false;
        loop {
            let mut decision = match self.decide(&demand) {
                Ok(d) => d,
                Err(msg) => {
                    out.error("config", &msg).await;
                    return End::Failed;
                }
            };
            if matches!(decision, Decision::Unfit(Unfit::Exhausted { .. }))
                && !demand.tried.is_empty()
            {
                // Every remaining candidate was tried in this round: start a new one. The
                // failures' cooldowns and backoffs now hold them, so the engine answers with
                // the exact wait (or a disabled-everything `Exhausted`).
                demand.tried.clear();
                decision = match self.decide(&demand) {
                    Ok(d) => d,
                    Err(msg) => {
                        out.error("config", &msg).await;
                        return End::Failed;
                    }
                };
            }
            if let Some((from, why)) = rotation.take() {
                let ev = Event::rotation(&from, &why, &decision);
                if !out.send(ev).await {
                    if let Decision::Grant(g) = &decision {
                        self.release(g);
                    }
                    return End::Cancelled;
                }
            }
            match decision {
                Decision::Grant(grant) => {
                    attempts += 1;
                    let ev = Event::ModelSelected {
                        provider: grant.candidate.model.provider.clone(),
                        model: grant.candidate.model.id.clone(),
                        key: grant.candidate.key.masked.clone(),
                        account: grant.candidate.key.account.clone(),
                        estimated_tokens: prompt_tokens,
                        attempt: attempts,
                    };
                    if !out.send(ev).await {
                        self.release(&grant);
                        return End::Cancelled;
                    }
                    let sent_at = Instant::now();
                    let mut first_token_ms = None;
                    // Releases the reservation if this future is dropped mid-call (a runtime
                    // shutting down, an aborted batch task); disarmed once the call has ended.
                    let held = Held::new(self, &grant);
                    let ended = self
                        .call(&grant, &req, task, &out, sent_at, &mut first_token_ms)
                        .await;
                    held.disarm();
                    match ended {
                        CallEnd::Answered {
                            usage,
                            provider_usage,
                            finish_reason,
                        } => {
                            self.complete(&grant, &usage);
                            let spec = self.config.model(&grant.candidate.model);
                            if attempts > 1 {
                                out.send(Event::RateLimitRecovered {
                                    provider: grant.candidate.model.provider.clone(),
                                    model: grant.candidate.model.id.clone(),
                                    attempts,
                                })
                                .await;
                            }
                            let latency_ms = sent_at.elapsed().as_millis() as u64;
                            tracing::debug!(provider_usage, latency_ms, "answered");
                            self.record(&attempt_row(
                                Pool::Chat(task),
                                &grant,
                                prompt_tokens,
                                Some(usage),
                                spec.map(|s| s.cost(&usage)),
                                sent_at,
                                first_token_ms,
                                Outcome::Ok,
                                None,
                            ));
                            out.send(Event::Done {
                                provider: grant.candidate.model.provider.clone(),
                                model: grant.candidate.model.id.clone(),
                                usage,
                                estimated_prompt_tokens: prompt_tokens,
                                cost_usd: spec.map(|s| s.cost(&usage)).unwrap_or(0.0),
                                latency_ms,
                                first_token_ms: first_token_ms.unwrap_or(latency_ms),
                                attempts,
                                finish_reason,
                                max_tokens: grant.max_tokens,
                            })
                            .await;
                            return End::Answered;
                        }
                        CallEnd::Rotate(err) => {
                            let why = err.classified.clone();
                            tracing::debug!(
                                model = %grant.candidate.model,
                                account = %grant.candidate.key.account,
                                reason = %why.reason,
                                window = ?why.window,
                                limit = ?why.limit,
                                retry_after_ms = ?why.retry_after_ms,
                                "rotating"
                            );
                            self.fail(&grant, &err);
                            let mut row = attempt_row(
                                Pool::Chat(task),
                                &grant,
                                prompt_tokens,
                                None,
                                None,
                                sent_at,
                                first_token_ms,
                                Outcome::Failed,
                                Some(why.reason),
                            );
                            let refused = why.reason == Reason::InvalidRequest;
                            // A refused request goes to one other model only when what was
                            // refused is plausibly this model's (a parameter, a feature).
                            let elsewhere = refused
                                && !refused_once
                                && crate::engine::learn::model_specific(&why.message);
                            row.rotated = !refused || elsewhere;
                            self.record(&row);
                            if refused && !elsewhere {
                                out.error(
                                    "invalid_request",
                                    &format!(
                                        "{} refused the request: {}",
                                        grant.candidate.model, why.message
                                    ),
                                )
                                .await;
                                return End::Failed;
                            }
                            refused_once |= refused;
                            if why.reason.skips_model() {
                                demand.skip_models.push(grant.candidate.model.clone());
                            }
                            demand.tried.push(grant.candidate.clone());
                            if demand.tried.len() >= max_attempts {
                                // Tried enough distinct candidates: from now on only what the
                                // engine says is ready (cooldowns now hold the failed ones).
                                demand.tried.clear();
                            }
                            last_reason = Some(why.reason);
                            rotation = Some((grant.candidate.clone(), why));
                            if attempts >= ATTEMPT_CEILING {
                                out.error(
                                    "server_error",
                                    &format!("gave up after {attempts} attempts: {}", err),
                                )
                                .await;
                                return End::Failed;
                            }
                        }
                        CallEnd::Broken(err, shown) => {
                            // The provider counted it: keep what we reserved as used.
                            let usage = Usage {
                                prompt_tokens,
                                completion_tokens: (shown as u64).div_ceil(4),
                            };
                            self.complete(&grant, &usage);
                            self.record(&attempt_row(
                                Pool::Chat(task),
                                &grant,
                                prompt_tokens,
                                Some(usage),
                                None,
                                sent_at,
                                first_token_ms,
                                Outcome::Failed,
                                Some(err.reason()),
                            ));
                            out.error(
                                err.reason().as_str(),
                                &format!(
                                    "the answer from {} broke after {shown} characters ({err}); \
                                     the partial answer is kept, ask again to get the rest",
                                    grant.candidate.model
                                ),
                            )
                            .await;
                            return End::Failed;
                        }
                        CallEnd::Cancelled => {
                            self.release(&grant);
                            self.record(&attempt_row(
                                Pool::Chat(task),
                                &grant,
                                prompt_tokens,
                                None,
                                None,
                                sent_at,
                                first_token_ms,
                                Outcome::Cancelled,
                                None,
                            ));
                            return End::Cancelled;
                        }
                    }
                }
                Decision::Wait { until, next } => {
                    let now = now_ms();
                    let wait_ms = until.saturating_sub(now);
                    if now.saturating_add(wait_ms) > started.saturating_add(max_wait) {
                        out.error(
                            "rate_limited",
                            &format!(
                                "every model of the {task} pool is busy: the next one ({next}) \
                                 frees in {}, longer than max_wait ({}); raise [defaults] \
                                 max_wait or add keys of another account",
                                crate::duration::format(std::time::Duration::from_millis(wait_ms)),
                                crate::duration::format(self.config.defaults.max_wait),
                            ),
                        )
                        .await;
                        return End::Failed;
                    }
                    let ev = Event::NoModelsAvailable {
                        task: task.to_string(),
                        wait_ms,
                        next: next.to_string(),
                    };
                    if !out.send(ev).await {
                        return End::Cancelled;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_millis(wait_ms)) => {}
                        _ = tx.closed() => return End::Cancelled,
                    }
                }
                Decision::Unfit(unfit) => {
                    let (mut kind, end, msg) = describe_unfit(&unfit, task, &self.config);
                    if let (Unfit::Exhausted { .. }, Some(last)) = (&unfit, last_reason) {
                        kind = last.as_str();
                    }
                    out.error(kind, &msg).await;
                    return end;
                }
            }
        }
    }

    /// Reserves atomically through the store.
    fn decide(&self, demand: &Demand) -> Result<Decision, String> {
        let mut out = None;
        self.store
            .transact(&mut |state| {
                // Read the clock inside the transaction: waiting for another process's lock
                // must not date the reservation in the past.
                out = Some(engine::reserve(&self.fleet, state, demand, now_ms()));
            })
            .map_err(|e| e.to_string())?;
        out.ok_or_else(|| "the state store did not run the decision".to_string())
    }

    fn complete(&self, grant: &Grant, usage: &Usage) {
        if let Err(e) = self.store.transact(&mut |state| {
            engine::complete(&self.fleet, state, grant, usage, now_ms());
        }) {
            tracing::warn!("could not record usage: {e}");
        }
    }

    fn release(&self, grant: &Grant) {
        if let Err(e) = self.store.transact(&mut |state| {
            engine::release(state, grant);
        }) {
            tracing::warn!("could not release a reservation: {e}");
        }
    }

    fn fail(&self, grant: &Grant, err: &CallError) {
        let readings = crate::engine::learn::rate_readings(
            crate::model::Dialect::of_provider(&grant.candidate.model.provider),
            &err.headers,
        );
        if let Err(e) = self.store.transact(&mut |state| {
            let now = now_ms();
            // A reply arrived (the provider saw the request): date what stays counted now.
            if err.status.is_some() {
                engine::restamp(state, grant, now);
            }
            if !readings.is_empty() {
                engine::sync_headers(&self.fleet, state, &grant.candidate, &readings, now);
            }
            engine::fail(&self.fleet, state, grant, &err.classified, now);
        }) {
            tracing::warn!("could not record a failure: {e}");
        }
    }

    /// The reply's headers arrived, so the provider has counted the request: move the
    /// reservation to now and learn from the rate-limit headers, in one transaction.
    fn arrived(&self, grant: &Grant, headers: &crate::engine::Headers) {
        let readings = crate::engine::learn::rate_readings(
            crate::model::Dialect::of_provider(&grant.candidate.model.provider),
            headers,
        );
        if let Err(e) = self.store.transact(&mut |state| {
            let now = now_ms();
            engine::restamp(state, grant, now);
            if !readings.is_empty() {
                engine::sync_headers(&self.fleet, state, &grant.candidate, &readings, now);
            }
        }) {
            tracing::warn!("could not record the reply's arrival: {e}");
        }
    }

    /// Calls the granted candidate and streams its answer to `out`.
    async fn call(
        &self,
        grant: &Grant,
        req: &ChatRequest,
        task: Task,
        out: &Out<'_>,
        sent_at: Instant,
        first_token_ms: &mut Option<u64>,
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
        let body = request_body(
            self.config.model(&grant.candidate.model),
            grant,
            req,
            self.config.reasoning_effort.get(&task).map(String::as_str),
        );
        let mut stream = tokio::select! {
            r = self.client.chat(&endpoint, &body) => match r {
                Ok(s) => s,
                Err(e) => return CallEnd::Rotate(e),
            },
            _ = out.0.closed() => return CallEnd::Cancelled,
        };
        self.arrived(grant, &stream.headers);
        let mut shown = 0usize;
        let mut thought = 0usize;
        let mut usage = None;
        let mut finish_reason = None;
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = out.0.closed() => return CallEnd::Cancelled,
            };
            match next {
                None => break,
                Some(Ok(StreamEvent::Text(t))) => {
                    if t.is_empty() {
                        continue;
                    }
                    if first_token_ms.is_none() {
                        *first_token_ms = Some(sent_at.elapsed().as_millis() as u64);
                    }
                    shown += t.len();
                    if !out.send(Event::Delta { text: t }).await {
                        return CallEnd::Cancelled;
                    }
                }
                Some(Ok(StreamEvent::Reasoning(t))) => {
                    if t.is_empty() {
                        continue;
                    }
                    // Thinking is the model working: the first-token clock stops here too.
                    if first_token_ms.is_none() {
                        *first_token_ms = Some(sent_at.elapsed().as_millis() as u64);
                    }
                    thought += t.len();
                    if !out.send(Event::Reasoning { text: t }).await {
                        return CallEnd::Cancelled;
                    }
                }
                Some(Ok(StreamEvent::Usage(u))) => usage = Some(u),
                Some(Ok(StreamEvent::Finish(f))) => finish_reason = Some(f),
                Some(Ok(_)) => {}
                Some(Err(e)) if shown == 0 => return CallEnd::Rotate(e),
                Some(Err(e)) => return CallEnd::Broken(e, shown),
            }
        }
        match usage {
            Some(u) => CallEnd::Answered {
                usage: u,
                provider_usage: true,
                finish_reason,
            },
            None => CallEnd::Answered {
                usage: Usage {
                    prompt_tokens: grant.tokens.saturating_sub(grant.max_tokens),
                    completion_tokens: ((shown + thought) as u64).div_ceil(4),
                },
                provider_usage: false,
                finish_reason,
            },
        }
    }
}

/// The `/chat/completions` body for one attempt: the messages and tools, the granted answer
/// length under the name the model takes (OpenAI's reasoning models refuse `max_tokens` and
/// take `max_completion_tokens`), the task's `reasoning_effort` where the model lists that
/// value, and `parallel_tool_calls` set explicitly when the caller wants parallel calls.
pub(crate) fn request_body(
    spec: Option<&crate::catalog::ModelSpec>,
    grant: &Grant,
    req: &ChatRequest,
    effort: Option<&str>,
) -> serde_json::Value {
    let model = &grant.candidate.model;
    let mut body = serde_json::json!({
        "model": model.id,
        "messages": req.messages,
    });
    let reasoning = spec.is_some_and(|s| s.reasoning);
    let length_field = if reasoning && Dialect::of_provider(&model.provider) == Dialect::OpenAi {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    body[length_field] = grant.max_tokens.into();
    if let (Some(e), Some(s)) = (effort, spec)
        && s.reasoning_efforts.iter().any(|x| x == e)
    {
        body["reasoning_effort"] = e.into();
    }
    if !req.tools.is_empty() {
        body["tools"] = serde_json::Value::Array(req.tools.clone());
        if req.parallel_tool_calls && spec.is_some_and(|s| s.parallel_tools) {
            body["parallel_tool_calls"] = true.into();
        }
    }
    body
}

/// Set once both tiktoken encoders are built (they take a second or more to load cold).
static ENCODERS_WARM: AtomicBool = AtomicBool::new(false);
/// Starts the warm-up once per process.
static WARMING: Once = Once::new();

/// Prompts up to this many bytes (text only) are reserved by [`quick_bound`] while the
/// encoders are cold, so a one-shot `rota ask` sends its request without waiting for them.
pub const QUICK_MAX_BYTES: usize = 1024;

/// A bound on the prompt tokens of a short text-only request that needs no encoder: a
/// byte-level BPE never makes more tokens than bytes, and the unknown family pads by 1.25;
/// each message adds its role framing and every template at most its fixed preamble (Llama's
/// default system header, harmony's system message). `None` for longer prompts, images or
/// tool calls. Checked against the exact estimate of every catalog model in the tests.
pub fn quick_bound(messages: &[serde_json::Value]) -> Option<u64> {
    let mut bytes = 0usize;
    for m in messages {
        if m.get("tool_calls").is_some() {
            return None;
        }
        bytes += m.get("role").and_then(|r| r.as_str()).map_or(0, str::len);
        match m.get("content") {
            Some(serde_json::Value::String(s)) => bytes += s.len(),
            Some(serde_json::Value::Array(parts)) => {
                for p in parts {
                    let is_text = p.get("type").and_then(|t| t.as_str()) == Some("text");
                    match p.get("text").and_then(|t| t.as_str()) {
                        Some(t) if is_text => bytes += t.len(),
                        _ => return None,
                    }
                }
            }
            Some(serde_json::Value::Null) | None => {}
            Some(_) => return None,
        }
        if bytes > QUICK_MAX_BYTES {
            return None;
        }
    }
    Some((bytes as u64 * 5).div_ceil(4) + 16 * messages.len() as u64 + 160)
}

/// Builds the encoders of the pool's families on a background thread, once.
fn warm_encoders(models: &[ModelRef]) {
    let models = models.to_vec();
    WARMING.call_once(move || {
        let spawned = std::thread::Builder::new()
            .name("rota-warm-encoders".into())
            .spawn(move || {
                let hi = [serde_json::json!({"role": "user", "content": "hi"})];
                let _ = estimate_pool(&models, &hi, &[]);
                ENCODERS_WARM.store(true, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::warn!("could not start the encoder warm-up: {e}");
        }
    });
}

/// The largest estimate of a request over the pool's model families.
fn estimate_pool(
    models: &[ModelRef],
    messages: &[serde_json::Value],
    tools: &[serde_json::Value],
) -> u64 {
    models
        .iter()
        .map(|m| crate::tokens::estimate_messages(m, messages, tools))
        .max()
        .unwrap_or_else(|| {
            crate::tokens::estimate_messages(&ModelRef::new("unknown", "unknown"), messages, tools)
        })
}

/// The ledger row of one attempt.
#[allow(clippy::too_many_arguments)]
pub(super) fn attempt_row(
    task: Pool,
    grant: &Grant,
    estimated_prompt_tokens: u64,
    usage: Option<Usage>,
    cost_usd: Option<f64>,
    sent_at: Instant,
    first_token_ms: Option<u64>,
    outcome: Outcome,
    reason: Option<Reason>,
) -> AttemptRow {
    AttemptRow {
        at_ms: now_ms().saturating_sub(sent_at.elapsed().as_millis() as u64),
        task,
        model: grant.candidate.model.clone(),
        account: Some(grant.candidate.key.account.clone()),
        key_suffix: grant.candidate.key.masked.clone(),
        estimated_prompt_tokens,
        usage,
        cost_usd,
        latency_ms: sent_at.elapsed().as_millis() as u64,
        first_token_ms,
        outcome,
        reason,
        rotated: false,
        request_id: None,
    }
}

/// A reservation in flight: released on drop unless disarmed, so a request whose future is
/// dropped (not just one that sees its receiver close) never leaves tokens reserved.
struct Held<'a> {
    router: &'a Router,
    grant: Option<Grant>,
}

impl<'a> Held<'a> {
    fn new(router: &'a Router, grant: &Grant) -> Self {
        Self {
            router,
            grant: Some(grant.clone()),
        }
    }

    /// The call ended normally; its outcome decides what happens to the reservation.
    fn disarm(mut self) {
        self.grant = None;
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.grant.take() {
            self.router.release(&g);
        }
    }
}

/// Sends events; `false` once the receiver is gone.
struct Out<'a>(&'a mpsc::Sender<Event>);

impl Out<'_> {
    async fn send(&self, ev: Event) -> bool {
        self.0.send(ev).await.is_ok()
    }

    async fn error(&self, kind: &str, message: &str) {
        let _ = self
            .0
            .send(Event::Error {
                kind: kind.to_string(),
                message: message.to_string(),
            })
            .await;
    }
}

/// The error kind, end and message for a demand nothing can take.
fn describe_unfit(
    unfit: &Unfit,
    task: Task,
    config: &crate::config::Config,
) -> (&'static str, End, String) {
    match unfit {
        Unfit::NoCredentials { .. } => (
            "no_credentials",
            End::NoCredentials,
            no_candidate_message(task, config),
        ),
        Unfit::TooLarge { needed, largest } => (
            "input",
            End::Input,
            format!(
                "the request needs {needed} tokens (prompt + answer) but no model of the \
                 {task} pool takes more than {largest} (its context window, or a whole \
                 rate-limit window): shorten the prompt or lower --max-tokens"
            ),
        ),
        Unfit::NoCapableModel { why } => ("input", End::Input, why.clone()),
        Unfit::Exhausted { why } => ("server_error", End::Failed, why.clone()),
    }
}

/// Why a pool has no model that can be called: no key at all, or keys only for providers
/// none of whose models is in the pool (then: which would serve it, and the `[pools]` line).
pub fn no_candidate_message(task: Task, config: &crate::config::Config) -> String {
    let with_keys: Vec<&str> = config
        .providers
        .iter()
        .filter(|p| p.enabled && (!p.keys.is_empty() || p.name.starts_with("custom:")))
        .filter(|p| {
            !p.name.starts_with("custom:")
                || config.models.iter().any(|m| m.model.provider == p.name)
        })
        .map(|p| p.name.as_str())
        .collect();
    if with_keys.is_empty() {
        return format!(
            "no usable API key for the {task} pool: set GROQ_API_KEY, OPENAI_API_KEY or \
             TOGETHER_API_KEY, add one with `rota keys add PROVIDER`, or try `--demo`"
        );
    }
    let pool = config.pools.get(&task).cloned().unwrap_or_default();
    let own: Vec<String> = config
        .models
        .iter()
        .filter(|m| with_keys.contains(&m.model.provider.as_str()) && !m.transcription)
        .filter(|m| task != Task::Vision || m.vision)
        .map(|m| format!("\"{}\"", m.model))
        .collect();
    let serving: Vec<&str> =
        pool.iter()
            .map(|m| m.provider.as_str())
            .fold(Vec::new(), |mut v, p| {
                if !v.contains(&p) {
                    v.push(p);
                }
                v
            });
    let need = if task == Task::Vision {
        "reads images"
    } else {
        "chats"
    };
    let mut msg = format!(
        "the {task} pool has no model of a provider you have keys for ({}): ",
        with_keys.join(", ")
    );
    if own.is_empty() {
        msg.push_str(&format!("none of their models {need}"));
    } else {
        msg.push_str(&format!(
            "add one in your config, e.g. [pools] {task} = [{}]",
            own.join(", ")
        ));
    }
    if !serving.is_empty() {
        msg.push_str(&format!("; or add a key of {}", serving.join(" or ")));
    }
    msg
}

/// The text of the last user message (text parts joined).
pub fn last_user_text(messages: &[serde_json::Value]) -> String {
    let Some(m) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(|r| r.as_str()) == Some("user"))
    else {
        return String::new();
    };
    match m.get("content") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Image parts in the messages: how many, and the largest data-URL payload in bytes.
pub fn count_images(messages: &[serde_json::Value]) -> (usize, u64) {
    let mut count = 0;
    let mut largest = 0u64;
    for m in messages {
        if let Some(serde_json::Value::Array(parts)) = m.get("content") {
            for p in parts {
                if p.get("type").and_then(|t| t.as_str()) == Some("image_url") {
                    count += 1;
                    let url = p
                        .pointer("/image_url/url")
                        .and_then(|u| u.as_str())
                        .unwrap_or("");
                    if let Some((_, b64)) = url.split_once(";base64,") {
                        largest = largest.max(b64.len() as u64 * 3 / 4);
                    }
                }
            }
        }
    }
    (count, largest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_bound_covers_every_catalog_models_estimate() {
        let config = crate::config::parse("", "(test)", &|_: &str| None).unwrap();
        let long = "Rate limits differ per provider; héllo wörld ✓ 日本語 {}[]() 42. ".repeat(12);
        let prompts = [
            "",
            "hi",
            "hello",
            "Why does my Python function return None?",
            &long,
        ];
        for p in prompts {
            for system in [None, Some("You are concise.")] {
                let mut msgs = Vec::new();
                if let Some(s) = system {
                    msgs.push(serde_json::json!({"role": "system", "content": s}));
                }
                msgs.push(serde_json::json!({"role": "user", "content": p}));
                let Some(bound) = quick_bound(&msgs) else {
                    panic!("{} bytes should get a bound", p.len());
                };
                for m in &config.models {
                    let exact = crate::tokens::estimate_messages(&m.model, &msgs, &[]);
                    assert!(bound >= exact, "{}: {bound} < {exact} for {p:?}", m.model);
                }
                let unknown = ModelRef::new("custom:x", "some-model");
                assert!(bound >= crate::tokens::estimate_messages(&unknown, &msgs, &[]));
            }
        }
    }

    fn grant_for(model: &str, max_tokens: u64) -> Grant {
        let model: ModelRef = model.parse().unwrap();
        Grant {
            id: 1,
            candidate: Candidate {
                key: crate::engine::KeyRef {
                    provider: model.provider.clone(),
                    account: "a".into(),
                    masked: "…0001".into(),
                },
                model,
            },
            tokens: max_tokens + 10,
            max_tokens,
            audio_secs: 0,
            at: 0,
        }
    }

    #[test]
    fn the_body_names_the_answer_length_as_the_model_takes_it() {
        let config = crate::config::parse("", "(test)", &|_: &str| None).unwrap();
        let req = ChatRequest {
            messages: vec![serde_json::json!({"role": "user", "content": "hi"})],
            tools: vec![serde_json::json!({"type": "function", "function": {"name": "f"}})],
            parallel_tool_calls: true,
            ..ChatRequest::default()
        };
        let body = |m: &str, effort| {
            let g = grant_for(m, 500);
            request_body(config.model(&g.candidate.model), &g, &req, effort)
        };
        // OpenAI's reasoning models: max_completion_tokens, their effort, parallel calls.
        let b = body("openai/gpt-6-luna", Some("low"));
        assert_eq!(b["max_completion_tokens"], 500);
        assert!(b.get("max_tokens").is_none(), "{b}");
        assert_eq!(b["reasoning_effort"], "low");
        assert_eq!(b["parallel_tool_calls"], true);
        // gpt-oss on Groq: max_tokens; an effort it does not list is not sent; no parallel.
        let b = body("groq/openai/gpt-oss-20b", Some("none"));
        assert_eq!(b["max_tokens"], 500);
        assert!(b.get("reasoning_effort").is_none(), "{b}");
        assert!(b.get("parallel_tool_calls").is_none(), "{b}");
        // A model that does not reason gets no effort.
        let b = body("openai/gpt-4o-mini", Some("low"));
        assert_eq!(b["max_tokens"], 500);
        assert!(b.get("reasoning_effort").is_none(), "{b}");
    }

    #[test]
    fn no_quick_bound_for_long_prompts_images_or_tool_calls() {
        let long = "x".repeat(QUICK_MAX_BYTES + 1);
        let msg = serde_json::json!({"role": "user", "content": long});
        assert_eq!(quick_bound(&[msg]), None);
        let image = serde_json::json!({"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]});
        assert_eq!(quick_bound(&[image]), None);
        let call = serde_json::json!({"role": "assistant", "content": null, "tool_calls": []});
        assert_eq!(quick_bound(&[call]), None);
    }
}
