//! Transcription routing against the simulated fleet over loopback: Groq first, then
//! round-robin over the rest (shared between `rota` processes through the SQLite state),
//! back to Groq once it recovers (a manual clock on rota's side), rotation on 429/413/5xx,
//! and the bad inputs that exit 2 before anything is sent.

use rota::config::Config;
use rota::router::Clock;
use rota::router::events::Event;
use rota::router::transcribe::TranscribeJob;
use rota::router::{End, Router};
use rota::sim::{Scenario, SimHandle};
use rota::store::MemoryStore;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

// ---------------------------------------------------------------- files

/// A 16 kHz mono 16-bit PCM WAV of `secs` seconds of silence.
fn wav(dir: &Path, name: &str, secs: u32) -> PathBuf {
    let data_len = secs * 32_000;
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).expect("create wav");
    use std::io::Write;
    f.write_all(&wav_header(data_len)).expect("header");
    f.set_len(44 + u64::from(data_len)).expect("extend");
    p
}

fn wav_header(data_len: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&1u16.to_le_bytes()); // mono
    h.extend_from_slice(&16_000u32.to_le_bytes());
    h.extend_from_slice(&32_000u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

// ---------------------------------------------------------------- fleet and config

/// The sim: groq (two Whisper models, `groq_rpm` each), openai, together and a keyless
/// custom provider `local`; `groq_upload` overrides Groq's upload limit.
fn scenario(groq_rpm: Option<u32>, groq_upload: Option<u64>) -> Scenario {
    let rpm = groq_rpm.map(|r| format!("rpm = {r}")).unwrap_or_default();
    let upload = groq_upload
        .map(|u| format!("upload_limit_bytes = {u}"))
        .unwrap_or_default();
    let text = format!(
        r#"
[[providers]]
name = "groq"
{upload}
[[providers.accounts]]
name = "a"
keys = ["sim-groq-a"]
[[providers.models]]
id = "whisper-large-v3-turbo"
transcription = true
{rpm}
[[providers.models]]
id = "whisper-large-v3"
transcription = true
{rpm}

[[providers]]
name = "openai"
[[providers.accounts]]
name = "a"
keys = ["sim-openai-a"]
[[providers.models]]
id = "whisper-1"
transcription = true

[[providers]]
name = "together"
[[providers.accounts]]
name = "a"
keys = ["sim-together-a"]
[[providers.models]]
id = "openai/whisper-large-v3"
transcription = true

[[providers]]
name = "local"
dialect = "openai"
[[providers.models]]
id = "whisper-local"
transcription = true
"#
    );
    Scenario::from_toml(&text).expect("scenario")
}

/// rota's config for the sim; `groq_rpm` is what rota knows of Groq's Whisper limits.
fn config_text(sim: &SimHandle, groq_rpm: Option<u32>, extra: &str) -> String {
    let groq_models = groq_rpm
        .map(|r| {
            format!(
                r#"
[[models]]
provider = "groq"
id = "whisper-large-v3-turbo"
rpm = {r}
[[models]]
provider = "groq"
id = "whisper-large-v3"
rpm = {r}
"#
            )
        })
        .unwrap_or_default();
    format!(
        r#"{extra}
[providers.groq]
keys = ["sim-groq-a"]
base_url = "{groq}"
[providers.openai]
keys = ["sim-openai-a"]
base_url = "{openai}"
[providers.together]
keys = ["sim-together-a"]
base_url = "{together}"

[[providers.custom]]
name = "local"
base_url = "{local}"
keys = []
[[providers.custom.models]]
id = "whisper-local"
tasks = []
transcription = true
{groq_models}
[transcription]
order = ["groq", "openai", "together", "custom:local"]
"#,
        groq = sim.base_url("groq"),
        openai = sim.base_url("openai"),
        together = sim.base_url("together"),
        local = sim.base_url("local"),
    )
}

fn parse_config(text: &str) -> Config {
    rota::config::parse(text, "(test)", &|_| None).expect("config")
}

fn stat(sim: &SimHandle, provider: &str, key: &str) -> u64 {
    let s = sim.stats();
    let accounts = &s["providers"][provider]["accounts"];
    accounts
        .as_object()
        .map(|a| {
            a.values()
                .flat_map(|models| models.as_object().into_iter().flat_map(|m| m.values()))
                .map(|m| m[key].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------- running

/// Transcribes in-process; returns the end and every event.
async fn transcribe(router: &Router, file: &Path) -> (End, Vec<Event>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let job = TranscribeJob {
        file: file.to_path_buf(),
        ..TranscribeJob::default()
    };
    let end = router.transcribe(job, &tx).await;
    drop(tx);
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    (end, events)
}

fn transcript_provider(events: &[Event]) -> String {
    events
        .iter()
        .find_map(|e| match e {
            Event::Transcript { provider, .. } => Some(provider.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no transcript in {events:?}"))
}

struct Rota {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Rota {
    fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        rota::config::file::write_private(&path, config).expect("write config");
        Self { dir, config: path }
    }

    /// Runs `rota --config … ARGS` with a private data dir; exit code, stdout, stderr.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rota"));
        cmd.arg("--config").arg(&self.config).args(args);
        for var in [
            "GROQ_API_KEY",
            "OPENAI_API_KEY",
            "TOGETHER_API_KEY",
            "GROQ_BASE_URL",
            "OPENAI_BASE_URL",
            "TOGETHER_BASE_URL",
            "ROTA_CONFIG",
        ] {
            cmd.env_remove(var);
        }
        let out = cmd
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .stdin(Stdio::null())
            .output()
            .expect("run rota");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn transcribe_json(&self, file: &Path) -> Vec<Value> {
        let (code, out, err) = self.run(&["transcribe", "--json", &file.to_string_lossy()]);
        assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
        out.lines()
            .map(|l| serde_json::from_str(l).expect("NDJSON"))
            .collect()
    }
}

fn sim_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn start_sim(rt: &tokio::runtime::Runtime, sc: Scenario) -> SimHandle {
    rt.block_on(rota::sim::start(sc, "127.0.0.1:0".parse().expect("addr")))
        .expect("sim")
}

// ---------------------------------------------------------------- tests

/// Separate `rota transcribe` processes share the round-robin position through the SQLite
/// state: Groq while it has capacity (two models, 1 RPM each, known in config and enforced by
/// the sim), then openai, together, custom:local, openai, together…; the counters show in
/// `rota status --json`, and Groq never got a request over its limit.
#[test]
fn separate_processes_go_groq_first_then_round_robin() {
    let rt = sim_runtime();
    let sim = start_sim(&rt, scenario(Some(1), None));
    let rota = Rota::new(&config_text(&sim, Some(1), ""));
    let audio = wav(rota.dir.path(), "speech.wav", 3);

    let mut providers = Vec::new();
    for _ in 0..7 {
        let events = rota.transcribe_json(&audio);
        let t = events
            .iter()
            .find(|e| e["event"] == "transcript")
            .unwrap_or_else(|| panic!("no transcript in {events:?}"));
        assert_eq!(t["bytes"], 44 + 3 * 32_000, "{t}");
        assert!(
            t["text"]
                .as_str()
                .is_some_and(|s| s.contains("96044-byte wav")),
            "{t}"
        );
        // Nothing failed on the way: the first choice was the right one.
        assert!(
            !events.iter().any(|e| e["event"] == "model_rotation"),
            "{events:?}"
        );
        providers.push(t["provider"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(
        providers,
        [
            "groq",
            "groq",
            "openai",
            "together",
            "custom:local",
            "openai",
            "together"
        ]
    );
    assert_eq!(stat(&sim, "groq", "429"), 0, "{}", sim.stats());
    assert_eq!(stat(&sim, "groq", "ok"), 2);

    let (code, out, err) = rota.run(&["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&out).expect("status JSON");
    let entries = status["transcription"].as_array().expect("transcription");
    let stats = |provider: &str| {
        entries
            .iter()
            .find(|e| e["provider"] == provider)
            .map(|e| e["transcription"].clone())
            .unwrap_or_else(|| panic!("{provider} missing in {out}"))
    };
    for (p, n) in [
        ("groq", 2),
        ("openai", 2),
        ("together", 2),
        ("custom:local", 1),
    ] {
        let s = stats(p);
        assert_eq!(s["requests"], n, "{p}: {s}");
        assert_eq!(s["bytes"], n * 96_044, "{p}: {s}");
        assert_eq!(s["audio_secs"], n * 3, "{p}: {s}");
        assert_eq!(s["failures"], 0, "{p}: {s}");
    }
    // Both Groq models are at capacity right now.
    for e in entries.iter().filter(|e| e["provider"] == "groq") {
        assert_eq!(e["state"], "at_capacity", "{e}");
    }
    // Plain mode prints the text alone on stdout.
    let (code, out, err) = rota.run(&["transcribe", &audio.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("This is a simulated transcript of a 96044-byte wav file"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "{out}");
}

/// Back to Groq once it recovers. rota knows Groq's Whisper models take 1 RPM; its clock is
/// a manual one moved past the minute (the sim itself does not limit Groq here, since its
/// windows run on real time). Also: with Groq the only provider, a file waits for it
/// (`no_models_available`), and gives up when the wait would pass `max_wait`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groq_again_once_it_recovers_and_waits_when_alone() {
    let sim = rota::sim::start(scenario(None, None), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = wav(dir.path(), "a.wav", 2);
    let config = parse_config(&config_text(
        &sim,
        Some(1),
        "[state]\nbackend = \"memory\"\n",
    ));
    let t0 = rota::model::now_ms();
    let clock = Clock::manual(t0);
    let router = Router::new(config, Arc::new(MemoryStore::default())).with_clock(clock.clone());
    let mut seq = Vec::new();
    for _ in 0..5 {
        let (end, ev) = transcribe(&router, &audio).await;
        assert_eq!(end, End::Answered, "{ev:?}");
        seq.push(transcript_provider(&ev));
    }
    assert_eq!(seq, ["groq", "groq", "openai", "together", "custom:local"]);
    clock.advance(61_000);
    let (_, ev) = transcribe(&router, &audio).await;
    assert_eq!(transcript_provider(&ev), "groq");
    let (_, ev) = transcribe(&router, &audio).await;
    assert_eq!(transcript_provider(&ev), "groq");
    let (_, ev) = transcribe(&router, &audio).await;
    assert_eq!(
        transcript_provider(&ev),
        "openai",
        "the round-robin goes on"
    );

    // Groq alone: the third file waits for a minute (on the manual clock), then goes.
    let alone = config_text(&sim, Some(1), "[state]\nbackend = \"memory\"\n").replace(
        r#"order = ["groq", "openai", "together", "custom:local"]"#,
        r#"order = ["groq"]"#,
    );
    let clock = Clock::manual(t0);
    let router =
        Router::new(parse_config(&alone), Arc::new(MemoryStore::default())).with_clock(clock);
    for _ in 0..2 {
        let (end, _) = transcribe(&router, &audio).await;
        assert_eq!(end, End::Answered);
    }
    let (end, ev) = transcribe(&router, &audio).await;
    assert_eq!(end, End::Answered, "{ev:?}");
    let wait = ev
        .iter()
        .find_map(|e| match e {
            Event::NoModelsAvailable { wait_ms, next, .. } => Some((*wait_ms, next.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no wait in {ev:?}"));
    assert!(
        (59_000..=60_600).contains(&wait.0),
        "waits out the minute plus its guard: {wait:?}"
    );
    assert!(wait.1.starts_with("groq/whisper-large-v3"), "{wait:?}");
    assert_eq!(transcript_provider(&ev), "groq");

    // With max_wait below the wait it gives up (exit 1 in the CLI) instead.
    let short = alone.replace("[state]", "[defaults]\nmax_wait = \"10s\"\n[state]");
    let clock = Clock::manual(t0);
    let router =
        Router::new(parse_config(&short), Arc::new(MemoryStore::default())).with_clock(clock);
    for _ in 0..2 {
        transcribe(&router, &audio).await;
    }
    let (end, ev) = transcribe(&router, &audio).await;
    assert_eq!(end, End::Failed, "{ev:?}");
    match ev.last() {
        Some(Event::Error { kind, message, .. }) => {
            assert_eq!(kind, "rate_limited");
            assert!(message.contains("longer than max_wait (10s)"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// A 40 MB WAV (sparse, with a valid header) is larger than every 25 MB provider: exit 2,
/// the message names the largest limit, and nothing reaches the fleet.
#[test]
fn a_40_mb_file_is_refused_before_sending() {
    let rt = sim_runtime();
    let sim = start_sim(&rt, scenario(None, None));
    let rota = Rota::new(&config_text(&sim, None, ""));
    let data = 40_000_000 - 44;
    let path = rota.dir.path().join("long.wav");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(&wav_header(data)).expect("header");
        f.set_len(40_000_000).expect("sparse extend");
    }
    let (code, out, err) = rota.run(&["transcribe", &path.to_string_lossy()]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("rota: error: ")
            && err.contains("long.wav is 40 MB, larger than every provider's upload limit (the largest is openai/whisper-1's 25 MiB)"),
        "{err}"
    );
    let (code, out, _) = rota.run(&["transcribe", "--json", &path.to_string_lossy()]);
    assert_eq!(code, 2);
    let ev: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(ev["event"], "error");
    assert_eq!(ev["kind"], "input");
    assert_eq!(sim.stats()["totals"]["requests"], 0, "{}", sim.stats());
}

/// Each bad input: one line on stderr, exit 2, nothing sent.
#[test]
fn bad_inputs_exit_2_with_one_line() {
    let rt = sim_runtime();
    let sim = start_sim(&rt, scenario(None, None));
    let rota = Rota::new(&config_text(&sim, None, ""));
    let d = rota.dir.path();
    let empty = d.join("empty.wav");
    std::fs::write(&empty, b"").expect("write");
    let text = d.join("notes.mp3");
    std::fs::write(&text, "these are my meeting notes, not audio\n").expect("write");
    let missing = d.join("nowhere.wav");
    let cases: [(&Path, &str); 4] = [
        (&missing, "nowhere.wav: no such file; check the path"),
        (&empty, "empty.wav is empty (0 bytes)"),
        (&text, "notes.mp3 is not audio"),
        (d, "is a directory, not an audio file"),
    ];
    for (path, want) in cases {
        let (code, out, err) = rota.run(&["transcribe", &path.to_string_lossy()]);
        assert_eq!(code, 2, "{}: {err}", path.display());
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("rota: error: ") && err.contains(want),
            "{err}"
        );
    }

    // A format no configured provider takes: only a custom endpoint that takes FLAC.
    let only_flac = format!(
        r#"[providers.groq]
enabled = false
[providers.openai]
enabled = false
[providers.together]
enabled = false
[[providers.custom]]
name = "local"
base_url = "{}"
keys = []
[[providers.custom.models]]
id = "whisper-local"
tasks = []
transcription = true
formats = ["flac"]
"#,
        sim.base_url("local")
    );
    let flac_only = Rota::new(&only_flac);
    let audio = wav(flac_only.dir.path(), "speech.wav", 1);
    let (code, _, err) = flac_only.run(&["transcribe", &audio.to_string_lossy()]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("speech.wav is WAV audio, which no configured transcription provider takes (they take flac); convert it"),
        "{err}"
    );
    assert_eq!(sim.stats()["totals"]["requests"], 0, "{}", sim.stats());
}

/// A 429 from the fleet (rota believes Groq takes 20 RPM, the sim allows 1) and a 413
/// (the sim's Groq takes 50 kB uploads, rota believes 25 MB) rotate with the chat events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_429_and_413_rotate_like_chat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = wav(dir.path(), "a.wav", 3);

    let sim = rota::sim::start(scenario(Some(1), None), "127.0.0.1:0".parse().expect("a"))
        .await
        .expect("sim");
    let cfg = parse_config(&config_text(&sim, None, "[state]\nbackend = \"memory\"\n"));
    let router = Router::new(cfg, Arc::new(MemoryStore::default()));
    let (_, ev) = transcribe(&router, &audio).await;
    assert_eq!(transcript_provider(&ev), "groq");
    let (_, ev) = transcribe(&router, &audio).await;
    assert_eq!(transcript_provider(&ev), "groq", "the other Groq model");
    let (end, ev) = transcribe(&router, &audio).await;
    assert_eq!(end, End::Answered, "{ev:?}");
    let rotations: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::ModelRotation {
                from,
                to,
                reason,
                window,
                retry_after_ms,
                limit,
                ..
            } => Some((
                from.clone(),
                to.clone(),
                *reason,
                *window,
                *retry_after_ms,
                *limit,
            )),
            _ => None,
        })
        .collect();
    assert!(!rotations.is_empty(), "{ev:?}");
    let (from, _, reason, window, retry, limit) = &rotations[0];
    assert!(from.starts_with("groq/whisper-large-v3"), "{rotations:?}");
    assert_eq!(*reason, rota::model::Reason::RateLimited);
    assert_eq!(*window, Some(rota::model::Window::Rpm));
    assert!(retry.is_some_and(|ms| ms > 0 && ms <= 61_000), "{retry:?}");
    assert_eq!(*limit, Some(1));
    assert_eq!(
        rotations.last().and_then(|r| r.1.clone()),
        Some("openai/whisper-1".into())
    );
    assert_eq!(transcript_provider(&ev), "openai");
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::RateLimitRecovered { provider, attempts, .. } if provider == "openai" && *attempts >= 2
        )),
        "{ev:?}"
    );
    assert!(stat(&sim, "groq", "429") >= 1);
    // The failures are counted per provider.
    let status = router.status().expect("status");
    let groq = status
        .transcription
        .iter()
        .find(|e| e.provider == "groq")
        .and_then(|e| e.transcription)
        .expect("groq stats");
    assert_eq!(groq.requests, 2);
    assert!(groq.failures >= 1, "{groq:?}");
    sim.shutdown().await;

    // 413: the sim's Groq takes 50 kB, the file has 96 kB.
    let sim = rota::sim::start(
        scenario(None, Some(50_000)),
        "127.0.0.1:0".parse().expect("a"),
    )
    .await
    .expect("sim");
    let cfg = parse_config(&config_text(&sim, None, "[state]\nbackend = \"memory\"\n"));
    let db = Arc::new(rota::store::db::Db::open_in_memory().expect("db"));
    let router = Router::new(cfg, Arc::new(MemoryStore::default())).with_ledger(Arc::clone(&db));
    let (end, ev) = transcribe(&router, &audio).await;
    assert_eq!(end, End::Answered, "{ev:?}");
    // Every attempt is in the ledger as a transcription: two refusals, then the answer,
    // which costs its seconds at whisper-1's hourly price.
    let rows = rota::store::ledger::attempts(&db, None).expect("ledger");
    let seen: Vec<_> = rows
        .iter()
        .map(|r| (r.model.to_string(), r.outcome, r.reason, r.rotated))
        .collect();
    use rota::store::ledger::Outcome;
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        rows.iter()
            .all(|r| r.task == rota::engine::Pool::Transcription)
    );
    assert!(
        rows.iter()
            .all(|r| r.usage.is_none() && r.estimated_prompt_tokens == 0)
    );
    for r in &seen[..2] {
        assert!(r.0.starts_with("groq/"), "{seen:?}");
        assert_eq!(
            (r.1, r.2, r.3),
            (
                Outcome::Failed,
                Some(rota::model::Reason::RequestTooLarge),
                true
            )
        );
    }
    assert_eq!(
        seen[2],
        ("openai/whisper-1".to_string(), Outcome::Ok, None, false)
    );
    let cost = rows[2].cost_usd.expect("whisper-1 has a price");
    assert!(cost > 0.0 && cost < 0.01, "3 s of audio: {cost}");
    let too_large: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::ModelRotation {
                from, to, reason, ..
            } => Some((from.clone(), to.clone(), *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(too_large.len(), 2, "both Groq models refuse: {too_large:?}");
    for (from, _, reason) in &too_large {
        assert!(from.starts_with("groq/"), "{from}");
        assert_eq!(*reason, rota::model::Reason::RequestTooLarge);
    }
    assert_eq!(too_large[1].1.as_deref(), Some("openai/whisper-1"));
    assert_eq!(transcript_provider(&ev), "openai");
    assert_eq!(stat(&sim, "groq", "413"), 2);
    sim.shutdown().await;
}

/// 5xx (the sim injects no faults on the audio route, so a local mock plays Groq): a 500
/// and a 503 rotate to the next provider with `server_error` / `overloaded`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_rotate_to_the_next_provider() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = wav(dir.path(), "a.wav", 1);
    for (status, body, want) in [
        (
            500,
            r#"{"error":{"message":"Internal Server Error","type":"internal_server_error"}}"#,
            rota::model::Reason::ServerError,
        ),
        (
            503,
            r#"{"error":{"message":"Service Unavailable","type":"internal_server_error"}}"#,
            rota::model::Reason::Overloaded,
        ),
    ] {
        let groq = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/audio/transcriptions"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(body, "application/json"))
            .mount(&groq)
            .await;
        let openai = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/audio/transcriptions"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(r#"{"text":"hello there"}"#, "application/json"),
            )
            .mount(&openai)
            .await;
        let text = format!(
            r#"[state]
backend = "memory"
[providers.groq]
keys = ["gsk_test_0001"]
base_url = "{}/v1"
[providers.openai]
keys = ["sk-test-0002"]
base_url = "{}/v1"
[providers.together]
enabled = false
[transcription]
order = ["groq", "openai"]
"#,
            groq.uri(),
            openai.uri()
        );
        let router = Router::new(parse_config(&text), Arc::new(MemoryStore::default()));
        let (end, ev) = transcribe(&router, &audio).await;
        assert_eq!(end, End::Answered, "{ev:?}");
        let first = ev
            .iter()
            .find_map(|e| match e {
                Event::ModelRotation {
                    from, reason, key, ..
                } => Some((from.clone(), *reason, key.clone())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no rotation in {ev:?}"));
        assert!(first.0.starts_with("groq/"), "{first:?}");
        assert_eq!(first.1, want, "{status}");
        assert_eq!(first.2, "…0001", "keys are masked");
        assert!(
            matches!(
                ev.last(),
                Some(Event::Transcript { provider, text, .. }) if provider == "openai" && text == "hello there"
            ),
            "{ev:?}"
        );
    }
}

/// Going away mid-upload (Ctrl+C, a closed TUI) cancels the call and gives the reservation
/// back: nothing stays counted against Groq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_receiver_cancels_and_releases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = wav(dir.path(), "a.wav", 1);
    let groq = groq_answering("late", std::time::Duration::from_secs(30)).await;
    let text = format!(
        r#"[state]
backend = "memory"
[providers.groq]
keys = ["gsk_test_0001"]
base_url = "{}/v1"
[providers.openai]
enabled = false
[providers.together]
enabled = false
"#,
        groq.uri()
    );
    let router = Arc::new(Router::new(
        parse_config(&text),
        Arc::new(MemoryStore::default()),
    ));
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let r = Arc::clone(&router);
    let job = TranscribeJob {
        file: audio,
        ..TranscribeJob::default()
    };
    let task = tokio::spawn(async move { r.transcribe(job, &tx).await });
    match rx.recv().await {
        Some(Event::ModelSelected { provider, .. }) => assert_eq!(provider, "groq"),
        other => panic!("{other:?}"),
    }
    let reserved = router.store().snapshot().expect("snapshot");
    assert_eq!(reserved.inflight.len(), 1);
    drop(rx);
    assert_eq!(task.await.expect("join"), End::Cancelled);
    let after = router.store().snapshot().expect("snapshot");
    assert!(after.inflight.is_empty(), "{:?}", after.inflight);
    let groq_entry = router
        .status()
        .expect("status")
        .transcription
        .into_iter()
        .find(|e| e.provider == "groq")
        .expect("groq");
    assert_eq!(
        groq_entry
            .windows
            .get(&rota::model::Window::Rpm)
            .map(|w| w.used),
        Some(0),
        "{groq_entry:?}"
    );
}

/// A fake Groq whose every upload is answered with `text` after `delay`.
async fn groq_answering(text: &str, delay: std::time::Duration) -> wiremock::MockServer {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let groq = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(format!(r#"{{"text":"{text}"}}"#), "application/json")
                .set_delay(delay),
        )
        .mount(&groq)
        .await;
    groq
}

/// A config with only Groq (at `uri`), in memory.
fn groq_only(uri: &str) -> Config {
    parse_config(&format!(
        r#"[state]
backend = "memory"
[providers.groq]
keys = ["gsk_test_0001"]
base_url = "{uri}/v1"
[providers.openai]
enabled = false
[providers.together]
enabled = false
"#
    ))
}

/// Groq's RPM window as `rota status` reads it on the router's clock.
fn groq_rpm_used(router: &Router) -> u64 {
    router
        .status()
        .expect("status")
        .transcription
        .into_iter()
        .filter(|e| e.provider == "groq")
        .filter_map(|e| e.windows.get(&rota::model::Window::Rpm).map(|w| w.used))
        .sum()
}

/// An upload whose task is aborted (not just its receiver dropped) gives its reservation
/// back: the attempt loop's guard releases what a dropped future held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_an_upload_releases_its_reservation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = wav(dir.path(), "a.wav", 1);
    let groq = groq_answering("late", std::time::Duration::from_secs(30)).await;
    let router = Arc::new(Router::new(
        groq_only(&groq.uri()),
        Arc::new(MemoryStore::default()),
    ));
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let r = Arc::clone(&router);
    let job = TranscribeJob {
        file: audio,
        ..TranscribeJob::default()
    };
    let task = tokio::spawn(async move { r.transcribe(job, &tx).await });
    assert!(matches!(rx.recv().await, Some(Event::ModelSelected { .. })));
    assert_eq!(
        router.store().snapshot().expect("snapshot").inflight.len(),
        1
    );
    task.abort();
    let _ = task.await;
    let mut freed = false;
    for _ in 0..500 {
        if router
            .store()
            .snapshot()
            .expect("snapshot")
            .inflight
            .is_empty()
        {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(freed, "the aborted upload kept its reservation");
    assert_eq!(groq_rpm_used(&router), 0);
}

/// A provider counts a request from when it arrives: the reservation is dated when the
/// reply comes, so rota's minute frees no earlier than Groq's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcription_is_counted_from_when_its_reply_arrives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = wav(dir.path(), "a.wav", 1);
    let groq = groq_answering("hello", std::time::Duration::from_millis(300)).await;
    let t0 = rota::model::now_ms();
    let clock = Clock::manual(t0);
    let router = Arc::new(
        Router::new(groq_only(&groq.uri()), Arc::new(MemoryStore::default()))
            .with_clock(clock.clone()),
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let r = Arc::clone(&router);
    let job = TranscribeJob {
        file: audio,
        ..TranscribeJob::default()
    };
    let task = tokio::spawn(async move { r.transcribe(job, &tx).await });
    assert!(matches!(rx.recv().await, Some(Event::ModelSelected { .. })));
    // The upload takes "30 s" on rota's clock before the reply comes.
    clock.advance(30_000);
    while rx.recv().await.is_some() {}
    assert_eq!(task.await.expect("join"), End::Answered);
    // 45 s after the reply (75 s after the reservation) the request still counts.
    clock.advance(45_000);
    assert_eq!(
        groq_rpm_used(&router),
        1,
        "dated at the reply, not the reservation"
    );
    clock.advance(16_000);
    assert_eq!(
        groq_rpm_used(&router),
        0,
        "a minute after the reply it is gone"
    );
}

/// When every candidate failed in one round, the loop starts another: the backoffs now
/// hold them, it waits them out (on the manual clock) and the recovered provider answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_every_provider_failed_a_new_round_gets_the_answer() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = wav(dir.path(), "a.wav", 1);
    let groq = MockServer::start().await;
    // Both of Groq's Whisper models fail once, then Groq recovers.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_raw(
            r#"{"error":{"message":"Service Unavailable","type":"internal_server_error"}}"#,
            "application/json",
        ))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&groq)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(r#"{"text":"back"}"#, "application/json"),
        )
        .with_priority(2)
        .mount(&groq)
        .await;
    let clock = Clock::manual(rota::model::now_ms());
    let router = Router::new(groq_only(&groq.uri()), Arc::new(MemoryStore::default()))
        .with_clock(clock.clone());
    let started = clock.now();
    let (end, ev) = transcribe(&router, &audio).await;
    assert_eq!(end, End::Answered, "{ev:?}");
    let rotations = ev
        .iter()
        .filter(|e| matches!(e, Event::ModelRotation { .. }))
        .count();
    assert_eq!(rotations, 2, "{ev:?}");
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::NoModelsAvailable { task, .. } if task == "transcription")),
        "waited for the backoff: {ev:?}"
    );
    assert!(
        matches!(ev.last(), Some(Event::Transcript { text, .. }) if text == "back"),
        "{ev:?}"
    );
    assert!(clock.now() > started, "the wait moved the manual clock");
}
