//! `rota ask`: one request, the answer streamed to stdout, notices to stderr.

use super::args::{AskArgs, Global};
use super::context::Context;
use super::error::{CliError, exit};
use crate::message::{ContentPart, ImageUrl, Message};
use crate::model::Task;
use crate::router::events::Event;
use crate::router::{ChatRequest, End};
use base64::Engine as _;
use std::io::{Read, Write};
use std::path::Path;

/// Largest image file rota reads (providers take at most 20 MB by URL, 4 MB base64).
const MAX_IMAGE_FILE: u64 = 20 * 1024 * 1024;

/// Runs `rota ask`.
pub fn run(global: &Global, args: AskArgs) -> Result<i32, CliError> {
    let task = match args.task.as_deref() {
        Some(t) => Some(t.parse::<Task>().map_err(CliError::usage)?),
        None if !args.image.is_empty() => Some(Task::Vision),
        None => None,
    };
    let prompt = match args.prompt.as_deref() {
        None | Some("-") => read_stdin()?,
        Some(p) => p.to_string(),
    };
    let mut content = Vec::new();
    if !prompt.trim().is_empty() {
        content.push(ContentPart::Text(prompt.clone()));
    }
    for path in &args.image {
        content.push(image_part(path)?);
    }
    if content.is_empty() {
        return Err(CliError::usage("the prompt is empty")
            .hint("pass it as an argument (rota ask \"…\") or on stdin"));
    }
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(Message::system(system.clone()));
    }
    messages.push(if args.image.is_empty() {
        Message::user(prompt)
    } else {
        Message::user_parts(content)
    });
    let req = ChatRequest {
        messages,
        task,
        max_tokens: args.max_tokens,
        ..ChatRequest::default()
    };
    if let Some(Err(e)) = args
        .max_tokens
        .map(|n| crate::router::check_max_tokens(n, "--max-tokens"))
    {
        return Err(CliError::usage(e));
    }
    let rt = super::context::runtime()?;
    rt.block_on(async move {
        let ctx = Context::open(global, task.unwrap_or(Task::Auto)).await?;
        for n in &ctx.notices {
            eprintln!("rota: {n}");
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(256);
        let router = std::sync::Arc::clone(&ctx.router);
        let job = tokio::spawn(async move { router.run(req, &tx).await });
        let stdout = std::io::stdout();
        let shown_raw = !std::io::IsTerminal::is_terminal(&stdout);
        let mut thinking = Thinking::new(args.show_reasoning);
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = tokio::signal::ctrl_c() => {
                    drop(rx);
                    eprintln!();
                    eprintln!("rota: interrupted");
                    return Ok(exit::INTERRUPTED);
                }
            };
            let Some(ev) = ev else { break };
            let mut out = stdout.lock();
            if args.json {
                let _ = writeln!(out, "{}", ev.to_json_line());
                let _ = out.flush();
                continue;
            }
            match &ev {
                Event::Reasoning { text } => thinking.show(text),
                Event::Delta { text } => {
                    thinking.end();
                    // On a terminal the answer's own control characters are shown, not
                    // obeyed; piped output is the answer as it came.
                    let text = if shown_raw {
                        std::borrow::Cow::Borrowed(text.as_str())
                    } else {
                        crate::message::printable(text)
                    };
                    let _ = out.write_all(text.as_bytes());
                    let _ = out.flush();
                }
                Event::Done { .. } => {
                    thinking.end();
                    let _ = writeln!(out);
                    if let Some(line) = notice(&ev) {
                        eprintln!("{line}");
                    }
                }
                other => {
                    if let Some(line) = notice(other) {
                        eprintln!("{line}");
                    }
                }
            }
        }
        Ok(exit_code(&job.await.unwrap_or(End::Failed)))
    })
}

/// `--show-reasoning`: a reasoning model's thinking on stderr, dimmed where stderr is a
/// terminal, ended by a line break before the answer starts.
struct Thinking {
    on: bool,
    dim: bool,
    open: bool,
}

