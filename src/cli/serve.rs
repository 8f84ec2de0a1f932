//! `rota serve`: the OpenAI-compatible endpoint (see [`crate::serve`]) until SIGINT or
//! SIGTERM, which stop taking connections and let the answers in flight finish.

use super::args::Global;
use super::context::Context;
use super::error::{CliError, exit};
use crate::model::Task;
use crate::serve::{self, Serve, token};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

/// Runs `rota serve [--listen ADDR] [--no-auth]`.
pub fn run(global: &Global, listen: Option<&str>, no_auth: bool) -> Result<i32, CliError> {
    let rt = super::context::runtime()?;
    rt.block_on(async move {
        let ctx = Context::open(global, Task::Auto).await?;
        ctx.print_notices();
        let config = ctx.router.config();
        let addr: SocketAddr = super::sim::parse_addr(listen.unwrap_or(&config.serve.listen))?;
        let token = if no_auth {
            if !addr.ip().is_loopback() {
                return Err(CliError::usage(format!(
                    "--no-auth is allowed only on a loopback address, not {addr}"
                ))
                .hint("drop --no-auth (clients then send the token), or listen on 127.0.0.1"));
            }
            None
        } else {
            Some(load_token(&ctx)?)
        };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            CliError::usage(format!("cannot listen on {addr}: {e}"))
                .hint("pick another port with --listen 127.0.0.1:PORT")
        })?;
        let bound = listener.local_addr().unwrap_or(addr);
        let state = Serve::new(Arc::clone(&ctx.router), token);
        let app = serve::app(Arc::clone(&state));
        let mut signals = super::signals::Signals::new()
            .map_err(|e| CliError::failed(format!("cannot listen for Ctrl+C: {e}")))?;
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "rota serve: http://{bound}/v1");
            let _ = out.flush();
        }
        eprintln!(
            "rota serve: point any OpenAI client at http://{bound}/v1 (models: rota/auto, \
             rota/fast, …; GET /v1/models lists them); Ctrl+C stops"
        );
        serve::run(listener, app, async move { signals.next().await })
            .await
            .map_err(|e| CliError::failed(format!("rota serve stopped: {e}")))?;
        // The connections are closed: every request still running notices and gives back
        // (or keeps counted) what it reserved, in the shared state, before the process ends.
        if !state.settle(std::time::Duration::from_secs(10)).await {
            eprintln!("rota serve: some requests had not settled after 10 s");
        }
        eprintln!("rota serve: stopped");
        Ok(exit::OK)
    })
}

/// The token clients must send, saying where it came from (printed whole only when made).
fn load_token(ctx: &Context) -> Result<crate::secret::ApiKey, CliError> {
    // The demo's config points the data dir at its temporary one.
    let dir = ctx.router.config().state.dir().ok_or_else(|| {
        CliError::usage("cannot find a data directory for the serve token (no home directory?)")
            .hint("set ROTA_SERVE_TOKEN, or XDG_DATA_HOME")
    })?;
    let env = std::env::var("ROTA_SERVE_TOKEN").ok();
    let (key, source) = token::load_or_create(env, &dir).map_err(|e| {
        CliError::failed(format!(
            "cannot read or save the serve token in {}: {e}",
            dir.display()
        ))
        .hint("set ROTA_SERVE_TOKEN instead")
    })?;
    match source {
        token::Source::Env => eprintln!("rota serve: clients send the token in $ROTA_SERVE_TOKEN"),
        token::Source::Saved(p) => eprintln!(
            "rota serve: clients send the token saved in {} ({})",
            p.display(),
            key.masked()
        ),
        token::Source::Created(p) => eprintln!(
            "rota serve: made a token for clients (shown once, saved in {}):\n  {}",
            p.display(),
            key.expose()
        ),
    }
    Ok(key)
}
