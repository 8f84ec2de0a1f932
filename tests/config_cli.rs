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
