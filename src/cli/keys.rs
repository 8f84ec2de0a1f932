//! `rota keys list|add|remove` (`check` needs HTTP and lands with the providers work).

use super::args::{Global, KeysAction};
use super::config_cmd::{load_config, resolve_path};
use super::error::{CliError, exit};
use crate::config::{self, edit};
use std::io::{BufRead, Read, Write};
use std::path::Path;

/// Runs `rota keys …`.
pub fn run(action: KeysAction, global: &Global) -> Result<i32, CliError> {
    match action {
        KeysAction::List => {
            let c = load_config(global)?;
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{}", list(&c, &config::process_env));
            Ok(exit::OK)
        }
        KeysAction::Add { provider, account } => {
            let path = resolve_path(global)?;
            let input = read_key_input()?;
            let masked = add(&path, &provider, account.as_deref(), &input)?;
            let _ = writeln!(
                std::io::stdout(),
                "added {masked} to {provider} in {}",
                path.display()
            );
            warn_if_invalid(&path);
            Ok(exit::OK)
        }
        KeysAction::Remove { provider, suffix } => {
            let path = resolve_path(global)?;
            let masked = remove(&path, &provider, &suffix)?;
            let _ = writeln!(
                std::io::stdout(),
                "removed {masked} from {provider} in {}",
                path.display()
            );
            Ok(exit::OK)
        }
        KeysAction::Check => Err(CliError::not_built("keys check")),
    }
}

/// Reads the key: all of stdin when piped; one line when typed or pasted at a terminal.
fn read_key_input() -> Result<String, CliError> {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    let mut input = String::new();
    let read = if stdin.is_terminal() {
        eprint!("paste one API key and press Enter: ");
        let _ = std::io::stderr().flush();
        stdin.lock().read_line(&mut input).map(|_| ())
    } else {
        stdin.lock().read_to_string(&mut input).map(|_| ())
    };
    read.map_err(|e| CliError::usage(format!("cannot read the key from stdin: {e}")))?;
    Ok(input)
}

fn edit_error(e: edit::EditError) -> CliError {
    let err = CliError::usage(e.message);
    match e.hint {
        Some(h) => err.hint(h),
        None => err,
    }
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> CliError {
    CliError::usage(format!("cannot {what} {}: {e}", path.display()))
        .hint("check the file's permissions, or pass --config PATH")
}

/// Adds the one key in `input` to `provider` in the file at `path` (created if missing,
/// written with mode 0600). Returns the masked key.
pub fn add(
    path: &Path,
    provider: &str,
    account: Option<&str>,
    input: &str,
) -> Result<String, CliError> {
    let key = edit::check_new_key(input).map_err(edit_error)?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io_error(path, "read", e)),
    };
    let new = edit::add_key(&text, provider, &key, account).map_err(edit_error)?;
    edit::write_private(path, &new).map_err(|e| io_error(path, "write", e))?;
    Ok(key.masked())
}

/// Removes the one key of `provider` ending in `suffix` from the file at `path`. Returns
/// the masked key.
pub fn remove(path: &Path, provider: &str, suffix: &str) -> Result<String, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(
                CliError::usage(format!("no config file at {}", path.display()))
                    .hint("keys from the environment are removed by unsetting the variable"),
            );
        }
        Err(e) => return Err(io_error(path, "read", e)),
    };
    let (new, masked) = edit::remove_key(&text, provider, suffix).map_err(edit_error)?;
    edit::write_private(path, &new).map_err(|e| io_error(path, "write", e))?;
    Ok(masked)
}

fn warn_if_invalid(path: &Path) {
    if let Err(e) = config::load(Some(path), true, &config::process_env) {
        eprintln!(
            "rota: note: the config file has {} problem(s); run `rota config check`",
            e.0.len()
        );
    }
}

/// The `keys list` text: per provider, each key masked, its account, where it came from
/// (`file`, `env $VAR`, or both) and its last check.
pub fn list(c: &config::Config, env: &dyn Fn(&str) -> Option<String>) -> String {
    let file_text = c
        .path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let mut s = String::new();
    for p in &c.providers {
        let state = if p.enabled { "" } else { " (disabled)" };
        s.push_str(&format!("{}  {}{state}\n", p.name, p.base_url));
        let from_env = if p.name.starts_with("custom:") {
            Vec::new()
        } else {
            config::env::env_keys(&p.name, env)
        };
        let real: Vec<_> = p.keys.iter().filter(|k| k.key.is_some()).collect();
        if real.is_empty() {
            if p.keys.is_empty() {
                s.push_str("  (no keys)\n");
            } else {
                s.push_str(&format!(
                    "  none      {:<16} no key needed\n",
                    config::KEYLESS_ACCOUNT
                ));
            }
            continue;
        }
        for k in real {
            let env_var = k
                .key
                .as_ref()
                .and_then(|key| from_env.iter().find(|(_, e)| e == key))
                .map(|(var, _)| var.as_str());
            let in_file = k
                .key
                .as_ref()
                .is_some_and(|key| file_text.contains(key.expose()));
            let source = match (in_file, env_var) {
                (true, Some(var)) => format!("file, env ${var}"),
                (false, Some(var)) => format!("env ${var}"),
                _ => "file".to_string(),
            };
            s.push_str(&format!(
                "  {:<9} {:<16} {:<24} not checked\n",
                k.masked(),
                k.account,
                source
            ));
        }
    }
    s
}
