//! `rota serve` as a process: it announces its URL, asks for the token, shares its state
//! with every other rota process on the machine (`rota status` in another process sees its
//! traffic), refuses `--no-auth` off loopback, and stops cleanly on SIGTERM.

mod shared_support;
use shared_support::{Fleet, Rig, text};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

const TOKEN: &str = "rota-cli-test-token";

/// Starts `rota serve` on a free loopback port (with `token` as `$ROTA_SERVE_TOKEN`) and
/// reads the URL it announces.
fn start(rig: &Rig, token: Option<&str>) -> (std::process::Child, String) {
    let mut cmd = rig.rota(&["serve", "--listen", "127.0.0.1:0"]);
    if let Some(t) = token {
        cmd.env("ROTA_SERVE_TOKEN", t);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("rota serve: ")
        .unwrap_or_else(|| panic!("no URL announced: {line:?}"))
        .to_string();
    (child, url)
}

#[test]
fn serve_traffic_shows_in_another_processs_status_and_sigterm_stops_it() {
    let rig = Rig::start(Fleet::default());
    let (mut child, url) = start(&rig, Some(TOKEN));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = serde_json::json!({"model": "rota/fast",
        "messages": [{"role": "user", "content": "hello"}]});
    let (status, v) = rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{url}/chat/completions"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json::<serde_json::Value>().await.unwrap())
    });
    assert_eq!(status, 200, "{v}");
    assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
    // Another process reads the same rota.db: the request is in its minute.
    let out = rig.run(&["status", "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let st: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let used = st["pools"]["fast"][0]["windows"]["rpm"]["used"].as_u64();
    assert_eq!(used, Some(1), "{stdout}");
    // SIGTERM: stops taking connections, exits 0.
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let t0 = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "rota serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("rota serve: stopped"), "{err}");
    assert!(
        !err.contains(TOKEN),
        "the token is never printed when it comes from the env"
    );
}

#[test]
fn no_auth_is_refused_off_loopback_and_a_made_token_is_printed_once() {
    let rig = Rig::start(Fleet::default());
    let out = rig.run(&["serve", "--listen", "0.0.0.0:0", "--no-auth"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--no-auth is allowed only on a loopback address"),
        "{stderr}"
    );
    // Without $ROTA_SERVE_TOKEN the first start makes a token and shows it once; the next
    // start shows it masked.
    let mut shown = Vec::new();
    for _ in 0..2 {
        let (mut child, _) = start(&rig, None);
        let _ = child.kill();
        let _ = child.wait();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        shown.push(err);
    }
    let token_file = rig
        .home
        .path()
        .join("data")
        .join("rota")
        .join("serve-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    let token = token.trim();
    assert!(token.starts_with("rota-"), "{token}");
    assert!(shown[0].contains(token), "{}", shown[0]);
    assert!(!shown[1].contains(token), "{}", shown[1]);
    assert!(shown[1].contains(&token[token.len() - 4..]), "{}", shown[1]);
}
