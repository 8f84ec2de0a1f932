//! The configuration: the TOML file (docs/config.md), then the environment, resolved into
//! one [`Config`] that every layer reads. Loading and validation report every problem with
//! file, line and column.

pub mod edit;
pub mod env;
mod error;
pub mod file;
pub mod load;
mod model_fields;
mod models;
pub mod paths;
mod providers;
mod sections;
pub mod url;
mod walk;

pub use error::{ConfigError, ConfigErrors, line_col};
pub use load::{SECTIONS, load, parse};
pub use model_fields::MODEL_FIELDS;
pub use models::default_pools;
pub use paths::{config_path, data_dir, is_explicit, process_env};
pub use providers::{BUILTIN_PROVIDERS, KEYLESS_ACCOUNT, valid_custom_name};

/// The commented starter config (`config.example.toml`), written by `rota config init`.
pub const EXAMPLE: &str = include_str!("../../config.example.toml");

/// The default of `[defaults] max_cooldown`: an hour.
pub const DEFAULT_MAX_COOLDOWN: Duration = Duration::from_secs(3_600);

/// The default of `[defaults] request_timeout`: ten minutes, for chat and transcription
/// alike. Far above a normal answer (thousands of tokens at 50–1000 tokens/s take seconds to
/// a couple of minutes); a 25 MB upload (the largest any catalog provider takes) fits in it
/// at ~45 KB/s upstream, and the transcription itself takes seconds.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

use crate::catalog::ModelSpec;
use crate::model::{ModelRef, Task};
use crate::secret::ApiKey;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The resolved configuration: built-in catalog and providers, the file, and the environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from (`None` when none exists yet).
    pub path: Option<PathBuf>,
    /// `[defaults]`.
    pub defaults: Defaults,
    /// Every provider, built-in ones first, then custom ones in file order.
    pub providers: Vec<ProviderConfig>,
    /// Every model of every provider: the catalog with `[[models]]` applied, plus custom models.
    pub models: Vec<ModelSpec>,
    /// Each chat pool's candidates in preference order.
    pub pools: BTreeMap<Task, Vec<ModelRef>>,
    /// `[transcription]`.
    pub transcription: TranscriptionConfig,
    /// `[tools]`: the research task's tool loop.
    pub tools: ToolsConfig,
    /// `[serve]`: `rota serve`, the OpenAI-compatible endpoint.
    pub serve: ServeConfig,
    /// `[reasoning]`: the `reasoning_effort` per task (sent where the model accepts it).
    pub reasoning_effort: BTreeMap<Task, String>,
    /// `[state]`.
    pub state: StateConfig,
    /// `[ui]` theme name.
    pub theme: String,
}

/// `[tools]`: what the research task's tool loop may do.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolsConfig {
    /// Tavily's key (`tavily_key`, or `$TAVILY_API_KEY`, which wins): without one the loop
    /// runs with `fetch_url` only.
    pub tavily_key: Option<ApiKey>,
    /// Tavily's base URL (`tavily_url`, or `$TAVILY_BASE_URL`): https, or http to loopback.
    pub tavily_url: String,
    /// Model turns in one research answer at most (`max_steps`); the last is sent without
    /// tools, so the model must answer.
    pub max_steps: u32,
    /// Tool calls in one research answer at most (`max_tool_calls`).
    pub max_tool_calls: u32,
    /// Whether `fetch_url` may read loopback and private addresses (`allow_private_urls`;
    /// for tests and local servers).
    pub allow_private_urls: bool,
}

impl ToolsConfig {
    /// Tavily's public API.
    pub const TAVILY_URL: &str = "https://api.tavily.com";
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            tavily_key: None,
            tavily_url: Self::TAVILY_URL.to_string(),
            max_steps: 6,
            max_tool_calls: 12,
            allow_private_urls: false,
        }
    }
}

/// `[serve]`: where `rota serve` listens and how much one request may send.
#[derive(Clone, Debug, PartialEq)]
pub struct ServeConfig {
    /// The address to listen on (`listen`; `--listen` wins).
    pub listen: String,
    /// Largest chat request body, in bytes (`max_chat_mb`).
    pub max_chat_bytes: usize,
    /// Largest transcription upload, in bytes (`max_audio_mb`).
    pub max_audio_bytes: usize,
}

impl ServeConfig {
    /// The default address: loopback only.
    pub const LISTEN: &str = "127.0.0.1:8787";
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: Self::LISTEN.to_string(),
            max_chat_bytes: 8 * 1024 * 1024,
            max_audio_bytes: 32 * 1024 * 1024,
        }
    }
}

/// `[defaults]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Defaults {
    /// Task used when none is given.
    pub task: Task,
    /// Distinct model/key candidates tried before waiting.
    pub max_attempts: u32,
    /// Longest wait for capacity before giving up.
    pub max_wait: Duration,
    /// Fraction of every known limit kept unused.
    pub safety_margin: f64,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed from sending a request to the first byte of the answer.
    pub first_byte_timeout: Duration,
    /// Longest silence allowed inside a stream.
    pub idle_timeout: Duration,
    /// Longest one whole attempt may take, from sending the request to the last byte of the
    /// answer (for a transcription: the upload, the wait and the reply).
    pub request_timeout: Duration,
    /// Longest cooldown a 429 that names no window may set (one that names a window lasts
    /// at most that window).
    pub max_cooldown: Duration,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            task: Task::Auto,
            max_attempts: 3,
            max_wait: Duration::from_secs(120),
            safety_margin: 0.05,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_cooldown: DEFAULT_MAX_COOLDOWN,
        }
    }
}

