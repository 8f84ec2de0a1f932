//! The HTTP side: one pooled reqwest client per base URL, no automatic retries, every
//! phase under a timeout, keys sent only over https or to loopback.

use super::assemble::{Assembler, ChatOutcome, StreamDecoder, StreamEvent};
use super::core::{chat_body, parse_models};
use super::error::{CallError, ErrorKind, MAX_ERROR_BODY};
use super::{Endpoint, Timeouts};
use crate::config::url::shown;
use crate::engine::Headers;
use crate::model::Reason;
use crate::secret::ApiKey;
use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use reqwest::Url;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Where `localhost` goes: loopback, never asked of a resolver.
const LOCALHOST: [std::net::SocketAddr; 2] = [
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0),
    std::net::SocketAddr::new(std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), 0),
];

/// Largest `/models` answer read; a larger one is a bad response.
const MAX_MODELS_BODY: usize = 8 * 1024 * 1024;

/// Largest whole (non-streamed) chat answer or transcription read; a larger one is a bad
/// response. A whole completion carries no per-token framing: even the longest answer any
/// catalog model may write (128 000 tokens) is about 1 MB of JSON, and a word-by-word
/// transcript of a 25 MB upload a few MB.
pub const MAX_ANSWER_BODY: usize = 16 * 1024 * 1024;

/// Largest streamed chat answer read, in bytes of the event stream (keep-alives and empty
/// chunks included); a larger one is a bad response. The longest answer any catalog model
/// may write (128 000 tokens) streams as about as many chunks of 200–400 bytes, at most
/// ~50 MB; past this bound the stream is broken or hostile, and reading on would only grow
/// memory (the answer is kept whole).
pub const MAX_STREAM_BYTES: usize = 64 * 1024 * 1024;

/// One MiB, for messages.
const MIB: usize = 1024 * 1024;

/// Calls OpenAI-compatible endpoints. Cheap to clone (an `Arc` inside) and to share between
/// tasks: one pooled HTTP client per base URL, reused for every call to it (keep-alive,
/// HTTP/2 where the server offers it). Never retries by itself: rotation is the router's.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    timeouts: Timeouts,
    pools: Mutex<HashMap<String, reqwest::Client>>,
}

/// What to transcribe and how (`model` is the provider's model id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TranscribeRequest {
    /// The model, e.g. `whisper-large-v3-turbo`.
    pub model: String,
    /// The spoken language (ISO-639-1), if known.
    pub language: Option<String>,
    /// Text to guide the style or continue a previous segment.
    pub prompt: Option<String>,
    /// `json` (the default), `text`, `verbose_json`, `srt` or `vtt`.
    pub response_format: Option<String>,
}

/// A transcription and the reply it came in (its headers feed the engine's header sync).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcription {
    /// The transcript.
    pub text: String,
    /// The reply's headers, lowercase names.
    pub headers: Headers,
    /// The reply's status.
    pub status: u16,
}

type BodyStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// A streamed chat answer: the reply's status and headers, then its events via
/// [`ChatStream::next`].
pub struct ChatStream {
    /// The reply's HTTP status (2xx).
    pub status: u16,
    /// The reply's headers with lowercase names (for the engine's header sync).
    pub headers: Headers,
    body: Option<BodyStream>,
    /// The rest of the body after `[DONE]`, read to its end before `next` says `None`
    /// (so the connection returns to the pool), or in the background if dropped first.
    tail: Option<BodyStream>,
    decoder: StreamDecoder,
    pending: VecDeque<StreamEvent>,
    error: Option<CallError>,
    /// Whether any part of the answer arrived (see [`StreamDecoder::progress`]).
    progressed: bool,
    /// When the last part of the answer arrived (before the first: the reply's headers).
    progress_at: Instant,
    /// Bytes of the body read so far (at most [`MAX_STREAM_BYTES`]).
    received: usize,
    deadline: Deadline,
    timeouts: Timeouts,
    host: String,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// The next event; `None` once the answer is complete (after `Finish` and `Usage`) or
    /// after an error was returned. No part of the answer for longer than `idle` (before
    /// the first part: `first_byte` after the headers) is a [`Reason::Timeout`] — keep-alive
    /// comments and empty chunks do not count as parts (see [`StreamDecoder::progress`]) —
    /// and so is an attempt still streaming `request` after it was sent; a broken
    /// connection is [`Reason::Connection`]; a malformed chunk, or a stream over
    /// [`MAX_STREAM_BYTES`], [`Reason::BadResponse`]; an error object in the stream is read
    /// by `classify`.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, CallError>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(Ok(ev));
            }
            if let Some(e) = self.error.take() {
                self.body = None;
                return Some(Err(e));
            }
            let Some(body) = self.body.as_mut() else {
                if let Some(tail) = self.tail.take() {
                    drain(tail, self.timeouts.idle.min(TAIL_WAIT)).await;
                }
                return None;
            };
            let (wait, what, when) = if self.progressed {
                (self.timeouts.idle, "idle_timeout", "mid-answer")
            } else {
                (
                    self.timeouts.first_byte,
                    "first_byte_timeout",
                    "before its first token",
                )
            };
            let quiet_until = after(self.progress_at, wait);
            let mut out = Vec::new();
            match tokio::time::timeout_at(quiet_until.min(self.deadline.at), body.next()).await {
                Err(_) => {
                    self.body = None;
                    let e = if self.deadline.at <= quiet_until {
                        self.deadline
                            .exceeded(&format!("{} was still sending its answer", self.host))
                    } else {
                        CallError::timeout(format!(
                            "{} sent no part of its answer for {} {when} (keep-alives do not \
                             count): try again, or raise {what} in [defaults]",
                            self.host,
                            crate::duration::format(wait)
                        ))
                    };
                    return Some(Err(e.with_reply(self.status, &self.headers)));
                }
                Ok(None) => {
                    self.body = None;
                    if let Err(e) = self.decoder.finish(&mut out) {
                        self.error = Some(e);
                    }
                }
                Ok(Some(Err(e))) => {
                    self.body = None;
                    let mut ce = CallError::connection(format!(
                        "the connection to {} broke mid-answer ({}): the answer is incomplete, try again",
                        self.host,
                        chain(&e)
                    ));
                    if e.is_timeout() {
                        ce = CallError::timeout(ce.classified.message);
                    }
                    self.error = Some(ce.with_reply(self.status, &self.headers));
                }
                Ok(Some(Ok(bytes))) => {
                    self.received = self.received.saturating_add(bytes.len());
                    if self.received > MAX_STREAM_BYTES {
                        self.body = None;
                        self.error = Some(
                            CallError::bad_response(format!(
                                "{} streamed over {} MiB without ending its answer: no real \
                                 answer is that long, the stream is broken; try another model",
                                self.host,
                                MAX_STREAM_BYTES / MIB
                            ))
                            .with_reply(self.status, &self.headers),
                        );
                        continue;
                    }
                    let before = self.decoder.progress();
                    if let Err(e) = self.decoder.feed(&bytes, &mut out) {
                        self.body = None;
                        self.error = Some(e);
                    } else if self.decoder.is_done() {
                        self.tail = self.body.take();
                        if let Err(e) = self.decoder.finish(&mut out) {
                            self.error = Some(e);
                        }
                    }
                    if self.decoder.progress() != before {
                        self.progressed = true;
                        self.progress_at = Instant::now();
                    }
                }
            }
            self.pending.extend(out);
        }
    }

    /// Reads the whole answer and assembles it.
    pub async fn collect(mut self) -> Result<ChatOutcome, CallError> {
        let mut asm = Assembler::new();
        while let Some(ev) = self.next().await {
            asm.push(&ev?);
        }
        Ok(asm.finish())
    }
}

/// Longest wait for the end of a body after `[DONE]`.
const TAIL_WAIT: Duration = Duration::from_millis(250);

