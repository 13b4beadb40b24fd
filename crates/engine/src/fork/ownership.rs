//! A fork directory owned by the session that made it.
//!
//! The directory is made under a hidden temporary name, locked (`flock` on
//! the directory itself), given its `fork.json`, and only then renamed into
//! place — atomically, refusing to replace anything. So a fork never
//! appears without its record, and for as long as the session runs its lock
//! says so: `rm` refuses a fork whose session is running, and a fork left
//! `creating` with nobody holding the lock is an interrupted session.
//! Rollback removes the directory only if it is still the one the session
//! made (same device and inode): a fork made later under the same name is
//! never touched.

use std::fs::File;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, RenameFlags};
use rustix::io::Errno;

/// Prefix of a fork directory that is still being made.
pub const CREATING_PREFIX: &str = ".creating-";
/// Prefix of a fork directory being removed: renamed out of sight first, so
/// no listing ever shows a half-removed fork.
pub const REMOVING_PREFIX: &str = ".removing-";

/// Remove the fork directory `dir`: rename it to a hidden name in the same
/// directory (atomic: it is gone from listings at once), then delete it. A
/// crash in between leaves only the hidden directory, which `gc` removes.
pub fn remove_fork_dir(dir: &Path) -> io::Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A fresh hidden name (tempfile picks it, retrying on a collision);
    // only its prefix matters to `gc`.
    let prefix = format!("{REMOVING_PREFIX}{name}-");
    let hidden = tempfile::Builder::new()
        .prefix(&prefix)
        .disable_cleanup(true)
        .make_in(parent, |hidden| rename_noreplace(dir, hidden))?
        .path()
        .to_path_buf();
    std::fs::remove_dir_all(&hidden)
}

/// A fork directory this session made and holds locked.
#[derive(Debug)]
pub struct OwnedDir {
    path: PathBuf,
    dev: u64,
    ino: u64,
    /// Holds the session lock until dropped.
    _lock: File,
}

/// Why the directory could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// A fork of that name exists.
    #[error("fork {0} already exists")]
    Exists(String),
    /// Anything else.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: io::Error,
    },
}

fn io_err(context: String) -> impl FnOnce(io::Error) -> ClaimError {
    move |source| ClaimError::Io { context, source }
}

/// Take `flock(LOCK_EX | LOCK_NB)` on directory `dir`. `Ok(None)` when
/// someone else holds it.
pub fn try_lock(dir: &Path) -> io::Result<Option<File>> {
    let f = File::open(dir)?;
    match rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(f)),
        Err(Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether a session holds `dir` (a fork being made right now).
pub fn session_running(dir: &Path) -> bool {
    matches!(try_lock(dir), Ok(None))
}

/// A locked fork directory under a hidden name, not yet a fork: made by a
/// session before its record exists, or by a prestarted VMM before the fork
/// has a name. Removed when dropped unclaimed.
#[derive(Debug)]
pub struct HiddenDir {
    path: PathBuf,
    forks_dir: PathBuf,
    lock: Option<File>,
}

impl HiddenDir {
    /// Make and lock a hidden directory in `forks_dir`; `hint` goes into its
    /// name (for people looking at the store).
    pub fn create(forks_dir: &Path, hint: &str) -> Result<HiddenDir, ClaimError> {
        // A fresh owner-only directory: its prefix is what `gc` looks for
        // (a `.creating-` directory nobody holds locked is an interrupted
        // session); tempfile makes the rest of the name unique.
        let prefix = format!("{CREATING_PREFIX}{hint}-");
        crate::store::private_dir(forks_dir)
            .map_err(io_err(format!("create {}", forks_dir.display())))?;
        let path = tempfile::Builder::new()
            .prefix(&prefix)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(forks_dir)
            .map_err(io_err(format!(
                "create {}",
                forks_dir.join(format!("{prefix}…")).display()
            )))?
            .keep();
        let mut hidden = HiddenDir {
            path,
            forks_dir: forks_dir.to_path_buf(),
            lock: None,
        };
        let lock = try_lock(&hidden.path)
            .map_err(io_err(format!("lock {}", hidden.path.display())))?
            .ok_or_else(|| ClaimError::Io {
                context: format!("lock {}", hidden.path.display()),
                source: io::Error::other("held by another process"),
            })?;
        hidden.lock = Some(lock);
        Ok(hidden)
    }

    /// Where it is now.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Make it fork `name`: let `fill` write its first files (the record),
    /// then rename it into place without replacing anything. On failure the
    /// directory is removed (with whatever is in it).
    pub fn claim(
        mut self,
        name: &str,
        fill: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<OwnedDir, ClaimError> {
        let final_path = self.forks_dir.join(name);
        if std::fs::symlink_metadata(&final_path).is_ok() {
            return Err(ClaimError::Exists(name.into()));
        }
        fill(&self.path).map_err(|e| ClaimError::Io {
            context: format!("write the record in {}", self.path.display()),
            source: io::Error::other(e),
        })?;
        rename_noreplace(&self.path, &final_path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                ClaimError::Exists(name.into())
            } else {
                io_err(format!("rename {} into place", self.path.display()))(e)
            }
        })?;
        let md = std::fs::symlink_metadata(&final_path)
            .map_err(io_err(format!("stat {}", final_path.display())))?;
        let lock = self.lock.take().ok_or_else(|| ClaimError::Io {
            context: format!("claim {}", self.path.display()),
            source: io::Error::other("not locked"),
        })?;
        // Renamed: nothing left for Drop to remove.
        self.path = PathBuf::new();
        Ok(OwnedDir {
            path: final_path,
            dev: md.dev(),
            ino: md.ino(),
            _lock: lock,
        })
    }
}

