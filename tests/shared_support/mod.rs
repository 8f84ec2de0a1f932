//! What the shared-state checks have in common: a simulated Groq fleet in-process on
//! loopback (two accounts, known limits), a rota config pointing at it, and one temporary
//! HOME / XDG_DATA_HOME that every spawned `rota` process shares (so they share one rota.db);
//! and, for the in-process router tests, [`ask_events`].

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The model every check uses.
pub const MODEL: &str = "openai/gpt-oss-20b";

/// Limits and pace of the fleet a check runs against (per account; two accounts).
#[derive(Clone, Copy, Debug)]
pub struct Fleet {
    /// Requests per minute per account.
    pub rpm: u64,
    /// Answer length in tokens.
    pub answer_tokens: u64,
    /// Streaming pace (0: as fast as possible).
    pub tokens_per_sec: u64,
}

impl Default for Fleet {
    fn default() -> Self {
        Self {
            rpm: 25,
            answer_tokens: 8,
            tokens_per_sec: 0,
        }
    }
}

/// The scenario text: groq with accounts `a` and `b`, one model, only rpm binding.
pub fn scenario_toml(f: Fleet) -> String {
    format!(
        r#"seed = 3
[defaults]
max_tokens = 64
answer_tokens = {answer}
tokens_per_sec = {tps}
ttft = "0ms"

[[providers]]
name = "groq"

[[providers.accounts]]
name = "a"
keys = ["sim-groq-a"]

[[providers.accounts]]
name = "b"
keys = ["sim-groq-b"]

[[providers.models]]
id = "{MODEL}"
rpm = {rpm}
tpm = 10000000
rpd = 1000000
tpd = 1000000000
tasks = ["fast"]
"#,
        answer = f.answer_tokens,
        tps = f.tokens_per_sec,
        rpm = f.rpm,
    )
}

/// The rota config: groq at the fleet with both keys, the fleet's limits known, no
/// safety margin (so the fleet's full capacity is usable), state in SQLite.
pub fn config_toml(f: Fleet, groq_url: &str) -> String {
    config_toml_with_state(f, groq_url, "backend = \"local\"\n")
}

/// [`config_toml`] with `state` as the `[state]` section's lines.
pub fn config_toml_with_state(f: Fleet, groq_url: &str, state: &str) -> String {
    format!(
        r#"[defaults]
safety_margin = 0.0
max_wait = "180s"

[providers.groq]
keys = [{{ key = "sim-groq-a", account = "a" }}, {{ key = "sim-groq-b", account = "b" }}]
base_url = "{groq_url}"

[[models]]
provider = "groq"
id = "{MODEL}"
rpm = {rpm}
tpm = 10000000
rpd = 1000000
tpd = 1000000000

[pools]
fast = ["groq/{MODEL}"]

[state]
{state}"#,
        rpm = f.rpm,
    )
}

pub mod redis;

/// A running fleet plus the temporary home its rota processes share.
pub struct Rig {
    /// Keeps the in-process fleet served.
    pub rt: tokio::runtime::Runtime,
    /// The fleet.
    pub sim: Option<rota::sim::SimHandle>,
    /// HOME and XDG_DATA_HOME of every rota process.
    pub home: tempfile::TempDir,
    /// The config file.
    pub config: PathBuf,
}

impl Rig {
    /// Starts the fleet and writes the config.
    pub fn start(f: Fleet) -> Rig {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let scenario = rota::sim::Scenario::from_toml(&scenario_toml(f)).unwrap();
        let sim = rt
            .block_on(rota::sim::start(scenario, "127.0.0.1:0".parse().unwrap()))
            .unwrap();
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join("config.toml");
        // It holds keys: private (mode 0600), as rota writes it, so no warning is printed.
        rota::config::file::write_private(&config, &config_toml(f, &sim.base_url("groq"))).unwrap();
        Rig {
            rt,
            sim: Some(sim),
            home,
            config,
        }
    }

    /// The shared database file.
    pub fn db_path(&self) -> PathBuf {
        self.home.path().join("data").join("rota").join("rota.db")
    }

    /// The fleet's counters (`/sim/stats`).
    pub fn stats(&self) -> serde_json::Value {
        self.sim.as_ref().unwrap().stats()
    }

    /// A `rota` command with this rig's config and home, and no other environment.
    pub fn rota(&self, args: &[&str]) -> Command {
        rota_cmd(self.home.path(), Some(&self.config), args)
    }

    /// Runs `rota ARGS` to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.rota(args).output().unwrap()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.rt.block_on(sim.shutdown());
        }
    }
}

