//! Where the config file and the data dir are.

use std::path::{Path, PathBuf};

/// The config file: `--config`, else `$ROTA_CONFIG`, else
/// `$XDG_CONFIG_HOME/rota/config.toml` (via `directories`). `None` when no home is known.
pub fn config_path(flag: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_path_buf());
    }
    if let Some(p) = env("ROTA_CONFIG").filter(|s| !s.trim().is_empty()) {
        return Some(PathBuf::from(p));
    }
    directories::ProjectDirs::from("", "", "rota").map(|d| d.config_dir().join("config.toml"))
}

/// Whether the path was chosen by the user (`--config` or `$ROTA_CONFIG`): then a missing
/// file is an error rather than "no file yet".
pub fn is_explicit(flag: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> bool {
    flag.is_some() || env("ROTA_CONFIG").is_some_and(|s| !s.trim().is_empty())
}

/// The data dir, `$XDG_DATA_HOME/rota/` (via `directories`).
pub fn data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "rota").map(|d| d.data_dir().to_path_buf())
}

/// Reads the process environment (the `env` argument of [`config_path`] and `load`).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_env_then_default() {
        let env = |k: &str| (k == "ROTA_CONFIG").then(|| "/e/c.toml".to_string());
        let none = |_: &str| None;
        assert_eq!(
            config_path(Some(Path::new("/f.toml")), &env),
            Some(PathBuf::from("/f.toml"))
        );
        assert_eq!(config_path(None, &env), Some(PathBuf::from("/e/c.toml")));
        assert!(is_explicit(None, &env));
        assert!(!is_explicit(None, &none));
        if let Some(p) = config_path(None, &none) {
            assert!(p.ends_with("rota/config.toml"));
        }
    }
}