/// Reads what follows `[DONE]` (normally just the end of the body) so an HTTP/1.1
/// connection goes back to the pool instead of being closed. Gives up after `limit` or
/// 64 KiB.
async fn drain(mut body: BodyStream, limit: Duration) {
    let _ = tokio::time::timeout(limit, async {
        let mut seen = 0usize;
        while let Some(Ok(b)) = body.next().await {
            seen += b.len();
            if seen > 64 * 1024 {
                break;
            }
        }
    })
    .await;
}

impl Drop for ChatStream {
    fn drop(&mut self) {
        if let Some(mut tail) = self.tail.take() {
            if let Some(None) = tail.next().now_or_never() {
                return;
            }
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(drain(tail, TAIL_WAIT));
            }
        }
    }
}

impl Client {
    /// A client whose calls run under `timeouts`.
    pub fn new(timeouts: Timeouts) -> Self {
        Self {
            inner: Arc::new(Inner {
                timeouts,
                pools: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The timeouts every call runs under.
    pub fn timeouts(&self) -> Timeouts {
        self.inner.timeouts
    }

    /// The pooled HTTP client of a base URL (built on first use).
    fn http(&self, base_url: &str) -> Result<reqwest::Client, CallError> {
        let mut pools = self
            .inner
            .pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = pools.get(base_url) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder();
        if Url::parse(base_url).is_ok_and(|u| is_loopback(&u)) {
            // A proxy cannot reach this machine's loopback: never route local servers through
            // one. And `localhost` is this machine whatever the resolver says.
            builder = builder.no_proxy().resolve_to_addrs("localhost", &LOCALHOST);
        }
        let c = builder
            .connect_timeout(self.inner.timeouts.connect)
            .retry(reqwest::retry::never())
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_nodelay(true)
            .user_agent(concat!("rota/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                CallError::local(format!(
                    "could not set up HTTP for {} ({}): check the TLS setup",
                    shown(base_url),
                    chain(&e)
                ))
            })?;
        pools.insert(base_url.to_string(), c.clone());
        Ok(c)
    }

    /// The URL of `path` under the endpoint, checked, and the client to call it with.
    fn prepare(&self, ep: &Endpoint, path: &str) -> Result<(reqwest::Client, Url), CallError> {
        let url = check_url(&ep.url(path), ep.key.is_some())?;
        Ok((self.http(&ep.base_url)?, url))
    }

    /// Streams a chat answer: POSTs `body` to `{base}/chat/completions` with `stream: true`
    /// and `stream_options.include_usage: true` set (tools and image parts pass through).
    /// Returns once the reply's headers arrived (within `connect + first_byte`). A non-2xx
    /// reply becomes a [`CallError`] read by `classify`, keeping status, headers and body.
    /// The whole attempt, until the answer's last byte, runs under `request`.
    pub async fn chat(&self, ep: &Endpoint, body: &Value) -> Result<ChatStream, CallError> {
        let body = chat_body(body).ok_or_else(|| {
            CallError::local(
                "the chat request body must be a JSON object (a bug in rota: please report it)",
            )
        })?;
        let (http, url) = self.prepare(ep, "chat/completions")?;
        let host = host_of(&url);
        let req = with_key(http.post(url), ep.key.as_ref())
            .header("accept", "text/event-stream")
            .json(&body);
        let t = self.inner.timeouts;
        let deadline = Deadline::start(t);
        let resp = send(req, t, deadline, &host, ep.key.as_ref()).await?;
        let status = resp.status().as_u16();
        let headers = headers_of(resp.headers());
        if !resp.status().is_success() {
            return Err(self.reply_error(ep, resp, status, headers, deadline).await);
        }
        let json = headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.contains("json"));
        let mut stream = ChatStream {
            status,
            headers: headers.clone(),
            body: None,
            tail: None,
            decoder: StreamDecoder::for_reply(ep.dialect, status, headers, ep.key.clone()),
            pending: VecDeque::new(),
            error: None,
            progressed: false,
            progress_at: Instant::now(),
            received: 0,
            deadline,
            timeouts: t,
            host,
        };
        if json {
            // The server ignored `stream: true` and sent the whole completion.
            let bytes = read_whole(
                resp,
                MAX_ANSWER_BODY,
                t,
                deadline,
                &stream.host,
                "an answer",
            )
            .await
            .map_err(|e| e.with_reply(status, &stream.headers))?;
            let mut out = Vec::new();
            match stream
                .decoder
                .whole(&String::from_utf8_lossy(&bytes), &mut out)
            {
                Ok(()) => stream.pending.extend(out),
                Err(e) => stream.error = Some(e),
            }
        } else {
            stream.body = Some(Box::pin(resp.bytes_stream()));
        }
        Ok(stream)
    }

    /// Lists the model ids the key can see: `GET {base}/models` (for `rota keys check`:
    /// `Ok` = valid, [`Reason::Auth`] = invalid, timeout/connection = unreachable).
    pub async fn list_models(&self, ep: &Endpoint) -> Result<Vec<String>, CallError> {
        let (http, url) = self.prepare(ep, "models")?;
        let host = host_of(&url);
        let req = with_key(http.get(url), ep.key.as_ref()).header("accept", "application/json");
        let t = self.inner.timeouts;
        let deadline = Deadline::start(t);
        let resp = send(req, t, deadline, &host, ep.key.as_ref()).await?;
        let status = resp.status().as_u16();
        let headers = headers_of(resp.headers());
        if !resp.status().is_success() {
            let mut e = self.reply_error(ep, resp, status, headers, deadline).await;
            if matches!(status, 401 | 403) {
                e.classified.reason = Reason::Auth;
            }
            return Err(e);
        }
        let bytes = read_whole(resp, MAX_MODELS_BODY, t, deadline, &host, "a model list")
            .await
            .map_err(|e| e.with_reply(status, &headers))?;
        let text = String::from_utf8_lossy(&bytes);
        match parse_models(&text) {
            Some(list) => Ok(list),
            None => Err(CallError::bad_response(format!(
                "{host} answered GET /models with something that is not a model list: \
                 check the provider's base_url"
            ))
            .with_reply(status, &headers)),
        }
    }

    /// Transcribes an audio file: POSTs it to `{base}/audio/transcriptions` as multipart,
    /// streamed from disk (never read whole into memory). A stall of the upload longer than
    /// `idle` is a timeout; the reply must then come within `first_byte`; and the whole
    /// attempt, upload included, within `request`.
    pub async fn transcribe(
        &self,
        ep: &Endpoint,
        file: &Path,
        req: &TranscribeRequest,
    ) -> Result<Transcription, CallError> {
        let (http, url) = self.prepare(ep, "audio/transcriptions")?;
        let host = host_of(&url);
        let unreadable = |e: std::io::Error| {
            CallError::local(format!(
                "cannot read {} ({e}): check the path and permissions",
                file.display()
            ))
        };
        let f = tokio::fs::File::open(file).await.map_err(unreadable)?;
        let len = f.metadata().await.map_err(unreadable)?.len();
        let progress = Arc::new(Progress::default());
        let t = self.inner.timeouts;
        let deadline = Deadline::start(t);
        let start = Instant::now();
        let body = progress_stream(f, progress.clone(), start);
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "audio".to_string());
        let part =
            reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(body), len)
                .file_name(name)
                .mime_str(audio_mime(file))
                .map_err(|e| CallError::local(format!("bad MIME type: {e}")))?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("model", req.model.clone());
        for (k, v) in [
            ("language", &req.language),
            ("prompt", &req.prompt),
            ("response_format", &req.response_format),
        ] {
            if let Some(v) = v {
                form = form.text(k, v.clone());
            }
        }
        let fut = with_key(http.post(url), ep.key.as_ref())
            .multipart(form)
            .send();
        let resp = upload(fut, &progress, start, t, deadline, &host, ep.key.as_ref()).await?;
        let status = resp.status().as_u16();
        let headers = headers_of(resp.headers());
        if !resp.status().is_success() {
            return Err(self.reply_error(ep, resp, status, headers, deadline).await);
        }
        let bytes = read_whole(resp, MAX_ANSWER_BODY, t, deadline, &host, "a transcription")
            .await
            .map_err(|e| e.with_reply(status, &headers))?;
        let body = String::from_utf8_lossy(&bytes);
        let plain = matches!(
            req.response_format.as_deref(),
            Some("text") | Some("srt") | Some("vtt")
        );
        let text = if plain {
            Some(body.trim_end().to_string())
        } else {
            match serde_json::from_str::<Value>(&body) {
                Ok(v) => v.get("text").and_then(Value::as_str).map(str::to_string),
                Err(_)
                    if headers
                        .iter()
                        .any(|(k, v)| k == "content-type" && v.starts_with("text/")) =>
                {
                    Some(body.trim_end().to_string())
                }
                Err(_) => None,
            }
        };
        match text {
            Some(text) => Ok(Transcription {
                text,
                headers,
                status,
            }),
            None => Err(CallError::bad_response(format!(
                "{host} answered the transcription without a `text`: try another provider"
            ))
            .with_reply(status, &headers)),
        }
    }

    /// A non-2xx reply as a [`CallError`]: its body read (bounded) and given to `classify`.
    async fn reply_error(
        &self,
        ep: &Endpoint,
        resp: reqwest::Response,
        status: u16,
        headers: Headers,
        deadline: Deadline,
    ) -> CallError {
        let host = host_of(resp.url());
        let t = self.inner.timeouts;
        let bytes = match read_bounded(resp, MAX_ERROR_BODY, t, deadline, &host).await {
            Ok((b, _)) => b,
            Err(_) => Vec::new(),
        };
        CallError::from_reply(
            ErrorKind::Reply,
            ep.dialect,
            status,
            headers,
            &String::from_utf8_lossy(&bytes),
            ep.key.as_ref(),
        )
    }
}

