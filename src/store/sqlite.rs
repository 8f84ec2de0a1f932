//! The `local` backend: the engine state as one blob in `rota.db`, changed in one short
//! `BEGIN IMMEDIATE` transaction per decision, so every rota process of the user shares one
//! view of every window.

use super::db::{Db, DbError};
use super::{Store, StoreError};
use crate::engine::EngineState;
use std::sync::Arc;

/// The name of the engine state's blob row.
const ENGINE_BLOB: &str = "engine-state";

/// Engine state kept in SQLite, shared across processes.
pub struct SqliteStore {
    db: Arc<Db>,
}

impl SqliteStore {
    /// A store over an open database.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }

    /// The database it uses (the ledger and conversations share it).
    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }
}

/// Reads a saved state; a state written by an older, incompatible rota starts fresh
/// (windows refill within a day; learned limits are learned again).
fn decode(bytes: Option<&[u8]>) -> EngineState {
    match bytes {
        None => EngineState::default(),
        Some(b) => serde_json::from_slice(b).unwrap_or_else(|e| {
            tracing::warn!("saved engine state unreadable ({e}); starting fresh");
            EngineState::default()
        }),
    }
}

fn store_error(e: DbError) -> StoreError {
    match e {
        DbError::Locked { .. } => StoreError::Busy(e.to_string()),
        DbError::Corrupt { .. } => StoreError::Corrupt(e.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

impl Store for SqliteStore {
    fn transact(&self, f: &mut dyn FnMut(&mut EngineState)) -> Result<(), StoreError> {
        let mut encode_error = None;
        self.db
            .update_blob(ENGINE_BLOB, |cur| {
                let mut state = decode(cur);
                f(&mut state);
                match serde_json::to_vec(&state) {
                    Ok(bytes) => (Some(bytes), ()),
                    Err(e) => {
                        encode_error = Some(e.to_string());
                        (None, ())
                    }
                }
            })
            .map_err(store_error)?;
        match encode_error {
            Some(e) => Err(StoreError::Backend(format!(
                "cannot save the engine state: {e}"
            ))),
            None => Ok(()),
        }
    }

    fn snapshot(&self) -> Result<EngineState, StoreError> {
        let bytes = self.db.read_blob(ENGINE_BLOB).map_err(store_error)?;
        Ok(decode(bytes.as_deref()))
    }
}
