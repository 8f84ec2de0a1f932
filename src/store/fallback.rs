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
            // It may have been saved: never made again on the local state.
            Err(e @ StoreError::Uncertain(_)) => Err(e),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::Db;
    use std::sync::Arc;

    #[test]
    fn decisions_go_to_the_local_state_while_redis_is_unreachable() {
        // Nothing listens on loopback port 1.
        let redis = RedisStore::new("redis://127.0.0.1:1/0", "rota")
            .unwrap()
            .with_wait(Duration::from_millis(200));
        let db = Arc::new(Db::open_in_memory().unwrap());
        let store = FallbackStore::new(redis, SqliteStore::new(db.clone()), false);
        for _ in 0..3 {
            store
                .transact(&mut |st| st.slots.get_or_default("a@groq/m").backoff += 1)
                .unwrap();
        }
        assert_eq!(store.snapshot().unwrap().slots["a@groq/m"].backoff, 3);
        let local = SqliteStore::new(db);
        assert_eq!(
            local.snapshot().unwrap().slots["a@groq/m"].backoff,
            3,
            "kept locally"
        );
        assert!(
            store
                .local_since
                .lock()
                .unwrap()
                .is_some_and(|t| t.elapsed() < RETRY_EVERY),
            "Redis is tried again only after a while"
        );
    }
}
