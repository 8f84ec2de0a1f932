//! Where the shared provider fixtures (real error bodies, recorded streams) are: the folder
//! `$ROTA_FIXTURES_DIR`, else `shared/fixtures` beside the checkout, else inside it.

use std::path::PathBuf;

/// The fixtures folder; panics with every place tried when none holds
/// `provider-errors.json`.
pub fn fixtures_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates: Vec<PathBuf> = std::env::var_os("ROTA_FIXTURES_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            manifest.join("../shared/fixtures"),
            manifest.join("shared/fixtures"),
        ])
        .collect();
    candidates
        .iter()
        .find(|p| p.join("provider-errors.json").is_file())
        .cloned()
        .unwrap_or_else(|| panic!("shared fixtures not found; tried {candidates:?}"))
}
