//! A damaged or unwritable rota.db: `rota ask` and `rota status` name the file, say what to
//! do, exit non-zero and never panic. And `rota status` with no keys lists the pools.

mod shared_support;

use shared_support::{Fleet, Rig, rota_cmd, text};

fn assert_clear_failure(o: &std::process::Output, path: &std::path::Path, what: &str) {
    let (out, err) = text(o);
    assert_ne!(o.status.code(), Some(0), "{what}: {out} {err}");
    assert!(o.status.code().is_some(), "{what}: killed by a signal");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(
        err.contains(&path.display().to_string()),
        "{what}: names the file: {err}"
    );
    assert!(err.contains("backend = \"memory\""), "{what}: {err}");
    assert!(out.is_empty(), "{what}: nothing on stdout: {out}");
}

#[test]
fn corrupt_database_is_named_with_what_to_do() {
    let rig = Rig::start(Fleet::default());
    let db = rig.db_path();
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 13) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    for args in [
        &["ask", "--task", "fast", "hello"][..],
        &["status"][..],
        &["status", "--json"][..],
        &["batch", "/dev/null"][..],
    ] {
        let o = rig.run(args);
        assert_clear_failure(&o, &db, &format!("{args:?}"));
        let (_, err) = text(&o);
        assert!(err.contains("not a valid rota database"), "{err}");
        assert!(err.contains(&format!("mv {}", db.display())), "{err}");
    }
    // Nothing was sent, and the file was left as it was for salvage.
    assert_eq!(shared_support::totals(&rig.stats()).0, 0);
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

#[test]
fn unwritable_database_is_named_with_what_to_do() {
    let rig = Rig::start(Fleet::default());
    let db = rig.db_path();
    // A directory where the file should be: unwritable even for root.
    std::fs::create_dir_all(&db).unwrap();
    for args in [
        &["ask", "--task", "fast", "hello"][..],
        &["status", "--json"][..],
    ] {
        let o = rig.run(args);
        assert_clear_failure(&o, &db, &format!("{args:?}"));
        let (_, err) = text(&o);
        assert!(err.contains("cannot write the rota database"), "{err}");
    }
    assert_eq!(shared_support::totals(&rig.stats()).0, 0);
}

#[test]
fn memory_backend_only_when_asked_for() {
    let rig = Rig::start(Fleet::default());
    let db = rig.db_path();
    std::fs::create_dir_all(&db).unwrap();
    let cfg = std::fs::read_to_string(&rig.config)
        .unwrap()
        .replace("backend = \"local\"", "backend = \"memory\"");
    std::fs::write(&rig.config, cfg).unwrap();
    let o = rig.run(&["ask", "--task", "fast", "hello"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!out.trim().is_empty());
    assert_eq!(shared_support::totals(&rig.stats()).1, 1);
}

#[test]
fn status_without_keys_lists_the_pools_as_no_key() {
    let home = tempfile::tempdir().unwrap();
    let o = rota_cmd(home.path(), None, &["status", "--json"])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let pools = v["pools"].as_object().unwrap();
    assert!(!pools.is_empty(), "{out}");
    let entries: Vec<&serde_json::Value> =
        pools.values().flat_map(|p| p.as_array().unwrap()).collect();
    assert!(!entries.is_empty(), "{out}");
    assert!(entries.iter().all(|e| e["state"] == "no_key"), "{out}");
    let o = rota_cmd(home.path(), None, &["status"]).output().unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("no_key"), "{out}");
}

#[test]
fn an_unreadable_rotation_state_is_kept_and_the_next_command_says_so() {
    let rig = Rig::start(Fleet::default());
    let path = rig.db_path();
    // A state this rota cannot read (as an incompatible rota might leave it).
    let bad = br#"{"disabled_keys": "not a map", "next_grant_id": 9}"#;
    {
        let db = rota::store::db::Db::open(&path).unwrap();
        db.transact_blob("engine-state", &mut |_| bad.to_vec())
            .unwrap();
    }
    let o = rig.run(&["status"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        !out.contains("could not be read"),
        "the notice is on stderr: {out}"
    );
    let notices: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("could not be read"))
        .collect();
    assert_eq!(notices.len(), 1, "{err}");
    assert!(
        notices[0].starts_with("rota: ") && notices[0].contains("engine-state.bad-"),
        "{err}"
    );
    assert!(notices[0].contains(&path.display().to_string()), "{err}");
    // The bytes are kept as they were.
    let db = rota::store::db::Db::open(&path).unwrap();
    let kept: Vec<Vec<u8>> = db
        .read(|c| {
            c.prepare("SELECT value FROM blobs WHERE name LIKE 'engine-state.bad-%'")?
                .query_map([], |r| r.get(0))?
                .collect()
        })
        .unwrap();
    assert_eq!(kept, vec![bad.to_vec()]);
    drop(db);
    // Said once: the next command goes on as usual.
    let o = rig.run(&["ask", "--task", "fast", "hello"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!out.trim().is_empty());
    assert!(!err.contains("could not be read"), "{err}");
}
