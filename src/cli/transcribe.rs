//! `rota transcribe`: one audio file → text on stdout (or NDJSON events with `--json`),
//! rotation notices on stderr like `rota ask`.

use super::args::{Global, TranscribeArgs};
use super::ask::{exit_code, notice};
use super::context::Context;
use super::error::{CliError, exit};
use crate::model::Task;
use crate::router::End;
use crate::router::events::Event;
use crate::router::transcribe::TranscribeJob;
use std::io::Write;

/// Runs `rota transcribe`.
pub fn run(global: &Global, args: TranscribeArgs) -> Result<i32, CliError> {
    let job = TranscribeJob {
        file: args.file.clone(),
        language: args.language.clone().filter(|l| !l.trim().is_empty()),
        prompt: args.prompt.clone().filter(|p| !p.trim().is_empty()),
        response_format: None,
    };
    let rt = super::context::runtime()?;
    rt.block_on(async move {
        let ctx = Context::open(global, Task::Auto).await?;
        ctx.print_notices();
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let router = std::sync::Arc::clone(&ctx.router);
        let job = tokio::spawn(async move { router.transcribe(job, &tx).await });
        let stdout = std::io::stdout();
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = tokio::signal::ctrl_c() => {
                    drop(rx);
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
                Event::Transcript { text, .. } => {
                    let _ = writeln!(out, "{}", text.trim());
                    let _ = out.flush();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_names_the_transcription_pool_first_field_event() {
        let ev = Event::NoModelsAvailable {
            task: "transcription".into(),
            wait_ms: 1500,
            next: "groq/whisper-large-v3".into(),
        };
        assert_eq!(
            ev.to_json_line(),
            r#"{"event":"no_models_available","task":"transcription","wait_ms":1500,"next":"groq/whisper-large-v3"}"#
        );
    }
}
