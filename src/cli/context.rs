//! What every command that routes requests needs: the config (or the demo fleet), the
//! state store and the router, opened once per process.

use super::args::Global;
use super::error::{CliError, exit};
use crate::config::{Backend, Config};
use crate::model::Task;
use crate::router::Router;
use crate::store::db::Db;
use crate::store::{MemoryStore, SqliteStore, Store};
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
        let (store, db) = open_store(&config)?;
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

/// A state store and the database behind it (`None` for the memory backend).
pub type OpenedStore = (Arc<dyn Store>, Option<Arc<Db>>);

/// Opens the state store the config asks for, and the database behind it (if any).
pub fn open_store(config: &Config) -> Result<OpenedStore, CliError> {
    match config.state.backend {
        Backend::Memory => Ok((Arc::new(MemoryStore::default()), None)),
        Backend::Local => {
            let dir = config.state.dir().ok_or_else(|| {
                CliError::usage("cannot find a data directory for rota.db (no home directory?)")
                    .hint("set XDG_DATA_HOME, or [state] backend = \"memory\"")
            })?;
            let db = Arc::new(
                Db::open(&dir.join("rota.db")).map_err(|e| CliError::failed(e.to_string()))?,
            );
            Ok((Arc::new(SqliteStore::new(db.clone())), Some(db)))
        }
        Backend::Redis => Err(
            CliError::usage("[state] backend = \"redis\" is not built yet").hint(
                "use backend = \"local\" (SQLite, shared by every rota process on this machine)",
            ),
        ),
    }
}
