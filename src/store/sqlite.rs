//! The `local` backend: the engine state in `rota.db`, one row per slot plus one of
//! globals (see [`super::mirror`]), changed in one short `BEGIN IMMEDIATE` transaction per
//! decision, so every rota process of the user shares one view of every window.
//!
//! Each row carries the sequence number of the commit that wrote it. Each process keeps the
//! state decoded ([`Mirror`]) with the sequence number it has seen and SQLite's
//! `PRAGMA data_version` at that moment. Inside the next transaction, an unchanged data
//! version means no other process has committed: nothing is read. Otherwise only the rows
//! stamped after the number it has seen are read. A decision writes only the rows it
//! changed. Its cost follows what changed, not the fleet's size or the day's traffic.
//!
//! Older rotas kept the whole state as one blob (`engine-state`). The first decision on such
//! a database moves it into rows, in its transaction, and deletes the blob. A blob this rota
//! cannot read is never dropped silently: its bytes are kept in a blob row
//! `engine-state.bad-<ms>` in the same transaction that starts the state fresh, and a notice
//! for the user is left in the database until a command shows it (see [`take_notice`]).

use super::db::{Db, DbError};
use super::mirror::{Commit, Mirror};
use super::{Store, StoreError};
use crate::engine::EngineState;
use rusqlite::{Connection, OptionalExtension};
use std::sync::{Arc, Mutex};

/// The name of the blob row older rotas kept the whole engine state in.
const ENGINE_BLOB: &str = "engine-state";

/// The start of the names of blob rows keeping an engine state rota could not read
/// (`engine-state.bad-<ms>`, the time it was set aside).
pub const BAD_STATE_PREFIX: &str = "engine-state.bad-";

/// The blob row holding what the user should hear about a state rota had to start fresh,
/// until a command shows it.
const NOTICE_BLOB: &str = "engine-state.notice";

