//! Where engine state lives, behind one trait: in memory, in SQLite shared by every rota
//! process of the user, or in Redis shared by every machine that names it. A store makes a
//! decision atomic: bring the state up to date, decide, reserve, commit what changed (the
//! shared stores keep it by slot: see [`mirror`]).

pub mod conversations;
pub mod db;
pub mod fallback;
pub mod ledger;
pub mod memory;
pub mod migrations;
pub mod mirror;
pub mod redis;
pub mod sqlite;

pub use fallback::FallbackStore;
pub use memory::MemoryStore;
pub use redis::RedisStore;
pub use sqlite::SqliteStore;

use crate::engine::EngineState;

/// Why the store could not load or save the engine state. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state is held by another process for too long.
    #[error("the rota state is busy ({0}): another rota process holds it; try again in a moment")]
    Busy(String),
    /// The saved state cannot be read.
    #[error(
        "the saved rota state is unreadable ({0}): delete rota.db in the data dir to start fresh (learned limits and cooldowns are lost)"
    )]
    Corrupt(String),
    /// Reading or writing the backend failed.
    #[error(
        "cannot reach the rota state ({0}): check the data dir is writable, or set [state] backend = \"memory\""
    )]
    Backend(String),
    /// The shared store (Redis) cannot be reached or refused rota; the message names it
    /// (without a password) and says what to do.
    #[error("{0}")]
    Shared(String),
    /// The shared store stopped answering while a change was being saved: it may or may
    /// not have been saved, so it is not made again elsewhere.
    #[error("{0}")]
    Uncertain(String),
    /// A thread panicked while holding the state.
    #[error("the in-memory rota state was left inconsistent by a crashed task: restart rota")]
    Poisoned,
}

/// Holds the engine state and runs decisions on it atomically.
pub trait Store: Send + Sync {
    /// Runs `f` on the state with exclusive access and keeps what it changed. Other
    /// processes or threads see either all of it or none of it.
    fn transact(&self, f: &mut dyn FnMut(&mut EngineState)) -> Result<(), StoreError>;

    /// A copy of the state as it is now (for status views).
    fn snapshot(&self) -> Result<EngineState, StoreError>;

    /// Whether a transaction is quick and never waits on I/O (an in-process lock held for
    /// microseconds): the router then runs it on the async worker instead of handing it to
    /// a blocking thread, which costs more than the transaction.
    fn is_quick(&self) -> bool {
        false
    }
}
