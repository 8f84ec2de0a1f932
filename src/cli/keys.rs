//! `rota keys list|add|remove|check`.

use super::args::{Global, KeysAction};
use super::config_cmd::{load_config, resolve_path};
use super::context::Context;
use super::error::{CliError, exit};
use crate::config::{self, edit};
use crate::engine::KeyRef;
use crate::providers::check::{self, KeyCheck};
use crate::router::checks::Checks;
use crate::store::db::Db;
use std::io::{BufRead, Read, Write};
use std::path::Path;

/// Runs `rota keys …`.
pub fn run(action: KeysAction, global: &Global) -> Result<i32, CliError> {
    match action {
        KeysAction::List => {
            let c = load_config(global)?;
            let checks = saved_checks(&c);
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{}", list_checked(&c, &config::process_env, &checks));
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
        KeysAction::Check => check(global),
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
    let err = CliError::usage(format!("cannot {what} {}: {e}", path.display()));
    if e.kind() == std::io::ErrorKind::TimedOut {
        err.hint("another `rota keys add/remove` or a TUI keys view is editing it: try again when it is done")
    } else {
        err.hint("check the file's permissions, or pass --config PATH")
    }
}

/// Locks the config file at `path` for one edit (see [`config::file::lock`]).
fn lock(path: &Path) -> Result<config::file::Locked, CliError> {
    config::file::lock(path).map_err(|e| io_error(path, "lock", e))
}

/// Adds the one key in `input` to `provider` in the file at `path` (created if missing,
/// written with mode 0600, through a symlink to the file it names). The read, the edit and
/// the write hold the config's edit lock, so concurrent adds and removes all land. Returns
/// the masked key.
pub fn add(
    path: &Path,
    provider: &str,
    account: Option<&str>,
    input: &str,
) -> Result<String, CliError> {
    let key = edit::check_new_key(input).map_err(edit_error)?;
    let locked = lock(path)?;
    let text = locked
        .read()
        .map_err(|e| io_error(path, "read", e))?
        .unwrap_or_default();
    let new = edit::add_key(&text, provider, &key, account).map_err(edit_error)?;
    locked.write(&new).map_err(|e| io_error(path, "write", e))?;
    Ok(key.masked())
}

/// Removes the one key of `provider` ending in `suffix` from the file at `path`, under the
/// config's edit lock (like [`add`]). Returns the masked key.
pub fn remove(path: &Path, provider: &str, suffix: &str) -> Result<String, CliError> {
    let no_file = || {
        CliError::usage(format!("no config file at {}", path.display()))
            .hint("keys from the environment are removed by unsetting the variable")
    };
    if std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        // Nothing to edit: no lock file is left beside a config that does not exist.
        return Err(no_file());
    }
    let locked = lock(path)?;
    let Some(text) = locked.read().map_err(|e| io_error(path, "read", e))? else {
        return Err(no_file());
    };
    let (new, masked) = edit::remove_key(&text, provider, suffix).map_err(edit_error)?;
    locked.write(&new).map_err(|e| io_error(path, "write", e))?;
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

/// The `keys list` text with every key "not checked" (see [`list_checked`]).
pub fn list(c: &config::Config, env: &dyn Fn(&str) -> Option<String>) -> String {
    list_checked(c, env, &Checks::new())
}

/// The last key checks saved in the local state's `rota.db`, if it exists (never creates
/// it; an unreadable one reads as no checks).
fn saved_checks(c: &config::Config) -> Checks {
    if c.state.backend != config::Backend::Local {
        return Checks::new();
    }
    let Some(path) = c
        .state
        .data_dir
        .clone()
        .or_else(config::data_dir)
        .map(|d| d.join("rota.db"))
    else {
        return Checks::new();
    };
    if !path.exists() {
        return Checks::new();
    }
    Db::open(&path)
        .and_then(|db| crate::router::checks::load_checks(&db))
        .unwrap_or_default()
}

/// `rota keys check`: every key's `GET /models`, printed as `PROVIDER …a1b2 ACCOUNT
/// valid|invalid (why)|unreachable (why)`, then one line per configured model an account
/// cannot see; exit 0 when all keys are valid, else 1. Results are saved (local state),
/// invalid keys leave rotation and unseen models are marked unavailable to that account.
fn check(global: &Global) -> Result<i32, CliError> {
    let rt = super::context::runtime()?;
    rt.block_on(async {
        let ctx = Context::open_any(global).await?;
        ctx.print_notices();
        let entries = check::endpoints_of(ctx.router.config());
        if entries.is_empty() {
            return Err(CliError {
                code: exit::NO_CREDENTIALS,
                message: "no API keys configured: nothing to check".into(),
                hint: Some(
                    "set GROQ_API_KEY, OPENAI_API_KEY or TOGETHER_API_KEY, or run `rota keys add groq`"
                        .into(),
                ),
            });
        }
        let listed = check::check_all_listing(ctx.router.client(), &entries).await;
        let listings = check::listings_of(&listed);
        let results: Vec<_> = listed.into_iter().map(|(k, c, _)| (k, c)).collect();
        let now = crate::model::now_ms();
        let router = &ctx.router;
        let unseen = router.apply_listings(&listings).await.unwrap_or_else(|e| {
            eprintln!("rota: note: cannot record which models each account sees: {e}");
            Vec::new()
        });
        if let Some(db) = &ctx.db
            && let Err(e) = crate::router::checks::save_checks(db, &results, now)
        {
            eprintln!("rota: note: cannot save the check results: {e}");
        }
        if let Err(e) = router.apply_key_checks(&results).await {
            eprintln!("rota: note: cannot take invalid keys out of rotation: {e}");
        }
        let _ = write!(
            std::io::stdout().lock(),
            "{}{}",
            check_report(&results),
            unseen_report(&unseen)
        );
        let all_valid = results.iter().all(|(_, c)| *c == KeyCheck::Valid);
        Ok(if all_valid { exit::OK } else { exit::FAILED })
    })
}

/// The `keys check` lines, columns aligned.
pub fn check_report(results: &[(KeyRef, KeyCheck)]) -> String {
    let pw = results
        .iter()
        .map(|(k, _)| k.provider.chars().count())
        .max()
        .unwrap_or(0);
    let mw = results
        .iter()
        .map(|(k, _)| k.masked.chars().count())
        .max()
        .unwrap_or(0);
    let aw = results
        .iter()
        .map(|(k, _)| k.account.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for (k, c) in results {
        s.push_str(&format!(
            "{:<pw$}  {:<mw$}  {:<aw$}  {}\n",
            k.provider,
            k.masked,
            k.account,
            c.verdict()
        ));
    }
    s
}

/// The `keys check` lines for models an account's `GET /models` did not list.
pub fn unseen_report(unseen: &[crate::engine::availability::Unseen]) -> String {
    unseen
        .iter()
        .map(|u| {
            format!(
                "{}  account {}: unavailable (not in its GET /models; rota skips it there until a check lists it)\n",
                u.model, u.account
            )
        })
        .collect()
}

/// The `keys list` text: per provider, each key masked, its account, where it came from
/// (`file`, `env $VAR`, or both) and its last check (from `checks`).
pub fn list_checked(
    c: &config::Config,
    env: &dyn Fn(&str) -> Option<String>,
    checks: &Checks,
) -> String {
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
            let id = crate::engine::fleet::key_id(&crate::engine::KeyRef::of(&p.name, k));
            let last = checks
                .get(&id)
                .map(|c| c.check.verdict())
                .unwrap_or_else(|| "not checked".into());
            s.push_str(&format!(
                "  {:<9} {:<16} {:<24} {last}\n",
                k.masked(),
                k.account,
                source
            ));
        }
    }
    s
}
