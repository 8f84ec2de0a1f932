//! One chat request as a [`Job`] of the attempt loop: detect the task, estimate the prompt,
//! then per attempt build the body the granted model takes, stream its answer (text and
//! thinking) to the caller, and settle what the provider counted.

use super::attempt::{Attempt, Called, Job, Out};
use super::estimate::{ENCODERS_WARM, estimate_pool, quick_bound, warm_encoders};
use super::events::Event;
use super::{ChatRequest, End, Router, task};
use crate::engine::{Demand, Grant, Pool, Unfit};
use crate::message::{ToolCall, count_images, last_user_text};
use crate::model::{Dialect, ModelRef, Task, Usage};
use crate::providers::{CallError, StreamEvent};
use crate::store::ledger::{AttemptRow, Outcome};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

impl Router {
    /// Runs one chat request to its end, sending every event on `tx`.
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
        if task == Task::Research && req.tools.is_empty() && req.model.is_none() {
            return self.research(req, tx).await;
        }
        self.chat_step(&req, task, None, tx).await.0
    }

    /// Runs one chat request (one model turn) through the attempt loop. For a research
    /// step, `step` says which, and what the answer ends with when it is the last; the
    /// outcome says what the model answered.
    pub(crate) async fn chat_step(
        &self,
        req: &ChatRequest,
        task: Task,
        step: Option<ResearchStep>,
        tx: &mpsc::Sender<Event>,
    ) -> (End, Option<StepOutcome>) {
        let images = count_images(&req.messages);
        let models = match &req.model {
            Some(m) => vec![m.clone()],
            None => self.config.pools.get(&task).cloned().unwrap_or_default(),
        };
        let quick = if req.tools.is_empty() && !ENCODERS_WARM.load(Ordering::Acquire) {
            quick_bound(&req.messages)
        } else {
            None
        };
        if quick.is_some() {
            warm_encoders(&models);
        }
        let prompt_tokens = step
            .as_ref()
            .and_then(|s| s.prompt_tokens)
            .or(quick)
            .unwrap_or_else(|| estimate_pool(&models, &req.messages, &req.tools))
            .saturating_add(passed_through_tokens(&req.extra));
        let max_tokens = req
            .max_tokens
            .unwrap_or_else(|| crate::tokens::default_max_tokens(task))
            .min(super::MAX_ANSWER_TOKENS);
        let demand = Demand {
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
            only: req.model.clone(),
            ..Demand::new(Pool::Chat(task))
        };
        let job = ChatJob {
            req,
            task,
            prompt_tokens,
            demand,
            step,
            outcome: std::sync::Mutex::new(None),
        };
        let end = self.attempt(&job, tx).await;
        let outcome = job.outcome.into_inner().unwrap_or_else(|p| p.into_inner());
        (end, outcome)
    }

    /// Counts what an answer really used instead of its reservation.
    async fn complete(&self, grant: &Grant, usage: &Usage) {
        let (g, u) = (grant.clone(), *usage);
        let done = self
            .transact(move |fleet, state, now| crate::engine::complete(fleet, state, &g, &u, now))
            .await;
        if let Err(e) = done {
            tracing::warn!("could not record usage: {e}");
        }
    }
}

/// One chat request, estimated, as the attempt loop runs it.
struct ChatJob<'r> {
    req: &'r ChatRequest,
    task: Task,
    prompt_tokens: u64,
    demand: Demand,
    step: Option<ResearchStep>,
    outcome: std::sync::Mutex<Option<StepOutcome>>,
}

/// Which research step a chat request is, and the sources gathered before it.
#[derive(Clone, Debug, Default)]
pub(crate) struct ResearchStep {
    /// 1-based step number.
    pub n: u32,
    /// The pages the tools returned so far: a final answer ends with those it used.
    pub sources: Vec<crate::tools::Source>,
    /// The turn's prompt estimate when the loop already made it (fitting the history to
    /// the pool's largest request): the turn reserves it instead of estimating again.
    pub prompt_tokens: Option<u64>,
}

