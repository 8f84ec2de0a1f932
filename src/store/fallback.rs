//! `[state] fallback = "local"`: the shared store while it answers, this machine's own
//! SQLite state while it does not, and back to the shared one when it answers again.

use super::{RedisStore, SqliteStore, Store, StoreError};
use crate::engine::EngineState;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long decisions stay on the local state before the shared store is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(5);

/// The shared store, falling back to the local one while it cannot be reached.
pub struct FallbackStore {
    shared: RedisStore,
    local: SqliteStore,
    /// Since when decisions go to the local store (`None`: on the shared one).
    local_since: Mutex<Option<Instant>>,
}

impl FallbackStore {
    /// Decisions go to `shared`, or to `local` while `shared` cannot be reached;
    /// `on_local` starts on the local one (the shared one did not answer at start).
    pub fn new(shared: RedisStore, local: SqliteStore, on_local: bool) -> Self {
        Self {
            shared,
            local,
            local_since: Mutex::new(on_local.then(Instant::now)),
        }
    }

    /// Whether decisions go to the local store now.
    pub fn is_local(&self) -> bool {
        self.local_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Runs `op` on the shared store unless it failed less than [`RETRY_EVERY`] ago; on
    /// the local one otherwise, or when the shared one cannot be reached now.
    fn route<T>(
        &self,
        mut op: impl FnMut(&dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let since = *self.local_since.lock().unwrap_or_else(|p| p.into_inner());
        if since.is_some_and(|t| t.elapsed() < RETRY_EVERY) {
            return op(&self.local);
        }
        match op(&self.shared) {
            Err(StoreError::Shared(why)) => {
                let mut s = self.local_since.lock().unwrap_or_else(|p| p.into_inner());
                if s.is_none() {
                    tracing::warn!("{why}; using this machine's own limits until it answers");
                }
                *s = Some(Instant::now());
                drop(s);
                op(&self.local)
            }
            done => {
                let mut s = self.local_since.lock().unwrap_or_else(|p| p.into_inner());
                if s.take().is_some() {
                    tracing::warn!(
                        "{} answers again: limits are shared again",
                        self.shared.label()
                    );
                }
                done
            }
        }
    }
}

impl Store for FallbackStore {
    fn transact(&self, f: &mut dyn FnMut(&mut EngineState)) -> Result<(), StoreError> {
        self.route(|s| s.transact(&mut *f))
    }

    fn snapshot(&self) -> Result<EngineState, StoreError> {
        self.route(|s| s.snapshot())
    }
}
