//! The fleet's shared state and HTTP routes: auth, `/models`, `/sim/stats`, and the reply
//! helpers the chat and audio handlers use.

use super::dialect::{self, Reply};
use super::faults::Dice;
use super::limits::Windows;
use super::scenario::{FaultRule, ProviderScenario, Scenario};
use super::stats::{Counters, add_into, bump};
use crate::model::{Dialect, Millis, Window};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Largest request body accepted (audio uploads are checked against their own limits).
const BODY_LIMIT: usize = 256 * 1024 * 1024;

/// One account on one model: its windows and its counters.
#[derive(Debug)]
pub struct Slot {
    /// The sliding windows (one lock per account × model keeps admission exact).
    pub windows: Mutex<Windows>,
    /// What happened there.
    pub stats: Counters,
}

impl Slot {
    /// Locks the windows (a poisoned lock is still usable: the data is plain counters).
    pub fn lock(&self) -> MutexGuard<'_, Windows> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One served provider. Its Debug form names the keys' count, never a key.
pub struct Provider {
    /// Its scenario.
    pub sc: ProviderScenario,
    /// Whole key → account index.
    keys: HashMap<String, usize>,
    /// Model id → model index.
    models: HashMap<String, usize>,
    /// `PROVIDER/MODEL` per model, for the estimator.
    pub model_refs: Vec<String>,
    /// `account * models + model`.
    slots: Vec<Slot>,
    /// Requests with an unknown or missing key.
    unauthorized: AtomicU64,
    /// Requests for a model it does not serve.
    unknown_model: AtomicU64,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.sc.name)
            .field("dialect", &self.sc.dialect)
            .field("keys", &self.keys.len())
            .field("models", &self.model_refs)
            .finish_non_exhaustive()
    }
}

impl Provider {
    fn new(sc: ProviderScenario) -> Self {
        let keys = sc
            .accounts
            .iter()
            .enumerate()
            .flat_map(|(i, a)| a.keys.iter().map(move |k| (k.expose().to_string(), i)))
            .collect();
        let models = sc
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        let label = sc.config_name();
        let model_refs = sc
            .models
            .iter()
            .map(|m| format!("{label}/{}", m.id))
            .collect();
        let slots = sc
            .accounts
            .iter()
            .flat_map(|_| sc.models.iter())
            .map(|m| Slot {
                windows: Mutex::new(Windows::new(m.limits)),
                stats: Counters::default(),
            })
            .collect();
        Self {
            sc,
            keys,
            models,
            model_refs,
            slots,
            unauthorized: AtomicU64::new(0),
            unknown_model: AtomicU64::new(0),
        }
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        self.sc.dialect
    }

    /// The account of the request's `Authorization: Bearer KEY`, or the 401 reply.
    pub fn account(&self, headers: &HeaderMap) -> Result<usize, Reply> {
        if !self.sc.auth {
            return Ok(0);
        }
        let key = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        match self.keys.get(key) {
            Some(&i) => Ok(i),
            None => {
                bump(&self.unauthorized);
                let masked = crate::secret::ApiKey::new(key).masked();
                Err(dialect::invalid_key(self.sc.dialect, &masked))
            }
        }
    }

    /// The model index of `id` as `account` sees it, or the 404 reply (also for a model
    /// hidden from that account).
    pub fn model_for(&self, account: usize, id: &str) -> Result<usize, Reply> {
        if self.hidden(account, id) {
            bump(&self.unknown_model);
            return Err(dialect::model_not_found(self.sc.dialect, id));
        }
        self.model(id)
    }

    /// Whether the scenario hides model `id` from `account`.
    fn hidden(&self, account: usize, id: &str) -> bool {
        self.sc
            .accounts
            .get(account)
            .is_some_and(|a| a.hidden_models.iter().any(|h| h == id))
    }

    /// The model index of `id`, or the 404 reply.
    pub fn model(&self, id: &str) -> Result<usize, Reply> {
        self.models.get(id).copied().ok_or_else(|| {
            bump(&self.unknown_model);
            dialect::model_not_found(self.sc.dialect, id)
        })
    }

