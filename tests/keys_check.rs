//! `rota keys check` against the simulated fleet: sim keys are valid, a made-up key is
//! invalid (exit 1), and `rota keys list` then shows the last check instead of "not checked".

use std::path::Path;
use std::process::{Command, Output};

fn rota(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rota"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("ROTA_LOG_FILE", home.join("rota.log"))
        .output()
        .unwrap()
}

#[test]
fn demo_keys_are_all_valid() {
    let home = tempfile::tempdir().unwrap();
    let out = rota(home.path(), &["--demo", "keys", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text}");
    for l in &lines {
        assert!(l.ends_with(" valid"), "{l}");
        assert!(l.contains('…'), "key not masked: {l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_key_is_invalid_and_keys_list_remembers() {
    let sim = rota::sim::start(
        rota::sim::Scenario::default_fleet(),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let groq = sim
        .provider_configs()
        .into_iter()
        .find(|p| p.name == "groq")
        .unwrap();
    let good = groq.keys[0].key.as_ref().unwrap().expose().to_string();
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("config/rota/config.toml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[providers.groq]\nbase_url = \"{}\"\nkeys = [\"{good}\", {{ key = \"gsk_test_0001\", account = \"bad\" }}]\n",
            groq.base_url
        ),
    )
    .unwrap();
    let h = home.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || rota(&h, &["keys", "check"]))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("gsk_test_0001"), "whole key printed: {text}");
    let bad = text.lines().find(|l| l.contains("…0001")).unwrap();
    assert!(
        bad.contains("bad") && bad.contains("invalid (HTTP 401"),
        "{bad}"
    );
    let ok = text.lines().find(|l| !l.contains("…0001")).unwrap();
    assert!(ok.starts_with("groq") && ok.ends_with(" valid"), "{ok}");

    let h = home.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || rota(&h, &["keys", "list"]))
        .await
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout).into_owned();
    let bad = list.lines().find(|l| l.contains("…0001")).unwrap();
    assert!(bad.contains("invalid (HTTP 401"), "{list}");
    assert!(
        !list.contains("not checked") || !list.contains("groq  "),
        "{list}"
    );
}
