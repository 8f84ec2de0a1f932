//! What every command that routes requests needs: the config (or the demo fleet), the
//! state store and the router, opened once per process.

use super::args::Global;
use super::error::{CliError, exit};
use crate::config::{Backend, Config, Fallback};
use crate::model::Task;
use crate::router::Router;
use crate::store::db::Db;
use crate::store::{FallbackStore, MemoryStore, RedisStore, SqliteStore, Store};
use std::sync::Arc;

/// An opened rota: router plus what keeps the demo fleet alive.
pub struct Context {
    /// The router every request goes through.
    pub router: Arc<Router>,
    /// The in-process simulated fleet and its temporary state dir (`--demo` only).
    pub demo: Option<super::demo::Demo>,
    /// The SQLite database behind the store (`backend = "local"`): conversations, checks.
    pub db: Option<Arc<Db>>,
    /// What the user should hear about before the first request (a custom endpoint whose
    /// models could not be listed, a saved rotation state that could not be read and was
    /// started fresh); commands without a full-screen UI print them on stderr, the TUI in
    /// the chat pane.
    pub notices: Vec<String>,
    /// Custom providers whose models were just read from their own `GET /models`.
    discovered: Vec<String>,
}

/// The tokio runtime for a command: a worker per core (store transactions and file probes
/// run on its blocking threads, never on the workers).
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("could not start the async runtime: {e}")))
}

impl Context {
    /// Opens config (or the demo fleet), store and router. Exit 3 when no key exists at all.
    pub async fn open(global: &Global, _task: Task) -> Result<Self, CliError> {
        let ctx = Self::open_any(global).await?;
        let config = ctx.router.config();
        let has_key = config
            .providers
            .iter()
            .any(|p| p.enabled && !p.keys.is_empty());
        if !has_key {
            return Err(CliError {
                code: exit::NO_CREDENTIALS,
                message: "no API keys configured".into(),
                hint: Some(
                    "set GROQ_API_KEY, OPENAI_API_KEY or TOGETHER_API_KEY, run `rota keys add groq`, \
                     or try `rota --demo ask \"hello\"`"
                        .into(),
                ),
            });
        }
        ctx.check_models_in_background();
        Ok(ctx)
    }

    /// Prints the notices on stderr, one `rota: …` line each (for commands without the TUI).
    pub fn print_notices(&self) {
        for n in &self.notices {
            eprintln!("rota: {n}");
        }
    }

    /// Starts reading every account's `GET /models` in the background (see
    /// [`Router::refresh_availability`]); the first request does not wait
    /// for it. Call from inside the runtime.
    pub fn check_models_in_background(&self) {
        let router = Arc::clone(&self.router);
        tokio::spawn(router.refresh_availability(self.discovered.clone()));
    }

    /// Opens config (or the demo fleet), store and router, with or without keys.
    pub async fn open_any(global: &Global) -> Result<Self, CliError> {
        let (mut config, demo) = if global.demo {
            let demo = super::demo::Demo::start().await?;
            (demo.config.clone(), Some(demo))
        } else {
            (super::config_cmd::load_config(global)?, None)
        };
        let client =
            crate::providers::Client::new(crate::providers::Timeouts::from(&config.defaults));
        let undeclared: Vec<String> = config
            .undeclared_custom_providers()
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let mut notices =
            crate::providers::discover::discover_custom_models(&mut config, &client).await;
        // Their lists were read a moment ago: the background check need not read them again.
        let discovered = undeclared
            .into_iter()
            .filter(|p| config.models.iter().any(|m| &m.model.provider == p))
            .collect();
        let (store, db, fell_back) = open_store(&config)?;
        notices.extend(fell_back);
        if let Some(db) = &db {
            notices.extend(state_notice(db));
        }
        let mut router = Router::new(config, store).with_client(client);
        if let Some(db) = &db {
            router = router.with_ledger(Arc::clone(db));
        }
        Ok(Self {
            router: Arc::new(router),
            demo,
            db,
            notices,
            discovered,
        })
    }
}

/// What the user should hear about a saved rotation state rota had to start fresh (see
/// [`crate::store::sqlite::take_notice`]); a database that cannot be read here fails
/// later, with its own error.
fn state_notice(db: &Db) -> Option<String> {
    crate::store::sqlite::take_notice(db).unwrap_or_else(|e| {
        tracing::warn!("cannot check the saved rotation state: {e}");
        None
    })
}

/// A state store, the database behind it or beside it (the ledger and conversations;
/// `None` for the memory backend), and a warning for the user (Redis unreachable at start,
/// local limits used instead).
pub type OpenedStore = (Arc<dyn Store>, Option<Arc<Db>>, Option<String>);

/// The redis URL used when neither `redis_url` nor `$REDIS_URL` names one.
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// How long a decision waits for Redis before using the local state, with
/// `fallback = "local"`.
const FALLBACK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Opens `rota.db` in the data dir.
fn open_db(config: &Config) -> Result<Arc<Db>, CliError> {
    let dir = config.state.dir().ok_or_else(|| {
        CliError::usage("cannot find a data directory for rota.db (no home directory?)")
            .hint("set XDG_DATA_HOME, or [state] backend = \"memory\"")
    })?;
    Ok(Arc::new(
        Db::open(&dir.join("rota.db")).map_err(|e| CliError::failed(e.to_string()))?,
    ))
}

/// Opens the state store the config asks for, and the database behind it (if any). Redis
/// is asked once: unreachable, it is an error (exit 2) unless `[state] fallback = "local"`,
/// which makes it a warning and starts on this machine's own state.
pub fn open_store(config: &Config) -> Result<OpenedStore, CliError> {
    match config.state.backend {
        Backend::Memory => Ok((Arc::new(MemoryStore::default()), None, None)),
        Backend::Local => {
            let db = open_db(config)?;
            Ok((Arc::new(SqliteStore::new(db.clone())), Some(db), None))
        }
        Backend::Redis => {
            let url = config
                .state
                .redis_url
                .as_deref()
                .unwrap_or(DEFAULT_REDIS_URL);
            let redis = RedisStore::new(url, &config.state.redis_prefix)
                .map_err(|e| CliError::usage(e.to_string()))?;
            let db = open_db(config)?;
            match config.state.fallback {
                Fallback::None => {
                    redis.check().map_err(|e| {
                        CliError::usage(e.to_string())
                            .hint("to run without Redis, set [state] backend = \"local\" (limits shared by this machine's rota processes only)")
                    })?;
                    Ok((Arc::new(redis), Some(db), None))
                }
                Fallback::Local => {
                    let redis = redis.with_wait(FALLBACK_WAIT);
                    let (on_local, notice) = match redis.check() {
                        Ok(()) => (false, None),
                        Err(e) => (
                            true,
                            Some(format!(
                                "warning: {e}; using this machine's own limits (fallback = \"local\") until Redis answers"
                            )),
                        ),
                    };
                    let local = SqliteStore::new(db.clone());
                    let store = FallbackStore::new(redis, local, on_local);
                    Ok((Arc::new(store), Some(db), notice))
                }
            }
        }
    }
}