    /// The slot of an account on a model.
    pub fn slot(&self, account: usize, model: usize) -> &Slot {
        &self.slots[account * self.sc.models.len() + model]
    }

    /// The rate-limit headers for a reply, read from the windows now.
    pub fn rate_headers(
        &self,
        w: &mut Windows,
        now: Millis,
        out: &mut Vec<(&'static str, String)>,
    ) {
        let d = self.sc.dialect;
        let (req, tok) = dialect::header_windows(d);
        let mut requests = req.and_then(|win| w.reading(now, win));
        if requests.is_none() && d == Dialect::OpenAi {
            requests = w.reading(now, Window::Rpd);
        }
        let tokens = tok.and_then(|win| w.reading(now, win));
        dialect::rate_headers(d, requests, tokens, self.sc.per_second_headers, out);
    }

    fn stats(&self) -> Value {
        let mut accounts = serde_json::Map::new();
        for (ai, a) in self.sc.accounts.iter().enumerate() {
            let mut models = serde_json::Map::new();
            for (mi, m) in self.sc.models.iter().enumerate() {
                models.insert(m.id.clone(), self.slot(ai, mi).stats.json());
            }
            accounts.insert(a.name.clone(), Value::Object(models));
        }
        json!({
            "accounts": accounts,
            "unauthorized": self.unauthorized.load(Ordering::Relaxed),
            "unknown_model": self.unknown_model.load(Ordering::Relaxed),
        })
    }
}

/// The whole fleet, shared by every handler.
#[derive(Debug)]
pub struct Fleet {
    /// Providers by name.
    pub providers: HashMap<String, Arc<Provider>>,
    /// Fault rules.
    pub faults: Vec<FaultRule>,
    /// Seeded dice for faults and tool-call choices.
    pub dice: Dice,
    /// The scenario served.
    pub scenario: Scenario,
    /// Cancelled on shutdown: hangs and streams end.
    pub shutdown: CancellationToken,
    /// Searches served at `/tavily/search`.
    pub search_stats: super::search::SearchStats,
    start: Instant,
    /// A manual clock the windows follow instead, and its reading at the start.
    manual: Option<(crate::clock::Clock, Millis)>,
}

impl Fleet {
    /// Builds the state of a scenario.
    pub fn new(scenario: Scenario, shutdown: CancellationToken) -> Self {
        let providers = scenario
            .providers
            .iter()
            .map(|p| (p.name.clone(), Arc::new(Provider::new(p.clone()))))
            .collect();
        Self {
            providers,
            faults: scenario.faults.clone(),
            dice: Dice::new(scenario.seed),
            scenario,
            shutdown,
            search_stats: Default::default(),
            start: Instant::now(),
            manual: None,
        }
    }

    /// The same fleet keeping its windows by `clock` (a manual clock shared with the
    /// router under test: a wait that moves it on frees the sim's windows too).
    pub fn with_clock(mut self, clock: crate::clock::Clock) -> Self {
        self.manual = match clock {
            crate::clock::Clock::System => None,
            manual => {
                let at = manual.now();
                Some((manual, at))
            }
        };
        self
    }

    /// Monotonic milliseconds since the fleet started (the windows' clock).
    pub fn now(&self) -> Millis {
        match &self.manual {
            Some((clock, at)) => clock.now().saturating_sub(*at),
            None => self.start.elapsed().as_millis() as Millis,
        }
    }

    /// Sleeps `d`, or until shutdown; `None` sleeps until shutdown.
    pub async fn pause(&self, d: Option<Duration>) {
        match d {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = self.shutdown.cancelled() => {}
                }
            }
            None => self.shutdown.cancelled().await,
        }
    }

    /// Counters of every provider, account and model, plus totals.
    pub fn stats(&self) -> Value {
        let mut providers = serde_json::Map::new();
        let mut totals = Counters::default().json();
        let mut names: Vec<&String> = self.providers.keys().collect();
        names.sort();
        for name in names {
            let p = &self.providers[name];
            let s = p.stats();
            if let Some(accounts) = s["accounts"].as_object() {
                for models in accounts.values() {
                    if let Some(models) = models.as_object() {
                        for c in models.values() {
                            add_into(&mut totals, c);
                        }
                    }
                }
            }
            add_into(
                &mut totals,
                &json!({"unauthorized": s["unauthorized"], "unknown_model": s["unknown_model"]}),
            );
            providers.insert(name.clone(), s);
        }
        json!({"providers": providers, "totals": totals, "search": self.search_stats.json()})
    }
}

