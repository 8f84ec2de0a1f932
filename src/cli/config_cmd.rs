//! `rota config path|check|init`, and loading the config for every other command.

use super::args::{ConfigAction, Global};
use super::error::{CliError, exit};
use crate::config::{self, Config, ConfigErrors, EXAMPLE};
use crate::model::Task;
use std::io::Write;
use std::path::PathBuf;

/// The config file path for these flags (`--config`, `$ROTA_CONFIG`, the XDG default).
pub fn resolve_path(global: &Global) -> Result<PathBuf, CliError> {
    config::config_path(global.config.as_deref(), &config::process_env).ok_or_else(|| {
        CliError::usage("cannot tell where the config file is: no home directory is known")
            .hint("pass --config PATH or set $ROTA_CONFIG")
    })
}

/// Loads and validates the config for a command. On problems: the first one, and a hint to
/// run `rota config check` for all of them (exit 2).
pub fn load_config(global: &Global) -> Result<Config, CliError> {
    let path = resolve_path(global)?;
    let explicit = config::is_explicit(global.config.as_deref(), &config::process_env);
    let c = config::load(Some(&path), explicit, &config::process_env).map_err(|e| invalid(&e))?;
    warn_if_readable(&c);
    Ok(c)
}

/// Prints one line on stderr when the config file holds keys others can read.
fn warn_if_readable(c: &Config) {
    if let Some(w) = c.readable_keys_warning() {
        eprintln!("{w}");
    }
}

fn invalid(e: &ConfigErrors) -> CliError {
    let first = e.0.first().map(|p| {
        let mut p = p.clone();
        p.hint = None;
        p.to_string()
    });
    let more = e.0.len().saturating_sub(1);
    let msg = match (first, more) {
        (Some(f), 0) => format!("invalid config: {f}"),
        (Some(f), n) => format!("invalid config: {f} (and {n} more)"),
        (None, _) => "invalid config".to_string(),
    };
    CliError::usage(msg).hint("run `rota config check` to see every problem and how to fix it")
}

/// Runs `rota config …`.
pub fn run(action: ConfigAction, global: &Global) -> Result<i32, CliError> {
    let path = resolve_path(global)?;
    let mut out = std::io::stdout().lock();
    match action {
        ConfigAction::Path => {
            let _ = writeln!(out, "{}", path.display());
            Ok(exit::OK)
        }
        ConfigAction::Check => {
            let explicit = config::is_explicit(global.config.as_deref(), &config::process_env);
            match config::load(Some(&path), explicit, &config::process_env) {
                Ok(c) => {
                    warn_if_readable(&c);
                    match &c.path {
                        Some(p) => {
                            let _ = writeln!(out, "ok: {}", p.display());
                        }
                        None => {
                            let _ = writeln!(
                                out,
                                "ok: no file at {} (built-ins and the environment only)",
                                path.display()
                            );
                        }
                    }
                    let _ = writeln!(out, "{}", summary(&c));
                    Ok(exit::OK)
                }
                Err(e) => {
                    let mut err = std::io::stderr().lock();
                    let _ = writeln!(err, "{e}");
                    let n = e.0.len();
                    Err(CliError::usage(format!(
                        "{n} problem{} in {}",
                        if n == 1 { "" } else { "s" },
                        path.display()
                    ))
                    .hint("fix them, then run `rota config check` again"))
                }
            }
        }
        ConfigAction::Init => {
            init(&path)?;
            let _ = writeln!(out, "wrote {}", path.display());
            let _ = writeln!(
                out,
                "next: add a key with `rota keys add groq` (reads it from stdin), then `rota config check`"
            );
            Ok(exit::OK)
        }
    }
}

/// Writes [`EXAMPLE`] to `path` with mode 0600, creating parent dirs (mode 0700); never
/// overwrites. Holds the config's edit lock meanwhile, and follows a symlink at `path` to
/// the file it names.
pub fn init(path: &std::path::Path) -> Result<(), CliError> {
    if path.exists() {
        return Err(exists(path));
    }
    let locked = config::file::lock(path).map_err(|e| {
        CliError::usage(format!("cannot create {}: {e}", path.display()))
            .hint("check the permissions, or pass --config PATH")
    })?;
    if locked.path().exists() {
        return Err(exists(locked.path()));
    }
    locked.write(EXAMPLE).map_err(|e| {
        CliError::usage(format!("cannot write {}: {e}", locked.path().display()))
            .hint("check the permissions, or pass --config PATH")
    })
}

/// One line: providers with their key counts, models, pool sizes.
pub fn summary(c: &Config) -> String {
    let providers: Vec<String> = c
        .providers
        .iter()
        .map(|p| {
            let n = p.keys.iter().filter(|k| k.key.is_some()).count();
            let off = if p.enabled { "" } else { ", disabled" };
            format!("{} ({n} key{}{off})", p.name, if n == 1 { "" } else { "s" })
        })
        .collect();
    let pools: Vec<String> = Task::POOLS
        .iter()
        .map(|t| format!("{t} {}", c.pools.get(t).map_or(0, Vec::len)))
        .collect();
    format!(
        "providers: {} · models: {} · pools: {}",
        providers.join(", "),
        c.models.len(),
        pools.join(", ")
    )
}

fn exists(path: &std::path::Path) -> CliError {
    CliError::usage(format!("{} already exists; not overwriting it", path.display())).hint(
        "edit it, check it with `rota config check`, or move it away and run `rota config init` again",
    )
}
