//! From SSE events to stream events, and from stream events to one answer.
//!
//! [`StreamDecoder`] turns the bytes of a 2xx streamed reply into [`StreamEvent`]s with each
//! dialect's quirks smoothed out: usage repeated up to three times (Groq) is reported once,
//! the last value; two `finish_reason` chunks (Together) give one `Finish`; tool-call
//! fragments are keyed by index, their repeated id/name dropped; `""`/`null` content is no
//! text; a legacy `text` field never doubles the content. `Finish` and `Usage` come last,
//! once the stream has ended. [`Assembler`] folds the events into a [`ChatOutcome`].

use super::core::{WireChunk, WireToolCall, arguments_text, content_text};
use super::error::{CallError, ErrorKind};
use super::sse::{MAX_EVENT_BYTES, SseEvent, SseParser};
use super::{DialectRules, rules};
use crate::engine::Headers;
use crate::model::{Dialect, Usage};
use crate::secret::ApiKey;

/// One piece of a streamed answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// More answer text, in order.
    Text(String),
    /// More of a reasoning model's thinking (`delta.reasoning` or `delta.reasoning_content`),
    /// in order; never part of the answer.
    Reasoning(String),
    /// A piece of a tool call (the first piece of each call carries its id and name).
    ToolCall(ToolCallDelta),
    /// The provider's token counts (sent once, after the last text; never add two).
    Usage(Usage),
    /// Why the answer ended (`stop`, `length`, `tool_calls`, …); sent once, at the end.
    Finish(String),
}

/// A piece of one tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCallDelta {
    /// Which call (0, 1, … in order of first appearance).
    pub index: usize,
    /// The call's id, the first time it is known.
    pub id: Option<String>,
    /// The function name (or a further piece of it), the first time it is known.
    pub name: Option<String>,
    /// More argument text (JSON, possibly incomplete); may be empty.
    pub arguments: String,
}

/// A whole tool call of the answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolCall {
    /// The provider's id for the call (`call_N` when the provider sent none).
    pub id: String,
    /// The function to call.
    pub name: String,
    /// Its arguments as JSON text, exactly as sent.
    pub arguments: String,
}

/// A whole answer, assembled from a stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatOutcome {
    /// The answer text.
    pub text: String,
    /// The thinking of a reasoning model (not part of the answer).
    pub reasoning: String,
    /// The tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
    /// The provider's token counts, when it sent them.
    pub usage: Option<Usage>,
    /// Why the answer ended, when the provider said.
    pub finish_reason: Option<String>,
}

/// What the decoder knows about one tool call.
#[derive(Debug, Default)]
struct CallSlot {
    wire_index: Option<u64>,
    id: Option<String>,
    name: String,
}

/// Turns chunk JSON into events for one choice (index 0), remembering what was seen.
#[derive(Debug)]
struct ChunkDecoder {
    rules: &'static dyn DialectRules,
    calls: Vec<CallSlot>,
    usage: Option<Usage>,
    finish: Option<String>,
    /// Whether any chunk (or `[DONE]`) was read: a body with neither is no answer.
    seen: bool,
    /// Chunks that carried part of the answer (see [`StreamDecoder::progress`]).
    progress: u64,
    done: bool,
    ended: bool,
}

/// What one SSE event meant.
enum Step {
    Events,
    ProviderError(String),
}

impl ChunkDecoder {
    fn new(dialect: Dialect) -> Self {
        Self {
            rules: rules(dialect),
            calls: Vec::new(),
            usage: None,
            finish: None,
            seen: false,
            progress: 0,
            done: false,
            ended: false,
        }
    }

