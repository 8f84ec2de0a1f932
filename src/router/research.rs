//! The research task's tool loop: the model is offered `web_search` and `fetch_url`, rota
//! runs the calls it asks for (several at once when it asks for several) and sends the
//! results back, until the model answers. Every model turn is a fresh request through the
//! attempt loop: re-estimated as the history grows, reserved, free to rotate, so a 429 at
//! step 3 goes on at another model with the whole history.
//!
//! Bounds: `[tools] max_steps` model turns and `max_tool_calls` calls; the last turn is sent
//! without tools, so the model must answer. The answer ends with its numbered sources. The
//! history is kept within the largest request the pool's models take (see [`super::fit`]).

use super::chat::ResearchStep;
use super::estimate::estimate_pool;
use super::events::Event;
use super::fit::{cap_text, fit_history, prompt_budget, result_cap};
use super::{ChatRequest, End, Router};
use crate::engine::{Demand, Pool};
use crate::message::{Content, Message, Role, ToolCall};
use crate::model::Task;
use crate::tools::{Source, ToolOutput, normalize_call_id};
use std::time::Instant;
use tokio::sync::mpsc;

/// Tool calls run at once at most.
const CONCURRENT_CALLS: usize = 4;

impl Router {
    /// Answers a research request with the tool loop, sending every event on `tx`.
    pub(crate) async fn research(&self, req: ChatRequest, tx: &mpsc::Sender<Event>) -> End {
        let tools = &self.tools;
        let limits = &self.config.tools;
        if !tools.can_search() {
            let notice = Event::Notice {
                message: "web search needs a Tavily key (set TAVILY_API_KEY): researching \
                          with fetch_url only"
                    .into(),
            };
            if tx.send(notice).await.is_err() {
                return End::Cancelled;
            }
        }
        let parallel = self.pool_has_parallel_tools(Task::Research);
        let mut messages = req.messages.clone();
        let mut sources: Vec<Source> = Vec::new();
        let mut calls_made: u32 = 0;
        let mut step: u32 = 1;
        let mut told_trimmed = false;
        loop {
            let last = step >= limits.max_steps || calls_made >= limits.max_tool_calls;
            let schemas = if last { Vec::new() } else { tools.schemas() };
            let fit = self.research_budget(&req, !last).await;
            let mut estimate = None;
            if let Some((budget, largest)) = fit {
                // Fitting estimates the history again after each cut: tokenizing, so on a
                // blocking thread, not the async worker other streams share.
                let models = self.config.pools.get(&Task::Research).cloned();
                let (history, with) = (messages.clone(), schemas.clone());
                let fitted = tokio::task::spawn_blocking(move || {
                    let mut history = history;
                    let models = models.unwrap_or_default();
                    let (n, tokens) =
                        fit_history(&mut history, budget, |m| estimate_pool(&models, m, &with));
                    (history, n, tokens)
                })
                .await;
                let fitted = match fitted {
                    Ok((history, n, tokens)) => {
                        messages = history;
                        estimate = Some(tokens);
                        n
                    }
                    Err(e) => {
                        // The history stays as it was; the engine says if it is too large.
                        tracing::warn!("the research history could not be fitted: {e}");
                        0
                    }
                };
                if fitted > 0 && !std::mem::replace(&mut told_trimmed, true) {
                    let notice = Event::Notice {
                        message: format!(
                            "older search results were cut so the research fits {largest} \
                             tokens, the largest request its models take"
                        ),
                    };
                    if tx.send(notice).await.is_err() {
                        return End::Cancelled;
                    }
                }
            }
            let turn = ChatRequest {
                messages: messages.clone(),
                task: Some(Task::Research),
                max_tokens: req.max_tokens,
                tools: schemas,
                parallel_tool_calls: !last && parallel,
                max_wait: req.max_wait,
                extra: req.extra.clone(),
                ..ChatRequest::default()
            };
            let info = ResearchStep {
                n: step,
                sources: sources.clone(),
                prompt_tokens: estimate,
            };
            let (end, outcome) = self.chat_step(&turn, Task::Research, Some(info), tx).await;
            if end != End::Answered {
                return end;
            }
            let Some(outcome) = outcome.filter(|o| !o.tool_calls.is_empty()) else {
                return End::Answered;
            };
            // The model asked for tools: run them (within the budget), then ask again.
            let budget = limits.max_tool_calls.saturating_sub(calls_made) as usize;
            let calls: Vec<ToolCall> = outcome
                .tool_calls
                .into_iter()
                .enumerate()
                .map(|(i, mut c)| {
                    c.id = normalize_call_id(&c.id, (calls_made as usize) + i);
                    c
                })
                .collect();
            messages.push(Message {
                role: Role::Assistant,
                content: (!outcome.text.is_empty()).then(|| Content::Text(outcome.text.clone())),
                tool_calls: calls.clone(),
                ..Message::default()
            });
            for c in &calls {
                let ev = Event::ToolCall {
                    id: c.id.clone(),
                    name: c.function.name.clone(),
                    arguments: serde_json::from_str(&c.function.arguments).unwrap_or_else(|_| {
                        serde_json::Value::String(c.function.arguments.clone())
                    }),
                };
                if tx.send(ev).await.is_err() {
                    return End::Cancelled;
                }
            }
            let results = tokio::select! {
                r = run_calls(tools, &calls, budget) => r,
                _ = tx.closed() => return End::Cancelled,
            };
            let cap = fit.map_or(usize::MAX, |(b, _)| result_cap(b));
            for (c, (out, latency_ms)) in calls.iter().zip(results) {
                let content = cap_text(out.content, cap);
                let ev = Event::ToolResult {
                    id: c.id.clone(),
                    name: c.function.name.clone(),
                    ok: out.ok,
                    bytes: content.len() as u64,
                    latency_ms,
                    error: out.error.clone(),
                    results: out.sources.len() as u32,
                };
                if tx.send(ev).await.is_err() {
                    return End::Cancelled;
                }
                for s in out.sources {
                    if !sources.iter().any(|k| k.url == s.url) {
                        sources.push(s);
                    }
                }
                messages.push(Message::tool_result(c.id.clone(), content));
            }
            calls_made = calls_made.saturating_add(calls.len().min(budget) as u32);
            step += 1;
        }
    }