/// One provider: where it is and which keys it has.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// `groq`, `openai`, `together` or `custom:NAME`.
    pub name: String,
    /// Base URL without a trailing slash, e.g. `https://api.groq.com/openai/v1`.
    pub base_url: String,
    /// Its keys; a custom provider with no keys sends no Authorization header.
    pub keys: Vec<KeyConfig>,
    /// `enabled = false` keeps it out of every pool.
    pub enabled: bool,
}

/// One key and the account whose limits it draws on.
#[derive(Clone, Debug)]
pub struct KeyConfig {
    /// The key; `None` for a keyless custom endpoint.
    pub key: Option<ApiKey>,
    /// The account: named in config, else the key is its own account (`key-…a1b2`).
    pub account: String,
}

impl KeyConfig {
    /// The masked key for display (`…a1b2`, or `none` for a keyless endpoint).
    pub fn masked(&self) -> String {
        self.key
            .as_ref()
            .map(ApiKey::masked)
            .unwrap_or_else(|| "none".to_string())
    }

    /// The key's identity (see [`ApiKey::fingerprint`]); empty for a keyless endpoint.
    pub fn fingerprint(&self) -> String {
        self.key
            .as_ref()
            .map(ApiKey::fingerprint)
            .unwrap_or_default()
    }
}

/// `[transcription]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TranscriptionConfig {
    /// Providers in order: the first preferred, the rest round-robin.
    pub order: Vec<String>,
    /// Upload limit in MB for providers that publish none.
    pub max_file_mb: u64,
}

/// Where shared state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in the data dir, shared by every rota process of the user.
    Local,
    /// In this process only.
    Memory,
    /// A Redis server, shared by every rota process on every machine that names it.
    Redis,
}

/// `[state] fallback`: what to do when the shared store cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fallback {
    /// Fail clearly (`none`, the default): limits shared with other machines cannot be
    /// kept without it.
    #[default]
    None,
    /// Go on with this machine's own SQLite state, with a warning, and go back to the
    /// shared store when it answers again (`local`).
    Local,
}

/// `[state]`. Its Debug shows `redis_url` without a password.
#[derive(Clone, PartialEq)]
pub struct StateConfig {
    /// The backend.
    pub backend: Backend,
    /// `redis_url`, else `$REDIS_URL`, for the redis backend (may hold a password: show
    /// it only through [`crate::store::redis::redact_url`]).
    pub redis_url: Option<String>,
    /// `redis_prefix`: the start of every Redis key rota writes (default `rota`), so several
    /// teams or tests can share one server.
    pub redis_prefix: String,
    /// `fallback`: what to do when Redis cannot be reached.
    pub fallback: Fallback,
    /// Where the data dir is (`rota.db` inside); demo mode points it at a temp dir.
    pub data_dir: Option<PathBuf>,
    /// Days of request history the ledger keeps (`ledger_days`, default 90).
    pub ledger_days: u64,
}

impl std::fmt::Debug for StateConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateConfig")
            .field("backend", &self.backend)
            .field(
                "redis_url",
                &self
                    .redis_url
                    .as_deref()
                    .map(crate::store::redis::redact_url),
            )
            .field("redis_prefix", &self.redis_prefix)
            .field("fallback", &self.fallback)
            .field("data_dir", &self.data_dir)
            .field("ledger_days", &self.ledger_days)
            .finish()
    }
}

impl StateConfig {
    /// The ledger's default `ledger_days`.
    pub const DEFAULT_LEDGER_DAYS: u64 = 90;
    /// The most `ledger_days` may say (100 years).
    pub const MAX_LEDGER_DAYS: u64 = 36_500;

    /// Where rota keeps its files (`rota.db`, the serve token): `data_dir`, else the
    /// XDG data dir; `None` without a home directory.
    pub fn dir(&self) -> Option<PathBuf> {
        self.data_dir.clone().or_else(data_dir)
    }
}

impl Config {
    /// The one-line warning to print when the config file holds API keys and its group or
    /// other users can read it (naming the file and `chmod 600`); `None` otherwise.
    pub fn readable_keys_warning(&self) -> Option<String> {
        let path = self.path.as_deref()?;
        let keys = self
            .providers
            .iter()
            .flat_map(|p| &p.keys)
            .filter_map(|k| k.key.as_ref())
            .chain(self.tools.tavily_key.as_ref());
        file::readable_keys_warning(path, keys)
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The spec of a model.
    pub fn model(&self, m: &ModelRef) -> Option<&ModelSpec> {
        self.models.iter().find(|s| &s.model == m)
    }

    /// Custom providers that declare no `[[providers.custom.models]]`: their models are
    /// read from the endpoint's `GET /models` at start (see `providers::discover`).
    pub fn undeclared_custom_providers(&self) -> Vec<&ProviderConfig> {
        self.providers
            .iter()
            .filter(|p| p.enabled && p.name.starts_with("custom:"))
            .filter(|p| !self.models.iter().any(|m| m.model.provider == p.name))
            .collect()
    }

    /// Adds models a custom provider listed (ids of this provider not yet known), as chat
    /// models of the `fast` task with unknown limits. They join the `fast` pool, at its end,
    /// unless `[pools] fast` was written by hand (then the pool stays as written).
    pub fn add_discovered(&mut self, provider: &str, ids: &[String]) {
        let pools_were_default = models::default_pools(&self.models, &self.providers)
            .get(&Task::Fast)
            == self.pools.get(&Task::Fast);
        for id in ids {
            let m = ModelRef::new(provider.to_string(), id.clone());
            if self.model(&m).is_some() {
                continue;
            }
            let mut spec = ModelSpec::bare(m);
            spec.tasks = vec![Task::Fast];
            self.models.push(spec);
        }
        if pools_were_default {
            let fast = models::default_pools(&self.models, &self.providers)
                .remove(&Task::Fast)
                .unwrap_or_default();
            self.pools.insert(Task::Fast, fast);
        }
    }
}