impl Thinking {
    fn new(on: bool) -> Self {
        use std::io::IsTerminal;
        Self {
            on,
            dim: std::io::stderr().is_terminal(),
            open: false,
        }
    }

    fn show(&mut self, text: &str) {
        if !self.on {
            return;
        }
        let mut err = std::io::stderr().lock();
        if !self.open && self.dim {
            let _ = err.write_all(b"\x1b[2m");
        }
        self.open = true;
        let clean: String = text
            .chars()
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
            .collect();
        let _ = err.write_all(clean.as_bytes());
        let _ = err.flush();
    }

    fn end(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        let mut err = std::io::stderr().lock();
        if self.dim {
            let _ = err.write_all(b"\x1b[0m");
        }
        let _ = err.write_all(b"\n");
        let _ = err.flush();
    }
}

/// The exit code of a job's end.
pub fn exit_code(end: &End) -> i32 {
    match end {
        End::Answered => exit::OK,
        End::Input | End::Config => exit::USAGE,
        End::NoCredentials => exit::NO_CREDENTIALS,
        End::Failed => exit::FAILED,
        End::Cancelled => exit::INTERRUPTED,
    }
}

/// The one-line stderr notice for an event, if it gets one.
pub fn notice(ev: &Event) -> Option<String> {
    match ev {
        Event::TaskSelected { task, auto: true } => Some(format!("rota: task auto → {task}")),
        Event::Done {
            finish_reason: Some(f),
            max_tokens,
            ..
        } if f == "length" => Some(format!(
            "rota: answer cut at {max_tokens} tokens (max_tokens); rerun with --max-tokens {}",
            max_tokens.saturating_mul(2).max(1024)
        )),
        Event::ModelRotation {
            from,
            to,
            reason,
            window,
            retry_after_ms,
            ..
        } => {
            let mut s = format!(
                "rota: {from} → {}: {reason}",
                to.as_deref().unwrap_or("(waiting)")
            );
            if let Some(w) = window {
                s.push_str(&format!(" ({})", w.as_str().to_uppercase()));
            }
            if let Some(ms) = retry_after_ms {
                s.push_str(&format!(", back in {}", crate::duration::short(*ms)));
            }
            Some(s)
        }
        Event::ToolCall {
            name, arguments, ..
        } => Some(format!(
            "rota: {}",
            crate::tools::describe_call(name, arguments)
        )),
        Event::ToolResult {
            name,
            latency_ms,
            error: Some(e),
            ..
        } => Some(format!(
            "rota: {name} failed after {}: {e}",
            crate::duration::short(*latency_ms)
        )),
        Event::Notice { message } => Some(format!("rota: {message}")),
        Event::NoModelsAvailable { wait_ms, next, .. } => Some(format!(
            "rota: every model is busy; waiting {} for {next}",
            crate::duration::short(*wait_ms)
        )),
        Event::RateLimitRecovered {
            provider,
            model,
            attempts,
        } => Some(format!(
            "rota: answered by {provider}/{model} after {attempts} attempts"
        )),
        Event::Error { message, .. } => Some(format!("rota: error: {message}")),
        _ => None,
    }
}

fn read_stdin() -> Result<String, CliError> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::usage(format!("could not read the prompt from stdin: {e}")))?;
    Ok(s)
}

/// Reads an image file into an `image_url` content part with a data URL.
fn image_part(path: &Path) -> Result<ContentPart, CliError> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::usage(format!("cannot read image {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(CliError::usage(format!("image {shown} is not a file")));
    }
    if meta.len() > MAX_IMAGE_FILE {
        return Err(CliError::usage(format!(
            "image {shown} is {} MB; providers take at most 20 MB",
            meta.len() / 1_000_000
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read image {shown}: {e}")))?;
    let mime = image_mime(&bytes)
        .ok_or_else(|| CliError::usage(format!("{shown} is not a PNG, JPEG, GIF or WebP image")))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    Ok(ContentPart::Image(ImageUrl {
        url: format!("data:{mime};base64,{b64}"),
        detail: None,
    }))
}

/// The MIME type of an image, by its first bytes.
fn image_mime(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}