/// The state this process last saw, and when (SQLite's data version of its connection).
#[derive(Debug)]
struct Cached {
    version: i64,
    mirror: Mirror,
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

/// Reads a saved state (`None`: never written, a fresh one). A state an older rota wrote
/// reads where serde can map it; otherwise the error says why it cannot be read.
fn decode(bytes: Option<&[u8]>) -> Result<EngineState, serde_json::Error> {
    match bytes {
        None => Ok(EngineState::default()),
        Some(b) => serde_json::from_slice(b),
    }
}

/// Reads a saved state inside a write transaction; one that cannot be read is set aside
/// (see [`keep_bad`]) and a fresh one returned (windows refill within a day; learned
/// limits are learned again; disabled keys and cooldowns are gone).
fn decode_or_keep(
    tx: &rusqlite::Transaction<'_>,
    bytes: Option<&[u8]>,
    label: &str,
) -> rusqlite::Result<EngineState> {
    match (decode(bytes), bytes) {
        (Ok(state), _) => Ok(state),
        (Err(e), Some(bad)) => {
            keep_bad(tx, bad, &e, label)?;
            Ok(EngineState::default())
        }
        (Err(_), None) => Ok(EngineState::default()),
    }
}

/// Keeps the unreadable state `bad` as the blob row `engine-state.bad-<ms>` (`-2`, `-3`, …
/// appended if that name is taken) and leaves the user a notice saying so (shown by the next
/// command, see [`take_notice`]); logs it too. Runs inside the transaction that replaces or
/// removes the state, so the copy exists exactly when the state was started fresh.
fn keep_bad(
    tx: &rusqlite::Transaction<'_>,
    bad: &[u8],
    why: &serde_json::Error,
    label: &str,
) -> rusqlite::Result<()> {
    let now = crate::model::now_ms();
    // A copy set aside earlier in the same millisecond is never overwritten.
    let mut keep = tx.prepare_cached(
        "INSERT INTO blobs (name, value, updated_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
    )?;
    let mut name = format!("{BAD_STATE_PREFIX}{now}");
    let mut n = 1;
    while keep.execute(rusqlite::params![name, bad, now as i64])? == 0 {
        n += 1;
        name = format!("{BAD_STATE_PREFIX}{now}-{n}");
    }
    drop(keep);
    // serde quotes values it could not take: never a whole key in a message.
    let why = crate::secret::mask_keys(&why.to_string());
    let notice = format!(
        "the saved rotation state in {label} could not be read ({why}), so rota started it \
         fresh: keys it had taken out of rotation are back in, cooldowns and learned limits \
         are cleared. The unreadable copy is kept in rota.db as blob `{name}` \
         (docs/state.md says how to read it); `rota keys check` takes refused keys out again"
    );
    tracing::warn!("{notice}");
    tx.prepare_cached(
        "INSERT INTO blobs (name, value, updated_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value,
                                          updated_ms = excluded.updated_ms",
    )?
    .execute(rusqlite::params![
        NOTICE_BLOB,
        notice.as_bytes(),
        now as i64
    ])?;
    Ok(())
}

/// What the user should hear about a saved state rota had to start fresh (this process or
/// another one, since the last command that showed it), taken so it is shown once. Reads
/// the state first, so an unreadable one found now is set aside and reported at once.
pub fn take_notice(db: &Db) -> Result<Option<String>, StoreError> {
    let current = db.read_blob(ENGINE_BLOB).map_err(store_error)?;
    if decode(current.as_deref()).is_err() {
        set_aside(db).map_err(store_error)?;
    }
    if db.read_blob(NOTICE_BLOB).map_err(store_error)?.is_none() {
        return Ok(None);
    }
    let taken = db
        .write(|tx| {
            let v: Option<Vec<u8>> = tx
                .prepare_cached("SELECT value FROM blobs WHERE name = ?1")?
                .query_row([NOTICE_BLOB], |r| r.get(0))
                .optional()?;
            tx.prepare_cached("DELETE FROM blobs WHERE name = ?1")?
                .execute([NOTICE_BLOB])?;
            Ok(v)
        })
        .map_err(store_error)?;
    Ok(taken.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// Sets an unreadable saved state aside (see [`keep_bad`]) and removes it, so every reader
/// starts fresh; does nothing if it reads by the time the write lock is held.
fn set_aside(db: &Db) -> Result<(), DbError> {
    let label = db.path_label().to_string();
    db.write(|tx| {
        let cur: Option<Vec<u8>> = tx
            .prepare_cached("SELECT value FROM blobs WHERE name = ?1")?
            .query_row([ENGINE_BLOB], |r| r.get(0))
            .optional()?;
        if let (Some(bad), Err(e)) = (cur.as_deref(), decode(cur.as_deref())) {
            keep_bad(tx, bad, &e, &label)?;
            tx.prepare_cached("DELETE FROM blobs WHERE name = ?1")?
                .execute([ENGINE_BLOB])?;
        }
        Ok(())
    })
}

fn store_error(e: DbError) -> StoreError {
    match e {
        DbError::Locked { .. } => StoreError::Busy(e.to_string()),
        DbError::Corrupt { .. } => StoreError::Corrupt(e.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// The counter rows.
const SEQ: &str = "seq";
const NEXT_GRANT: &str = "next_grant_id";

fn counter(c: &Connection, name: &str) -> rusqlite::Result<i64> {
    Ok(
        c.prepare_cached("SELECT value FROM engine_counters WHERE name = ?1")?
            .query_row([name], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0),
    )
}

fn set_counter(c: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO engine_counters (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?
    .execute(rusqlite::params![name, value])?;
    Ok(())
}

/// Brings `m` up to the rows committed since it was last in step (all of them for a mirror
/// that has seen nothing, or when the database went back: replaced by another file), the
/// grant counter included.
fn refresh(c: &Connection, mut m: Mirror) -> rusqlite::Result<Mirror> {
    let seq = counter(c, SEQ)?;
    if seq < m.seq {
        m = Mirror::empty();
    }
    if seq != m.seq {
        let mut rows = c.prepare_cached("SELECT name, value FROM engine_records WHERE seq > ?1")?;
        let mut q = rows.query([m.seq])?;
        while let Some(r) = q.next()? {
            let name: String = r.get(0)?;
            let value: Option<Vec<u8>> = r.get(1)?;
            m.apply(&name, value.as_deref());
        }
        let mut days =
            c.prepare_cached("SELECT slot, hour, value FROM engine_days WHERE seq > ?1")?;
        let mut q = days.query([m.seq])?;
        while let Some(r) = q.next()? {
            let slot: String = r.get(0)?;
            let hour: i64 = r.get(1)?;
            let value: Vec<u8> = r.get(2)?;
            m.apply_day(&slot, hour.max(0) as u64, Some(&value));
        }
        m.seq = seq;
    }
    m.settle_applied();
    m.state.next_grant_id = counter(c, NEXT_GRANT)?.max(0) as u64;
    Ok(m)
}

/// Writes `commit` as the next sequence number and the grant counter if it moved.
fn write(
    tx: &rusqlite::Transaction<'_>,
    m: &mut Mirror,
    commit: Commit,
    grant_before: u64,
) -> rusqlite::Result<()> {
    if !commit.is_empty() {
        let seq = m.seq + 1;
        let mut put = tx.prepare_cached(
            "INSERT INTO engine_records (name, value, seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, seq = excluded.seq",
        )?;
        for (name, bytes) in &commit.records {
            put.execute(rusqlite::params![name, bytes, seq])?;
        }
        let mut put_day = tx.prepare_cached(
            "INSERT INTO engine_days (slot, hour, value, seq) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (slot, hour) DO UPDATE SET value = excluded.value, seq = excluded.seq",
        )?;
        let mut drop_day =
            tx.prepare_cached("DELETE FROM engine_days WHERE slot = ?1 AND hour = ?2")?;
        for d in &commit.days {
            let hour = i64::try_from(d.hour).unwrap_or(i64::MAX);
            match &d.bytes {
                Some(b) => put_day.execute(rusqlite::params![d.slot, hour, b, seq])?,
                // A reader keeps an hour that no longer counts until it prunes it itself.
                None => drop_day.execute(rusqlite::params![d.slot, hour])?,
            };
        }
        set_counter(tx, SEQ, seq)?;
        m.committed(commit, seq);
    }
    if m.state.next_grant_id != grant_before {
        let n = i64::try_from(m.state.next_grant_id).unwrap_or(i64::MAX);
        set_counter(tx, NEXT_GRANT, n)?;
    }
    Ok(())
}

/// The mirror of a process that has seen nothing yet: the rows, or the state an older rota
/// left as one blob, moved into rows now (an unreadable blob is kept aside, see
/// [`keep_bad`]).
fn load(tx: &rusqlite::Transaction<'_>, label: &str) -> rusqlite::Result<Mirror> {
    let blob: Option<Vec<u8>> = tx
        .prepare_cached("SELECT value FROM blobs WHERE name = ?1")?
        .query_row([ENGINE_BLOB], |r| r.get(0))
        .optional()?;
    let mut m = refresh(tx, Mirror::empty())?;
    let Some(blob) = blob else {
        return Ok(m);
    };
    let old = decode_or_keep(tx, Some(&blob[..]), label)?;
    let grant = m.state.next_grant_id.max(old.next_grant_id);
    let seq = m.seq;
    m = Mirror::of_unsaved(old);
    m.seq = seq;
    m.state.next_grant_id = grant;
    match m.prepare_commit() {
        Ok(commit) => write(tx, &mut m, commit, u64::MAX)?,
        Err(e) => {
            // Never expected: the state just decoded. Keep the blob for a later try.
            tracing::warn!("cannot move the saved engine state into rows: {e}");
            return refresh(tx, Mirror::empty());
        }
    }
    tx.prepare_cached("DELETE FROM blobs WHERE name = ?1")?
        .execute([ENGINE_BLOB])?;
    tracing::info!("moved the saved engine state into one row per slot");
    Ok(m)
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
                let mut m = match taken.take() {
                    Some(c) if c.version == version => c.mirror,
                    Some(c) => refresh(tx, c.mirror)?,
                    None => load(tx, self.db.path_label())?,
                };
                // As saved: only this decision can have moved it.
                let grant = m.state.next_grant_id;
                m.begin();
                f(&mut m.state);
                let commit = match m.prepare_commit() {
                    Ok(c) => c,
                    Err(e) => {
                        encode_error = Some(e.to_string());
                        return Ok(None);
                    }
                };
                write(tx, &mut m, commit, grant)?;
                // Our own commit does not change our connection's data version.
                Ok(Some(Cached { version, mirror: m }))
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
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let Some(c) = cache.take() else {
            // The first look: a decision that changes nothing loads (and moves an older
            // rota's blob).
            drop(cache);
            self.transact(&mut |_| {})?;
            return self
                .cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|c| c.mirror.state.clone())
                .ok_or_else(|| StoreError::Backend("the state was not loaded".into()));
        };
        let mut c = Some(c);
        let fresh = self
            .db
            .read(|conn| {
                let tx = conn.unchecked_transaction()?;
                let version: i64 = tx.query_row("PRAGMA data_version", [], |r| r.get(0))?;
                let Some(mut cached) = c.take() else {
                    return Ok(None);
                };
                if cached.version != version {
                    cached = Cached {
                        version,
                        mirror: refresh(&tx, cached.mirror)?,
                    };
                }
                tx.finish()?;
                Ok(Some(cached))
            })
            .map_err(store_error)?;
        let state = fresh.as_ref().map(|c| c.mirror.state.clone());
        *cache = fresh;
        state.ok_or_else(|| StoreError::Backend("the state was not loaded".into()))
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

    /// The blob rows keeping unreadable states: name and bytes.
    fn kept(db: &Db) -> Vec<(String, Vec<u8>)> {
        db.read(|c| {
            c.prepare("SELECT name, value FROM blobs WHERE name LIKE 'engine-state.bad-%'")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .unwrap()
    }

    #[test]
    fn the_notice_never_shows_a_key_the_bad_state_holds() {
        let dir = tempfile::tempdir().unwrap();
        let s = file_store(dir.path());
        let bad = br#"{"disabled_keys": "gsk_test_secret_key_000123456789"}"#;
        s.db()
            .transact_blob(ENGINE_BLOB, &mut |_| bad.to_vec())
            .unwrap();
        let notice = take_notice(s.db()).unwrap().unwrap();
        assert!(!notice.contains("secret_key"), "{notice}");
        assert_eq!(kept(s.db())[0].1, bad, "the copy is kept as it was");
    }

    #[test]
    fn copies_set_aside_in_one_millisecond_are_all_kept() {
        let db = Db::open_in_memory().unwrap();
        let why = serde_json::from_slice::<EngineState>(b"x").unwrap_err();
        db.write(|tx| {
            for bad in [&b"one"[..], b"two", b"three"] {
                keep_bad(tx, bad, &why, "t")?;
            }
            Ok(())
        })
        .unwrap();
        let mut values: Vec<Vec<u8>> = kept(&db).into_iter().map(|(_, v)| v).collect();
        values.sort();
        assert_eq!(values, [&b"one"[..], b"three", b"two"]);
    }

    /// A state this rota cannot read: disables as a list, not a map.
    const UNREADABLE: &[u8] =
        br#"{"slots":{},"disabled_keys":[["groq|a|\u20260002","refused"]],"next_grant_id":7}"#;

    #[test]
    fn an_unreadable_state_is_kept_when_a_decision_starts_it_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let s = file_store(dir.path());
        s.db()
            .transact_blob(ENGINE_BLOB, &mut |_| UNREADABLE.to_vec())
            .unwrap();
        s.transact(&mut |st| {
            assert_eq!(st.next_grant_id, 0, "started fresh");
            st.next_grant_id += 1;
        })
        .unwrap();
        assert_eq!(s.snapshot().unwrap().next_grant_id, 1);
        let copies = kept(s.db());
        assert_eq!(copies.len(), 1, "one copy");
        assert_eq!(copies[0].1, UNREADABLE, "the bytes as they were");
        let notice = take_notice(s.db()).unwrap().unwrap();
        assert!(notice.contains(&copies[0].0), "{notice}");
        assert!(notice.contains("started it fresh"), "{notice}");
        assert!(notice.contains(s.db().path_label()), "{notice}");
        assert_eq!(take_notice(s.db()).unwrap(), None, "said once");
        s.transact(&mut |st| st.next_grant_id += 1).unwrap();
        assert_eq!(kept(s.db()).len(), 1, "a readable state is not copied");
    }

    #[test]
    fn an_unreadable_state_is_kept_when_first_read_by_a_status_or_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let s = file_store(dir.path());
        s.db()
            .transact_blob(ENGINE_BLOB, &mut |_| UNREADABLE.to_vec())
            .unwrap();
        assert_eq!(s.snapshot().unwrap().next_grant_id, 0);
        assert_eq!(kept(s.db())[0].1, UNREADABLE);
        assert_eq!(s.db().read_blob(ENGINE_BLOB).unwrap(), None, "set aside");
        assert_eq!(s.snapshot().unwrap().next_grant_id, 0);
        assert_eq!(kept(s.db()).len(), 1, "set aside once");

        // Another process opening the file finds it at once and is told.
        let other = file_store(dir.path());
        other
            .db()
            .transact_blob(ENGINE_BLOB, &mut |_| b"\x00garbage".to_vec())
            .unwrap();
        let notice = take_notice(other.db()).unwrap().unwrap();
        assert!(notice.contains("could not be read"), "{notice}");
        assert_eq!(kept(s.db()).len(), 2);
        assert_eq!(take_notice(s.db()).unwrap(), None);
        // A readable state leaves nothing to say.
        other.transact(&mut |st| st.next_grant_id = 3).unwrap();
        assert_eq!(take_notice(s.db()).unwrap(), None);
        assert_eq!(s.snapshot().unwrap().next_grant_id, 3);
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

    /// Rows stamped by the last commit.
    fn rows_of_last_commit(db: &Db) -> Vec<String> {
        db.read(|c| {
            let seq = counter(c, SEQ)?;
            c.prepare("SELECT name FROM engine_records WHERE seq = ?1 ORDER BY name")?
                .query_map([seq], |r| r.get(0))?
                .collect()
        })
        .unwrap()
    }

    #[test]
    fn a_decision_writes_only_the_rows_it_changed() {
        use crate::engine::state::Slot;
        let dir = tempfile::tempdir().unwrap();
        let s = file_store(dir.path());
        s.transact(&mut |st| {
            for i in 0..100 {
                let mut slot = Slot::default();
                slot.windows.add(1_000, [1, 10, 0]);
                st.slots.insert(format!("a{i}@groq/m"), slot);
            }
        })
        .unwrap();
        assert_eq!(rows_of_last_commit(s.db()).len(), 100);
        s.transact(&mut |st| st.slots.get_or_default("a7@groq/m").cool_until = 5)
            .unwrap();
        assert_eq!(rows_of_last_commit(s.db()), ["a7@groq/m"]);
        s.transact(&mut |st| {
            st.last_error.insert("groq/m".into(), "boom".into());
        })
        .unwrap();
        assert_eq!(rows_of_last_commit(s.db()), [super::super::mirror::GLOBALS]);
        // A decision that only looks writes nothing.
        let before = s.db().read(|c| counter(c, SEQ)).unwrap();
        s.transact(&mut |st| {
            let _ = st.slots.get("a3@groq/m");
        })
        .unwrap();
        assert_eq!(s.db().read(|c| counter(c, SEQ)).unwrap(), before);
    }

    #[test]
    fn another_process_sees_changed_and_removed_slots_and_reservations() {
        use crate::engine::state::Reservation;
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (file_store(dir.path()), file_store(dir.path()));
        a.transact(&mut |st| {
            st.slots.get_or_default("x@groq/m").backoff = 2;
            st.slots.get_or_default("y@groq/m").backoff = 3;
            st.inflight.insert(
                9,
                Reservation {
                    slot: "y@groq/m".into(),
                    at: 1,
                    tokens: 5,
                    audio_secs: 0,
                },
            );
        })
        .unwrap();
        let seen = b.snapshot().unwrap();
        assert_eq!(seen.slots["x@groq/m"].backoff, 2);
        assert_eq!(seen.inflight[&9].tokens, 5);
        b.transact(&mut |st| {
            st.slots.retain(|n, _| n != "x@groq/m");
            st.inflight.remove(&9);
        })
        .unwrap();
        let seen = a.snapshot().unwrap();
        assert!(seen.slots.get("x@groq/m").is_none(), "removed");
        assert_eq!(seen.slots["y@groq/m"].backoff, 3);
        assert!(seen.inflight.is_empty(), "settled elsewhere");
    }

    #[test]
    fn the_blob_of_an_older_rota_moves_into_rows_with_learned_limits_and_cooldowns() {
        use crate::engine::state::Slot;
        use crate::model::Window;
        let dir = tempfile::tempdir().unwrap();
        let s = file_store(dir.path());
        let mut old = EngineState::default();
        let mut slot = Slot {
            cool_until: 99_000,
            ..Slot::default()
        };
        slot.learned.set(Window::Tpm, Some(8_000));
        old.slots.insert("a@groq/m".into(), slot.clone());
        old.next_grant_id = 41;
        let bytes = serde_json::to_vec(&old).unwrap();
        s.db()
            .transact_blob(ENGINE_BLOB, &mut |_| bytes.clone())
            .unwrap();
        let other = file_store(dir.path());
        let st = other.snapshot().unwrap();
        assert_eq!(st.slots["a@groq/m"], slot);
        assert_eq!(st.next_grant_id, 41);
        assert_eq!(s.db().read_blob(ENGINE_BLOB).unwrap(), None, "moved");
        assert_eq!(s.snapshot().unwrap().slots["a@groq/m"], slot);
        assert_eq!(take_notice(s.db()).unwrap(), None, "nothing to tell");
    }
}