    /// Handles one SSE event.
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<Step, CallError> {
        if self.done {
            return Ok(Step::Events);
        }
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(Step::Events);
        }
        if data == "[DONE]" {
            self.seen = true;
            self.progress += 1;
            self.done = true;
            return Ok(Step::Events);
        }
        let named = ev.event.as_deref().filter(|e| *e != "message");
        if named == Some("error") {
            return Ok(Step::ProviderError(data.to_string()));
        }
        let chunk: WireChunk = match serde_json::from_str(data) {
            Ok(c) => c,
            // A named event of another kind (`event: ping`) need not hold a chunk.
            Err(_) if named.is_some() => return Ok(Step::Events),
            Err(e) => {
                return Err(CallError::bad_response(format!(
                    "the provider sent a malformed stream chunk ({e}): {}; try another model \
                     or report it if it keeps happening",
                    super::error::truncate(data, 200)
                )));
            }
        };
        if chunk.error.as_ref().is_some_and(|e| !e.is_null()) {
            return Ok(Step::ProviderError(data.to_string()));
        }
        self.seen = true;
        self.chunk(&chunk, out);
        Ok(Step::Events)
    }

    /// Handles one parsed chunk (or whole completion).
    fn chunk(&mut self, chunk: &WireChunk, out: &mut Vec<StreamEvent>) {
        let before = out.len();
        let mut progressed = false;
        if let Some(u) = chunk.usage(self.rules) {
            self.usage = Some(u);
            progressed = true;
        }
        for choice in chunk.choices.iter().flatten() {
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            let delta = choice.delta.as_ref().or(choice.message.as_ref());
            match delta {
                Some(d) => {
                    let thinking = d.reasoning.as_ref().or(d.reasoning_content.as_ref());
                    if let Some(t) = thinking.and_then(content_text) {
                        out.push(StreamEvent::Reasoning(t));
                    }
                    if let Some(t) = d.content.as_ref().and_then(content_text) {
                        out.push(StreamEvent::Text(t));
                    }
                    for frag in d.tool_calls.iter().flatten() {
                        self.tool_fragment(frag, out);
                    }
                }
                None if !self.rules.legacy_text_field() => {
                    if let Some(t) = choice.text.as_ref().filter(|t| !t.is_empty()) {
                        out.push(StreamEvent::Text(t.clone()));
                    }
                }
                None => {}
            }
            if let Some(f) = choice.finish_reason.as_ref().filter(|f| !f.is_empty()) {
                self.finish = Some(f.clone());
                progressed = true;
            }
        }
        if progressed || out.len() > before {
            self.progress += 1;
        }
    }

    /// Finds (or opens) the slot of a fragment.
    fn slot_of(&mut self, frag: &WireToolCall) -> usize {
        let by_id =
            |calls: &[CallSlot], id: &str| calls.iter().position(|c| c.id.as_deref() == Some(id));
        let found = match (frag.index, frag.id.as_deref().filter(|i| !i.is_empty())) {
            (Some(i), id) => self
                .calls
                .iter()
                .rposition(|c| c.wire_index == Some(i))
                // Same index but a different id: a server that numbers every call 0.
                .filter(|&s| match (id, self.calls[s].id.as_deref()) {
                    (Some(new), Some(old)) => new == old,
                    _ => true,
                })
                .or_else(|| id.and_then(|id| by_id(&self.calls, id))),
            (None, Some(id)) => by_id(&self.calls, id),
            (None, None) => self.calls.len().checked_sub(1),
        };
        found.unwrap_or_else(|| {
            self.calls.push(CallSlot {
                wire_index: frag.index,
                ..CallSlot::default()
            });
            self.calls.len() - 1
        })
    }

    /// Handles one tool-call fragment.
    fn tool_fragment(&mut self, frag: &WireToolCall, out: &mut Vec<StreamEvent>) {
        let s = self.slot_of(frag);
        let slot = &mut self.calls[s];
        let id = frag
            .id
            .as_ref()
            .filter(|i| !i.is_empty() && slot.id.is_none())
            .cloned();
        if id.is_some() {
            slot.id = id.clone();
        }
        let func = frag.function.as_ref();
        let name = func
            .and_then(|f| f.name.as_ref())
            .filter(|n| !n.is_empty() && **n != slot.name)
            .cloned();
        if let Some(n) = &name {
            slot.name.push_str(n);
        }
        let arguments = func
            .and_then(|f| f.arguments.as_ref())
            .map(arguments_text)
            .unwrap_or_default();
        if id.is_some() || name.is_some() || !arguments.is_empty() {
            out.push(StreamEvent::ToolCall(ToolCallDelta {
                index: s,
                id,
                name,
                arguments,
            }));
        }
    }

    /// The stream ended: delivers `Finish` and `Usage`, once. A body that held no chunk at
    /// all (an HTML page, an empty 200) is a bad response.
    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), CallError> {
        if self.ended {
            return Ok(());
        }
        self.ended = true;
        self.done = true;
        if !self.seen {
            return Err(CallError::bad_response(
                "the provider's reply held no answer (no `data:` chunk): check the provider's \
                 base_url, or try another model",
            ));
        }
        if let Some(f) = self.finish.take() {
            out.push(StreamEvent::Finish(f));
        }
        if let Some(u) = self.usage.take() {
            out.push(StreamEvent::Usage(u));
        }
        Ok(())
    }
}

/// Decodes the bytes of one streamed chat reply into [`StreamEvent`]s.
#[derive(Debug)]
pub struct StreamDecoder {
    sse: SseParser,
    chunks: ChunkDecoder,
    dialect: Dialect,
    status: u16,
    headers: Headers,
    key: Option<ApiKey>,
}

impl StreamDecoder {
    /// A decoder for a stream of `dialect` (status 200, no headers: for replays and tests).
    pub fn new(dialect: Dialect) -> Self {
        Self::for_reply(dialect, 200, Vec::new(), None)
    }

    /// A decoder for a live reply: its status and headers go into in-stream errors, and
    /// `key` is masked wherever a provider echoes it.
    pub fn for_reply(dialect: Dialect, status: u16, headers: Headers, key: Option<ApiKey>) -> Self {
        Self {
            sse: SseParser::new(),
            chunks: ChunkDecoder::new(dialect),
            dialect,
            status,
            headers,
            key,
        }
    }

