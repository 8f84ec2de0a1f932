//! The schema of `rota.db` as a numbered list of SQL steps, applied in order and recorded in
//! `PRAGMA user_version`. A step is never edited once released: a change is a new step.

use rusqlite::Connection;

/// The schema steps; step `i` (0-based) brings the database to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: named blobs (engine state), the request ledger, saved conversations.
    "CREATE TABLE blobs (
         name       TEXT PRIMARY KEY,
         value      BLOB NOT NULL,
         updated_ms INTEGER NOT NULL
     );
     CREATE TABLE attempts (
         id                 INTEGER PRIMARY KEY,
         at_ms              INTEGER NOT NULL,
         task               TEXT NOT NULL,
         provider           TEXT NOT NULL,
         model              TEXT NOT NULL,
         account            TEXT,
         key_suffix         TEXT NOT NULL,
         estimated_tokens   INTEGER NOT NULL,
         prompt_tokens      INTEGER,
         completion_tokens  INTEGER,
         cost_usd           REAL,
         latency_ms         INTEGER NOT NULL,
         first_token_ms     INTEGER,
         outcome            TEXT NOT NULL CHECK (outcome IN ('ok', 'failed', 'cancelled')),
         reason             TEXT,
         rotated            INTEGER NOT NULL DEFAULT 0,
         request_id         TEXT
     );
     CREATE INDEX attempts_at ON attempts (at_ms);
     CREATE TABLE sessions (
         id         INTEGER PRIMARY KEY,
         title      TEXT NOT NULL,
         created_ms INTEGER NOT NULL,
         updated_ms INTEGER NOT NULL
     );
     CREATE TABLE messages (
         id                INTEGER PRIMARY KEY,
         session_id        INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
         role              TEXT NOT NULL,
         content           TEXT NOT NULL,
         model             TEXT,
         prompt_tokens     INTEGER,
         completion_tokens INTEGER,
         created_ms        INTEGER NOT NULL
     );
     CREATE INDEX messages_session ON messages (session_id, id);",
    // 2: the engine state by record (one per slot, one of globals, one per hour of a slot's
    // day log), stamped with the commit that wrote it, and its counters; the old `engine-state` blob is moved into
    // them by the first decision (see store::sqlite).
    "CREATE TABLE engine_records (
         name  TEXT PRIMARY KEY,
         value BLOB,
         seq   INTEGER NOT NULL
     );
     CREATE INDEX engine_records_seq ON engine_records (seq);
     CREATE TABLE engine_days (
         slot  TEXT NOT NULL,
         hour  INTEGER NOT NULL,
         value BLOB NOT NULL,
         seq   INTEGER NOT NULL,
         PRIMARY KEY (slot, hour)
     );
     CREATE INDEX engine_days_seq ON engine_days (seq);
     CREATE TABLE engine_counters (
         name  TEXT PRIMARY KEY,
         value INTEGER NOT NULL
     );",
];

/// The schema version this rota writes: the number of steps.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// What reading or moving the schema version found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The database was already at [`LATEST`].
    UpToDate,
    /// Steps were applied: from this version up to [`LATEST`].
    From(u32),
    /// The database is newer than this rota knows (its version).
    TooNew(u32),
}

/// Reads `PRAGMA user_version`.
pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map(|v| v.clamp(0, u32::MAX as i64) as u32)
}

/// Brings the schema to [`LATEST`] inside one `BEGIN IMMEDIATE` transaction (so two
/// processes opening a fresh file at once apply each step exactly once). Call it with no
/// transaction open.
pub fn apply(conn: &mut Connection) -> rusqlite::Result<Applied> {
    // Fast path, no write lock: the common case of an up-to-date file.
    match version(conn)? {
        v if v == LATEST => return Ok(Applied::UpToDate),
        v if v > LATEST => return Ok(Applied::TooNew(v)),
        _ => {}
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let from = version(&tx)?;
    if from > LATEST {
        return Ok(Applied::TooNew(from));
    }
    if from == LATEST {
        return Ok(Applied::UpToDate);
    }
    for step in &MIGRATIONS[from as usize..] {
        tx.execute_batch(step)?;
    }
    // PRAGMA takes no bound parameters; LATEST is a constant number.
    tx.execute_batch(&format!("PRAGMA user_version = {LATEST}"))?;
    tx.commit()?;
    Ok(Applied::From(from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_once_then_is_idempotent() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(apply(&mut c).unwrap(), Applied::From(0));
        assert_eq!(version(&c).unwrap(), LATEST);
        assert_eq!(apply(&mut c).unwrap(), Applied::UpToDate);
        assert_eq!(apply(&mut c).unwrap(), Applied::UpToDate);
        let tables: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 7);
    }

    #[test]
    fn newer_version_is_reported_not_touched() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(&format!("PRAGMA user_version = {}", LATEST + 3))
            .unwrap();
        assert_eq!(apply(&mut c).unwrap(), Applied::TooNew(LATEST + 3));
        assert_eq!(version(&c).unwrap(), LATEST + 3);
    }
}
