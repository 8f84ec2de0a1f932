//! The `local` backend: the engine state as one blob in `rota.db`, changed in one short
//! `BEGIN IMMEDIATE` transaction per decision, so every rota process of the user shares one
//! view of every window.
//!
//! Each process keeps the state it last wrote, decoded, with SQLite's `PRAGMA data_version`
//! at that moment. When no other process has committed since (the version is unchanged
//! inside the next transaction), the blob is not read or decoded again: a busy single
//! process (a batch) pays one encode per decision instead of a decode and an encode. A write
//! whose bytes equal the saved ones is skipped.

use super::db::{Db, DbError};
use super::{Store, StoreError};
use crate::engine::EngineState;
use rusqlite::OptionalExtension;
use std::sync::{Arc, Mutex};

/// The name of the engine state's blob row.
const ENGINE_BLOB: &str = "engine-state";

/// The state this process last saw, and when (SQLite's data version of its connection).
#[derive(Debug)]
struct Cached {
    version: i64,
    state: EngineState,
    bytes: Vec<u8>,
}

/// Engine state kept in SQLite, shared across processes.
pub struct SqliteStore {
    db: Arc<Db>,
    cache: Mutex<Option<Cached>>,
}

impl SqliteStore {
    /// A store over an open database.
    pub fn new(db: Arc<Db>) -> Self {
        Self {
            db,
            cache: Mutex::new(None),
        }
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
        // Taken out: a failed transaction leaves no cache behind (the next one reads).
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken = cache.take();
        let mut encode_error = None;
        let saved = self
            .db
            .write(|tx| {
                let version: i64 = tx.query_row("PRAGMA data_version", [], |r| r.get(0))?;
                let (mut state, old) = match taken.take() {
                    Some(c) if c.version == version => (c.state, Some(c.bytes)),
                    _ => {
                        let cur: Option<Vec<u8>> = tx
                            .prepare_cached("SELECT value FROM blobs WHERE name = ?1")?
                            .query_row([ENGINE_BLOB], |r| r.get(0))
                            .optional()?;
                        (decode(cur.as_deref()), cur)
                    }
                };
                f(&mut state);
                let bytes = match serde_json::to_vec(&state) {
                    Ok(b) => b,
                    Err(e) => {
                        encode_error = Some(e.to_string());
                        return Ok(None);
                    }
                };
                if old.as_deref() != Some(&bytes[..]) {
                    tx.prepare_cached(
                        "INSERT INTO blobs (name, value, updated_ms) VALUES (?1, ?2, ?3)
                         ON CONFLICT (name) DO UPDATE SET value = excluded.value,
                                                          updated_ms = excluded.updated_ms",
                    )?
                    .execute(rusqlite::params![
                        ENGINE_BLOB,
                        bytes,
                        crate::model::now_ms() as i64
                    ])?;
                }
                // Our own commit does not change our connection's data version.
                Ok(Some(Cached {
                    version,
                    state,
                    bytes,
                }))
            })
            .map_err(store_error)?;
        match encode_error {
            Some(e) => Err(StoreError::Backend(format!(
                "cannot save the engine state: {e}"
            ))),
            None => {
                *cache = saved;
                Ok(())
            }
        }
    }

    fn snapshot(&self) -> Result<EngineState, StoreError> {
        let bytes = self.db.read_blob(ENGINE_BLOB).map_err(store_error)?;
        Ok(decode(bytes.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_store(dir: &std::path::Path) -> SqliteStore {
        SqliteStore::new(Arc::new(Db::open(&dir.join("rota.db")).unwrap()))
    }

    #[test]
    fn two_connections_see_each_others_writes_through_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (file_store(dir.path()), file_store(dir.path()));
        for round in 0..50u64 {
            let s = if round % 3 == 0 { &a } else { &b };
            s.transact(&mut |st| {
                assert_eq!(st.next_grant_id, round);
                st.next_grant_id += 1;
            })
            .unwrap();
        }
        assert_eq!(a.snapshot().unwrap().next_grant_id, 50);
        assert_eq!(b.snapshot().unwrap().next_grant_id, 50);
    }

    #[test]
    fn other_writes_of_the_same_connection_keep_the_cache_valid() {
        let dir = tempfile::tempdir().unwrap();
        let s = file_store(dir.path());
        s.transact(&mut |st| st.next_grant_id = 4).unwrap();
        s.db()
            .transact_blob("other", &mut |_| b"x".to_vec())
            .unwrap();
        s.transact(&mut |st| {
            assert_eq!(st.next_grant_id, 4);
            st.next_grant_id += 1;
        })
        .unwrap();
        assert_eq!(s.snapshot().unwrap().next_grant_id, 5);
    }

    #[test]
    fn threads_of_one_process_lose_no_update() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(file_store(dir.path()));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        s.transact(&mut |st| st.next_grant_id += 1).unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(s.snapshot().unwrap().next_grant_id, 200);
    }

    #[test]
    fn a_state_an_older_rota_saved_loads_with_its_disables() {
        use crate::engine::state::DisableCause;
        let dir = tempfile::tempdir().unwrap();
        let s = file_store(dir.path());
        // Disables as reason strings, as rota wrote them before causes were typed.
        let old = br#"{"slots":{},"inflight":{},"disabled_keys":{"groq|a|\u20260002":{"key":{"provider":"groq","account":"a","masked":"\u20260002"},"reason":"quota_exhausted: spent","at":2}},"disabled_models":{},"unavailable":{"a@groq/m":{"key":null,"reason":"not in the account's GET /models","at":3}},"provider_backoff":{},"last_error":{},"transcription_rr":0,"transcription_stats":{},"next_grant_id":7}"#;
        s.db()
            .transact_blob(ENGINE_BLOB, &mut |_| old.to_vec())
            .unwrap();
        let st = s.snapshot().unwrap();
        assert_eq!(st.next_grant_id, 7, "not started fresh");
        let d = &st.disabled_keys["groq|a|…0002"];
        assert_eq!(
            (d.cause, d.message.as_str()),
            (DisableCause::QuotaExhausted, "spent")
        );
        assert_eq!(st.unavailable["a@groq/m"].cause, DisableCause::Unlisted);
    }
}
