//! `rota batch`: many requests from a JSONL file, as fast as the pools' limits allow
//! (docs/state.md, "`rota batch`"). Results are written as each finishes; re-running with
//! the same `-o` skips ids already answered `ok`, so a killed batch resumes with nothing
//! lost or done twice.

use super::args::{BatchArgs, Global};
use super::context::Context;
use super::error::{CliError, exit};
use crate::message::Message;
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
    messages: Option<Vec<Message>>,
    task: Option<String>,
    max_tokens: Option<u64>,
}

/// A line's id as written (a string stays a string, `7` stays a number) and the key that
/// tells ids apart: its JSON text, so `7` and `"7"` are two ids.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct JobId {
    value: serde_json::Value,
    key: String,
}

impl JobId {
    fn new(value: serde_json::Value) -> Self {
        let key = value.to_string();
        Self { value, key }
    }

    /// The id of line `n` when it has no usable id: shown as `line-N`, keyed apart from a
    /// real id `"line-N"` (its key is not JSON text).
    fn of_line(n: usize) -> Self {
        Self {
            value: serde_json::Value::String(format!("line-{n}")),
            key: format!("line-{n}"),
        }
    }

    /// The line number of an id made by [`JobId::of_line`].
    fn line(&self) -> Option<usize> {
        self.key.strip_prefix("line-").and_then(|n| n.parse().ok())
    }
}

/// A parsed input line: a request to run, or an input error to report.
#[derive(Debug)]
enum Job {
    Run { id: JobId, req: ChatRequest },
    Bad { id: JobId, message: String },
}

