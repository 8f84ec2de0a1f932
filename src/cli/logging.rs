//! Logging to a file, never to the terminal (the TUI owns the screen; stdout carries answers).

use std::fs::File;
use std::path::{Path, PathBuf};
use tracing_subscriber::EnvFilter;

/// Opens the log at `path` for appending. Missing parent dirs are created with mode 0700,
/// the file with mode 0600, and an existing file others could read is made 0600 (a log
/// names accounts, models and masked keys). Something that is not a plain file
/// (`/dev/stderr`) is opened as it is.
pub fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::config::file::create_private_dir(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        let file = opts.open(path)?;
        let meta = file.metadata()?;
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_file() && mode & 0o077 != 0 {
            // Best effort: a log rota cannot chmod (not its owner) is still written.
            let _ = file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700));
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    opts.open(path)
}

/// Where the log goes: `$ROTA_LOG_FILE`, else `rota.log` in the data dir.
pub fn log_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROTA_LOG_FILE") {
        return Some(PathBuf::from(p));
    }
    directories::ProjectDirs::from("", "", "rota").map(|d| d.data_dir().join("rota.log"))
}

/// Starts logging at a level set by `-v` (warn, info, debug, trace) or `$ROTA_LOG`.
/// Any failure (unwritable dir) leaves logging off rather than stopping rota.
///
/// rota's own data dir (`$XDG_DATA_HOME/rota`) is made private first (mode 0700, when an
/// older rota left it 0755), and the log is opened with [`open_log`].
pub fn init(verbose: u8) {
    if let Some(dir) = crate::config::data_dir() {
        let _ = crate::config::file::restrict_to_owner(&dir);
    }
    let Some(path) = log_path() else { return };
    let Ok(file) = open_log(&path) else { return };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn the_log_and_its_dir_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("data/rota");
        let log = dir.join("rota.log");
        open_log(&log).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&home.path().join("data")), 0o700);
        assert_eq!(mode(&log), 0o600);
        // A log an older rota left readable to everyone is made private when opened.
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
        open_log(&log).unwrap();
        assert_eq!(mode(&log), 0o600);
    }
}