    /// Feeds the next bytes, appending the events they complete to `out`. Events decoded
    /// before an error are appended too; after an error the decoder should be dropped.
    /// An event that grows past [`MAX_EVENT_BYTES`] without ending is a bad response.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), CallError> {
        let events = self.sse.feed(bytes);
        self.events(&events, out)?;
        if self.sse.buffered() > MAX_EVENT_BYTES {
            return Err(CallError::bad_response(format!(
                "the provider sent over {} MiB without ending an event: the stream is broken, \
                 try another model",
                MAX_EVENT_BYTES / (1024 * 1024)
            ))
            .with_reply(self.status, &self.headers));
        }
        Ok(())
    }

    /// The stream ended (with or without `[DONE]`): appends the last events.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), CallError> {
        let events = self.sse.finish();
        self.events(&events, out)?;
        self.chunks
            .end(out)
            .map_err(|e| e.with_reply(self.status, &self.headers))
    }

    /// How many chunks so far carried part of the answer: text, reasoning, a tool-call
    /// piece, usage, a finish reason, or `[DONE]`. Keep-alive comments, empty `data:` lines,
    /// named events that are not chunks (`event: ping`) and chunks with nothing in them
    /// (an empty delta, no choices) do not count: they show the connection is alive, not
    /// that the answer advances, so they reset no first-byte or idle timer.
    pub fn progress(&self) -> u64 {
        self.chunks.progress
    }

    /// Whether `[DONE]` was seen (nothing after it matters).
    pub fn is_done(&self) -> bool {
        self.chunks.done
    }

    /// Decodes a whole (non-streamed) `chat.completion` body into events, ending them.
    pub fn whole(&mut self, body: &str, out: &mut Vec<StreamEvent>) -> Result<(), CallError> {
        let ev = SseEvent {
            data: body.to_string(),
            ..SseEvent::default()
        };
        self.events(std::slice::from_ref(&ev), out)?;
        self.chunks
            .end(out)
            .map_err(|e| e.with_reply(self.status, &self.headers))
    }

    fn events(&mut self, events: &[SseEvent], out: &mut Vec<StreamEvent>) -> Result<(), CallError> {
        for ev in events {
            let step = self.chunks.event(ev, out).map_err(|e| {
                e.with_reply(self.status, &self.headers)
                    .masking(self.key.as_ref())
            })?;
            if let Step::ProviderError(body) = step {
                return Err(self.provider_error(&body));
            }
        }
        Ok(())
    }

    /// An error object inside the stream, read by `classify` with the status it names
    /// (numeric `code`/`status`/`status_code`), else 500.
    fn provider_error(&self, body: &str) -> CallError {
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let err = v.get("error").unwrap_or(&v);
        let named = ["status_code", "status", "code"].iter().find_map(|k| {
            let f = err.get(*k)?;
            f.as_u64()
                .or_else(|| f.as_str().and_then(|s| s.parse().ok()))
                .filter(|s| (400..600).contains(s))
        });
        let status = named.and_then(|s| u16::try_from(s).ok()).unwrap_or(500);
        let mut e = CallError::from_reply(
            ErrorKind::InStream,
            self.dialect,
            status,
            self.headers.clone(),
            body,
            self.key.as_ref(),
        );
        e.status = Some(self.status);
        e
    }
}

/// Folds stream events into a [`ChatOutcome`].
#[derive(Debug, Default)]
pub struct Assembler {
    outcome: ChatOutcome,
}

impl Assembler {
    /// An empty answer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one event: text appends, tool-call pieces join their call, a later usage or
    /// finish reason replaces an earlier one (never adds).
    pub fn push(&mut self, ev: &StreamEvent) {
        let o = &mut self.outcome;
        match ev {
            StreamEvent::Text(t) => o.text.push_str(t),
            StreamEvent::Reasoning(t) => o.reasoning.push_str(t),
            StreamEvent::ToolCall(d) => {
                while o.tool_calls.len() <= d.index {
                    o.tool_calls.push(ToolCall::default());
                }
                let call = &mut o.tool_calls[d.index];
                if let Some(id) = &d.id {
                    call.id = id.clone();
                }
                if let Some(n) = &d.name {
                    call.name.push_str(n);
                }
                call.arguments.push_str(&d.arguments);
            }
            StreamEvent::Usage(u) => o.usage = Some(*u),
            StreamEvent::Finish(f) => o.finish_reason = Some(f.clone()),
        }
    }

    /// The answer so far.
    pub fn outcome(&self) -> &ChatOutcome {
        &self.outcome
    }

    /// The whole answer (calls without an id get `call_N`).
    pub fn finish(mut self) -> ChatOutcome {
        for (i, c) in self.outcome.tool_calls.iter_mut().enumerate() {
            if c.id.is_empty() {
                c.id = format!("call_{i}");
            }
        }
        self.outcome
    }
}

/// Decodes a whole recorded stream body at once (replays, the simulator's self-checks).
pub fn decode_stream(dialect: Dialect, body: &[u8]) -> Result<ChatOutcome, CallError> {
    let mut dec = StreamDecoder::new(dialect);
    let mut events = Vec::new();
    dec.feed(body, &mut events)?;
    dec.finish(&mut events)?;
    let mut asm = Assembler::new();
    events.iter().for_each(|e| asm.push(e));
    Ok(asm.finish())
}
