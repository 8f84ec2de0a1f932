//! `rota.db`: one SQLite file (WAL) shared by every rota process of the user. This module
//! opens it (private permissions, busy timeout, migrations, corruption check), turns SQLite
//! failures into errors that say what to do, and runs short write transactions, including
//! the atomic read-modify-write of a named blob that holds the engine state.

use crate::model::now_ms;
use crate::store::migrations::{self, Applied};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a writer waits for another process's write transaction before giving up.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Files up to this size get a `PRAGMA quick_check` at open; bigger ones are checked lazily
/// (every SQLite corruption error on use maps to [`DbError::Corrupt`] anyway).
const QUICK_CHECK_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Why the database could not be used. Every message names the file and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The file is not an SQLite database, or it is damaged.
    #[error(
        "{path} is not a valid rota database ({detail}): move it aside (mv {path} {path}.bad) and rota will start a fresh one, or set [state] backend = \"memory\""
    )]
    Corrupt {
        /// The database file.
        path: String,
        /// What SQLite said.
        detail: String,
    },
    /// The file or its directory cannot be created or written.
    #[error(
        "cannot write the rota database {path} ({detail}): make the file and its directory writable by you (chmod u+rwX), check the filesystem is not read-only or full, or set [state] backend = \"memory\""
    )]
    Unwritable {
        /// The database file.
        path: String,
        /// What failed.
        detail: String,
    },
    /// Another process held the write lock for longer than the busy timeout.
    #[error(
        "the rota database {path} stayed locked by another process for more than {waited_ms} ms: check for a stuck rota process (or another program holding the file open) and try again"
    )]
    Locked {
        /// The database file.
        path: String,
        /// How long this process waited.
        waited_ms: u64,
    },
    /// The schema was written by a newer rota.
    #[error(
        "the rota database {path} has schema version {found}, newer than this rota knows ({known}): upgrade rota, or move the file aside (mv {path} {path}.new) to start a fresh one"
    )]
    TooNew {
        /// The database file.
        path: String,
        /// The version found in the file.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// A saved conversation that does not exist (deleted, or a wrong id).
    #[error(
        "no saved conversation {id} in {path}: it may have been deleted; pick one from the session list"
    )]
    NoSession {
        /// The database file.
        path: String,
        /// The id asked for.
        id: i64,
    },
    /// Any other SQLite failure.
    #[error("the rota database {path} failed: {detail}")]
    Other {
        /// The database file.
        path: String,
        /// What SQLite said.
        detail: String,
    },
}

/// An open `rota.db`. Cheap to share: wrap it in an `Arc`; calls from many threads are
/// serialized on one connection, and calls from many processes by SQLite's file locks.
pub struct Db {
    conn: Mutex<Connection>,
    label: String,
    busy: Duration,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.label).finish()
    }
}