/// Parses `url` and refuses to send a key over plain http to a host that is not loopback
/// (and any scheme other than http/https).
pub fn check_url(url: &str, has_key: bool) -> Result<Url, CallError> {
    let parsed = Url::parse(url).map_err(|e| {
        CallError::local(format!(
            "`{}` is not a valid URL ({e}): fix base_url in the config",
            crate::config::url::shown(url)
        ))
    })?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if !has_key || is_loopback(&parsed) => Ok(parsed),
        "http" => Err(CallError::local(format!(
            "refusing to send an API key over plain http to {}: use an https:// base_url \
                 (keys go over http only to 127.0.0.1, ::1 or localhost)",
            host_of(&parsed)
        ))),
        other => Err(CallError::local(format!(
            "`{other}:` URLs are not supported: base_url must start with https://"
        ))),
    }
}

/// Whether the URL's host is this machine for sure (see
/// [`crate::config::url::is_loopback_host`]).
fn is_loopback(url: &Url) -> bool {
    url.host_str()
        .is_some_and(crate::config::url::is_loopback_host)
}

/// `host[:port]` of a URL, for messages.
fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => shown(url.as_str()),
    }
}

/// Adds `Authorization: Bearer …` when there is a key.
fn with_key(req: reqwest::RequestBuilder, key: Option<&ApiKey>) -> reqwest::RequestBuilder {
    match key {
        Some(k) => req.bearer_auth(k.expose()),
        None => req,
    }
}