impl Job {
    fn id(&self) -> &JobId {
        match self {
            Job::Run { id, .. } | Job::Bad { id, .. } => id,
        }
    }
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
        Some(path) => settled_ids(path)?,
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
        let out = match &args.output {
            Some(path) => Out::append(path)?,
            None => Out::Stdout(std::io::stdout()),
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
    mut out: Out,
) -> Result<usize, CliError> {
    let mut seen = done.clone();
    let todo: Vec<Job> = jobs
        .into_iter()
        .filter_map(|j| match j {
            j if done.contains(&j.id().key) => None,
            Job::Run { id, req } => {
                if seen.insert(id.key.clone()) {
                    Some(Job::Run { id, req })
                } else {
                    Some(Job::Bad {
                        message: format!("id {} appears more than once in the input", id.key),
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
        out.line(&line)?;
        progress.tick(ok, tokens);
    }
    let _ = spawner.await;
    out.finish()?;
    progress.finish();
    Ok(failed)
}

/// Where result lines go: stdout, or an OUT file synced to disk at least once a second.
enum Out {
    Stdout(std::io::Stdout),
    File {
        file: std::fs::File,
        synced: Instant,
    },
}

impl Out {
    /// Opens OUT for appending. A last line cut by a kill is ended first, so the next result
    /// starts on a line of its own.
    fn append(path: &Path) -> Result<Out, CliError> {
        use std::io::{Read, Seek, SeekFrom};
        let cannot =
            |e: std::io::Error| CliError::usage(format!("cannot write {}: {e}", path.display()));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(cannot)?;
        let len = file.metadata().map_err(cannot)?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(cannot)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(cannot)?;
            }
        }
        Ok(Out::File {
            file,
            synced: Instant::now(),
        })
    }

    /// Writes one whole line with one write (a kill loses at most the lines in flight).
    fn line(&mut self, line: &str) -> Result<(), CliError> {
        let bytes = format!("{line}\n").into_bytes();
        let r = match self {
            Out::Stdout(s) => s.write_all(&bytes).and_then(|_| s.flush()),
            Out::File { file, synced } => file.write_all(&bytes).and_then(|_| {
                if synced.elapsed() >= std::time::Duration::from_secs(1) {
                    *synced = Instant::now();
                    file.sync_data()
                } else {
                    Ok(())
                }
            }),
        };
        r.map_err(|e| CliError::failed(format!("cannot write a result: {e}")))
    }

    /// Syncs what was written.
    fn finish(&mut self) -> Result<(), CliError> {
        let r = match self {
            Out::Stdout(s) => s.flush(),
            Out::File { file, .. } => file.sync_data(),
        };
        r.map_err(|e| CliError::failed(format!("cannot write a result: {e}")))
    }
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
                    sources,
                    ..
                } => done = Some((provider, model, usage, attempts, finish_reason, sources)),
                Event::Error { kind, message } => error = Some((kind, message)),
                _ => {}
            }
        }
        (text, done, error)
    };
    let (_, (text, done, error)) = tokio::join!(runner, collect);
    match (done, error) {
        (Some((provider, model, usage, attempts, finish_reason, sources)), None) => {
            let mut line = serde_json::json!({
                "id": id.value, "ok": true, "text": text, "provider": provider, "model": model,
                "usage": usage, "attempts": attempts,
                "latency_ms": started.elapsed().as_millis() as u64,
                "finish_reason": finish_reason,
            });
            if !sources.is_empty() {
                line["sources"] = sources.into();
            }
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

fn error_line(id: &JobId, kind: &str, message: &str) -> String {
    let mut v = serde_json::json!({"id": id.value, "ok": false, "error": {"kind": kind, "message": message}});
    if let Some(n) = id.line() {
        // Says the id was made up, so a resume keys it apart from a real `"line-N"`.
        v["line"] = n.into();
    }
    v.to_string()
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
    let fallback_id = JobId::of_line(n);
    let parsed: Line = match serde_json::from_str(line) {
        Ok(l) => l,
        Err(e) => {
            let id = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("id").cloned())
                .map(JobId::new)
                .unwrap_or(fallback_id);
            return Job::Bad {
                id,
                message: format!("line {n} is not a valid request: {e}"),
            };
        }
    };
    let id = JobId::new(parsed.id);
    let task = match parsed.task.as_deref() {
        Some(t) => match t.parse::<Task>() {
            Ok(t) => Some(t),
            Err(e) => return Job::Bad { id, message: e },
        },
        None => default_task,
    };
    let messages = match (parsed.prompt, parsed.messages) {
        (Some(p), None) if !p.trim().is_empty() => {
            vec![Message::user(p)]
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
    if let Some(Err(message)) = parsed
        .max_tokens
        .map(|n| crate::router::check_max_tokens(n, "max_tokens"))
    {
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
            continues: false,
        },
    }
}

/// The keys of ids an existing output file settles: answered `ok`, or refused as `input`
/// (the same line would be refused again). Every valid line counts, whatever comes before
/// it: a line cut by a kill, or bytes that are not UTF-8, only lose themselves.
fn settled_ids(path: &Path) -> Result<HashSet<String>, CliError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => {
            return Err(CliError::usage(format!(
                "cannot read {} to resume: {e}",
                path.display()
            )));
        }
    };
    let mut ids = HashSet::new();
    for line in bytes.split(|&b| b == b'\n') {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let settled = v.get("ok").and_then(|o| o.as_bool()) == Some(true)
            || v.pointer("/error/kind").and_then(|k| k.as_str()) == Some("input");
        if !settled {
            continue;
        }
        match (v.get("line").and_then(|n| n.as_u64()), v.get("id")) {
            (Some(n), _) => ids.insert(JobId::of_line(n as usize).key),
            (None, Some(id)) => ids.insert(JobId::new(id.clone()).key),
            (None, None) => false,
        };
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
                assert_eq!(id.value, "a");
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
                assert_eq!(id.value, 7);
                assert_ne!(id.key, JobId::new(serde_json::json!("7")).key);
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
                Job::Bad { id: got, .. } => assert_eq!(got.value, id, "{line}"),
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
        let ids = settled_ids(&p).unwrap();
        assert!(ids.contains("\"a\""));
        assert!(!ids.contains("\"b\""));
        assert!(!ids.contains("\"c\""));
    }

    #[test]
    fn resume_reads_every_valid_line_past_bytes_that_are_not_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        let mut bytes = b"{\"id\":\"a\",\"ok\":true}\n\xff\xfe garbage\n".to_vec();
        bytes.extend_from_slice(b"{\"id\":7,\"ok\":true}\n{\"id\":\"x\",\"ok\":false,");
        bytes.extend_from_slice(b"\"error\":{\"kind\":\"input\",\"message\":\"m\"}}\n");
        bytes.extend_from_slice(
            b"{\"id\":\"y\",\"ok\":false,\"error\":{\"kind\":\"rate_limited\"}}\n",
        );
        std::fs::write(&p, bytes).unwrap();
        let ids = settled_ids(&p).unwrap();
        assert!(ids.contains("\"a\"") && ids.contains("7"), "{ids:?}");
        assert!(!ids.contains("\"7\""), "7 and \"7\" are two ids: {ids:?}");
        // An input error is settled (it would be refused again); a failed request is not.
        assert!(ids.contains("\"x\"") && !ids.contains("\"y\""), "{ids:?}");
        // A made-up `line-N` id never stands for a real id "line-N".
        let made_up = error_line(&JobId::of_line(3), "input", "not json");
        std::fs::write(&p, format!("{made_up}\n")).unwrap();
        let ids = settled_ids(&p).unwrap();
        assert!(ids.contains(&JobId::of_line(3).key));
        assert!(!ids.contains(&JobId::new(serde_json::json!("line-3")).key));
    }

    #[test]
    fn appending_after_a_torn_line_starts_a_fresh_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        std::fs::write(&p, "{\"id\":\"a\",\"ok\":true}\n{\"id\":\"b\",\"ok\":tr").unwrap();
        let mut out = Out::append(&p).unwrap();
        out.line("{\"id\":\"c\",\"ok\":true}").unwrap();
        out.finish().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text.lines().last(),
            Some("{\"id\":\"c\",\"ok\":true}"),
            "{text}"
        );
        let ids = settled_ids(&p).unwrap();
        assert!(ids.contains("\"a\"") && ids.contains("\"c\"") && !ids.contains("\"b\""));
        // An output that ends cleanly gets no blank line.
        let mut out = Out::append(&p).unwrap();
        out.line("{\"id\":\"d\",\"ok\":true}").unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("\n\n"), "{text:?}");
    }
}
