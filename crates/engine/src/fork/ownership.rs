//! A fork directory owned by the session that made it.
//!
//! The directory is made under a hidden temporary name, locked (`flock` on
//! the directory itself), given its `fork.json`, and only then renamed into
//! place — atomically, refusing to replace anything. The hidden name itself
//! (`.creating-…`) is only ever given to a directory already locked: it is
//! made as `.staging-…`, locked, then renamed, so `gc` can take an unlocked
//! `.creating-` directory for one whose maker died ([`create_locked`],
//! [`sweep_hidden`]). Snapshot drafts (an import, a template being made)
//! are made the same way. So a fork never
//! appears without its record, and for as long as the session runs its lock
//! says so: `rm` refuses a fork whose session is running, and a fork left
//! `creating` with nobody holding the lock is an interrupted session.
//! Rollback removes the directory only if it is still the one the session
//! made (same device and inode): a fork made later under the same name is
//! never touched.

use std::fs::File;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, RenameFlags};
use rustix::io::Errno;

/// Prefix of a fork directory (or snapshot draft) that is still being
/// made: always locked by its maker while it lives.
pub const CREATING_PREFIX: &str = ".creating-";
/// Prefix of a directory just made, not yet locked: it is locked and
/// renamed to [`CREATING_PREFIX`] at once. `gc` leaves one alone for
/// [`STAGING_GRACE`] (its maker may be between the two steps).
pub const STAGING_PREFIX: &str = ".staging-";
/// How long an unlocked `.staging-` directory is left alone by `gc`: its
/// maker needs microseconds to lock and rename it; one this old was left
/// by a process killed in between (it is empty).
pub const STAGING_GRACE: std::time::Duration = std::time::Duration::from_secs(60);
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

#[cfg(test)]
thread_local! {
    /// Tests only: run on the creating thread while a hidden directory is
    /// made and not locked yet — the moment a `gc` must not remove it.
    pub(crate) static WHILE_UNLOCKED: std::cell::RefCell<Option<Box<dyn Fn()>>> =
        std::cell::RefCell::new(None);
}

#[cfg(test)]
fn while_unlocked() {
    WHILE_UNLOCKED.with(|h| {
        if let Some(f) = h.borrow().as_ref() {
            f();
        }
    });
}

/// Make `<parent>/.creating-<hint>-<pid>-<random>`, owner-only, locked
/// from the moment it has that name: made as `.staging-…`, locked, renamed.
/// Returns it with its lock (held until dropped). On failure nothing is
/// left; the error says what was being done.
pub fn create_locked(parent: &Path, hint: &str) -> Result<(PathBuf, File), (String, io::Error)> {
    let tag = format!(
        "{hint}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let staging = parent.join(format!("{STAGING_PREFIX}{tag}"));
    let path = parent.join(format!("{CREATING_PREFIX}{tag}"));
    crate::store::private_dir(parent)
        .and_then(|()| std::fs::DirBuilder::new().mode(0o700).create(&staging))
        .map_err(|e| (format!("create {}", staging.display()), e))?;
    #[cfg(test)]
    while_unlocked();
    let undo = |what: String, e: io::Error| {
        let _ = std::fs::remove_dir(&staging);
        (what, e)
    };
    let lock = match try_lock(&staging) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            return Err(undo(
                format!("lock {}", staging.display()),
                io::Error::other("held by another process"),
            ));
        }
        Err(e) => return Err(undo(format!("lock {}", staging.display()), e)),
    };
    rename_noreplace(&staging, &path).map_err(|e| {
        undo(
            format!("rename {} to {}", staging.display(), path.display()),
            e,
        )
    })?;
    Ok((path, lock))
}

/// Remove the hidden directories in `parent` whose maker is gone:
/// `.creating-` and `.removing-` ones nobody holds locked (they are locked
/// from birth), and `.staging-` ones unlocked for longer than
/// [`STAGING_GRACE`]. Each is locked while it is removed, so no session can
/// take it meanwhile; `before` runs first (stopping what still runs from
/// it). Entries that vanish meanwhile (another `gc`, a session ending) are
/// not errors. Returns the names removed.
pub fn sweep_hidden(parent: &Path, before: &dyn Fn(&Path)) -> io::Result<Vec<String>> {
    let rd = match std::fs::read_dir(parent) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let staging = name.starts_with(STAGING_PREFIX);
        if !(staging || name.starts_with(CREATING_PREFIX) || name.starts_with(REMOVING_PREFIX)) {
            continue;
        }
        let _lock = match try_lock(&path) {
            Ok(Some(lock)) => lock,
            // Its maker lives.
            Ok(None) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if staging {
            let age = std::fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            if age.is_none_or(|a| a < STAGING_GRACE) {
                continue;
            }
        }
        before(&path);
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed.push(name),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Whether a session holds `dir` (a fork being made right now).
pub fn session_running(dir: &Path) -> bool {
    matches!(try_lock(dir), Ok(None))
}

/// A made fork whose lock its maker keeps after its session ended (asked
/// for with [`crate::fork::ForkRequest::hold`]): `rm` and `stop` refuse it
/// as busy until [`HeldFork::release`] (or the last reference goes).
#[derive(Debug)]
pub struct HeldFork {
    name: String,
    lock: std::sync::Mutex<Option<File>>,
}

impl HeldFork {
    /// The fork's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Let go of the lock (the maker is done with the fork).
    pub fn release(&self) {
        let mut l = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        drop(l.take());
    }
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
        let (path, lock) = create_locked(forks_dir, hint)
            .map_err(|(context, source)| ClaimError::Io { context, source })?;
        Ok(HiddenDir {
            path,
            forks_dir: forks_dir.to_path_buf(),
            lock: Some(lock),
        })
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
            // Its descriptor first: out of descriptors (EMFILE), removing a
            // tree needs one, and a hidden directory must not stay behind.
            drop(self.lock.take());
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

    /// Let go of the directory but keep its lock: the fork is made, and its
    /// maker still works on it (`forkmail check` observing it).
    pub fn into_held(self) -> HeldFork {
        HeldFork {
            name: self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            lock: std::sync::Mutex::new(Some(self._lock)),
        }
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

    #[test]
    fn gc_sweeps_only_what_nobody_makes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let (live, _lock) = create_locked(p, "live").unwrap();
        assert!(
            live.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(CREATING_PREFIX)
        );
        assert!(
            session_running(&live),
            "locked from the moment it has its name"
        );
        let (dead, lock) = create_locked(p, "dead").unwrap();
        std::fs::write(dead.join("memory"), b"partial").unwrap();
        drop(lock);
        let young = p.join(format!("{STAGING_PREFIX}young-1-0"));
        let old = p.join(format!("{STAGING_PREFIX}old-1-0"));
        std::fs::create_dir(&young).unwrap();
        std::fs::create_dir(&old).unwrap();
        let long_ago = std::time::SystemTime::now() - STAGING_GRACE * 2;
        File::open(&old).unwrap().set_modified(long_ago).unwrap();
        std::fs::create_dir(p.join("fork-1")).unwrap();
        let stopped = std::cell::RefCell::new(Vec::new());
        let mut removed = sweep_hidden(p, &|d| stopped.borrow_mut().push(d.to_path_buf())).unwrap();
        removed.sort();
        let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(removed, vec![name(&dead), name(&old)]);
        assert!(live.is_dir() && young.is_dir() && p.join("fork-1").is_dir());
        assert_eq!(stopped.borrow().len(), 2);
        // Nothing there at all: not an error.
        assert!(
            sweep_hidden(&p.join("missing"), &|_| {})
                .unwrap()
                .is_empty()
        );
    }
}
