//! The SQLite file: opening, migrations, errors the user can act on, and atomic blob
//! transactions across threads and OS processes.

use rota::store::db::{Db, DbError};
use rota::store::migrations;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn counter(cur: Option<&[u8]>) -> Vec<u8> {
    let n = cur
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    (n + 1).to_le_bytes().to_vec()
}

fn read_counter(db: &Db) -> u64 {
    let b = db.read_blob("counter").unwrap().unwrap();
    u64::from_le_bytes(<[u8; 8]>::try_from(b.as_slice()).unwrap())
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join("rota").join("rota.db")
}

#[test]
fn open_creates_private_dirs_and_file_and_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let db = Db::open(&path).unwrap();
    assert_eq!(db.path_label(), path.display().to_string());
    assert_eq!(db.integrity_check().unwrap(), "ok");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(path.parent().unwrap().parent().unwrap()), 0o700);
    }
    db.transact_blob("engine", &mut |_| b"state".to_vec())
        .unwrap();
    drop(db);
    // Reopening keeps the data and applies nothing again.
    let db = Db::open(&path).unwrap();
    assert_eq!(
        db.read_blob("engine").unwrap().as_deref(),
        Some(&b"state"[..])
    );
    drop(db);
    let c = rusqlite::Connection::open(&path).unwrap();
    let v: u32 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, migrations::LATEST);
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn too_new_schema_says_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(Db::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(&format!("PRAGMA user_version = {}", migrations::LATEST + 1))
        .unwrap();
    drop(c);
    let e = Db::open(&path).unwrap_err();
    assert!(
        matches!(e, DbError::TooNew { found, known, .. } if found == migrations::LATEST + 1 && known == migrations::LATEST),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("upgrade rota"), "{msg}");
}

#[test]
fn garbage_file_is_reported_corrupt_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, garbage).unwrap();
    let e = Db::open(&path).unwrap_err();
    assert!(matches!(e, DbError::Corrupt { .. }), "{e:?}");
    let msg = e.to_string();
    let p = path.display().to_string();
    assert!(
        msg.contains(&format!("{p} is not a valid rota database")),
        "{msg}"
    );
    assert!(msg.contains(&format!("mv {p} {p}.bad")), "{msg}");
    assert!(msg.contains("backend = \"memory\""), "{msg}");
}

#[test]
fn damaged_pages_are_reported_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let db = Db::open(&path).unwrap();
        for i in 0..200 {
            let name = format!("blob-{i}");
            db.transact_blob(&name, &mut |_| vec![i as u8; 600])
                .unwrap();
        }
    } // the last connection closes: WAL checkpointed into the main file
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8 * 4096, "{}", bytes.len());
    // Keep the header page; smash the b-tree pages behind it.
    for b in &mut bytes[4096 + 100..8 * 4096] {
        *b = 0xA5;
    }
    std::fs::write(&path, bytes).unwrap();
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let e = Db::open(&path).unwrap_err();
    assert!(matches!(e, DbError::Corrupt { .. }), "{e:?}");
    assert!(e.to_string().contains(".bad"), "{e}");
}

#[test]
fn path_that_is_a_directory_is_unwritable() {
    let dir = tempfile::tempdir().unwrap();
    let e = Db::open(dir.path()).unwrap_err();
    assert!(matches!(e, DbError::Unwritable { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("directory"), "{msg}");
}

#[test]
fn parent_that_is_a_file_is_unwritable() {
    // Works as root too: no permission bit is involved.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let path = file.join("rota").join("rota.db");
    let e = Db::open(&path).unwrap_err();
    assert!(matches!(e, DbError::Unwritable { .. }), "{e:?}");
    assert!(e.to_string().contains("chmod"), "{e}");
}

#[cfg(unix)]
#[test]
fn read_only_directory_is_unwritable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::write(locked.join("probe"), b"x").is_ok() {
        println!("skipped: running as root, a 0500 directory is still writable");
        return;
    }
    let path = locked.join("rota.db");
    let e = Db::open(&path).unwrap_err();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(matches!(e, DbError::Unwritable { .. }), "{e:?}");
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
}

#[cfg(unix)]
#[test]
fn read_only_file_is_unwritable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(Db::open(&path).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
        println!("skipped: running as root, a 0400 file is still writable");
        return;
    }
    let e = Db::open(&path).unwrap_err();
    assert!(matches!(e, DbError::Unwritable { .. }), "{e:?}");
}

#[test]
fn threads_never_lose_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(&db_path(&dir)).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for _ in 0..100 {
                    db.transact_blob("counter", &mut counter).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(read_counter(&db), 800);
    assert_eq!(db.integrity_check().unwrap(), "ok");
}

const CHILD_DB: &str = "ROTA_TEST_HAMMER_DB";
const CHILD_N: &str = "ROTA_TEST_HAMMER_N";

/// Child mode of `processes_never_lose_an_update`: does nothing in a normal test run.
#[test]
fn hammer_child() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let n: usize = std::env::var(CHILD_N).unwrap().parse().unwrap();
    // Each process opens on its own, so the children also race on creating the schema.
    let db = Db::open(Path::new(&path)).unwrap();
    for _ in 0..n {
        db.transact_blob("counter", &mut counter).unwrap();
    }
}

#[test]
fn processes_never_lose_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "hammer_child", "--nocapture", "--test-threads=1"])
                .env(CHILD_DB, &path)
                .env(CHILD_N, "200")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let db = Db::open(&path).unwrap();
    assert_eq!(read_counter(&db), 800);
    assert_eq!(db.integrity_check().unwrap(), "ok");
}

const CHILD_ABORT: &str = "ROTA_TEST_ABORT_DB";

/// Child mode of `a_process_killed_inside_a_transaction_loses_only_its_write`: takes the
/// write lock, then dies without committing. Does nothing in a normal test run.
#[test]
fn abort_child() {
    let Ok(path) = std::env::var(CHILD_ABORT) else {
        return;
    };
    let db = Db::open(Path::new(&path)).unwrap();
    db.transact_blob("counter", &mut |_| std::process::abort())
        .unwrap();
}

#[test]
fn a_process_killed_inside_a_transaction_loses_only_its_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let db = Db::open(&path).unwrap();
    db.transact_blob("counter", &mut counter).unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "abort_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ABORT, &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    // The dead process's lock is gone with it; its half-done write never happened.
    db.transact_blob("counter", &mut counter).unwrap();
    assert_eq!(read_counter(&db), 2);
    assert_eq!(db.integrity_check().unwrap(), "ok");
}
