//! `rota batch`: many requests from a JSONL file, as fast as the pools' limits allow
//! (docs/state.md, "`rota batch`"). Results are written as each finishes; re-running with
//! the same `-o` skips ids already answered `ok`, so a killed batch resumes with nothing
//! lost or done twice.
//!
//! Ctrl+C (SIGINT) or SIGTERM stops it cleanly: no new request starts, the requests in
//! flight are cancelled (each gives its reservation back before the batch exits), OUT holds
//! every line that finished and no torn one, and the exit code is 130. A second signal, or
//! requests that do not stop within [`GRACE`], aborts what is left.

use super::args::{BatchArgs, Global};
use super::context::Context;
use super::error::{CliError, exit};
use crate::message::Message;
use crate::model::{Task, Usage};
use crate::router::events::Event;
use crate::router::{ChatRequest, Router};
use serde::Deserialize;
use std::collections::HashMap;
use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long requests in flight may take to stop after a signal before they are aborted.
pub const GRACE: Duration = Duration::from_secs(5);

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
        let stop = Stop::listen()?;
        let ctx = tokio::select! {
            ctx = Context::open(global, default_task.unwrap_or(Task::Auto)) => ctx?,
            _ = stop.soft.cancelled() => {
                eprintln!("rota: interrupted before the first request");
                return Ok(exit::INTERRUPTED);
            }
        };
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
        let ran = execute(ctx.router.clone(), jobs, done, concurrency, out, &stop).await?;
        Ok(match ran {
            Ran::Finished { failed: 0 } => exit::OK,
            Ran::Finished { .. } => exit::FAILED,
            Ran::Interrupted { unfinished, total } => {
                let resume = if args.output.is_some() {
                    "; run the same command again to finish them"
                } else {
                    ""
                };
                eprintln!("rota: interrupted: {unfinished} of {total} requests unfinished{resume}");
                exit::INTERRUPTED
            }
        })
    })
}

/// SIGINT / SIGTERM, as two tokens: the first signal cancels `soft` (start nothing new,
/// cancel what is in flight), the second `hard` (abort what has not stopped yet).
struct Stop {
    soft: CancellationToken,
    hard: CancellationToken,
}

