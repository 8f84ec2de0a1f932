//! `rota batch`: many requests from a JSONL file, as fast as the pools' limits allow
//! (CONTRACT §5). Results are written as each finishes; re-running with the same `-o`
//! skips ids already answered `ok`, so a killed batch resumes with nothing lost or done twice.

use super::args::{BatchArgs, Global};
use super::context::Context;
use super::error::{CliError, exit};
use crate::model::{Task, Usage};
use crate::router::events::Event;
use crate::router::{ChatRequest, Router};
use serde::Deserialize;
use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Semaphore, mpsc};

/// One input line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: serde_json::Value,
    prompt: Option<String>,
    messages: Option<Vec<serde_json::Value>>,
    task: Option<String>,
    max_tokens: Option<u64>,
}

/// A parsed input line: a request to run, or an input error to report.
#[derive(Debug)]
enum Job {
    Run { id: String, req: ChatRequest },
    Bad { id: String, message: String },
}

/// Runs `rota batch`.
pub fn run(global: &Global, args: BatchArgs) -> Result<i32, CliError> {
    let default_task = match args.task.as_deref() {
        Some(t) => Some(t.parse::<Task>().map_err(CliError::usage)?),
        None => None,
    };
    if args.concurrency == Some(0) {
        return Err(CliError::usage("--concurrency must be at least 1"));
    }
    let jobs = read_jobs(&args.input, default_task)?;
    let done = match &args.output {
        Some(path) => answered_ids(path)?,
        None => HashSet::new(),
    };
    let rt = super::context::runtime()?;
    rt.block_on(async move {
        let ctx = Context::open(global, default_task.unwrap_or(Task::Auto)).await?;
        for n in &ctx.notices {
            eprintln!("rota: {n}");
        }
        let concurrency = args
            .concurrency
            .unwrap_or_else(|| default_concurrency(&ctx.router));
        let out: Box<dyn Write + Send> = match &args.output {
            Some(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        CliError::usage(format!("cannot write {}: {e}", path.display()))
                    })?,
            ),
            None => Box::new(std::io::stdout()),
        };
        let failed = execute(ctx.router.clone(), jobs, done, concurrency, out).await?;
        Ok(if failed == 0 { exit::OK } else { exit::FAILED })
    })
}

/// Enough requests in flight to keep every usable account × model of the pools busy: four
/// per pair (a request waits on the network most of its life), between 4 and 64.
fn default_concurrency(router: &Router) -> usize {
    let config = router.config();
    let pairs: usize = config
        .providers
        .iter()
        .filter(|p| p.enabled && !p.keys.is_empty())
        .map(|p| {
            let accounts: HashSet<&str> = p.keys.iter().map(|k| k.account.as_str()).collect();
            let models: HashSet<&str> = config
                .pools
                .values()
                .flatten()
                .filter(|m| m.provider == p.name)
                .map(|m| m.id.as_str())
                .collect();
            accounts.len() * models.len().max(1)
        })
        .sum();
    (pairs * 4).clamp(4, 64)
}

/// Runs the jobs, writing one line per finished job. Returns how many failed.
async fn execute(
    router: Arc<Router>,
    jobs: Vec<Job>,
    done: HashSet<String>,
    concurrency: usize,
    mut out: Box<dyn Write + Send>,
) -> Result<usize, CliError> {
    let mut seen = done.clone();
    let todo: Vec<Job> = jobs
        .into_iter()
        .filter_map(|j| match j {
            Job::Run { id, .. } | Job::Bad { id, .. } if done.contains(&id) => None,
            Job::Run { id, req } => {
                if seen.insert(id.clone()) {
                    Some(Job::Run { id, req })
                } else {
                    Some(Job::Bad {
                        message: format!("id {id} appears more than once in the input"),
                        id,
                    })
                }
            }
            bad => Some(bad),
        })
        .collect();
    let total = todo.len() as u64;
    let progress = Progress::new(total);
    let (tx, mut rx) = mpsc::channel::<(bool, String, u64)>(concurrency * 2);
    let gate = Arc::new(Semaphore::new(concurrency));
    let spawner = {
        let router = router.clone();
        tokio::spawn(async move {
            for job in todo {
                let Ok(permit) = gate.clone().acquire_owned().await else {
                    break;
                };
                let tx = tx.clone();
                let router = router.clone();
                tokio::spawn(async move {
                    let (ok, line, tokens) = run_job(&router, job).await;
                    drop(permit);
                    let _ = tx.send((ok, line, tokens)).await;
                });
            }
        })
    };
    let mut failed = 0usize;
    while let Some((ok, line, tokens)) = rx.recv().await {
        if !ok {
            failed += 1;
        }
        // One write per line, flushed at once: a kill loses at most the lines in flight.
        out.write_all(format!("{line}\n").as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| CliError::failed(format!("cannot write a result: {e}")))?;
        progress.tick(ok, tokens);
    }
    let _ = spawner.await;
    progress.finish();
    Ok(failed)
}