impl Drop for HiddenDir {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

impl OwnedDir {
    /// Make fork directory `name` in `forks_dir`: a hidden directory,
    /// locked, given its first files by `fill`, renamed into place.
    pub fn create(
        forks_dir: &Path,
        name: &str,
        fill: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<OwnedDir, ClaimError> {
        if std::fs::symlink_metadata(forks_dir.join(name)).is_ok() {
            return Err(ClaimError::Exists(name.into()));
        }
        HiddenDir::create(forks_dir, name)?.claim(name, fill)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `path` still is the directory this session made.
    pub fn still_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino)
    }

    /// Remove the directory if it still is ours. `Ok(false)` when it is gone
    /// or was replaced (then it is left alone).
    pub fn remove(self) -> io::Result<bool> {
        if !self.still_ours() {
            return Ok(false);
        }
        match remove_fork_dir(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Rename `from` to `to`, failing with `AlreadyExists` rather than
/// replacing anything at `to` (`renameat2(RENAME_NOREPLACE)`).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        from,
        rustix::fs::CWD,
        to,
        RenameFlags::NOREPLACE,
    ) {
        Ok(()) => Ok(()),
        Err(Errno::INVAL) => {
            // A filesystem without RENAME_NOREPLACE: renaming a directory onto
            // an existing non-empty one fails anyway; an empty one is the race
            // we cannot close there.
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            std::fs::rename(from, to)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_dir_is_locked_and_removed_only_while_it_is_ours() {
        let d = tempfile::tempdir().unwrap();
        let owned = OwnedDir::create(d.path(), "x", |dir| {
            std::fs::write(dir.join("fork.json"), b"{}").map_err(|e| e.to_string())
        })
        .unwrap();
        assert!(owned.path().join("fork.json").is_file());
        assert!(session_running(owned.path()));
        assert!(matches!(
            OwnedDir::create(d.path(), "x", |_| Ok(())),
            Err(ClaimError::Exists(_))
        ));
        // Someone removes it and makes another `x`: rollback leaves it alone.
        std::fs::remove_dir_all(owned.path()).unwrap();
        std::fs::create_dir(d.path().join("x")).unwrap();
        std::fs::write(d.path().join("x/keep"), b"B").unwrap();
        assert!(!owned.still_ours());
        assert!(!owned.remove().unwrap());
        assert!(d.path().join("x/keep").is_file());
        // No hidden leftovers.
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x")]);
    }

    #[test]
    fn the_lock_goes_with_the_owner() {
        let d = tempfile::tempdir().unwrap();
        let owned = OwnedDir::create(d.path(), "y", |_| Ok(())).unwrap();
        let path = owned.path().to_path_buf();
        drop(owned);
        assert!(!session_running(&path));
    }
}
