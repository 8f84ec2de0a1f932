//! `rota serve`: the rotation manager as an OpenAI-compatible endpoint, so that every other
//! tool on the machine (an editor plugin, a coding agent, a script with the `openai` SDK)
//! shares the same pools, windows and learned limits as the TUI and every rota process.
//!
//! Routes: `POST /v1/chat/completions` ([`chat`]), `GET /v1/models`,
//! `POST /v1/audio/transcriptions` ([`audio`]), `GET /metrics` ([`metrics`]) and
//! `GET /healthz`. Every request needs `Authorization: Bearer <token>` ([`token`]) unless
//! the server was started with `--no-auth` on a loopback address.
//! See docs/serve.md.

pub mod audio;
pub mod chat;
pub mod metrics;
pub mod token;
pub mod wire;

use crate::config::ServeConfig;
use crate::router::Router;
use crate::secret::ApiKey;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use wire::ApiError;

/// How long a connection may take to send a request's headers (also how long an idle
/// keep-alive connection stays open).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a shutdown lets the answers in flight finish before it cuts them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long a request body (or an upload) may take to arrive whole.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a streamed answer waits for a client that stopped reading before it gives up
/// on it (and cancels the upstream request).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 1024;

/// What every handler shares.
pub struct Serve {
    /// The router every request goes through.
    pub router: Arc<Router>,
    /// The token clients must send; `None`: `--no-auth` (loopback only).
    pub token: Option<ApiKey>,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// Body limits.
    pub limits: ServeConfig,
    /// The router tasks of requests (they outlive a handler whose client went away, until
    /// they have given back what they reserved): a shutdown waits for them.
    pub tasks: tokio_util::task::TaskTracker,
}

impl Serve {
    /// A server over `router`, asking for `token` (or none).
    pub fn new(router: Arc<Router>, token: Option<ApiKey>) -> Arc<Self> {
        let limits = router.config().serve.clone();
        Arc::new(Self {
            router,
            token,
            metrics: metrics::Metrics::default(),
            limits,
            tasks: tokio_util::task::TaskTracker::new(),
        })
    }

    /// Waits (at most `bound`) for every request's router task to end: after a shutdown
    /// cut the connections, each one notices its client is gone and settles what it
    /// reserved.
    pub async fn settle(&self, bound: Duration) -> bool {
        self.tasks.close();
        tokio::time::timeout(bound, self.tasks.wait()).await.is_ok()
    }
}

/// The HTTP routes over `s`.
pub fn app(s: Arc<Serve>) -> axum::Router {
    let audio_limit = s.limits.max_audio_bytes;
    let authed = axum::Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route(
            "/v1/audio/transcriptions",
            post(audio::transcriptions).layer(DefaultBodyLimit::max(audio_limit)),
        )
        .route("/v1/models", get(models))
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(middleware::from_fn_with_state(Arc::clone(&s), auth));
    axum::Router::new()
        .merge(authed)
        .fallback(not_found)
        .with_state(s)
}

/// Refuses a request without the token (401 in OpenAI's shape).
async fn auth(State(s): State<Arc<Serve>>, req: Request, next: Next) -> Response {
    if s.token.is_none()
        && let Err(why) = local_caller(req.headers())
    {
        s.metrics.http("refused", 403);
        return ApiError::new(StatusCode::FORBIDDEN, "invalid_request_error", why).into_response();
    }
    if let Some(token) = &s.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !token::authorized(given, token) {
            let mut e = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "rota serve needs `Authorization: Bearer <token>`: the token is $ROTA_SERVE_TOKEN \
                 or the one `rota serve` printed when it made it (saved as serve-token in rota's \
                 data dir)",
            );
            e.code = Some("invalid_api_key");
            s.metrics.http("unauthorized", 401);
            return e.into_response();
        }
    }
    next.run(req).await
}

/// Without a token (`--no-auth`, loopback only) a request must come from a program on this
/// machine, not from a web page: a browser sends `Origin` with every cross-site POST, and a
/// page that rebinds its own name to 127.0.0.1 still sends its own name as `Host`.
fn local_caller(headers: &HeaderMap) -> Result<(), String> {
    if headers.contains_key(header::ORIGIN) {
        return Err(
            "rota serve --no-auth takes no requests from web pages (they carry Origin): \
                    start it with a token to use it from a browser"
                .into(),
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.chars().all(|c| c.is_ascii_digit()) => n,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "rota serve --no-auth answers only requests addressed to a loopback host, not {host:?}"
        ))
    }
}

async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "no such route: rota serve answers POST /v1/chat/completions, GET /v1/models, \
         POST /v1/audio/transcriptions, GET /metrics and GET /healthz",
    )
    .into_response()
}

