//! `POST /{provider}/v1/chat/completions`: auth, model, faults, context and limits, then the
//! answer, streamed at the scenario's pace or whole.

use super::answer::{self, hash};
use super::dialect;
use super::faults::FaultKind;
use super::limits::Ask;
use super::scenario::{FaultRule, ModelScenario};
use super::server::{Fleet, add_headers, json_reply, provider_of, streaming_body};
use super::stats::bump;
use super::stream::{Chunk, Completion, malformed, tool_call_tokens};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Default wait of `slow_first_byte` when the rule names no delay.
const SLOW_FIRST_BYTE: Duration = Duration::from_secs(2);

/// Time given to the bytes before a cut to leave the server (hyper drops unflushed output
/// when a body fails).
const CUT_FLUSH: Duration = Duration::from_millis(25);

/// The chat-completions handler.
pub async fn handle(
    State(fleet): State<Arc<Fleet>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let p = match provider_of(&fleet, &name) {
        Ok(p) => p,
        Err(r) => return json_reply(r, Vec::new()),
    };
    let d = p.dialect();
    let account = match p.account(&headers) {
        Ok(a) => a,
        Err(r) => return json_reply(r, Vec::new()),
    };
    let body: Value = match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) if v.is_object() => v,
        _ => {
            return json_reply(
                dialect::bad_request(
                    d,
                    "The request body is not a JSON object: send an OpenAI chat-completions request.",
                ),
                Vec::new(),
            );
        }
    };
    let Some(model_id) = body.get("model").and_then(Value::as_str) else {
        return json_reply(
            dialect::bad_request(d, "you must provide a model parameter"),
            Vec::new(),
        );
    };
    let mi = match p.model_for(account, model_id) {
        Ok(i) => i,
        Err(r) => return json_reply(r, Vec::new()),
    };
    let m = &p.sc.models[mi];
    let slot = p.slot(account, mi);
    let st = &slot.stats;
    bump(&st.requests);
    if m.transcription {
        bump(&st.errors);
        return json_reply(
            dialect::bad_request(
                d,
                &format!("The model `{model_id}` does not support chat completions"),
            ),
            Vec::new(),
        );
    }

    let fault = fleet
        .dice
        .roll(&fleet.faults, &p.sc.name, model_id)
        .cloned();
    if let Some(f) = &fault
        && f.kind.before_headers()
    {
        bump(&st.faults);
        bump(&st.errors);
        let reply = match f.kind {
            FaultKind::Http503 => dialect::overloaded(d, model_id),
            FaultKind::HangBeforeHeaders => {
                fleet.pause(f.delay).await;
                dialect::server_error(d)
            }
            _ => dialect::server_error(d),
        };
        return json_reply(reply, Vec::new());
    }

    if m.reasoning && d == crate::model::Dialect::OpenAi && body.get("max_tokens").is_some() {
        bump(&st.errors);
        return json_reply(dialect::unsupported_max_tokens(d), Vec::new());
    }
    let prompt = crate::tokens::estimate_request(&body, Some(&p.model_refs[mi])).prompt_tokens;
    let max_tokens = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(m.default_max_tokens);
    if let Some(most) = m.max_output_tokens
        && max_tokens > most
    {
        bump(&st.errors);
        return json_reply(
            dialect::bad_request(
                d,
                &format!(
                    "max_tokens is too large: {max_tokens}. This model supports at most {most} completion tokens, whereas you provided {max_tokens}."
                ),
            ),
            Vec::new(),
        );
    }
    // `max_tokens` comes from the client: any u64 must be refused, never overflow.
    if prompt.saturating_add(max_tokens) > m.context_window {
        bump(&st.errors);
        return json_reply(
            dialect::context_length(d, m.context_window, prompt, max_tokens),
            Vec::new(),
        );
    }

    let completion = compose(&fleet, d, m, &body, model_id, prompt, max_tokens);
    let chunks_needed = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mid = fault.clone().filter(|f| f.kind != FaultKind::SlowFirstByte);
    let strike_at = mid.as_ref().map(|f| {
        f.after_tokens
            .min(completion.completion_tokens.saturating_sub(1))
    });
    let used = match (&mid, strike_at) {
        (Some(f), Some(at))
            if matches!(f.kind, FaultKind::CutStream | FaultKind::HangMidStream) =>
        {
            at
        }
        _ => completion.completion_tokens,
    };

    let now = fleet.now();
    let mut extra = Vec::new();
    {
        let mut w = slot.lock();
        let ticket = match w.admit(
            now,
            Ask {
                tokens: prompt + max_tokens,
                audio_secs: 0,
            },
        ) {
            Ok(t) => t,
            Err(refusal) => {
                p.rate_headers(&mut w, now, &mut extra);
                drop(w);
                let reply = dialect::refusal(d, model_id, &p.sc.accounts[account].name, &refusal);
                bump(if reply.0 == 413 { &st.r413 } else { &st.r429 });
                return json_reply(reply, extra);
            }
        };
        w.true_up(
            &ticket,
            Ask {
                tokens: prompt + used,
                audio_secs: 0,
            },
            true,
        );
        p.rate_headers(&mut w, now, &mut extra);
    }
    st.tokens.fetch_add(prompt + used, Ordering::Relaxed);
    match &fault {
        Some(f) if f.kind == FaultKind::SlowFirstByte => {
            bump(&st.faults);
            bump(&st.ok);
            fleet.pause(Some(f.delay.unwrap_or(SLOW_FIRST_BYTE))).await;
        }
        Some(_) => bump(&st.faults),
        None => bump(&st.ok),
    }

    let pace = Pace {
        ttft: m.ttft,
        tokens_per_sec: m.tokens_per_sec,
    };
    let mid = mid.zip(strike_at);
    if chunks_needed {
        let content_type = if d == crate::model::Dialect::Together {
            "text/event-stream;charset=utf-8"
        } else {
            "text/event-stream"
        };
        extra.push(("cache-control", "no-cache".into()));
        let chunks = completion.chunks();
        let body = if pace.is_instant() && mid.is_none() {
            Body::from(chunks.into_iter().map(|c| c.data).collect::<String>())
        } else {
            send_paced(fleet.clone(), chunks, pace, mid, completion.id.clone())
        };
        return respond(content_type, body, extra);
    }

    let text = completion.body().to_string();
    let delay = pace.due(completion.completion_tokens);
    match mid {
        None => {
            if !delay.is_zero() {
                fleet.pause(Some(delay)).await;
            }
            respond("application/json", Body::from(text), extra)
        }
        Some((f, _)) => {
            let half = text.len() / 2;
            let head = Bytes::from(text.into_bytes()).slice(..half);
            let (tx, rx) = tokio::sync::mpsc::channel(2);
            let fleet2 = fleet.clone();
            tokio::spawn(async move {
                fleet2.pause(Some(delay)).await;
                if tx.send(Ok(head)).await.is_err() {
                    return;
                }
                match f.kind {
                    FaultKind::CutStream => cut(&tx).await,
                    FaultKind::HangMidStream => fleet2.pause(f.delay).await,
                    _ => {}
                }
            });
            respond("application/json", streaming_body(rx), extra)
        }
    }
}