impl Stop {
    /// Starts listening (inside the runtime). From now on a signal no longer kills the
    /// process: the batch stops itself.
    fn listen() -> Result<Stop, CliError> {
        let mut signals = super::signals::Signals::new()
            .map_err(|e| CliError::failed(format!("cannot listen for Ctrl+C: {e}")))?;
        let stop = Stop {
            soft: CancellationToken::new(),
            hard: CancellationToken::new(),
        };
        let (soft, hard) = (stop.soft.clone(), stop.hard.clone());
        tokio::spawn(async move {
            signals.next().await;
            soft.cancel();
            signals.next().await;
            hard.cancel();
        });
        Ok(stop)
    }
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

/// How a batch run ended.
#[derive(Debug, PartialEq, Eq)]
enum Ran {
    /// Every job ran; `failed` of them failed.
    Finished { failed: usize },
    /// A signal stopped it: `unfinished` of the `total` jobs to run have no line.
    Interrupted { unfinished: usize, total: usize },
}

/// What one job task ended with.
enum Finished {
    /// Its output line (`ok`, the line, tokens used).
    Line(bool, String, u64),
    /// Cancelled by a signal before it finished: no line, a resume runs it again.
    Cancelled,
}

/// Runs the jobs, writing one line per finished job, until all ran or `stop` says stop.
/// Every job task has ended (and given back its reservation) when this returns.
async fn execute(
    router: Arc<Router>,
    jobs: Vec<Job>,
    done: HashSet<String>,
    concurrency: usize,
    mut out: Out,
    stop: &Stop,
) -> Result<Ran, CliError> {
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
    let total = todo.len();
    let progress = Progress::new(total as u64);
    let mut todo = todo.into_iter();
    let mut running = JoinSet::new();
    let mut ids = HashMap::new();
    let mut failed = 0usize;
    let mut written = 0usize;
    // Set once the grace after a signal is over: the jobs left are aborted.
    let grace = tokio::time::sleep(Duration::MAX);
    tokio::pin!(grace);
    let mut stopping = false;
    let mut aborted = false;
    let mut result = Ok(());
    loop {
        while !stop.soft.is_cancelled() && running.len() < concurrency {
            let Some(job) = todo.next() else { break };
            let id = job.id().clone();
            let handle = running.spawn(run_job(router.clone(), job, stop.soft.clone()));
            ids.insert(handle.id(), id);
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next_with_id() => {
                let finished = match joined {
                    None => break,
                    Some(Ok((task, f))) => {
                        ids.remove(&task);
                        f
                    }
                    Some(Err(e)) => {
                        let id = ids.remove(&e.id());
                        if e.is_cancelled() {
                            Finished::Cancelled
                        } else {
                            // A bug in rota: say so on the job's line rather than lose it.
                            let message = format!("rota failed on this request: {e}");
                            let id = id.unwrap_or_else(|| JobId::new(serde_json::Value::Null));
                            Finished::Line(false, error_line(&id, "server_error", &message), 0)
                        }
                    }
                };
                if let Finished::Line(ok, line, tokens) = finished {
                    failed += usize::from(!ok);
                    if result.is_ok() {
                        result = out.line(&line);
                    }
                    written += 1;
                    progress.tick(ok, tokens);
                }
            }
            _ = stop.soft.cancelled(), if !stopping => {
                stopping = true;
                grace.as_mut().reset(tokio::time::Instant::now() + GRACE);
            }
            _ = async { tokio::select! {
                _ = &mut grace => {}
                _ = stop.hard.cancelled() => {}
            } }, if stopping && !aborted => {
                // The router's drop guard gives back the reservations of aborted jobs.
                aborted = true;
                running.abort_all();
            }
        }
        if result.is_err() && !stop.soft.is_cancelled() {
            // OUT cannot be written: stop as after a signal, then report the error.
            stop.soft.cancel();
        }
    }
    if aborted {
        // The drop guards release on blocking threads: let them start before the runtime
        // shuts down (which cancels blocking work that has not started).
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let synced = out.finish();
    result?;
    synced?;
    if stop.soft.is_cancelled() {
        progress.abandon();
        Ok(Ran::Interrupted {
            unfinished: total - written,
            total,
        })
    } else {
        progress.finish();
        Ok(Ran::Finished { failed })
    }
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

/// Runs one job and renders its output line. When `stop` is cancelled first, the job's
/// events are closed: the router sees its caller gone, stops the call and gives the
/// reservation back before `run` returns, and the job ends [`Finished::Cancelled`] (unless
/// its answer or error had already arrived).
async fn run_job(router: Arc<Router>, job: Job, stop: CancellationToken) -> Finished {
    let (id, req) = match job {
        Job::Bad { id, message } => {
            return Finished::Line(false, error_line(&id, "input", &message), 0);
        }
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
        let mut closed = false;
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = stop.cancelled(), if !closed => {
                    // Events already sent are still read; the router sees the close.
                    rx.close();
                    closed = true;
                    continue;
                }
            };
            let Some(ev) = ev else { break };
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
                Event::Error { kind, message, .. } => error = Some((kind, message)),
                _ => {}
            }
        }
        (text, done, error, closed)
    };
    let (_, (text, done, error, closed)) = tokio::join!(runner, collect);
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
            Finished::Line(true, line.to_string(), Usage::total(&usage))
        }
        (_, Some((kind, message))) => Finished::Line(false, error_line(&id, &kind, &message), 0),
        (None, None) if closed => Finished::Cancelled,
        (None, None) => Finished::Line(
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
        jobs.push(parse_job(&line, n + 1, default_task));
    }
    Ok(jobs)
}

/// Parses one line of a batch input file as `rota batch` does. `n` is the line's 1-based
/// number, the id of a line without a usable one. Returns the key that tells the line's id
/// apart (its JSON text, or `line-N`) and the request, or why the line is refused. Any text
/// is an answer, never a panic (`tests/never_panic.rs`, `fuzz/`).
pub fn parse_line(
    line: &str,
    n: usize,
    default_task: Option<Task>,
) -> (String, Result<ChatRequest, String>) {
    match parse_job(line, n, default_task) {
        Job::Run { id, req } => (id.key, Ok(req)),
        Job::Bad { id, message } => (id.key, Err(message)),
    }
}

/// Parses one input line (`n` is 1-based, used as the id when the line has none).
fn parse_job(line: &str, n: usize, default_task: Option<Task>) -> Job {
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
            ..ChatRequest::default()
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
    Ok(settled_keys(&bytes))
}

/// The keys of the ids an output file's bytes settle (see [`parse_line`] for the keys): any
/// bytes are an answer, never a panic (`tests/never_panic.rs`, `fuzz/`).
pub fn settled_keys(bytes: &[u8]) -> HashSet<String> {
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
    ids
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

    /// Leaves the bar where an interrupted batch stopped.
    fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prompt_and_messages_lines() {
        match parse_job(r#"{"id": "a", "prompt": "hi"}"#, 1, None) {
            Job::Run { id, req } => {
                assert_eq!(id.value, "a");
                assert_eq!(req.messages.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        match parse_job(
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
            match parse_job(line, 3, None) {
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