/// Runs one job and renders its output line.
async fn run_job(router: &Router, job: Job) -> (bool, String, u64) {
    let (id, req) = match job {
        Job::Bad { id, message } => return (false, error_line(&id, "input", &message), 0),
        Job::Run { id, req } => (id, req),
    };
    let (tx, mut rx) = mpsc::channel(64);
    let started = Instant::now();
    let runner = async move {
        // `tx` is dropped when the run ends, which ends `collect`.
        router.run(req, &tx).await
    };
    let collect = async {
        let mut text = String::new();
        let mut done = None;
        let mut error = None;
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Delta { text: t } => text.push_str(&t),
                Event::Done {
                    provider,
                    model,
                    usage,
                    attempts,
                    finish_reason,
                    ..
                } => done = Some((provider, model, usage, attempts, finish_reason)),
                Event::Error { kind, message } => error = Some((kind, message)),
                _ => {}
            }
        }
        (text, done, error)
    };
    let (_, (text, done, error)) = tokio::join!(runner, collect);
    match (done, error) {
        (Some((provider, model, usage, attempts, finish_reason)), None) => {
            let line = serde_json::json!({
                "id": id, "ok": true, "text": text, "provider": provider, "model": model,
                "usage": usage, "attempts": attempts,
                "latency_ms": started.elapsed().as_millis() as u64,
                "finish_reason": finish_reason,
            });
            (true, line.to_string(), Usage::total(&usage))
        }
        (_, Some((kind, message))) => (false, error_line(&id, &kind, &message), 0),
        (None, None) => (
            false,
            error_line(&id, "server_error", "the request ended without an answer"),
            0,
        ),
    }
}

fn error_line(id: &str, kind: &str, message: &str) -> String {
    serde_json::json!({"id": id, "ok": false, "error": {"kind": kind, "message": message}})
        .to_string()
}

/// Reads and parses the input file; bad lines become `Job::Bad`.
fn read_jobs(path: &Path, default_task: Option<Task>) -> Result<Vec<Job>, CliError> {
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::usage(format!("cannot read {}: {e}", path.display()))
            .hint("pass a JSONL file with one {\"id\": …, \"prompt\": …} object per line")
    })?;
    let mut jobs = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| {
            CliError::usage(format!(
                "cannot read {} line {}: {e}",
                path.display(),
                n + 1
            ))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        jobs.push(parse_line(&line, n + 1, default_task));
    }
    Ok(jobs)
}