/// `GET /v1/models`: the pools, then every chat model a client can name.
async fn models(State(s): State<Arc<Serve>>) -> Response {
    let mut data: Vec<serde_json::Value> = wire::POOLS
        .iter()
        .map(|t| json!({"id": format!("rota/{t}"), "object": "model", "created": 0, "owned_by": "rota"}))
        .collect();
    for m in wire::usable_models(s.router.fleet()) {
        data.push(
            json!({"id": m.to_string(), "object": "model", "created": 0, "owned_by": m.provider}),
        );
    }
    s.metrics.http("/v1/models", 200);
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// `GET /metrics`.
async fn metrics_text(State(s): State<Arc<Serve>>) -> Response {
    let router = Arc::clone(&s.router);
    let status = tokio::task::spawn_blocking(move || router.status().ok())
        .await
        .ok()
        .flatten();
    s.metrics.http("/metrics", 200);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(status.as_ref()),
    )
        .into_response()
}

/// Counts and logs (to rota's log file) one answered request: its route, status, the model
/// that answered (if any) and how long until the response began.
pub(crate) fn answered(
    s: &Serve,
    route: &'static str,
    resp: &Response,
    started: std::time::Instant,
) {
    let status = resp.status().as_u16();
    s.metrics.http(route, status);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    tracing::info!(
        route,
        status,
        provider = %header("x-rota-provider"),
        model = %header("x-rota-model"),
        ms = started.elapsed().as_millis() as u64,
        "rota serve answered"
    );
}

/// Reads a whole body of at most `limit` bytes; 413 beyond it. The rest of a body over the
/// limit is read and dropped (up to [`DRAIN_MAX`]) so the client, still sending, gets to
/// read the 413 instead of a broken connection.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    use futures_util::StreamExt;
    let too_big = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!(
                "the request body is larger than {} MiB ([serve] max_chat_mb)",
                limit / (1024 * 1024)
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut over = declared.is_some_and(|n| n > limit as u64);
    let mut kept = Vec::with_capacity(if over {
        0
    } else {
        declared.unwrap_or(0) as usize
    });
    let mut dropped = 0usize;
    let mut chunks = body.into_data_stream();
    let deadline = tokio::time::Instant::now() + BODY_TIMEOUT;
    loop {
        let next = tokio::time::timeout_at(deadline, chunks.next()).await;
        let chunk = match next {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "invalid_request_error",
                    format!(
                        "the request body did not arrive within {}",
                        crate::duration::format(BODY_TIMEOUT)
                    ),
                ));
            }
        };
        let chunk = chunk
            .map_err(|e| ApiError::invalid(format!("the body could not be read: {e}"), None))?;
        if !over && kept.len() + chunk.len() <= limit {
            kept.extend_from_slice(&chunk);
            continue;
        }
        over = true;
        kept = Vec::new();
        dropped += chunk.len();
        if dropped > DRAIN_MAX {
            break;
        }
    }
    if over {
        return Err(too_big());
    }
    Ok(Bytes::from(kept))
}

/// The most of a body over the limit that is read (and dropped) before answering 413.
pub const DRAIN_MAX: usize = 64 * 1024 * 1024;

/// Serves `app` on `listener` until `shutdown` resolves; then stops taking connections,
/// lets the requests in flight finish for at most [`SHUTDOWN_GRACE`] and cuts the rest
/// (their reservations are given back as their futures are dropped).
pub async fn run(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run_with_grace(listener, app, shutdown, SHUTDOWN_GRACE).await
}

/// [`run`] with another grace period (for tests).
pub async fn run_with_grace(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = Arc::clone(&slots).acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!("rota serve could not accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop_rx.clone();
        conns.spawn(async move {
            let _slot = slot;
            // HTTP/1 only: every OpenAI client speaks it, and its header timeout (which also
            // closes idle keep-alive connections) holds from the first byte.
            let mut builder = Builder::new(TokioExecutor::new()).http1_only();
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!("connection ended: {e}");
                    }
                    return;
                }
                _ = stop.changed() => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
        // Reap finished connections so the set does not grow with every client.
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("rota serve: answers still in flight after {grace:?} were cut");
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn without_a_token_only_local_programs_are_served() {
        assert!(local_caller(&headers(&[(header::HOST, "127.0.0.1:8787")])).is_ok());
        assert!(local_caller(&headers(&[(header::HOST, "localhost:8787")])).is_ok());
        assert!(local_caller(&headers(&[(header::HOST, "[::1]:8787")])).is_ok());
        // A web page: it carries Origin, or (rebinding its own name) its name as Host.
        let page = headers(&[
            (header::HOST, "127.0.0.1:8787"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        assert!(local_caller(&page).is_err());
        assert!(local_caller(&headers(&[(header::HOST, "evil.example:8787")])).is_err());
        assert!(local_caller(&headers(&[])).is_err());
    }
}
