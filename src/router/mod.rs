//! The router: one request's life, estimate → select → reserve → call → classify → rotate
//! or wait, told as [`events::Event`]s. Every face (ask, batch, the TUI) consumes it.

pub mod events;

use crate::message::Message;
use crate::model::Task;

/// One chat request as a face hands it to the router.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// The task, or `Task::Auto` to pick from the prompt.
    pub task: Option<Task>,
    /// Largest answer; `None` reserves the task's default.
    pub max_tokens: Option<u64>,
    /// OpenAI-format tool definitions, passed through.
    pub tools: Vec<serde_json::Value>,
    /// The caller wants several tool calls in one turn: only models with parallel tool calls
    /// are candidates, and `parallel_tool_calls: true` is sent.
    pub parallel_tool_calls: bool,
    /// The request asks the model to go on with its last answer, which was cut: faces
    /// save what comes into that answer. The router sends it like any other.
    pub continues: bool,
    /// Only this model, rotating over its accounts and keys (`rota serve`'s `PROVIDER/ID`);
    /// `None`: the task's pool.
    pub model: Option<crate::model::ModelRef>,
    /// How long this request may wait for capacity; `None`: `[defaults] max_wait`.
    pub max_wait: Option<std::time::Duration>,
    /// Body fields passed to the provider as the caller wrote them (`temperature`, `stop`,
    /// `seed`, `response_format`, `tool_choice`, …); never overrides a field rota sets.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The largest `max_tokens` rota accepts: more than any model writes in one answer. Faces
/// refuse larger values with [`check_max_tokens`]; the router never sends more.
pub const MAX_ANSWER_TOKENS: u64 = 1_000_000;

/// Whether `n` is a usable `max_tokens`: at least 1 and at most [`MAX_ANSWER_TOKENS`]. The
/// error names the setting as the face calls it (`--max-tokens`, `max_tokens`) and says
/// what is allowed.
pub fn check_max_tokens(n: u64, name: &str) -> Result<u64, String> {
    if (1..=MAX_ANSWER_TOKENS).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{name} must be between 1 and {MAX_ANSWER_TOKENS} (no model writes more), not {n}"
        ))
    }
}

mod attempt;
pub mod chat;
pub mod checks;
pub mod estimate;
mod fit;
pub mod research;
pub mod task;
pub mod transcribe;

pub use crate::clock::Clock;

/// How a job (a chat request, a transcription) ended: faces pick their exit code from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The answer arrived whole.
    Answered,
    /// Bad input (exit 2).
    Input,
    /// The configuration or the state store cannot be used (exit 2).
    Config,
    /// No usable key for the task (exit 3).
    NoCredentials,
    /// Every candidate failed, or waiting would pass `max_wait` (exit 1).
    Failed,
    /// The caller went away (Esc, Ctrl+C, a dropped batch task).
    Cancelled,
}

use crate::config::Config;
use crate::engine::{Candidate, Fleet, KeyRef};
use crate::providers::{CallError, Client, Endpoint, Timeouts};
use crate::store::Store;
use crate::store::db::Db;
use crate::store::ledger::{AttemptRow, Ledger};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Drives requests for every face: holds the config, the engine's fleet, the shared state
/// store and the HTTP client. Cheap to share behind an `Arc`.
pub struct Router {
    config: Arc<Config>,
    fleet: Arc<Fleet>,
    store: Arc<dyn Store>,
    client: Client,
    endpoints: HashMap<KeyRef, Endpoint>,
    ledger: Option<(Arc<Db>, Arc<Ledger>)>,
    clock: Clock,
    tools: Arc<crate::tools::Tools>,
}

