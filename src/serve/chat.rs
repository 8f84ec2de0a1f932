//! `POST /v1/chat/completions`: one client request through the router, answered in
//! OpenAI's shape. A stream starts when the first piece of the answer arrives (so a request
//! rota cannot serve still gets a proper status: 429 with `retry-after`, 400, 502), then
//! every piece is written as it comes. A client that goes away drops the channel the router
//! writes to, which cancels the upstream request and gives back what it had reserved.

use super::Serve;
use super::metrics::Tracker;
use super::wire::{self, ApiError};
use crate::message::ToolCall;
use crate::model::Usage;
use crate::router::events::Event;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The header a client sets to bound how long rota may wait for capacity (`30s`, `500ms`,
/// or seconds as a number).
pub const MAX_WAIT_HEADER: &str = "x-rota-max-wait";

/// The route's name in metrics.
const ROUTE: &str = "/v1/chat/completions";

/// Who is answering, as the events said so far.
#[derive(Default)]
struct Head {
    provider: String,
    model: String,
    attempts: u32,
}

impl Head {
    fn observe(&mut self, ev: &Event) {
        if let Event::ModelSelected {
            provider,
            model,
            attempt,
            ..
        } = ev
        {
            self.provider.clone_from(provider);
            self.model.clone_from(model);
            self.attempts = *attempt;
        }
    }

    /// `x-rota-provider`, `x-rota-model`, `x-rota-attempts`.
    fn headers(&self, resp: &mut Response) {
        let h = resp.headers_mut();
        for (name, value) in [
            ("x-rota-provider", self.provider.clone()),
            ("x-rota-model", self.model.clone()),
            ("x-rota-attempts", self.attempts.to_string()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
    }

    fn answered_by(&self) -> String {
        wire::answered_by(&self.provider, &self.model)
    }
}

/// Handles one chat request.
pub async fn completions(State(s): State<Arc<Serve>>, headers: HeaderMap, body: Body) -> Response {
    let started = std::time::Instant::now();
    let resp = answer(&s, &headers, body).await;
    super::answered(&s, ROUTE, &resp, started);
    resp
}

async fn answer(s: &Arc<Serve>, headers: &HeaderMap, body: Body) -> Response {
    let bytes = match super::read_body(headers, body, s.limits.max_chat_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut call = match wire::chat_call(&bytes, s.router.config(), s.router.fleet()) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    match max_wait(headers) {
        // A client may ask to wait less than the configured bound, never more.
        Ok(w) => call.req.max_wait = w.map(|w| w.min(s.router.config().defaults.max_wait)),
        Err(e) => return e.into_response(),
    }
    let (tx, mut rx) = mpsc::channel::<Event>(256);
    let router = Arc::clone(&s.router);
    let req = call.req;
    s.tasks.spawn(async move { router.run(req, &tx).await });
    let in_flight = InFlight::new(s);
    let mut tracker = s.metrics.track();
    let mut head = Head::default();
    // Nothing is written before the answer's first piece: until then the request can still
    // fail with a status of its own.
    let first = loop {
        let Some(ev) = rx.recv().await else {
            break None;
        };
        tracker.observe(&ev);
        head.observe(&ev);
        if matches!(
            ev,
            Event::Delta { .. }
                | Event::Reasoning { .. }
                | Event::ToolCallDelta { .. }
                | Event::Done { .. }
                | Event::Error { .. }
        ) {
            break Some(ev);
        }
    };
    let first = match first {
        Some(Event::Error {
            kind,
            message,
            retry_after_ms,
        }) => return ApiError::failed(&kind, message, retry_after_ms).into_response(),
        Some(ev) => ev,
        None => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the request ended without an answer",
            )
            .into_response();
        }
    };
    let answer = Answer {
        head,
        rx,
        id: format!("chatcmpl-rota-{:016x}", rand::random::<u64>()),
        created: crate::model::now_ms() / 1000,
    };
    if call.stream {
        stream(answer, first, call.include_usage, in_flight, &tracker)
    } else {
        whole(answer, first, tracker).await
    }
}

/// An answer under way: who answers, the rest of its events, its id and time.
struct Answer {
    head: Head,
    rx: mpsc::Receiver<Event>,
    id: String,
    created: u64,
}

/// Counts a request in flight for as long as it lives.
struct InFlight(Arc<Serve>);

impl InFlight {
    fn new(s: &Arc<Serve>) -> Self {
        s.metrics.in_flight(1);
        Self(Arc::clone(s))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.in_flight(-1);
    }
}

/// The `x-rota-max-wait` header: `None` when absent.
fn max_wait(headers: &HeaderMap) -> Result<Option<Duration>, ApiError> {
    let Some(v) = headers.get(MAX_WAIT_HEADER) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("").trim();
    let parsed = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => {
            Some(Duration::from_secs_f64(secs.min(86_400.0)))
        }
        Ok(_) => None,
        Err(_) => crate::duration::parse(text).ok(),
    };
    parsed.map(Some).ok_or_else(|| {
        ApiError::invalid(
            format!(
                "{MAX_WAIT_HEADER} must be a duration (e.g. 30s, 500ms, or seconds), not {text:?}"
            ),
            None,
        )
    })
}

/// What a whole answer gathered.
#[derive(Default)]
struct Gathered {
    text: String,
    reasoning: String,
    calls: Vec<ToolCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    error: Option<ApiError>,
}

impl Gathered {
    fn add(&mut self, ev: Event) {
        match ev {
            Event::Delta { text } => self.text.push_str(&text),
            Event::Reasoning { text } => self.reasoning.push_str(&text),
            Event::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => ToolCall::fold_piece(&mut self.calls, index, id, name.as_deref(), &arguments),
            Event::Done {
                usage,
                finish_reason,
                ..
            } => {
                self.usage = Some(usage);
                self.finish_reason = finish_reason;
            }
            Event::Error { kind, message, .. } => {
                // The answer broke after it began: the provider's side failed.
                let mut e = ApiError::failed(&kind, message, None);
                e.status = StatusCode::BAD_GATEWAY;
                self.error = Some(e);
            }
            _ => {}
        }
    }
}

/// A non-streamed answer: everything gathered, then one `chat.completion`.
async fn whole(mut a: Answer, first: Event, mut tracker: Tracker<'_>) -> Response {
    let mut got = Gathered::default();
    got.add(first);
    while let Some(ev) = a.rx.recv().await {
        tracker.observe(&ev);
        a.head.observe(&ev);
        got.add(ev);
    }
    if let Some(e) = got.error {
        return e.into_response();
    }
    let v = wire::completion(
        &a.id,
        a.created,
        &a.head.answered_by(),
        &got.text,
        &got.reasoning,
        &got.calls,
        Some(got.finish_reason.as_deref().unwrap_or("stop")),
        got.usage.as_ref(),
    );
    let mut resp = axum::Json(v).into_response();
    a.head.headers(&mut resp);
    resp
}

/// A streamed answer: the chunks are written by a task as the router's events arrive; the
/// body ends with `[DONE]` (or an `error` event when the answer broke). A client that goes
/// away, or stops reading for [`super::WRITE_TIMEOUT`], ends the task, which cancels the
/// request.
fn stream(
    a: Answer,
    first: Event,
    include_usage: bool,
    in_flight: InFlight,
    tracker: &Tracker<'_>,
) -> Response {
    let (btx, brx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let model = a.head.answered_by();
    let current = tracker.current();
    let serve = Arc::clone(&in_flight.0);
    let Answer {
        head,
        mut rx,
        id,
        created,
    } = a;
    let tasks = serve.tasks.clone();
    tasks.spawn(async move {
        let _in_flight = in_flight;
        let mut tracker = serve.metrics.track_from(current);
        let send = |b: Bytes| {
            let btx = btx.clone();
            async move {
                matches!(
                    tokio::time::timeout(super::WRITE_TIMEOUT, btx.send(Ok(b))).await,
                    Ok(Ok(()))
                )
            }
        };
        let role = json!({"role": "assistant", "content": ""});
        if !send(wire::sse(&wire::chunk(&id, created, &model, role, None))).await {
            return;
        }
        let mut next = Some(first);
        loop {
            let ev = match next.take() {
                Some(ev) => ev,
                None => tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ev) => {
                            tracker.observe(&ev);
                            ev
                        }
                        None => break,
                    },
                    // The client went away while the answer paused: returning drops `rx`,
                    // which cancels the request.
                    _ = btx.closed() => return,
                },
            };
            for p in chunks_of(&ev, &id, created, &model, include_usage) {
                // The client went away (or stopped reading): returning drops `rx`, which
                // cancels the request.
                if !send(p).await {
                    return;
                }
            }
            if matches!(ev, Event::Error { .. }) {
                return;
            }
        }
        let _ = send(Bytes::from_static(wire::SSE_DONE)).await;
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(brx));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    head.headers(&mut resp);
    resp
}