/// What one model turn answered.
#[derive(Clone, Debug, Default)]
pub(crate) struct StepOutcome {
    /// The answer's text.
    pub text: String,
    /// The tools it calls (none for a final answer).
    pub tool_calls: Vec<ToolCall>,
}

/// A whole streamed answer.
struct Answered {
    /// What the provider counted, or the estimate when it sent no usage.
    usage: Usage,
    /// The usage is the provider's.
    provider_usage: bool,
    /// Why the answer ended, as the provider said.
    finish_reason: Option<String>,
    /// The text and tool calls.
    outcome: StepOutcome,
}

impl Job for ChatJob<'_> {
    type Answer = Answered;

    fn demand(&self) -> Demand {
        self.demand.clone()
    }

    fn label(&self) -> String {
        self.task.to_string()
    }

    fn estimated_tokens(&self) -> u64 {
        self.prompt_tokens
    }

    async fn call(
        &self,
        router: &Router,
        grant: &Grant,
        out: &Out<'_>,
        attempt: &mut Attempt,
    ) -> Called<Answered> {
        let endpoint = match router.endpoint_for(&grant.candidate) {
            Ok(e) => e,
            Err(e) => return Called::Rotate(e),
        };
        let body = request_body(
            router.config.model(&grant.candidate.model),
            grant,
            self.req,
            router
                .config
                .reasoning_effort
                .get(&self.task)
                .map(String::as_str),
        );
        let mut stream = tokio::select! {
            r = router.client.chat(&endpoint, &body) => match r {
                Ok(s) => s,
                Err(e) => return Called::Rotate(e),
            },
            _ = out.closed() => return Called::Cancelled,
        };
        attempt.replied();
        router.arrived(grant, &stream.headers).await;
        let mut shown = 0usize;
        let mut thought = 0usize;
        let mut usage = None;
        let mut finish_reason = None;
        let mut text = String::new();
        let mut calls: Vec<ToolCall> = Vec::new();
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = out.closed() => return Called::Cancelled,
            };
            match next {
                None => break,
                Some(Ok(StreamEvent::Text(t))) => {
                    if t.is_empty() {
                        continue;
                    }
                    attempt.first_token();
                    shown += t.len();
                    text.push_str(&t);
                    if !out.send(Event::Delta { text: t }).await {
                        return Called::Cancelled;
                    }
                }
                Some(Ok(StreamEvent::Reasoning(t))) => {
                    if t.is_empty() {
                        continue;
                    }
                    // Thinking is the model working: the first-token clock stops here too.
                    attempt.first_token();
                    thought += t.len();
                    if !out.send(Event::Reasoning { text: t }).await {
                        return Called::Cancelled;
                    }
                }
                Some(Ok(StreamEvent::Usage(u))) => usage = Some(u),
                Some(Ok(StreamEvent::Finish(f))) => finish_reason = Some(f),
                Some(Ok(StreamEvent::ToolCall(d))) => {
                    attempt.first_token();
                    if self.step.is_some() {
                        thought += d.arguments.len();
                    } else {
                        // The caller's own tools: it runs them, so it sees them come.
                        shown += d.arguments.len().max(1);
                        let ev = Event::ToolCallDelta {
                            index: d.index,
                            id: d.id.clone(),
                            name: d.name.clone(),
                            arguments: d.arguments.clone(),
                        };
                        if !out.send(ev).await {
                            return Called::Cancelled;
                        }
                    }
                    let crate::providers::ToolCallDelta {
                        index,
                        id,
                        name,
                        arguments,
                    } = d;
                    ToolCall::fold_piece(&mut calls, index, id, name.as_deref(), &arguments);
                }
                Some(Err(e)) if shown == 0 => return Called::Rotate(e),
                Some(Err(e)) => return Called::Broken(e, shown),
            }
        }
        let outcome = StepOutcome {
            text,
            tool_calls: calls,
        };
        match usage {
            Some(u) => Called::Answered(Answered {
                usage: u,
                provider_usage: true,
                finish_reason,
                outcome,
            }),
            None => Called::Answered(Answered {
                usage: Usage {
                    prompt_tokens: grant.tokens.saturating_sub(grant.max_tokens),
                    completion_tokens: ((shown + thought) as u64).div_ceil(4),
                },
                provider_usage: false,
                finish_reason,
                outcome,
            }),
        }
    }

    async fn settle(
        &self,
        router: &Router,
        grant: &Grant,
        a: Answered,
        attempt: &Attempt,
    ) -> (AttemptRow, Vec<Event>) {
        router.complete(grant, &a.usage).await;
        let cost = router
            .config
            .model(&grant.candidate.model)
            .map(|s| s.cost(&a.usage));
        let latency_ms = attempt.elapsed_ms();
        tracing::debug!(provider_usage = a.provider_usage, latency_ms, "answered");
        let mut row = self.row(router, grant, attempt, Outcome::Ok);
        row.usage = Some(a.usage);
        row.cost_usd = cost;
        let mut events = Vec::new();
        let mut sources = Vec::new();
        if let Some(step) = &self.step {
            events.push(Event::Step {
                n: step.n,
                provider: grant.candidate.model.provider.clone(),
                model: grant.candidate.model.id.clone(),
            });
            if !a.outcome.tool_calls.is_empty() {
                // A step that calls tools: the research loop goes on, nothing is done yet.
                if let Ok(mut o) = self.outcome.lock() {
                    *o = Some(a.outcome);
                }
                return (row, events);
            }
            sources = super::research::used_sources(&a.outcome.text, &step.sources);
            if !sources.is_empty() {
                events.push(Event::Delta {
                    text: super::research::sources_text(&sources),
                });
            }
        }
        events.push(Event::Done {
            provider: grant.candidate.model.provider.clone(),
            model: grant.candidate.model.id.clone(),
            usage: a.usage,
            estimated_prompt_tokens: self.prompt_tokens,
            cost_usd: cost.unwrap_or(0.0),
            latency_ms,
            first_token_ms: attempt.first_token_ms.unwrap_or(latency_ms),
            attempts: attempt.number,
            finish_reason: a.finish_reason,
            max_tokens: grant.max_tokens,
            sources: sources.iter().map(|s| s.url.clone()).collect(),
        });
        if let Ok(mut o) = self.outcome.lock() {
            *o = Some(a.outcome);
        }
        (row, events)
    }

    async fn broken(
        &self,
        router: &Router,
        grant: &Grant,
        err: CallError,
        shown: usize,
        attempt: &Attempt,
    ) -> (AttemptRow, Event) {
        // The provider counted it: keep what we reserved as used.
        let usage = Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: (shown as u64).div_ceil(4),
        };
        router.complete(grant, &usage).await;
        let mut row = self.row(router, grant, attempt, Outcome::Failed);
        row.usage = Some(usage);
        row.reason = Some(err.reason());
        let error = Event::Error {
            kind: err.reason().as_str().to_string(),
            message: format!(
                "the answer from {} broke after {shown} characters ({err}); the partial \
                 answer is kept, ask again to get the rest",
                grant.candidate.model
            ),
            retry_after_ms: None,
        };
        (row, error)
    }

    fn row(
        &self,
        router: &Router,
        grant: &Grant,
        attempt: &Attempt,
        outcome: Outcome,
    ) -> AttemptRow {
        let pool = Pool::Chat(self.task);
        router.attempt_row(pool, grant, attempt, self.prompt_tokens, outcome)
    }

    fn max_wait(&self) -> Option<Duration> {
        self.req.max_wait
    }

    fn too_long(&self, next: &ModelRef, wait: Duration, max_wait: Duration) -> String {
        format!(
            "every model of the {} pool is busy: the next one ({next}) frees in {}, longer \
             than max_wait ({}); raise [defaults] max_wait or add keys of another account",
            self.task,
            crate::duration::format(wait),
            crate::duration::format(max_wait),
        )
    }

    fn unfit(&self, router: &Router, unfit: &Unfit) -> (&'static str, End, String) {
        describe_unfit(unfit, self.task, &router.config)
    }

    /// A research turn that wants parallel tool calls takes a sequential tool model when no
    /// parallel one is free (or configured).
    fn relax(&self, demand: &mut Demand) -> Option<String> {
        if self.step.is_none() || !demand.needs_parallel_tools {
            return None;
        }
        demand.needs_parallel_tools = false;
        Some(
            "no model that takes parallel tool calls is free: this research step goes on \
             with one tool call per turn"
                .into(),
        )
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
    let length_field = crate::providers::rules(Dialect::of_provider(&model.provider))
        .answer_length_field(reasoning);
    body[length_field] = grant.max_tokens.into();
    // A caller's own `reasoning_effort` (in `extra`) wins over the task's configured one.
    if let (Some(e), Some(s)) = (effort, spec)
        && s.reasoning_efforts.iter().any(|x| x == e)
        && !req.extra.contains_key("reasoning_effort")
    {
        body["reasoning_effort"] = e.into();
    }
    if !req.tools.is_empty() {
        body["tools"] = serde_json::Value::Array(req.tools.clone());
        if req.parallel_tool_calls && spec.is_some_and(|s| s.parallel_tools) {
            body["parallel_tool_calls"] = true.into();
        }
    }
    if let Some(fields) = body.as_object_mut() {
        for (k, v) in &req.extra {
            if !fields.contains_key(k) && !ROTA_FIELDS.contains(&k.as_str()) {
                fields.insert(k.clone(), v.clone());
            }
        }
    }
    body
}