/// Sends a request and waits for the reply's headers at most `connect + first_byte`, and
/// not past the attempt's deadline.
async fn send(
    req: reqwest::RequestBuilder,
    t: Timeouts,
    deadline: Deadline,
    host: &str,
    key: Option<&ApiKey>,
) -> Result<reqwest::Response, CallError> {
    let limit = t.connect.saturating_add(t.first_byte);
    let headers_by = after(Instant::now(), limit);
    match tokio::time::timeout_at(headers_by.min(deadline.at), req.send()).await {
        Err(_) if deadline.at <= headers_by => {
            Err(deadline.exceeded(&format!("{host} had not answered")))
        }
        Err(_) => Err(CallError::timeout(format!(
            "{host} did not answer within {}: try again, or raise connect_timeout / \
             first_byte_timeout in [defaults]",
            crate::duration::format(limit)
        ))),
        Ok(Err(e)) => Err(transport_error(&e, host).masking(key)),
        Ok(Ok(r)) => Ok(r),
    }
}

/// A reqwest error before any reply: timeout or connection.
fn transport_error(e: &reqwest::Error, host: &str) -> CallError {
    if e.is_timeout() {
        CallError::timeout(format!(
            "could not connect to {host} in time ({}): check the network, or raise \
             connect_timeout in [defaults]",
            chain(e)
        ))
    } else if e.is_connect() {
        CallError::connection(format!(
            "could not connect to {host} ({}): check the network and the provider's base_url",
            chain(e)
        ))
    } else {
        CallError::connection(format!(
            "the request to {host} failed ({}): check the network and try again",
            chain(e)
        ))
    }
}

