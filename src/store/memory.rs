//! The in-process store: a mutex around the state.

use super::{Store, StoreError};
use crate::engine::EngineState;
use std::sync::Mutex;

/// Engine state kept in this process only (`[state] backend = "memory"`, tests, benches).
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<EngineState>,
}

impl MemoryStore {
    /// A store holding `state`.
    pub fn new(state: EngineState) -> Self {
        Self {
            state: Mutex::new(state),
        }
    }
}

impl Store for MemoryStore {
    fn transact(&self, f: &mut dyn FnMut(&mut EngineState)) -> Result<(), StoreError> {
        // A panic inside `f` poisons the mutex: later calls say so instead of serving a
        // half-made change.
        let mut guard = self.state.lock().map_err(|_| StoreError::Poisoned)?;
        f(&mut guard);
        Ok(())
    }

    fn snapshot(&self) -> Result<EngineState, StoreError> {
        self.state
            .lock()
            .map(|g| g.clone())
            .map_err(|_| StoreError::Poisoned)
    }

    fn is_quick(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn transactions_from_threads_are_serialized() {
        let store = Arc::new(MemoryStore::default());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let s = Arc::clone(&store);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        s.transact(&mut |st| st.next_grant_id += 1).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(store.snapshot().unwrap().next_grant_id, 400);
    }

    #[test]
    fn a_panic_inside_a_transaction_is_reported_not_served() {
        let store = Arc::new(MemoryStore::default());
        let s = Arc::clone(&store);
        let r = std::thread::spawn(move || {
            s.transact(&mut |st| {
                st.next_grant_id = 7;
                panic!("boom");
            })
        })
        .join();
        assert!(r.is_err());
        // The mutex is poisoned: the store says so instead of serving half a change.
        assert!(matches!(store.snapshot(), Err(StoreError::Poisoned)));
    }
}