impl Db {
    /// Opens (creating if needed) the database file at `path` with the default busy timeout.
    /// Parent directories are created with mode 0700 and the file with 0600.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        Self::open_with_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// Like [`Db::open`], with how long a write waits for other processes' locks.
    pub fn open_with_timeout(path: &Path, busy: Duration) -> Result<Db, DbError> {
        let label = path.display().to_string();
        let unwritable = |detail: String| DbError::Unwritable {
            path: label.clone(),
            detail,
        };
        if path.is_dir() {
            return Err(unwritable("it is a directory, not a file".into()));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::config::file::create_private_dir(parent)
                .map_err(|e| unwritable(format!("cannot create {}: {e}", parent.display())))?;
        }
        create_private_file(path)
            .map_err(|e| unwritable(format!("cannot create the file: {e}")))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| classify(&label, busy, e))?;
        let db = Db {
            conn: Mutex::new(conn),
            label,
            busy,
        };
        db.prepare(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))?;
        Ok(db)
    }

    /// A private in-memory database with the same schema, for tests and `backend = "memory"`
    /// callers that still want the ledger API.
    pub fn open_in_memory() -> Result<Db, DbError> {
        let label = ":memory:".to_string();
        let conn =
            Connection::open_in_memory().map_err(|e| classify(&label, DEFAULT_BUSY_TIMEOUT, e))?;
        let db = Db {
            conn: Mutex::new(conn),
            label,
            busy: DEFAULT_BUSY_TIMEOUT,
        };
        db.prepare(0)?;
        Ok(db)
    }

    /// The file this database lives in (`:memory:` for an in-memory one), as shown in errors.
    pub fn path_label(&self) -> &str {
        &self.label
    }

    /// Pragmas, corruption check and migrations, run once at open.
    fn prepare(&self, file_len: u64) -> Result<(), DbError> {
        let mut conn = self.lock();
        let c = &mut *conn;
        self.retry(|| {
            c.busy_timeout(self.busy)?;
            if c.is_readonly(rusqlite::MAIN_DB)? {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
                    Some("the file is read-only".into()),
                ));
            }
            // In-memory databases answer "memory"; files switch to WAL (a no-op when they are).
            let _mode: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        })?;
        if file_len > 0 && file_len <= QUICK_CHECK_MAX_BYTES {
            let verdict: String =
                self.retry(|| c.query_row("PRAGMA quick_check", [], |r| r.get(0)))?;
            if verdict != "ok" {
                return Err(DbError::Corrupt {
                    path: self.label.clone(),
                    detail: format!("malformed: {verdict}"),
                });
            }
        }
        match self.retry(|| migrations::apply(c))? {
            Applied::TooNew(found) => Err(DbError::TooNew {
                path: self.label.clone(),
                found,
                known: migrations::LATEST,
            }),
            Applied::UpToDate | Applied::From(_) => Ok(()),
        }
    }

    /// Locks the connection; a panic in another thread never makes it unusable (SQLite
    /// rolled the panicking transaction back when it was dropped).
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `op`, retrying on SQLITE_BUSY/LOCKED until the busy timeout has passed; maps
    /// the final error to a [`DbError`].
    fn retry<T>(&self, mut op: impl FnMut() -> rusqlite::Result<T>) -> Result<T, DbError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(e) if is_busy(&e) && start.elapsed() < self.busy => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(classify(&self.label, start.elapsed(), e)),
            }
        }
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction and commits it. `f` may run more
    /// than once: when the write lock cannot be taken (another process holds it past
    /// SQLite's own wait) the transaction is rolled back and retried until the busy timeout.
    pub fn write<T>(
        &self,
        mut f: impl FnMut(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        let mut conn = self.lock();
        let c = &mut *conn;
        self.retry(|| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// Runs a read-only query `f` on the connection (each statement sees a consistent
    /// snapshot; wrap several in [`Db::write`] when they must agree).
    pub fn read<T>(
        &self,
        mut f: impl FnMut(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        let conn = self.lock();
        self.retry(|| f(&conn))
    }

    /// Atomically replaces the blob `name` with `f(current)`: `BEGIN IMMEDIATE`, read the
    /// row (`None` when absent), run `f`, write its result, `COMMIT`. No update is lost
    /// across threads or processes. `f` may be called again if the lock had to be retried.
    pub fn transact_blob(
        &self,
        name: &str,
        f: &mut dyn FnMut(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<(), DbError> {
        self.update_blob(name, |cur| (Some(f(cur)), ()))
    }

    /// Like [`Db::transact_blob`], but `f` also returns a value, and may return `None` as the
    /// new blob to leave it unchanged (a decision that reserved nothing need not write).
    pub fn update_blob<T>(
        &self,
        name: &str,
        mut f: impl FnMut(Option<&[u8]>) -> (Option<Vec<u8>>, T),
    ) -> Result<T, DbError> {
        self.write(|tx| {
            let current: Option<Vec<u8>> = tx
                .prepare_cached("SELECT value FROM blobs WHERE name = ?1")?
                .query_row([name], |r| r.get(0))
                .optional()?;
            let (next, out) = f(current.as_deref());
            if let Some(bytes) = next {
                tx.prepare_cached(
                    "INSERT INTO blobs (name, value, updated_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value,
                                                      updated_ms = excluded.updated_ms",
                )?
                .execute(rusqlite::params![name, bytes, now_ms() as i64])?;
            }
            Ok(out)
        })
    }

    /// The blob `name`, or `None` when it was never written.
    pub fn read_blob(&self, name: &str) -> Result<Option<Vec<u8>>, DbError> {
        self.read(|c| {
            c.prepare_cached("SELECT value FROM blobs WHERE name = ?1")?
                .query_row([name], |r| r.get(0))
                .optional()
        })
    }

    /// Runs `PRAGMA integrity_check` and returns its first line (`ok` when healthy).
    pub fn integrity_check(&self) -> Result<String, DbError> {
        self.read(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
    }

    /// Maps a SQLite error from a caller's own query on this database.
    pub fn error(&self, e: rusqlite::Error) -> DbError {
        classify(&self.label, Duration::ZERO, e)
    }
}

/// Whether SQLite said "try again later".
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Turns a SQLite failure into the error the user reads.
fn classify(label: &str, waited: Duration, e: rusqlite::Error) -> DbError {
    let path = label.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => DbError::Corrupt {
            path,
            detail: "file is not a database".into(),
        },
        Some(ErrorCode::DatabaseCorrupt) => DbError::Corrupt {
            path,
            detail: "database disk image is malformed".into(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DbError::Locked {
            path,
            waited_ms: waited.as_millis() as u64,
        },
        Some(
            ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure,
        ) => DbError::Unwritable {
            path,
            detail: e.to_string(),
        },
        _ => DbError::Other {
            path,
            detail: e.to_string(),
        },
    }
}

/// Creates the database file with mode 0600 when it does not exist yet, so SQLite (which
/// gives its -wal and -shm files the main file's mode) never makes a world-readable file.
/// An existing file (and its -wal and -shm) that others could read, as an older rota left
/// them, is made 0600.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            for companion in ["", "-wal", "-shm"] {
                let mut p = path.as_os_str().to_os_string();
                p.push(companion);
                // Best effort: a file rota cannot chmod (not its owner) still opens.
                if let Err(e) = crate::config::file::restrict_to_owner(Path::new(&p)) {
                    tracing::warn!("cannot make {} private: {e}", Path::new(&p).display());
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_roundtrip_in_memory() {
        let db = Db::open_in_memory().unwrap();
        assert_eq!(db.read_blob("engine").unwrap(), None);
        db.transact_blob("engine", &mut |cur| {
            assert!(cur.is_none());
            b"one".to_vec()
        })
        .unwrap();
        db.transact_blob("engine", &mut |cur| {
            assert_eq!(cur, Some(&b"one"[..]));
            b"two".to_vec()
        })
        .unwrap();
        assert_eq!(
            db.read_blob("engine").unwrap().as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(db.read_blob("other").unwrap(), None);
    }

    #[test]
    fn update_blob_none_leaves_it_and_returns_value() {
        let db = Db::open_in_memory().unwrap();
        let n = db.update_blob("x", |cur| (None, cur.is_none())).unwrap();
        assert!(n);
        assert_eq!(db.read_blob("x").unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_database_others_could_read_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("rota");
        let path = data.join("rota.db");
        drop(Db::open(&path).unwrap());
        assert_eq!((mode(&data), mode(&path)), (0o700, 0o600));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let db = Db::open(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        db.transact_blob("x", &mut |_| b"1".to_vec()).unwrap();
        let wal = data.join("rota.db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
    }

    #[test]
    fn classify_names_file_and_hint() {
        let e = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOTADB),
            None,
        );
        let msg = classify("/d/rota.db", Duration::ZERO, e).to_string();
        assert!(
            msg.contains("/d/rota.db is not a valid rota database"),
            "{msg}"
        );
        assert!(msg.contains("mv /d/rota.db /d/rota.db.bad"), "{msg}");
        assert!(msg.contains("backend = \"memory\""), "{msg}");
    }
}