/// A reqwest error and its sources, `a: b: c`, fit for a message: the request's URL (which
/// reqwest's Display includes) shown as config errors show one ([`shown`]: user info, query
/// and key-like path segments such as a gateway's `/gw/sk-…/v1` masked), and anything
/// else that looks like a key masked too.
fn chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        let m = x.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = x.source();
    }
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), &shown(url.as_str()));
    }
    crate::secret::mask_keys(&s)
}

/// Response headers with lowercase names (values not valid UTF-8 are read lossily).
fn headers_of(map: &HeaderMap) -> Headers {
    map.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Reads at most `max` bytes of a body (the first within `first_byte`, then no gap longer
/// than `idle`, and all before the attempt's deadline); says whether it stopped short of
/// the end.
async fn read_bounded(
    mut resp: reqwest::Response,
    max: usize,
    t: Timeouts,
    deadline: Deadline,
    host: &str,
) -> Result<(Vec<u8>, bool), CallError> {
    let mut buf = Vec::new();
    let mut wait = t.first_byte;
    loop {
        let quiet_until = after(Instant::now(), wait);
        match tokio::time::timeout_at(quiet_until.min(deadline.at), resp.chunk()).await {
            Err(_) if deadline.at <= quiet_until => {
                return Err(deadline.exceeded(&format!("{host} was still sending its answer")));
            }
            Err(_) => {
                return Err(CallError::timeout(format!(
                    "{host} went silent for {} while sending its answer: try again",
                    crate::duration::format(wait)
                )));
            }
            Ok(Err(e)) => {
                return Err(CallError::connection(format!(
                    "the connection to {host} broke while reading its answer ({}): try again",
                    chain(&e)
                )));
            }
            Ok(Ok(None)) => return Ok((buf, false)),
            Ok(Ok(Some(b))) => {
                let room = max - buf.len();
                if b.len() >= room {
                    buf.extend_from_slice(&b[..room]);
                    return Ok((buf, true));
                }
                buf.extend_from_slice(&b);
            }
        }
        wait = t.idle;
    }
}

/// Reads a whole body of at most `max` bytes (see [`read_bounded`]); a larger one is a bad
/// response (`what` names it: "an answer").
async fn read_whole(
    resp: reqwest::Response,
    max: usize,
    t: Timeouts,
    deadline: Deadline,
    host: &str,
    what: &str,
) -> Result<Vec<u8>, CallError> {
    match read_bounded(resp, max, t, deadline, host).await? {
        (_, true) => Err(CallError::bad_response(format!(
            "{host} sent {what} of over {} MiB: no real one is that large, the reply is \
             broken; try another provider",
            max / MIB
        ))),
        (bytes, false) => Ok(bytes),
    }
}

/// When one attempt must be over: `request` after it was sent.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    at: Instant,
    limit: Duration,
}

impl Deadline {
    /// The deadline of an attempt starting now.
    fn start(t: Timeouts) -> Self {
        Self {
            at: after(Instant::now(), t.request),
            limit: t.request,
        }
    }

    /// The timeout of an attempt past its deadline; `what` says what was still going on.
    fn exceeded(&self, what: &str) -> CallError {
        CallError::timeout(format!(
            "{what} after request_timeout ({}), the longest one attempt may take: try again, \
             or raise request_timeout in [defaults]",
            crate::duration::format(self.limit)
        ))
    }
}

/// `d` after `from`, saturating far in the future (a huge configured duration never
/// overflows).
fn after(from: Instant, d: Duration) -> Instant {
    from.checked_add(d)
        .or_else(|| from.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(from)
}

/// How far an upload got: milliseconds after the start of the last read from disk, and
/// whether the file was read to its end.
#[derive(Debug, Default)]
struct Progress {
    last_ms: AtomicU64,
    read_any: AtomicBool,
    done: AtomicBool,
}

impl Progress {
    /// The instant the upload (or the wait for its reply) times out for want of progress.
    fn deadline(&self, start: Instant, t: Timeouts) -> Instant {
        let last = after(
            start,
            Duration::from_millis(self.last_ms.load(Ordering::Acquire)),
        );
        if self.done.load(Ordering::Acquire) {
            after(last, t.first_byte)
        } else if self.read_any.load(Ordering::Acquire) {
            after(last, t.idle)
        } else {
            after(start, t.connect.saturating_add(t.idle))
        }
    }
}

/// The file as a stream of chunks, recording progress as it is read.
fn progress_stream(
    f: tokio::fs::File,
    progress: Arc<Progress>,
    start: Instant,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static {
    tokio_util::io::ReaderStream::with_capacity(f, 64 * 1024)
        .chain(futures_util::stream::once(async { Ok(Bytes::new()) }))
        .map(move |chunk| {
            let ms = start.elapsed().as_millis() as u64;
            progress.last_ms.store(ms, Ordering::Release);
            progress.read_any.store(true, Ordering::Release);
            if matches!(&chunk, Ok(b) if b.is_empty()) {
                progress.done.store(true, Ordering::Release);
            }
            chunk
        })
        .filter(|c| std::future::ready(!matches!(c, Ok(b) if b.is_empty())))
}

/// Waits for an upload's reply while the upload progresses, and not past the attempt's
/// deadline.
async fn upload(
    fut: impl std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    progress: &Progress,
    start: Instant,
    t: Timeouts,
    deadline: Deadline,
    host: &str,
    key: Option<&ApiKey>,
) -> Result<reqwest::Response, CallError> {
    tokio::pin!(fut);
    loop {
        let until = progress.deadline(start, t).min(deadline.at);
        tokio::select! {
            r = &mut fut => return r.map_err(|e| transport_error(&e, host).masking(key)),
            _ = tokio::time::sleep_until(until) => {
                if deadline.at <= Instant::now() {
                    let what = if progress.done.load(Ordering::Acquire) {
                        format!("{host} had not answered the transcription")
                    } else {
                        format!("the upload to {host} was still going")
                    };
                    return Err(deadline.exceeded(&what));
                }
                if progress.deadline(start, t) <= Instant::now() {
                    let what = if progress.done.load(Ordering::Acquire) {
                        format!("{host} did not answer within {} of the upload's end", crate::duration::format(t.first_byte))
                    } else {
                        format!("the upload to {host} stalled for over {}", crate::duration::format(t.idle))
                    };
                    return Err(CallError::timeout(format!(
                        "{what}: try again, or raise first_byte_timeout / idle_timeout in [defaults]"
                    )));
                }
            }
        }
    }
}

/// The MIME type of an audio file, from its extension.
fn audio_mime(file: &Path) -> &'static str {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "mp3" | "mpga" | "mpeg" => "audio/mpeg",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "ogg" | "opus" => "audio/ogg",
        "m4a" | "mp4" => "audio/mp4",
        "webm" => "audio/webm",
        _ => "application/octet-stream",
    }
}
