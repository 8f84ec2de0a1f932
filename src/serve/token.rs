//! The bearer token `rota serve` asks every client for: `$ROTA_SERVE_TOKEN`, else the one
//! saved in the data dir (`serve-token`, mode 0600), else a new one written there and
//! printed once. Compared in constant time; never logged whole.

use crate::secret::ApiKey;
use std::io;
use std::path::{Path, PathBuf};

/// The token file's name in the data dir.
pub const FILE: &str = "serve-token";

/// Where the token came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `$ROTA_SERVE_TOKEN`.
    Env,
    /// The saved file.
    Saved(PathBuf),
    /// Made now and saved (print it once).
    Created(PathBuf),
}

/// The token from `env` (the value of `$ROTA_SERVE_TOKEN`), else the saved one in `dir`,
/// else a new one saved there.
pub fn load_or_create(env: Option<String>, dir: &Path) -> io::Result<(ApiKey, Source)> {
    if let Some(t) = env.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
        return Ok((ApiKey::new(t), Source::Env));
    }
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => {
            return Ok((ApiKey::new(t.trim()), Source::Saved(path)));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let token = new_token();
    crate::config::file::write_private(&path, &format!("{token}\n"))?;
    Ok((ApiKey::new(token), Source::Created(path)))
}

/// A new random token: `rota-` and 40 hex digits (160 bits).
fn new_token() -> String {
    let bytes: [u8; 20] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("rota-{hex}")
}

/// Whether an `Authorization` header carries `token` (`Bearer <token>`, the scheme in any
/// case), compared in time
/// that does not depend on where they differ.
pub fn authorized(header: Option<&str>, token: &ApiKey) -> bool {
    let Some((scheme, given)) = header.and_then(|h| h.split_once(' ')) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let (a, b) = (given.trim().as_bytes(), token.expose().as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_made_once_saved_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (t1, s1) = load_or_create(None, dir.path()).unwrap();
        assert!(matches!(s1, Source::Created(_)));
        assert!(t1.expose().starts_with("rota-") && t1.expose().len() == 45);
        let (t2, s2) = load_or_create(None, dir.path()).unwrap();
        assert!(matches!(s2, Source::Saved(_)));
        assert_eq!(t1.expose(), t2.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (t3, s3) = load_or_create(Some(" from-env ".into()), dir.path()).unwrap();
        assert_eq!((t3.expose(), s3), ("from-env", Source::Env));
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let t = ApiKey::new("rota-abc");
        assert!(authorized(Some("Bearer rota-abc"), &t));
        assert!(authorized(Some("bearer rota-abc"), &t));
        assert!(!authorized(Some("Bearer rota-abd"), &t));
        assert!(!authorized(Some("Bearer rota-ab"), &t));
        assert!(!authorized(Some("rota-abc"), &t));
        assert!(!authorized(None, &t));
    }
}
