//! The config file on disk, and rota's other private files: edits hold an advisory lock for
//! their whole read-modify-write, writes go through symlinks to the file they name and
//! replace it atomically with mode 0600, and a file holding keys that others can read earns
//! a warning.

use crate::secret::ApiKey;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long an edit waits for another rota process (or thread) editing the same file.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Most symlinks followed from the config path to the file itself (as Linux allows).
const MAX_LINKS: usize = 40;

/// An exclusive hold on a config file for one read-modify-write: taken by [`lock`],
/// released when dropped. Every rota edit of the file (`rota keys add/remove`, the TUI's
/// keys view, `rota config init`) takes it, so concurrent edits run one after the other
/// and none is lost.
#[derive(Debug)]
pub struct Locked {
    /// The file edited: the config path with symlinks followed.
    file: PathBuf,
    /// The lock file beside it.
    lock_path: PathBuf,
    /// Holds the lock while open.
    _lock: std::fs::File,
}

impl Locked {
    /// The file being edited: the path given to [`lock`] with symlinks followed.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The lock file (`FILE.lock` beside the file); kept after the edit.
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// The file's text, or `None` when it does not exist yet.
    pub fn read(&self) -> io::Result<Option<String>> {
        match std::fs::read_to_string(&self.file) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the file with `text` (see [`write_private`]).
    pub fn write(&self, text: &str) -> io::Result<()> {
        write_private(&self.file, text)
    }
}

/// Locks the config file at `path` for a read-modify-write: follows symlinks to the file
/// itself, creates its directory (mode 0700) when missing, and takes an exclusive advisory
/// lock on `FILE.lock` beside it (created with mode 0600 and left in place: deleting a lock
/// file another process may hold would break the lock). Waits up to [`LOCK_WAIT`] for
/// another editor; after that the error's kind is [`io::ErrorKind::TimedOut`].
pub fn lock(path: &Path) -> io::Result<Locked> {
    let file = resolve_links(path)?;
    create_private_dir(&dir_of(&file))?;
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = file.with_file_name(name);
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let lock = opts.open(&lock_path)?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "another rota process has been editing it for over {} s (it holds {})",
                        LOCK_WAIT.as_secs(),
                        lock_path.display()
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot lock {}: {e}", lock_path.display()),
                ));
            }
        }
    }
    Ok(Locked {
        file,
        lock_path,
        _lock: lock,
    })
}

/// `path` with symlinks followed to the file they finally name (which need not exist yet: a
/// dangling link names the file to create). A relative link target is taken from the
/// link's directory.
pub fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            Ok(_) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(p),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "more than {MAX_LINKS} symbolic links from {}",
        path.display()
    )))
}

/// The directory a file is in (`.` for a bare file name).
fn dir_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `text` to the file `path` names with mode 0600, replacing it atomically: a
/// temporary file in the same directory, synced, then renamed over it. A symlink at `path`
/// is followed and the file it names is replaced (the link stays a link, so the old text,
/// keys included, is not left behind in its target). Missing parent directories are created
/// with mode 0700.
pub fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    let file = resolve_links(path)?;
    let dir = dir_of(&file);
    create_private_dir(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    set_private(tmp.path())?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&file).map_err(|e| e.error)?;
    Ok(())
}

/// Sets mode 0600 (owner read/write only) on Unix.
pub fn set_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates `dir` and its missing parents with mode 0700 (existing ones are left alone).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Takes away group and other permissions from an existing file or directory of rota's
/// (0644 becomes 0600, 0755 becomes 0700). Returns whether it changed anything; a missing
/// path changes nothing.
pub fn restrict_to_owner(path: &Path) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 == 0 {
            return Ok(false);
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(false)
    }
}