/// Parses one input line (`n` is 1-based, used as the id when the line has none).
fn parse_line(line: &str, n: usize, default_task: Option<Task>) -> Job {
    let fallback_id = format!("line-{n}");
    let parsed: Line = match serde_json::from_str(line) {
        Ok(l) => l,
        Err(e) => {
            let id = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("id").map(id_string))
                .unwrap_or(fallback_id);
            return Job::Bad {
                id,
                message: format!("line {n} is not a valid request: {e}"),
            };
        }
    };
    let id = id_string(&parsed.id);
    let task = match parsed.task.as_deref() {
        Some(t) => match t.parse::<Task>() {
            Ok(t) => Some(t),
            Err(e) => return Job::Bad { id, message: e },
        },
        None => default_task,
    };
    let messages = match (parsed.prompt, parsed.messages) {
        (Some(p), None) if !p.trim().is_empty() => {
            vec![serde_json::json!({"role": "user", "content": p})]
        }
        (None, Some(m)) if !m.is_empty() => m,
        (Some(_), Some(_)) => {
            return Job::Bad {
                id,
                message: "give either prompt or messages, not both".into(),
            };
        }
        _ => {
            return Job::Bad {
                id,
                message: "the line has no prompt (or an empty one) and no messages".into(),
            };
        }
    };
    if let Some(Err(message)) = parsed.max_tokens.map(crate::router::check_max_tokens) {
        return Job::Bad { id, message };
    }
    Job::Run {
        id,
        req: ChatRequest {
            messages,
            task,
            max_tokens: parsed.max_tokens,
            tools: Vec::new(),
            parallel_tool_calls: false,
        },
    }
}

fn id_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Ids already answered `ok` in an existing output file.
fn answered_ids(path: &Path) -> Result<HashSet<String>, CliError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => {
            return Err(CliError::usage(format!(
                "cannot read {} to resume: {e}",
                path.display()
            )));
        }
    };
    let mut ids = HashSet::new();
    for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
        // A line cut by a kill is not valid JSON: it does not count as answered.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
            && v.get("ok").and_then(|o| o.as_bool()) == Some(true)
            && let Some(id) = v.get("id")
        {
            ids.insert(id_string(id));
        }
    }
    Ok(ids)
}

/// The progress bar on stderr, only when stderr is a terminal.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    ok: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
    tokens: std::sync::atomic::AtomicU64,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}")
            {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            ok: 0.into(),
            failed: 0.into(),
            tokens: 0.into(),
        }
    }

    fn tick(&self, ok: bool, tokens: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        if ok {
            self.ok.fetch_add(1, Relaxed);
        } else {
            self.failed.fetch_add(1, Relaxed);
        }
        let tokens = self.tokens.fetch_add(tokens, Relaxed) + tokens;
        if let Some(bar) = &self.bar {
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "ok {} failed {} · {:.0} tok/s",
                self.ok.load(Relaxed),
                self.failed.load(Relaxed),
                tokens as f64 / secs
            ));
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prompt_and_messages_lines() {
        match parse_line(r#"{"id": "a", "prompt": "hi"}"#, 1, None) {
            Job::Run { id, req } => {
                assert_eq!(id, "a");
                assert_eq!(req.messages.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        match parse_line(
            r#"{"id": 7, "messages": [{"role":"user","content":"x"}], "task": "code", "max_tokens": 5}"#,
            2,
            None,
        ) {
            Job::Run { id, req } => {
                assert_eq!(id, "7");
                assert_eq!(req.task, Some(Task::Code));
                assert_eq!(req.max_tokens, Some(5));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_lines_become_input_errors_with_their_id() {
        for (line, id) in [
            ("not json", "line-3"),
            (r#"{"id": "b"}"#, "b"),
            (r#"{"id": "c", "prompt": "x", "task": "poetry"}"#, "c"),
            (r#"{"id": "d", "prompt": "x", "extra": 1}"#, "d"),
            (r#"{"id": "e", "prompt": ""}"#, "e"),
        ] {
            match parse_line(line, 3, None) {
                Job::Bad { id: got, .. } => assert_eq!(got, id, "{line}"),
                other => panic!("{line}: {other:?}"),
            }
        }
    }

    #[test]
    fn resume_reads_only_complete_ok_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        std::fs::write(
            &p,
            "{\"id\":\"a\",\"ok\":true}\n{\"id\":\"b\",\"ok\":false}\n{\"id\":\"c\",\"ok\":tr",
        )
        .unwrap();
        let ids = answered_ids(&p).unwrap();
        assert!(ids.contains("a"));
        assert!(!ids.contains("b"));
        assert!(!ids.contains("c"));
    }
}