/// Lets what was sent reach the socket, then breaks the connection.
async fn cut(tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>) {
    tokio::time::sleep(CUT_FLUSH).await;
    let _ = tx
        .send(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "sim fault: connection cut",
        )))
        .await;
}

fn respond(content_type: &'static str, body: Body, extra: Vec<(&'static str, String)>) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    add_headers(&mut resp, extra);
    resp
}

/// Builds the answer: tool calls when offered and chosen, else text bounded by max_tokens.
fn compose(
    fleet: &Fleet,
    dialect: crate::model::Dialect,
    m: &ModelScenario,
    body: &Value,
    model_id: &str,
    prompt: u64,
    max_tokens: u64,
) -> Completion {
    let topic = answer::last_user_text(body);
    let seed = hash(topic.as_bytes()) ^ hash(model_id.as_bytes());
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let use_tools = m.tools
        && answer::wants_tools_until(body, fleet.scenario.search.wanted)
        && (m.tool_call_probability >= 1.0 || fleet.dice.unit() < m.tool_call_probability);
    let (pieces, tool_calls, finish_reason, completion_tokens) = if use_tools {
        let calls = answer::tool_calls(body, m.parallel_tool_calls, seed);
        let tokens = tool_call_tokens(&calls).min(max_tokens);
        (Vec::new(), calls, "tool_calls", tokens)
    } else {
        // Answers vary around the scenario's length: 70 % – 130 %.
        let wanted = (m.answer_tokens * (70 + seed % 61) / 100).max(1);
        let n = wanted.min(max_tokens).max(1);
        let finish = if wanted > max_tokens {
            "length"
        } else {
            "stop"
        };
        let words = answer::words(seed, n as usize);
        (answer::pieces(&words), Vec::new(), finish, n)
    };
    // A reasoning model thinks a little first (within max_tokens, as real ones count it);
    // OpenAI's Chat Completions stream no thinking text, only its token count.
    let thinking_tokens = if m.reasoning {
        (max_tokens.saturating_sub(completion_tokens)).min(12)
    } else {
        0
    };
    let thinking = if thinking_tokens > 0 && dialect != crate::model::Dialect::OpenAi {
        let mut w = vec![
            "The".to_string(),
            "user".into(),
            "asks".into(),
            "about".into(),
        ];
        w.extend(answer::words(
            seed ^ 0x0074_6869_6e6b,
            thinking_tokens as usize,
        ));
        w.truncate(thinking_tokens as usize);
        answer::pieces(&w)
    } else {
        Vec::new()
    };
    let completion_tokens = completion_tokens + thinking_tokens;
    let uniq = fleet.dice.next_u64();
    Completion {
        dialect,
        id: format!("chatcmpl-{uniq:016x}"),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        model: model_id.to_string(),
        pieces,
        thinking,
        tool_calls,
        finish_reason,
        prompt_tokens: prompt,
        completion_tokens,
        include_usage,
        seed,
    }
}

