//! `rota` and `rota chat [--task T]`: the chat TUI over the real router (or, with `--demo`,
//! over the in-process simulated fleet).

use super::args::Global;
use super::context::{Context, runtime};
use super::error::{CliError, exit};
use super::tui_backend::{KeysFile, RouterBackend};
use crate::model::Task;
use crate::tui::{TuiError, TuiOptions};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

/// Opens the TUI; returns when the user quits. Not a terminal: exit 2 with a pointer to
/// `rota ask`.
pub fn run(global: &Global, task: Option<&str>) -> Result<i32, CliError> {
    let task = task
        .map(|t| t.parse::<Task>().map_err(CliError::usage))
        .transpose()?;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(
            CliError::usage("the chat UI needs a terminal (stdin and stdout are not one)")
                .hint("in scripts use `rota ask \"…\"` (or `rota batch FILE`)"),
        );
    }
    let keys_file = if global.demo {
        KeysFile::Demo
    } else {
        KeysFile::Path(super::config_cmd::resolve_path(global)?)
    };
    let rt = runtime()?;
    let result = rt.block_on(async {
        let ctx = Context::open_any(global).await?;
        ctx.check_models_in_background();
        let config = ctx.router.config();
        let opts = TuiOptions {
            task: task.unwrap_or(config.defaults.task),
            theme: config.theme.clone(),
            notices: ctx.notices.clone(),
            ..Default::default()
        };
        let backend = RouterBackend::new(
            Arc::clone(&ctx.router),
            ctx.db.clone(),
            keys_file,
            tokio::runtime::Handle::current(),
        );
        let r = crate::tui::run(Arc::new(backend), opts).await;
        drop(ctx);
        r.map_err(tui_error)
    });
    // Key checks may still be waiting on a slow provider: don't hold the exit for them.
    rt.shutdown_timeout(Duration::from_millis(200));
    result.map(|()| exit::OK)
}

fn tui_error(e: TuiError) -> CliError {
    match e {
        TuiError::NotATerminal => CliError::usage(e.to_string())
            .hint("in scripts use `rota ask \"…\"` (or `rota batch FILE`)"),
        TuiError::Theme(_) => CliError::usage(e.to_string())
            .hint("fix the theme file, or set [ui] theme = \"default\" in the config file"),
        TuiError::Io(_) => CliError::failed(e.to_string()),
    }
}
