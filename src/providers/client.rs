//! The HTTP side: one pooled reqwest client per base URL, no automatic retries, every
//! phase under a timeout, keys sent only over https or to loopback.

use super::assemble::{Assembler, ChatOutcome, StreamDecoder, StreamEvent};
use super::core::{chat_body, parse_models};
use super::error::{CallError, ErrorKind, MAX_ERROR_BODY};
use super::{Endpoint, Timeouts};
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

/// Largest `/models` answer read.
const MAX_MODELS_BODY: usize = 8 * 1024 * 1024;
/// Largest whole (non-streamed) chat answer or transcription read.
const MAX_ANSWER_BODY: usize = 16 * 1024 * 1024;

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
    got_bytes: bool,
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
    /// after an error was returned. An idle gap longer than `idle` (before the first byte:
    /// `first_byte`) is a [`Reason::Timeout`]; a broken connection [`Reason::Connection`];
    /// a malformed chunk [`Reason::BadResponse`]; an error object in the stream is read by
    /// `classify`.
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
            let (wait, what, when) = if self.got_bytes {
                (self.timeouts.idle, "idle_timeout", "mid-answer")
            } else {
                (
                    self.timeouts.first_byte,
                    "first_byte_timeout",
                    "before its first token",
                )
            };
            let mut out = Vec::new();
            match tokio::time::timeout(wait, body.next()).await {
                Err(_) => {
                    self.body = None;
                    return Some(Err(CallError::timeout(format!(
                        "{} went silent for {} {when}: try again, or raise {what} in [defaults]",
                        self.host,
                        secs(wait)
                    ))
                    .with_reply(self.status, &self.headers)));
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
                    self.got_bytes = true;
                    if let Err(e) = self.decoder.feed(&bytes, &mut out) {
                        self.body = None;
                        self.error = Some(e);
                    } else if self.decoder.is_done() {
                        self.tail = self.body.take();
                        if let Err(e) = self.decoder.finish(&mut out) {
                            self.error = Some(e);
                        }
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
                    "could not set up HTTP for {base_url} ({}): check the TLS setup",
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
        let resp = send(req, t.connect + t.first_byte, &host, ep.key.as_ref()).await?;
        let status = resp.status().as_u16();
        let headers = headers_of(resp.headers());
        if !resp.status().is_success() {
            return Err(self.reply_error(ep, resp, status, headers).await);
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
            got_bytes: false,
            timeouts: t,
            host,
        };
        if json {
            // The server ignored `stream: true` and sent the whole completion.
            let (bytes, _) = read_bounded(resp, MAX_ANSWER_BODY, t, &stream.host)
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
        let resp = send(req, t.connect + t.first_byte, &host, ep.key.as_ref()).await?;
        let status = resp.status().as_u16();
        let headers = headers_of(resp.headers());
        if !resp.status().is_success() {
            let mut e = self.reply_error(ep, resp, status, headers).await;
            if matches!(status, 401 | 403) {
                e.classified.reason = Reason::Auth;
            }
            return Err(e);
        }
        let (bytes, truncated) = read_bounded(resp, MAX_MODELS_BODY, t, &host)
            .await
            .map_err(|e| e.with_reply(status, &headers))?;
        let text = String::from_utf8_lossy(&bytes);
        match parse_models(&text).filter(|_| !truncated) {
            Some(list) => Ok(list),
            None => Err(CallError::bad_response(format!(
                "{host} answered GET /models with something that is not a model list: \
                 check the provider's base_url"
            ))
            .with_reply(status, &headers)),
        }
    }

    /// Transcribes an audio file: POSTs it to `{base}/audio/transcriptions` as multipart,
    /// streamed from disk (never read whole into memory). The upload may take as long as it
    /// needs while it progresses (a stall longer than `idle` is a timeout); the reply must
    /// then come within `first_byte`.
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
        let t = self.inner.timeouts;
        let fut = with_key(http.post(url), ep.key.as_ref())
            .multipart(form)
            .send();
        let resp = upload(fut, &progress, start, t, &host, ep.key.as_ref()).await?;
        let status = resp.status().as_u16();
        let headers = headers_of(resp.headers());
        if !resp.status().is_success() {
            return Err(self.reply_error(ep, resp, status, headers).await);
        }
        let (bytes, _) = read_bounded(resp, MAX_ANSWER_BODY, t, &host)
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
    ) -> CallError {
        let host = host_of(resp.url());
        let bytes = match read_bounded(resp, MAX_ERROR_BODY, self.inner.timeouts, &host).await {
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
        _ => url.to_string(),
    }
}

/// Adds `Authorization: Bearer …` when there is a key.
fn with_key(req: reqwest::RequestBuilder, key: Option<&ApiKey>) -> reqwest::RequestBuilder {
    match key {
        Some(k) => req.bearer_auth(k.expose()),
        None => req,
    }
}

/// Sends a request and waits for the reply's headers at most `limit`.
async fn send(
    req: reqwest::RequestBuilder,
    limit: Duration,
    host: &str,
    key: Option<&ApiKey>,
) -> Result<reqwest::Response, CallError> {
    match tokio::time::timeout(limit, req.send()).await {
        Err(_) => Err(CallError::timeout(format!(
            "{host} did not answer within {}: try again, or raise connect_timeout / \
             first_byte_timeout in [defaults]",
            secs(limit)
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

/// An error and its sources, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let m = x.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = x.source();
    }
    s
}

/// `1.5s`, `150ms`.
fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
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
/// than `idle`); says whether it stopped short of the end.
async fn read_bounded(
    mut resp: reqwest::Response,
    max: usize,
    t: Timeouts,
    host: &str,
) -> Result<(Vec<u8>, bool), CallError> {
    let mut buf = Vec::new();
    let mut wait = t.first_byte;
    loop {
        match tokio::time::timeout(wait, resp.chunk()).await {
            Err(_) => {
                return Err(CallError::timeout(format!(
                    "{host} went silent for {} while sending its answer: try again",
                    secs(wait)
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

/// How far an upload got: milliseconds after the start of the last read from disk, and
/// whether the file was read to its end.
#[derive(Debug, Default)]
struct Progress {
    last_ms: AtomicU64,
    read_any: AtomicBool,
    done: AtomicBool,
}

impl Progress {
    /// The instant the upload (or the wait for its reply) times out.
    fn deadline(&self, start: Instant, t: Timeouts) -> Instant {
        let last = start + Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        if self.done.load(Ordering::Acquire) {
            last + t.first_byte
        } else if self.read_any.load(Ordering::Acquire) {
            last + t.idle
        } else {
            start + t.connect + t.idle
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

/// Waits for an upload's reply while the upload progresses.
async fn upload(
    fut: impl std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    progress: &Progress,
    start: Instant,
    t: Timeouts,
    host: &str,
    key: Option<&ApiKey>,
) -> Result<reqwest::Response, CallError> {
    tokio::pin!(fut);
    loop {
        let deadline = progress.deadline(start, t);
        tokio::select! {
            r = &mut fut => return r.map_err(|e| transport_error(&e, host).masking(key)),
            _ = tokio::time::sleep_until(deadline) => {
                if progress.deadline(start, t) <= Instant::now() {
                    let what = if progress.done.load(Ordering::Acquire) {
                        format!("{host} did not answer within {} of the upload's end", secs(t.first_byte))
                    } else {
                        format!("the upload to {host} stalled for over {}", secs(t.idle))
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