/// A reply with a JSON body and extra headers.
pub fn json_reply(reply: Reply, mut extra: Vec<(&'static str, String)>) -> Response {
    let (status, mut headers, body) = reply;
    headers.append(&mut extra);
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    add_headers(&mut resp, headers);
    resp
}

/// Adds headers to a response (values that are not valid header text are skipped).
pub fn add_headers(resp: &mut Response, headers: Vec<(&'static str, String)>) {
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().insert(k, v);
        }
    }
}

/// The router of a fleet.
pub fn router(fleet: Arc<Fleet>) -> Router {
    Router::new()
        .route("/{provider}/v1/chat/completions", post(super::chat::handle))
        .route("/{provider}/v1/models", get(models))
        .route(
            "/{provider}/v1/audio/transcriptions",
            post(super::transcribe::handle),
        )
        .route("/tavily/search", post(super::search::search))
        .route("/tavily/page/{slug}", get(super::search::page))
        .route("/sim/stats", get(stats))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(fleet)
}

async fn not_found() -> Response {
    json_reply(
        (
            404,
            Vec::new(),
            json!({"error": {"message": "Unknown path: the sim serves /PROVIDER/v1/chat/completions, /PROVIDER/v1/models, /PROVIDER/v1/audio/transcriptions and /sim/stats", "type": "invalid_request_error", "code": "unknown_url"}}),
        ),
        Vec::new(),
    )
}

async fn stats(State(fleet): State<Arc<Fleet>>) -> Response {
    json_reply((200, Vec::new(), fleet.stats()), Vec::new())
}

/// Looks up the provider of a path, or the 404 reply.
pub fn provider_of(fleet: &Fleet, name: &str) -> Result<Arc<Provider>, Reply> {
    fleet.providers.get(name).cloned().ok_or_else(|| {
        (
            404,
            Vec::new(),
            json!({"error": {"message": format!("No provider `{name}` in this scenario"), "type": "invalid_request_error", "code": "unknown_url"}}),
        )
    })
}

/// `GET /{provider}/v1/models` in the provider's shape.
async fn models(
    State(fleet): State<Arc<Fleet>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let p = match provider_of(&fleet, &name) {
        Ok(p) => p,
        Err(r) => return json_reply(r, Vec::new()),
    };
    let account = match p.account(&headers) {
        Ok(a) => a,
        Err(r) => return json_reply(r, Vec::new()),
    };
    let created = 1_700_000_000u64;
    let owner = match p.dialect() {
        Dialect::Groq => "Meta",
        Dialect::OpenAi => "system",
        _ => "sim",
    };
    let list: Vec<Value> = p
        .sc
        .models
        .iter()
        .filter(|m| !p.hidden(account, &m.id))
        .map(|m| match p.dialect() {
            Dialect::Groq => json!({"id": m.id, "object": "model", "created": created, "owned_by": owner,
                                    "active": true, "context_window": m.context_window,
                                    "public_apps": null, "max_completion_tokens": m.max_output_tokens.unwrap_or(m.context_window)}),
            Dialect::Together => json!({"id": m.id, "object": "model", "created": created,
                                        "type": if m.transcription { "audio" } else { "chat" },
                                        "display_name": m.id, "organization": "sim",
                                        "context_length": m.context_window}),
            _ => json!({"id": m.id, "object": "model", "created": created, "owned_by": owner}),
        })
        .collect();
    let body = if p.dialect() == Dialect::Together {
        Value::Array(list)
    } else {
        json!({"object": "list", "data": list})
    };
    json_reply((200, Vec::new(), body), Vec::new())
}

/// An SSE or JSON body that arrives piece by piece.
pub fn streaming_body(
    rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
) -> Body {
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}