/// The one-line warning for a config file at `path` whose text holds one of `keys` while
/// its group or other users may read it; `None` when it is private, holds none of them, or
/// cannot be read.
pub fn readable_keys_warning<'k>(
    path: &Path,
    keys: impl IntoIterator<Item = &'k ApiKey>,
) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        let who = match (mode & 0o040 != 0, mode & 0o004 != 0) {
            (true, true) => "its group and every other user",
            (true, false) => "its group",
            (false, true) => "every other user",
            (false, false) => return None,
        };
        let text = std::fs::read_to_string(path).ok()?;
        let holds_keys = keys
            .into_iter()
            .any(|k| !k.expose().is_empty() && text.contains(k.expose()));
        holds_keys.then(|| {
            format!(
                "rota: warning: {} holds API keys and {who} can read it (mode {mode:03o}): run `chmod 600 {}`",
                path.display(),
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (path, keys.into_iter());
        None
    }
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
    fn chmod(p: &Path, m: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn writes_go_through_a_symlink_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let dots = dir.path().join("dotfiles");
        std::fs::create_dir(&dots).unwrap();
        let target = dots.join("rota.toml");
        std::fs::write(&target, "keys = [\"gsk_test_old_0001\"]\n").unwrap();
        let link = dir.path().join("config.toml");
        std::os::unix::fs::symlink("dotfiles/rota.toml", &link).unwrap();
        write_private(&link, "keys = []\n").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link stays a link"
        );
        let t = std::fs::read_to_string(&target).unwrap();
        assert_eq!(
            t, "keys = []\n",
            "the target holds the new text, not the old key"
        );
        assert_eq!(mode(&target), 0o600);
        // A chain of links, and a dangling one: the file it names is created.
        let link2 = dir.path().join("c2.toml");
        std::os::unix::fs::symlink(&link, &link2).unwrap();
        write_private(&link2, "x = 1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "x = 1\n");
        let dangling = dir.path().join("c3.toml");
        std::os::unix::fs::symlink("dotfiles/new.toml", &dangling).unwrap();
        write_private(&dangling, "y = 2\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dots.join("new.toml")).unwrap(),
            "y = 2\n"
        );
        // A loop is an error, not a hang.
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        assert!(write_private(&a, "z\n").is_err());
    }

    #[test]
    fn locks_are_exclusive_and_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        let held = lock(&path).unwrap();
        assert_eq!(held.read().unwrap(), None);
        assert!(held.lock_path().ends_with("sub/config.toml.lock"));
        #[cfg(unix)]
        assert_eq!(mode(&dir.path().join("sub")), 0o700);
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                let l = lock(&path).unwrap();
                l.read().unwrap()
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        held.write("a = 1\n").unwrap();
        drop(held);
        assert_eq!(
            waiter.join().unwrap().as_deref(),
            Some("a = 1\n"),
            "the second editor waited for the first and read its write"
        );
    }

    #[cfg(unix)]
    #[test]
    fn restricts_modes_and_warns_about_readable_keys() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "keys = [\"gsk_test_secret_0001\"]\n").unwrap();
        let key = ApiKey::new("gsk_test_secret_0001");
        let other = ApiKey::new("gsk_test_env_0002");
        chmod(&f, 0o644);
        let w = readable_keys_warning(&f, [&key]).unwrap();
        assert!(w.contains("chmod 600") && w.contains(&f.display().to_string()));
        assert!(w.contains("its group and every other user"), "{w}");
        assert!(!w.contains("secret") && !w.contains('\n'), "{w}");
        assert_eq!(
            readable_keys_warning(&f, [&other]),
            None,
            "keys from elsewhere"
        );
        chmod(&f, 0o640);
        assert!(
            readable_keys_warning(&f, [&key])
                .unwrap()
                .contains("its group can")
        );
        assert!(restrict_to_owner(&f).unwrap());
        assert_eq!(mode(&f), 0o600);
        assert!(!restrict_to_owner(&f).unwrap());
        assert_eq!(readable_keys_warning(&f, [&key]), None);
        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        chmod(&d, 0o755);
        assert!(restrict_to_owner(&d).unwrap());
        assert_eq!(mode(&d), 0o700);
        assert!(!restrict_to_owner(&dir.path().join("missing")).unwrap());
    }
}
