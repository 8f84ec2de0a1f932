//! The simulated provider fleet: loopback servers that behave like Groq, OpenAI and Together
//! (limits, headers, error bodies, streams, faults), for tests, benchmarks and `--demo`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rota::sim::SimError> {
//! let sim = rota::sim::start(rota::sim::Scenario::default_fleet(), "127.0.0.1:0".parse().unwrap()).await?;
//! let groq = sim.base_url("groq"); // http://127.0.0.1:PORT/groq/v1, keys sim-groq-a / sim-groq-b
//! let counters = sim.stats();
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The scenario format is documented in docs/sim.md.

pub mod answer;
pub mod audio;
mod chat;
pub mod dialect;
pub mod faults;
pub mod limits;
pub mod scenario;
pub mod search;
pub mod server;
pub mod stats;
pub mod stream;
mod transcribe;
pub mod vision;

pub use faults::FaultKind;
pub use scenario::{AccountScenario, FaultRule, ModelScenario, ProviderScenario, Scenario};

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why the fleet cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario file is unreadable or invalid.
    #[error("invalid scenario: {0}")]
    Scenario(String),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source} (pick another address with --listen)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// A running fleet. Dropping it stops the server (in the background); [`SimHandle::shutdown`]
/// stops it and waits.
#[derive(Debug)]
pub struct SimHandle {
    /// The address it listens on (the real port when 0 was asked for).
    pub addr: SocketAddr,
    fleet: Arc<server::Fleet>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The OpenAI-compatible base URL of a provider: `http://127.0.0.1:PORT/groq/v1`.
    pub fn base_url(&self, provider: &str) -> String {
        format!("http://{}/{provider}/v1", self.addr)
    }

    /// The base URL of the sim's Tavily-compatible search: `http://127.0.0.1:PORT/tavily`.
    pub fn tavily_url(&self) -> String {
        format!("http://{}/tavily", self.addr)
    }

    /// The scenario being served (providers, accounts, keys, models, limits).
    pub fn scenario(&self) -> &Scenario {
        &self.fleet.scenario
    }

    /// The counters `GET /sim/stats` returns: `{"providers": {NAME: {"accounts": {ACCOUNT:
    /// {MODEL: {"requests","ok","tokens","429","413","errors","faults"}}}, "unauthorized",
    /// "unknown_model"}}, "totals": {…}}`.
    pub fn stats(&self) -> serde_json::Value {
        self.fleet.stats()
    }

    /// Every provider as rota's config sees it: name (`custom:NAME` for a provider other than
    /// groq/openai/together), base URL at this fleet, its keys with their accounts. Pair
    /// with [`ProviderScenario::model_specs`] for the models and limits.
    pub fn provider_configs(&self) -> Vec<crate::config::ProviderConfig> {
        self.fleet
            .scenario
            .providers
            .iter()
            .map(|p| crate::config::ProviderConfig {
                name: p.config_name(),
                base_url: self.base_url(&p.name),
                keys: p
                    .keys()
                    .into_iter()
                    .map(|(key, account)| crate::config::KeyConfig {
                        key: Some(key),
                        account,
                    })
                    .collect(),
                enabled: true,
            })
            .collect()
    }

    /// One line per provider, `groq http://127.0.0.1:PORT/groq/v1`, as `rota sim` prints them.
    pub fn announce(&self) -> Vec<String> {
        self.fleet
            .scenario
            .providers
            .iter()
            .map(|p| format!("{} {}", p.name, self.base_url(&p.name)))
            .collect()
    }

    /// Stops serving: open streams and hangs end, then the server task is awaited.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts serving `scenario` on `addr` (port 0: an ephemeral port) in the current tokio
/// runtime.
pub async fn start(scenario: Scenario, addr: SocketAddr) -> Result<SimHandle, SimError> {
    start_with_clock(scenario, addr, crate::clock::Clock::System).await
}

/// [`start`] with the fleet's windows kept by `clock`: tests share a manual clock between
/// the router and the sim, so waiting out a window takes no real time.
pub async fn start_with_clock(
    scenario: Scenario,
    addr: SocketAddr,
    clock: crate::clock::Clock,
) -> Result<SimHandle, SimError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    let shutdown = CancellationToken::new();
    let fleet = Arc::new(server::Fleet::new(scenario, shutdown.clone()).with_clock(clock));
    let app = server::router(fleet.clone());
    let signal = shutdown.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(signal.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!("sim server stopped: {e}");
        }
    });
    Ok(SimHandle {
        addr,
        fleet,
        shutdown,
        task: Some(task),
    })
}