impl Router {
    /// Builds a router over a config and a state store.
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
        let fleet = Fleet::from_config(&config);
        let client = Client::new(Timeouts::from(&config.defaults));
        let tools = Arc::new(crate::tools::Tools::new(&config.tools));
        let mut endpoints = HashMap::new();
        for p in &config.providers {
            for k in &p.keys {
                let key = crate::engine::KeyRef::of(&p.name, k);
                endpoints.insert(key, Endpoint::new(p, k));
            }
        }
        Self {
            config: Arc::new(config),
            fleet: Arc::new(fleet),
            store,
            client,
            endpoints,
            ledger: None,
            clock: Clock::System,
            tools,
        }
    }

    /// The same router calling providers through `client` (one pool of connections for a
    /// process: the one that discovered custom models at start, say).
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = client;
        self
    }

    /// The same router deciding by `clock` (a manual one in tests and simulations: waiting
    /// for capacity then moves it on instead of sleeping).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock it decides by.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The same router over another configuration (a key added or removed): the same state
    /// store, HTTP client and ledger database; fleet and endpoints built from `config`.
    /// Requests already running keep the router they started with.
    pub fn reconfigured(&self, mut config: Config) -> Router {
        // Models discovered from a custom endpoint's `/models` stay known.
        let undeclared: Vec<String> = config
            .undeclared_custom_providers()
            .into_iter()
            .map(|p| p.name.clone())
            .collect();
        for provider in undeclared {
            let known: Vec<String> = self
                .config
                .models
                .iter()
                .filter(|m| m.model.provider == provider)
                .map(|m| m.model.id.clone())
                .collect();
            config.add_discovered(&provider, &known);
        }
        let r = Router::new(config, Arc::clone(&self.store))
            .with_clock(self.clock.clone())
            .with_client(self.client.clone());
        match &self.ledger {
            Some((db, _)) => r.with_ledger(Arc::clone(db)),
            None => r,
        }
    }

    /// Records every attempt in the request ledger of `db` (for `rota usage`), keeping the
    /// configuration's `[state] ledger_days` of history.
    pub fn with_ledger(mut self, db: Arc<Db>) -> Self {
        let days = self.config.state.ledger_days;
        let horizon = std::time::Duration::from_secs(days.saturating_mul(86_400));
        self.ledger = Some((db, Arc::new(Ledger::new(horizon))));
        self
    }

    /// Appends one attempt to the ledger, if there is one, on a blocking thread (SQLite may
    /// wait for another process); a failure is logged, not fatal.
    pub(crate) async fn record(&self, row: AttemptRow) {
        let Some((db, ledger)) = &self.ledger else {
            return;
        };
        let (db, ledger) = (Arc::clone(db), Arc::clone(ledger));
        let written = tokio::task::spawn_blocking(move || ledger.record(&db, &row)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("could not record an attempt in the ledger: {e}"),
            Err(e) => tracing::warn!("the ledger write stopped: {e}"),
        }
    }

    /// The configuration it routes with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The engine's static picture of the fleet.
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// The shared state store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The HTTP client (pooled per base URL).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The endpoint (base URL + key) of a candidate.
    pub fn endpoint(&self, c: &Candidate) -> Option<Endpoint> {
        self.endpoints.get(&c.key).cloned()
    }

    /// The endpoint of a candidate, or the local failure that rotates past it (a key the
    /// fleet names but this router has no endpoint for: nothing was sent, nothing is
    /// marked).
    pub(crate) fn endpoint_for(&self, c: &Candidate) -> Result<Endpoint, CallError> {
        self.endpoint(c).ok_or_else(|| {
            CallError::local(format!(
                "no key {} configured for {}",
                c.key.masked, c.model.provider
            ))
        })
    }

    /// Starts a request in the background; events arrive on the receiver, dropping it
    /// cancels the request (and releases its reservation).
    pub fn ask(self: &Arc<Self>, req: ChatRequest) -> mpsc::Receiver<events::Event> {
        let (tx, rx) = mpsc::channel(256);
        let me = Arc::clone(self);
        tokio::spawn(async move {
            me.run(req, &tx).await;
        });
        rx
    }

    /// Publishes [`Router::status`] every `every`, read on a blocking thread, for views
    /// that must not read the store on their own task (the TUI's tick). The first reading is
    /// taken before it returns (so it blocks like [`Router::status`]); `None` only when that
    /// one failed. A read that fails keeps the last published status (and is logged). The
    /// feed ends when every receiver is gone. Call it inside a tokio runtime.
    pub fn status_feed(
        self: &Arc<Self>,
        every: std::time::Duration,
    ) -> tokio::sync::watch::Receiver<Option<Arc<crate::engine::Status>>> {
        let first = match self.status() {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                tracing::warn!("cannot read the pools: {e}");
                None
            }
        };
        let (tx, rx) = tokio::sync::watch::channel(first);
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = tx.closed() => return,
                }
                let r = Arc::clone(&me);
                match tokio::task::spawn_blocking(move || r.status()).await {
                    Ok(Ok(s)) => {
                        if tx.send(Some(Arc::new(s))).is_err() {
                            return;
                        }
                    }
                    Ok(Err(e)) => tracing::warn!("cannot read the pools: {e}"),
                    Err(e) => tracing::warn!("the status read stopped: {e}"),
                }
            }
        });
        rx
    }

    /// Takes what `scope` names back into rotation: cooldowns, backoffs, disabled keys and
    /// unavailable or disabled models (see [`crate::engine::reset`]).
    pub async fn reset(
        &self,
        scope: crate::engine::ResetScope,
    ) -> Result<crate::engine::Cleared, crate::store::StoreError> {
        self.transact(move |fleet, state, now| crate::engine::reset(fleet, state, &scope, now))
            .await
    }

    /// The pools now, read from the shared state (blocking: it may wait for the store).
    pub fn status(&self) -> Result<crate::engine::Status, crate::store::StoreError> {
        let state = self.store.snapshot()?;
        Ok(crate::engine::status(&self.fleet, &state, self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Demand, Pool};
    use crate::model::Window;

    fn rpm_used(s: &crate::engine::Status) -> u64 {
        s.pools[&Task::Fast]
            .iter()
            .filter_map(|e| e.windows.get(&Window::Rpm).map(|w| w.used))
            .sum()
    }

    #[tokio::test]
    async fn the_status_feed_publishes_what_changed() {
        let text = "[state]\nbackend = \"memory\"\n[providers.groq]\nkeys = [\"gsk_test_0001\"]\n";
        let config = crate::config::parse(text, "(test)", &|_: &str| None).unwrap();
        let router = Arc::new(Router::new(
            config,
            Arc::new(crate::store::MemoryStore::default()),
        ));
        let mut feed = router.status_feed(std::time::Duration::from_millis(10));
        let first = feed.borrow_and_update().clone().expect("the first reading");
        assert_eq!(rpm_used(&first), 0);
        let demand = Demand {
            prompt_tokens: 100,
            max_tokens: 10,
            ..Demand::new(Pool::Chat(Task::Fast))
        };
        let granted = router
            .transact(move |fleet, state, now| crate::engine::reserve(fleet, state, &demand, now))
            .await
            .unwrap();
        assert!(matches!(granted, crate::engine::Decision::Grant(_)));
        let seen = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                feed.changed().await.unwrap();
                if let Some(s) = feed.borrow_and_update().clone()
                    && rpm_used(&s) == 1
                {
                    return;
                }
            }
        })
        .await;
        assert!(seen.is_ok(), "the feed never showed the reservation");
    }
}