/// The SSE events one router event becomes.
fn chunks_of(ev: &Event, id: &str, created: u64, model: &str, include_usage: bool) -> Vec<Bytes> {
    let chunk = |delta: Value| wire::sse(&wire::chunk(id, created, model, delta, None));
    match ev {
        Event::Delta { text } => vec![chunk(json!({"content": text}))],
        Event::Reasoning { text } => vec![chunk(json!({"reasoning_content": text}))],
        Event::ToolCallDelta {
            index,
            id: call_id,
            name,
            arguments,
        } => {
            let mut call = json!({"index": index, "function": {"arguments": arguments}});
            if let Some(i) = call_id {
                call["id"] = i.as_str().into();
                call["type"] = "function".into();
            }
            if let Some(n) = name {
                call["function"]["name"] = n.as_str().into();
            }
            vec![chunk(json!({"tool_calls": [call]}))]
        }
        Event::Done {
            usage,
            finish_reason,
            ..
        } => {
            let finish = finish_reason.as_deref().unwrap_or("stop");
            let mut out = vec![wire::sse(&wire::chunk(
                id,
                created,
                model,
                json!({}),
                Some(finish),
            ))];
            if include_usage {
                out.push(wire::sse(&wire::usage_chunk(id, created, model, usage)));
            }
            out
        }
        Event::Error { kind, message, .. } => {
            let mut e = ApiError::failed(kind, message.clone(), None);
            e.status = StatusCode::BAD_GATEWAY;
            vec![wire::sse(&e.body())]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_wait_reads_durations_and_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(max_wait(&h), Ok(None));
        h.insert(MAX_WAIT_HEADER, HeaderValue::from_static("1.5"));
        assert_eq!(max_wait(&h), Ok(Some(Duration::from_millis(1_500))));
        h.insert(MAX_WAIT_HEADER, HeaderValue::from_static("250ms"));
        assert_eq!(max_wait(&h), Ok(Some(Duration::from_millis(250))));
        h.insert(MAX_WAIT_HEADER, HeaderValue::from_static("soon"));
        assert!(max_wait(&h).is_err());
    }

    #[test]
    fn tool_call_pieces_stream_in_openais_shape() {
        let ev = Event::ToolCallDelta {
            index: 0,
            id: Some("call_1".into()),
            name: Some("get_weather".into()),
            arguments: "{\"city\":".into(),
        };
        let out = chunks_of(&ev, "c1", 1, "groq/m", false);
        let text = String::from_utf8(out[0].to_vec()).unwrap();
        let v: Value = serde_json::from_str(text.trim().trim_start_matches("data: ")).unwrap();
        let call = &v["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(call["id"], "call_1");
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        assert_eq!(call["function"]["arguments"], "{\"city\":");
    }
}
