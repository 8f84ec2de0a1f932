//! The batch figure: N requests (default 1,000) through `rota batch` against the simulated
//! fleet at twice its per-minute capacity (two accounts × RPM, limits known, no safety
//! margin), state in SQLite. Prints wall time, the least time the sliding windows allow,
//! their ratio, and the fleet's 429s.
//!
//! `cargo bench --profile dev --bench shared_batch -- [N] [RPM_PER_ACCOUNT] [RUNS] [--unknown-limits]`
//!
//! With `--unknown-limits` the model is one the catalog does not know and the config names no
//! limit: rota starts blind and learns the minute's limit from the fleet's 429s. The figure
//! to watch is then the 429 count: at most one window's requests in flight, none later.
//!
//! Least time: the first C = 2 × RPM requests go at once (a full window's burst), each later
//! group of C one window (60 s) after the previous; so with N ≤ 2C it is one window, 60 s.

use clap::Parser;
use std::time::Instant;

const MODEL: &str = "openai/gpt-oss-20b";
/// A model the catalog does not list, so nothing about its limits is known in advance.
const UNLISTED: &str = "sim/unlisted-20b";

fn scenario(rpm: u64, model: &str) -> String {
    format!(
        "[defaults]\nmax_tokens = 64\nanswer_tokens = 8\ntokens_per_sec = 0\nttft = \"0ms\"\n\
         [[providers]]\nname = \"groq\"\n\
         [[providers.accounts]]\nname = \"a\"\nkeys = [\"sim-groq-a\"]\n\
         [[providers.accounts]]\nname = \"b\"\nkeys = [\"sim-groq-b\"]\n\
         [[providers.models]]\nid = \"{model}\"\nrpm = {rpm}\ntpm = 100000000\nrpd = 10000000\n\
         tpd = 10000000000\ntasks = [\"fast\"]\n"
    )
}

fn config(rpm: u64, url: &str, unknown: bool) -> String {
    let (model, limits) = if unknown {
        (UNLISTED, String::new())
    } else {
        (
            MODEL,
            format!("rpm = {rpm}\ntpm = 100000000\nrpd = 10000000\ntpd = 10000000000\n"),
        )
    };
    format!(
        "[defaults]\nsafety_margin = 0.0\nmax_wait = \"600s\"\n\
         [providers.groq]\nkeys = [{{ key = \"sim-groq-a\", account = \"a\" }}, \
         {{ key = \"sim-groq-b\", account = \"b\" }}]\nbase_url = \"{url}\"\n\
         [[models]]\nprovider = \"groq\"\nid = \"{model}\"\ntasks = [\"fast\"]\n{limits}\
         [pools]\nfast = [\"groq/{model}\"]\n[state]\nbackend = \"local\"\n"
    )
}

fn main() {
    let nums: Vec<u64> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let n = nums.first().copied().unwrap_or(1000);
    let rpm = nums.get(1).copied().unwrap_or(250);
    let runs = nums.get(2).copied().unwrap_or(1);
    let unknown = std::env::args().any(|a| a == "--unknown-limits");
    let model = if unknown { UNLISTED } else { MODEL };
    let cap = 2 * rpm;
    let windows = n.div_ceil(cap).saturating_sub(1);
    let least_s = 60.0 * windows as f64;
    let mut ratios = Vec::new();
    for run in 0..runs {
        let Ok(home) = tempfile::tempdir() else {
            return eprintln!("skipped: no temp dir");
        };
        // SAFETY: set before this run starts any thread that reads the environment.
        unsafe {
            std::env::set_var("XDG_DATA_HOME", home.path().join("data"));
            if std::env::var_os("ROTA_LOG_FILE").is_none() {
                std::env::set_var("ROTA_LOG_FILE", home.path().join("rota.log"));
            }
        }
        let Ok(rt) = tokio::runtime::Runtime::new() else {
            return eprintln!("skipped: no runtime");
        };
        let scen = match rota::sim::Scenario::from_toml(&scenario(rpm, model)) {
            Ok(s) => s,
            Err(e) => return eprintln!("bad scenario: {e}"),
        };
        let sim = match rt.block_on(rota::sim::start(scen, ([127, 0, 0, 1], 0).into())) {
            Ok(s) => s,
            Err(e) => return eprintln!("skipped: {e}"),
        };
        let cfg = home.path().join("config.toml");
        let input = home.path().join("in.jsonl");
        let out = home.path().join("out.jsonl");
        let lines: String = (0..n)
            .map(|i| {
                format!("{{\"id\": \"q{i}\", \"prompt\": \"question {i}\", \"max_tokens\": 32}}\n")
            })
            .collect();
        if rota::config::file::write_private(&cfg, &config(rpm, &sim.base_url("groq"), unknown))
            .is_err()
            || std::fs::write(&input, lines).is_err()
        {
            return eprintln!("skipped: cannot write the temp files");
        }
        let args = [
            "rota",
            "--config",
            cfg.to_str().unwrap_or_default(),
            "batch",
            "-o",
            out.to_str().unwrap_or_default(),
            input.to_str().unwrap_or_default(),
        ];
        let t = Instant::now();
        // The fleet's 429s up to half a minute in: the first window's, before any can repeat.
        // (Taken at the end instead when the batch ends sooner.)
        let (code, early_429) = std::thread::scope(|s| {
            let (ended, wait) = std::sync::mpsc::channel::<()>();
            let sim = &sim;
            let early = s.spawn(move || {
                let _ = wait.recv_timeout(std::time::Duration::from_secs(30));
                sim.stats()["totals"]["429"].as_u64().unwrap_or(0)
            });
            let code = rota::cli::run(rota::cli::args::Cli::parse_from(args));
            drop(ended);
            (code, early.join().unwrap_or(0))
        });
        let wall = t.elapsed().as_secs_f64();
        let stats = sim.stats();
        let t = &stats["totals"];
        let per_account: Vec<String> = ["a", "b"]
            .iter()
            .map(|a| {
                format!(
                    "{a} {}",
                    stats["providers"]["groq"]["accounts"][a][model]["429"]
                )
            })
            .collect();
        let ok_lines = std::fs::read_to_string(&out)
            .map(|s| s.lines().filter(|l| l.contains("\"ok\":true")).count())
            .unwrap_or(0);
        let ratio = wall / least_s.max(f64::MIN_POSITIVE);
        ratios.push(ratio);
        println!(
            "run {run}: {n} requests, capacity {cap}/min: wall {wall:.2}s, least {least_s:.1}s, \
             ratio {ratio:.3}; exit {code:?}; ok lines {ok_lines}; sim requests {} ok {} 429 {} \
             (in the first 30 s {early_429}; by account {})",
            t["requests"],
            t["ok"],
            t["429"],
            per_account.join(", ")
        );
        rt.block_on(sim.shutdown());
    }
    ratios.sort_by(f64::total_cmp);
    if let Some(m) = ratios.get(ratios.len() / 2) {
        println!("median ratio over {runs} runs: {m:.3}");
    }
}
