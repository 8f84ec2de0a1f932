//! `rota status`: every pool, model and key with usage against limits (docs/engine.md,
//! "`rota status`").

use super::args::Global;
use super::context::Context;
use super::error::{CliError, exit};
use crate::engine::{EntryState, Status, StatusEntry};
use crate::model::Window;
use std::fmt::Write as _;
use std::io::Write;

/// Runs `rota status`.
pub fn run(global: &Global, json: bool, watch: bool) -> Result<i32, CliError> {
    let rt = super::context::runtime()?;
    rt.block_on(async move {
        let ctx = Context::open_any(global).await?;
        let mut first = true;
        loop {
            let status = ctx
                .router
                .status()
                .map_err(|e| CliError::failed(e.to_string()))?;
            let text = if json {
                serde_json::to_string(&status)
                    .map_err(|e| CliError::failed(format!("cannot print status: {e}")))?
            } else {
                render(&status)
            };
            let mut out = std::io::stdout().lock();
            if watch && !json {
                // Home, clear: one frame in place.
                let _ = write!(out, "\x1b[H\x1b[2J");
            }
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
            // Once; a watched table clears the screen, so they repeat under every frame
            // (on a terminal only: a redirected stderr gets them once).
            let redraws_notices =
                watch && !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            if first || redraws_notices {
                ctx.print_notices();
            }
            first = false;
            if !watch {
                return Ok(exit::OK);
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = tokio::signal::ctrl_c() => return Ok(exit::OK),
            }
        }
    })
}

/// The plain-text table.
pub fn render(status: &Status) -> String {
    let mut s = String::new();
    for (task, entries) in &status.pools {
        let _ = writeln!(s, "{task}");
        for e in entries {
            line(&mut s, e);
        }
    }
    if !status.transcription.is_empty() {
        let _ = writeln!(s, "transcription");
        for e in &status.transcription {
            line(&mut s, e);
        }
    }
    s.trim_end().to_string()
}

fn line(s: &mut String, e: &StatusEntry) {
    let name = format!("{}/{}", e.provider, e.model);
    let mut windows = String::new();
    for w in Window::ALL {
        if let Some(ws) = e.windows.get(&w) {
            let limit = ws
                .limit
                .map(|l| l.to_string())
                .unwrap_or_else(|| "?".into());
            let mark = if ws.learned { "*" } else { "" };
            let _ = write!(windows, " {}:{}/{}{}", w, ws.used, limit, mark);
        }
    }
    let until = e
        .until_ms
        .map(|ms| format!(" back in {}", crate::duration::short(ms)))
        .unwrap_or_default();
    let keys = e.keys.len();
    let _ = writeln!(
        s,
        "  {:<48} {:<12}{}{} ({} key{})",
        name,
        state_name(e.state),
        windows,
        until,
        keys,
        if keys == 1 { "" } else { "s" }
    );
}

/// The lowercase name of a state, as in JSON.
pub fn state_name(s: EntryState) -> &'static str {
    match s {
        EntryState::Available => "available",
        EntryState::AtCapacity => "at_capacity",
        EntryState::Cooling => "cooling",
        EntryState::Unavailable => "unavailable",
        EntryState::Failed => "failed",
        EntryState::NoKey => "no_key",
        EntryState::Disabled => "disabled",
    }
}
