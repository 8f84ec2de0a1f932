//! Logging to a file, never to the terminal (the TUI owns the screen; stdout carries answers).

use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

/// Where the log goes: `$ROTA_LOG_FILE`, else `rota.log` in the data dir.
pub fn log_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROTA_LOG_FILE") {
        return Some(PathBuf::from(p));
    }
    directories::ProjectDirs::from("", "", "rota").map(|d| d.data_dir().join("rota.log"))
}

/// Starts logging at a level set by `-v` (warn, info, debug, trace) or `$ROTA_LOG`.
/// Any failure (unwritable dir) leaves logging off rather than stopping rota.
pub fn init(verbose: u8) {
    let Some(path) = log_path() else { return };
    if let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_err()
    {
        return;
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("ROTA_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("rota={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}
