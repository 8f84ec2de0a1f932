//! `rota config …` and `rota keys …` through the built binary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs rota with a clean environment (HOME and XDG dirs in `home`) plus `env`.
fn rota(home: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rota"));
    cmd.env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn check_lists_every_problem_exits_2_and_never_prints_a_key() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("bad.toml");
    std::fs::write(
        &file,
        "[defaults]\nmax_attempts = 0\nmax_wait = \"later\"\n[providers.groq]\nbase_url = \"http://10.0.0.1/v1\"\nkeys = [\"gsk_test_supersecret_0001\", \"gsk_test_bad key_0002\"]\n[pools]\nfast = [\"groq/nope\"]\n",
    )
    .unwrap();
    let out = rota(
        home.path(),
        &["--config", file.to_str().unwrap(), "config", "check"],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let f = file.display().to_string();
    for place in [":2:16: ", ":3:12: ", ":5:12: ", ":6:38: ", ":8:9: "] {
        assert!(
            err.contains(&format!("{f}{place}")),
            "missing {place} in:\n{err}"
        );
    }
    assert!(err.contains("rota: error: 5 problems in"), "{err}");
    assert!(err.contains("hint: "));
    let all = format!("{err}{}", text(&out.stdout));
    assert!(
        !all.contains("supersecret") && !all.contains("bad key"),
        "{all}"
    );
}

#[test]
fn check_ok_prints_a_summary() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("c.toml");
    std::fs::write(&file, "[providers.groq]\nkeys = [\"gsk_test_0001\"]\n").unwrap();
    let out = rota(
        home.path(),
        &["--config", file.to_str().unwrap(), "config", "check"],
        &[("OPENAI_API_KEY", "sk-test-0009")],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.starts_with(&format!("ok: {}\n", file.display())), "{s}");
    assert!(
        s.contains("groq (1 key)") && s.contains("openai (1 key)") && s.contains("pools: fast "),
        "{s}"
    );
    // No file at the default path: fine, built-ins and environment.
    let out = rota(home.path(), &["config", "check"], &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ok: no file at"));
    // A missing file named explicitly is an error.
    let out = rota(
        home.path(),
        &["config", "check"],
        &[("ROTA_CONFIG", "/nonexistent/rota.toml")],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn path_follows_flag_env_then_xdg() {
    let home = tempfile::tempdir().unwrap();
    let out = rota(home.path(), &["config", "path"], &[], None);
    assert_eq!(
        text(&out.stdout).trim(),
        home.path()
            .join("config/rota/config.toml")
            .display()
            .to_string()
    );
    let out = rota(
        home.path(),
        &["config", "path"],
        &[("ROTA_CONFIG", "/tmp/x.toml")],
        None,
    );
    assert_eq!(text(&out.stdout).trim(), "/tmp/x.toml");
    let out = rota(
        home.path(),
        &["--config", "/tmp/y.toml", "config", "path"],
        &[("ROTA_CONFIG", "/tmp/x.toml")],
        None,
    );
    assert_eq!(text(&out.stdout).trim(), "/tmp/y.toml");
}

#[test]
fn init_writes_the_example_privately_and_never_overwrites() {
    let home = tempfile::tempdir().unwrap();
    let out = rota(home.path(), &["config", "init"], &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let path = home.path().join("config/rota/config.toml");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        rota::config::EXAMPLE
    );
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let out = rota(home.path(), &["config", "check"], &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = rota(home.path(), &["config", "init"], &[], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("already exists") && err.contains("hint: "),
        "{err}"
    );
}

#[test]
fn keys_add_list_remove() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("c.toml");
    let f = file.to_str().unwrap();
    std::fs::write(&file, "# my settings\n[providers.groq]\n# work keys\nkeys = [\"gsk_test_0001\"] # first\n\n[ui]\ntheme = \"default\" # keep\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = rota(
        home.path(),
        &["--config", f, "keys", "add", "groq", "--account", "team-b"],
        &[],
        Some("  gsk_test_secret_0002\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("added …0002 to groq"));
    assert!(!text(&out.stdout).contains("secret"));
    let t = std::fs::read_to_string(&file).unwrap();
    for kept in [
        "# my settings",
        "# work keys",
        "# first",
        "theme = \"default\" # keep",
    ] {
        assert!(t.contains(kept), "lost {kept}:\n{t}");
    }
    assert!(
        t.contains("{ key = \"gsk_test_secret_0002\", account = \"team-b\" }"),
        "{t}"
    );
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);

    // Another provider whose table does not exist yet.
    let out = rota(
        home.path(),
        &["--config", f, "keys", "add", "openai"],
        &[],
        Some("sk-test-0003"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = rota(
        home.path(),
        &["--config", f, "keys", "list"],
        &[
            ("GROQ_API_KEY_3", "gsk_test_env_0004"),
            ("GROQ_API_KEY", "gsk_test_0001"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    assert!(
        list.contains("…0001")
            && list.contains("…0002")
            && list.contains("…0003")
            && list.contains("…0004"),
        "{list}"
    );
    assert!(
        list.contains("team-b")
            && list.contains("env $GROQ_API_KEY_3")
            && list.contains("not checked"),
        "{list}"
    );
    assert!(list.contains("file, env $GROQ_API_KEY "), "{list}");
    assert_eq!(list.matches("  …0001 ").count(), 1, "listed once: {list}");
    assert!(!list.contains("gsk_test"), "{list}");

    // Remove by suffix: one match removes, none or several is an error.
    let out = rota(
        home.path(),
        &["--config", f, "keys", "remove", "groq", "0001"],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("removed …0001 from groq"));
    let t = std::fs::read_to_string(&file).unwrap();
    assert!(
        !t.contains("gsk_test_0001") && t.contains("# work keys"),
        "{t}"
    );
    let out = rota(
        home.path(),
        &["--config", f, "keys", "remove", "groq", "0001"],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    rota(
        home.path(),
        &["--config", f, "keys", "add", "groq"],
        &[],
        Some("gsk_test_x_1002"),
    );
    let out = rota(
        home.path(),
        &["--config", f, "keys", "remove", "groq", "002"],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("2 keys of groq end in `002`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn keys_add_creates_the_file_and_rejects_bad_input() {
    let home = tempfile::tempdir().unwrap();
    let out = rota(
        home.path(),
        &["keys", "add", "groq"],
        &[],
        Some("gsk_test_0001\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let path = home.path().join("config/rota/config.toml");
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("gsk_test_0001")
    );
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    for bad in ["", "  \n", "gsk_test_0002 gsk_test_0003\n"] {
        let out = rota(home.path(), &["keys", "add", "groq"], &[], Some(bad));
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!text(&out.stderr).contains("gsk_test_0002"));
    }
    let out = rota(
        home.path(),
        &["keys", "add", "mistral"],
        &[],
        Some("k_test_0001"),
    );
    assert_eq!(out.status.code(), Some(2));
    // `keys check` calls the providers: tests/keys_check.rs covers it against the sim.
}

#[test]
fn parallel_key_edits_all_land() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("c.toml");
    let f = file.to_str().unwrap().to_string();
    let spawn = |args: &[&str], stdin: Option<String>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rota"));
        cmd.env_clear()
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child
    };
    // Twelve adds at once (the file does not exist yet): every one is kept.
    let children: Vec<_> = (0..12)
        .map(|i| {
            spawn(
                &["--config", &f, "keys", "add", "groq"],
                Some(format!("gsk_test_par_{i:04}")),
            )
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let t = std::fs::read_to_string(&file).unwrap();
    for i in 0..12 {
        assert!(
            t.contains(&format!("gsk_test_par_{i:04}")),
            "lost key {i}:\n{t}"
        );
    }
    // Six removes at once, alongside three more adds.
    let mut children: Vec<_> = (0..6)
        .map(|i| {
            spawn(
                &[
                    "--config",
                    &f,
                    "keys",
                    "remove",
                    "groq",
                    &format!("par_{i:04}"),
                ],
                None,
            )
        })
        .collect();
    children.extend((12..15).map(|i| {
        spawn(
            &["--config", &f, "keys", "add", "groq"],
            Some(format!("gsk_test_par_{i:04}")),
        )
    }));
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let t = std::fs::read_to_string(&file).unwrap();
    for i in 0..15 {
        assert_eq!(
            t.contains(&format!("gsk_test_par_{i:04}")),
            i >= 6,
            "key {i}:\n{t}"
        );
    }
}

#[test]
fn parallel_adds_through_the_library_all_land() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("config/rota/config.toml");
    let threads: Vec<_> = (0..12)
        .map(|i| {
            let file = file.clone();
            std::thread::spawn(move || {
                rota::cli::keys::add(&file, "groq", None, &format!("gsk_test_thr_{i:04}"))
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().is_ok());
    }
    let c = rota::config::load(Some(&file), true, &|_| None).unwrap();
    assert_eq!(c.provider("groq").unwrap().keys.len(), 12);
}

#[cfg(unix)]
#[test]
fn key_edits_write_through_a_symlinked_config() {
    let home = tempfile::tempdir().unwrap();
    let dots = home.path().join("dotfiles");
    std::fs::create_dir(&dots).unwrap();
    let target = dots.join("rota.toml");
    std::fs::write(
        &target,
        "# mine\n[providers.groq]\nkeys = [\"gsk_test_old_0001\", \"gsk_test_keep_0002\"]\n",
    )
    .unwrap();
    let link = home.path().join("config.toml");
    std::os::unix::fs::symlink("dotfiles/rota.toml", &link).unwrap();
    let l = link.to_str().unwrap();
    let out = rota(
        home.path(),
        &["--config", l, "keys", "remove", "groq", "0001"],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_symlink(), "the config is still a link");
    let t = std::fs::read_to_string(&target).unwrap();
    assert!(
        !t.contains("gsk_test_old_0001"),
        "the removed key is gone from the file the link names:\n{t}"
    );
    assert!(
        t.contains("# mine") && t.contains("gsk_test_keep_0002"),
        "{t}"
    );
    assert_eq!(mode(&target), 0o600);
    let out = rota(
        home.path(),
        &["--config", l, "keys", "add", "groq"],
        &[],
        Some("gsk_test_new_0003"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&target)
            .unwrap()
            .contains("gsk_test_new_0003")
    );
    let stray: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.contains("tmp"))
        .collect();
    assert!(
        stray.is_empty(),
        "no temporary file left beside the link: {stray:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_config_holding_keys_that_others_can_read_earns_one_warning() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("c.toml");
    let f = file.to_str().unwrap();
    std::fs::write(
        &file,
        "[providers.groq]\nkeys = [\"gsk_test_secret_0001\"]\n",
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    for args in [
        &["--config", f, "keys", "list"][..],
        &["--config", f, "config", "check"][..],
    ] {
        let out = rota(home.path(), args, &[], None);
        assert_eq!(out.status.code(), Some(0), "a warning, not an error");
        let err = text(&out.stderr);
        let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(warnings.len(), 1, "{err}");
        assert!(
            warnings[0].contains(f) && warnings[0].contains("chmod 600"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
    }
    // Private, or holding no keys (they come from the environment): nothing to say.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = rota(home.path(), &["--config", f, "keys", "list"], &[], None);
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&file, "[defaults]\nmax_attempts = 2\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = rota(
        home.path(),
        &["--config", f, "keys", "list"],
        &[("GROQ_API_KEY", "gsk_test_env_0002")],
        None,
    );
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
}

#[cfg(unix)]
#[test]
fn the_data_dir_and_log_are_private_even_when_an_older_rota_made_them_open() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data/rota");
    let out = rota(home.path(), &["config", "path"], &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("rota.log")), 0o600);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("rota.log"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = rota(home.path(), &["config", "path"], &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("rota.log")), 0o600);
}