/// Body fields a caller passes through that the provider reads as part of the prompt (a
/// structured output's schema, a predicted output).
const PROMPT_FIELDS: &[&str] = &["response_format", "prediction"];

/// A bound on the prompt tokens the passed-through [`PROMPT_FIELDS`] add: their JSON bytes
/// over three (JSON runs near four bytes a token; three keeps the reservation on the safe
/// side). Other passed-through fields (`temperature`, `stop`, …) add nothing worth counting.
pub(crate) fn passed_through_tokens(extra: &serde_json::Map<String, serde_json::Value>) -> u64 {
    PROMPT_FIELDS
        .iter()
        .filter_map(|k| extra.get(*k))
        .map(|v| (v.to_string().len() as u64).div_ceil(3))
        .sum()
}

/// Body fields only rota sets (the model, the messages, streaming, the answer length under
/// either name, one choice): a caller's value for one of them is never passed through.
pub(crate) const ROTA_FIELDS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "n",
];

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_through_schema_is_reserved_and_a_temperature_is_not() {
        let mut extra = serde_json::Map::new();
        extra.insert("temperature".into(), serde_json::json!(0.2));
        assert_eq!(passed_through_tokens(&extra), 0);
        let schema = serde_json::json!({"type": "json_schema", "json_schema": {"name": "x",
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}});
        let bytes = schema.to_string().len() as u64;
        extra.insert("response_format".into(), schema);
        assert_eq!(passed_through_tokens(&extra), bytes.div_ceil(3));
    }
    use crate::engine::Candidate;

    fn grant_for(model: &str, max_tokens: u64) -> Grant {
        let model: ModelRef = model.parse().unwrap();
        Grant {
            id: 1,
            candidate: Candidate {
                key: crate::engine::KeyRef {
                    provider: model.provider.clone(),
                    account: "a".into(),
                    masked: "…0001".into(),
                    ..crate::engine::KeyRef::default()
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
            messages: vec![crate::message::Message::user("hi")],
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
}