    /// The prompt budget of a research turn and the largest request it is drawn from: what
    /// the largest request of the pool's tool models (parallel or not: the loop may fall
    /// back to a sequential one) leaves after the answer's share. `None` when no model can
    /// take the turn (the attempt loop then says why) or the state cannot be read.
    async fn research_budget(&self, req: &ChatRequest, with_tools: bool) -> Option<(u64, u64)> {
        let demand = Demand {
            needs_tools: with_tools,
            ..Demand::new(Pool::Chat(Task::Research))
        };
        let largest = self
            .transact(move |fleet, state, _| crate::engine::largest_request(fleet, state, &demand))
            .await
            .ok()
            .flatten()?;
        // An answer length the caller asked for is never shrunk: it all comes off the top
        // (and when it leaves no room at all, there is nothing to fit: the engine says why).
        let budget = match req.max_tokens {
            Some(asked) if asked >= largest => return None,
            Some(asked) => largest - asked,
            None => prompt_budget(largest, crate::tokens::default_max_tokens(Task::Research)),
        };
        Some((budget, largest))
    }

    /// Whether some model of the pool takes several tool calls in one turn.
    fn pool_has_parallel_tools(&self, task: Task) -> bool {
        self.config.pools.get(&task).is_some_and(|pool| {
            pool.iter()
                .filter_map(|m| self.config.model(m))
                .any(|s| s.parallel_tools)
        })
    }
}

/// Runs the calls, at most [`CONCURRENT_CALLS`] at once, and returns each one's output and
/// latency in the order of the calls. Calls past `budget` are not run: their result says so.
async fn run_calls(
    tools: &crate::tools::Tools,
    calls: &[ToolCall],
    budget: usize,
) -> Vec<(ToolOutput, u64)> {
    let slots = tokio::sync::Semaphore::new(CONCURRENT_CALLS);
    let runs: Vec<_> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| run_one(tools, c, i < budget, &slots))
        .collect();
    futures_util::future::join_all(runs).await
}

/// One call, when it is within the budget and a slot is free.
async fn run_one(
    tools: &crate::tools::Tools,
    call: &ToolCall,
    within_budget: bool,
    slots: &tokio::sync::Semaphore,
) -> (ToolOutput, u64) {
    if !within_budget {
        let out = ToolOutput::failed("not run: the research's tool call budget is spent");
        return (out, 0);
    }
    let _slot = slots.acquire().await;
    let started = Instant::now();
    let out = tools.run(call).await;
    (out, started.elapsed().as_millis() as u64)
}

/// The sources an answer used: those whose URL it names, else (none named) all of them.
pub(crate) fn used_sources(answer: &str, sources: &[Source]) -> Vec<Source> {
    let named: Vec<Source> = sources
        .iter()
        .filter(|s| answer.contains(&s.url))
        .cloned()
        .collect();
    if named.is_empty() {
        sources.to_vec()
    } else {
        named
    }
}

/// The numbered list that ends a research answer.
pub(crate) fn sources_text(sources: &[Source]) -> String {
    let mut out = String::from("\n\nSources:\n");
    for (i, s) in sources.iter().enumerate() {
        if s.title.is_empty() {
            out.push_str(&format!("{}. {}\n", i + 1, s.url));
        } else {
            out.push_str(&format!("{}. {} — {}\n", i + 1, s.title, s.url));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(url: &str) -> Source {
        Source {
            title: String::new(),
            url: url.into(),
        }
    }

    #[test]
    fn an_answer_lists_the_sources_it_names_or_else_all() {
        let all = [src("https://a.example/1"), src("https://b.example/2")];
        let used = used_sources("see https://b.example/2 for more", &all);
        assert_eq!(used, [src("https://b.example/2")]);
        assert_eq!(used_sources("no links here", &all).len(), 2);
        assert_eq!(
            sources_text(&all[..1]),
            "\n\nSources:\n1. https://a.example/1\n"
        );
    }
}