/// Streaming pace of one model.
#[derive(Clone, Copy, Debug)]
struct Pace {
    ttft: Duration,
    tokens_per_sec: f64,
}

impl Pace {
    fn is_instant(&self) -> bool {
        self.ttft.is_zero() && self.tokens_per_sec <= 0.0
    }

    /// When token number `n` (0-based) is due, from the start of the answer.
    fn due(&self, n: u64) -> Duration {
        if self.tokens_per_sec > 0.0 {
            let after = Duration::try_from_secs_f64(n as f64 / self.tokens_per_sec);
            self.ttft.saturating_add(after.unwrap_or(Duration::MAX))
        } else {
            self.ttft
        }
    }
}

/// Streams the chunks at the pace, striking the mid-stream fault (if any) once `at` answer
/// tokens were sent.
fn send_paced(
    fleet: Arc<Fleet>,
    chunks: Vec<Chunk>,
    pace: Pace,
    mid: Option<(FaultRule, u64)>,
    id: String,
) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let mut sent = 0u64;
        let mut fired = false;
        for chunk in chunks {
            if chunk.tokens > 0 {
                tokio::select! {
                    _ = tokio::time::sleep_until(start + pace.due(sent)) => {}
                    _ = fleet.shutdown.cancelled() => return,
                }
                if let Some((f, at)) = &mid
                    && !fired
                    && sent >= *at
                {
                    fired = true;
                    match f.kind {
                        FaultKind::MalformedChunk
                            if tx.send(Ok(Bytes::from(malformed(&id).data))).await.is_err() =>
                        {
                            return;
                        }
                        FaultKind::CutStream => {
                            cut(&tx).await;
                            return;
                        }
                        FaultKind::HangMidStream => {
                            fleet.pause(f.delay).await;
                            return;
                        }
                        _ => {}
                    }
                }
            }
            if tx.send(Ok(Bytes::from(chunk.data))).await.is_err() {
                return;
            }
            sent += chunk.tokens;
        }
    });
    streaming_body(rx)
}