/// A `rota` command with `home` as HOME and its `data` dir as XDG_DATA_HOME, and nothing
/// else from this process's environment (no real keys, no real config).
pub fn rota_cmd(home: &Path, config: Option<&Path>, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rota"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("ROTA_LOG_FILE", home.join("rota.log"));
    if let Some(cfg) = config {
        c.arg("--config").arg(cfg);
    }
    c.args(args);
    c
}

/// stdout and stderr of an output, as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The fleet's totals.
pub fn totals(stats: &serde_json::Value) -> (u64, u64, u64) {
    let t = &stats["totals"];
    (
        t["requests"].as_u64().unwrap_or(0),
        t["ok"].as_u64().unwrap_or(0),
        t["429"].as_u64().unwrap_or(0),
    )
}

/// Writes a batch input of `n` prompts with ids `q0` … and returns its path.
pub fn batch_input(dir: &Path, n: usize) -> PathBuf {
    let p = dir.join("in.jsonl");
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "{{\"id\": \"q{i}\", \"prompt\": \"question number {i}: name a colour\", \"max_tokens\": 32}}\n"
        ));
    }
    std::fs::write(&p, s).unwrap();
    p
}

/// The `ok:true` ids of an output file, in order (repeats kept).
pub fn ok_ids(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["ok"] == true)
        .map(|v| v["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Runs one chat request through `router` in-process and returns how it ended and every
/// event it sent, in order.
pub async fn ask_events(
    router: &rota::router::Router,
    req: rota::router::ChatRequest,
) -> (rota::router::End, Vec<rota::router::events::Event>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let collect = async {
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        events
    };
    tokio::join!(async move { router.run(req, &tx).await }, collect)
}

/// Runs `prompts` prompts through `workers` threads, like `xargs -P WORKERS rota ask`:
/// worker `w` runs `run(w, ARGS)` for one prompt at a time, ARGS being a short `ask --json`
/// of the fast task. Returns the prompts that failed (with their output) and every
/// `model_rotation` event seen (what a 429, should one come, said).
pub fn ask_in_workers(
    prompts: usize,
    workers: usize,
    run: impl Fn(usize, &[&str]) -> Output + Send + Sync + 'static,
) -> (Vec<String>, Vec<String>) {
    use std::sync::{Arc, Mutex};
    let queue: Arc<Mutex<std::collections::VecDeque<usize>>> =
        Arc::new(Mutex::new((0..prompts).collect()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let rotations = Arc::new(Mutex::new(Vec::new()));
    let run = Arc::new(run);
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let (queue, failures, rotations, run) = (
                queue.clone(),
                failures.clone(),
                rotations.clone(),
                run.clone(),
            );
            std::thread::spawn(move || {
                loop {
                    let Some(i) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    let prompt = format!("question {i}: say something short");
                    let args = [
                        "ask",
                        "--json",
                        "--task",
                        "fast",
                        "--max-tokens",
                        "32",
                        &prompt,
                    ];
                    let o = run(w, &args);
                    let (out, err) = text(&o);
                    let events: Vec<serde_json::Value> = out
                        .lines()
                        .filter_map(|l| serde_json::from_str(l).ok())
                        .collect();
                    let done = events.iter().any(|e| e["event"] == "done");
                    if o.status.code() != Some(0) || !done {
                        failures.lock().unwrap().push(format!("{i}: {out} {err}"));
                    }
                    rotations.lock().unwrap().extend(
                        events
                            .into_iter()
                            .filter(|e| e["event"] == "model_rotation")
                            .map(|e| e.to_string()),
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let f = failures.lock().unwrap().clone();
    let r = rotations.lock().unwrap().clone();
    (f, r)
}

/// Waits until `out` holds at least `n` answered ids, while `child` (the batch writing it)
/// runs; fails the check after two minutes or if the batch ends first.
pub fn wait_for_answers(out: &Path, n: usize, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let done = std::fs::read_to_string(out)
            .map(|s| ok_ids(&s).len())
            .unwrap_or(0);
        if done >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the batch made no progress"
        );
        assert!(child.try_wait().unwrap().is_none(), "the batch ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Checks that `out` answers each of the `n` ids exactly once.
pub fn assert_each_id_once(out: &Path, n: usize) {
    let all = ok_ids(&std::fs::read_to_string(out).unwrap());
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), all.len(), "an id answered twice: {all:?}");
    assert_eq!(all.len(), n, "an id lost: {all:?}");
}
