//! Where snapshots and forks live, their metadata, and listing them.
//!
//! ```text
//! <store>/snapshots/<name>/{snapshot.json,memory,state}
//! <store>/forks/<name>/{fork.json,memory,state,guest.log,...}
//! <store>/images/<name>/...
//! <store>/drafts/<snapshot>/<mailbox>.json
//! <store>/cache/scan/...
//! ```
//!
//! Everything forkmail creates under the store is owner-only: directories
//! 0700, files 0600 (guest logs and drafts hold payloads; memory copies hold
//! a guest's RAM).

mod drafts;
mod meta;
mod name;

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use drafts::{Draft, draft_path, seed_draft};
pub use meta::*;
pub use name::*;

use crate::error::{ErrorKind, Kinded};
use crate::files::ReadError;

/// Errors of store access.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A snapshot or fork name breaks the naming rule.
    #[error(
        "invalid name {0:?}: use lowercase letters, digits and '-', start and end with a letter or digit, at most 63 characters"
    )]
    InvalidName(String),
    /// No such snapshot.
    #[error("no snapshot named {name:?} in store {store}")]
    NoSuchSnapshot {
        /// Name asked for.
        name: String,
        /// Store root.
        store: PathBuf,
    },
    /// No such fork.
    #[error("no fork named {name:?} in store {store}")]
    NoSuchFork {
        /// Name asked for.
        name: String,
        /// Store root.
        store: PathBuf,
    },
    /// Already exists.
    #[error("{what} {name:?} already exists at {path}")]
    Exists {
        /// "snapshot" or "fork".
        what: &'static str,
        /// Name.
        name: String,
        /// Its directory.
        path: PathBuf,
    },
    /// Filesystem error with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A metadata file does not parse.
    #[error("{path}: not valid metadata: {source}")]
    BadMeta {
        /// File.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
    /// No store directory could be determined.
    #[error("cannot find a data directory: set --store, FORKMAIL_STORE or HOME")]
    NoHome,
    /// A file that cannot be read safely (FIFO, device, too large).
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl Kinded for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::InvalidName(_) | StoreError::Exists { .. } | StoreError::NoHome => {
                ErrorKind::BadRequest
            }
            StoreError::NoSuchSnapshot { .. } | StoreError::NoSuchFork { .. } => {
                ErrorKind::NotFound
            }
            StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            StoreError::Io { .. } | StoreError::BadMeta { .. } => ErrorKind::Io,
            StoreError::Read(e) => e.kind(),
        }
    }
}

/// Create directory `path` owner-only (0700), with missing parents.
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Create the new file `path` owner-only (0600); fails if it exists.
pub fn private_file(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Bytes an unprivileged writer may still use on the filesystem holding
/// `dir` (`statvfs`: available blocks times the fragment size).
pub fn free_space(dir: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// The store's own subdirectories.
const SUBDIRS: [&str; 6] = [
    "snapshots",
    "forks",
    "drafts",
    "cache",
    "images",
    "sessions",
];

/// Shorthand to attach a path to an I/O error.
pub(crate) fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A forkmail store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open (and create if missing) the store at `root`. A root forkmail
    /// creates is 0700; its own subdirectories are made (or tightened to)
    /// 0700 either way.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        if !root.exists() {
            private_dir(&root).map_err(io_at(&root))?;
        }
        for sub in SUBDIRS {
            let p = root.join(sub);
            private_dir(&p).map_err(io_at(&p))?;
            let md = std::fs::metadata(&p).map_err(io_at(&p))?;
            if md.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))
                    .map_err(io_at(&p))?;
            }
        }
        let root = std::fs::canonicalize(&root).map_err(io_at(&root))?;
        Ok(Store { root })
    }

    /// Root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `<root>/snapshots`.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    /// `<root>/forks`.
    pub fn forks_dir(&self) -> PathBuf {
        self.root.join("forks")
    }
    /// `<root>/images`.
    pub fn images_dir(&self) -> PathBuf {
        self.root.join("images")
    }
    /// `<root>/drafts`.
    pub fn drafts_dir(&self) -> PathBuf {
        self.root.join("drafts")
    }

    /// Where the discovery result of snapshot `name` is remembered.
    pub fn scan_cache_path(&self, name: &str) -> PathBuf {
        self.root
            .join("cache")
            .join("scan")
            .join(format!("{name}.json"))
    }

    /// Where the discovery result of a memory file outside the store is
    /// remembered (keyed by its path; the entry holds the path too).
    pub fn scan_cache_path_for_file(&self, path: &Path) -> PathBuf {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in canonical.as_os_str().as_encoded_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.root
            .join("cache")
            .join("scan")
            .join("files")
            .join(format!("{h:016x}.json"))
    }

    /// Directory of snapshot `name` (not checked for existence).
    pub fn snapshot_dir(&self, name: &ValidName) -> PathBuf {
        self.snapshots_dir().join(name.as_str())
    }
    /// Directory of fork `name` (not checked for existence).
    pub fn fork_dir(&self, name: &ValidName) -> PathBuf {
        self.forks_dir().join(name.as_str())
    }

    /// Load snapshot `name`.
    pub fn snapshot(&self, name: &str) -> Result<SnapshotInfo, StoreError> {
        let valid = ValidName::new(name)?;
        let dir = self.snapshot_dir(&valid);
        if !dir.join(SNAPSHOT_META).is_file() {
            return Err(StoreError::NoSuchSnapshot {
                name: name.into(),
                store: self.root.clone(),
            });
        }
        SnapshotInfo::load(&dir)
    }

    /// Every snapshot, sorted by name. Entries that fail to load are returned
    /// as errors in the second vector rather than hiding the rest.
    pub fn snapshots(&self) -> Result<(Vec<SnapshotInfo>, Vec<StoreError>), StoreError> {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for dir in list_dirs(&self.snapshots_dir())? {
            if !dir.join(SNAPSHOT_META).exists() {
                continue; // being created
            }
            match SnapshotInfo::load(&dir) {
                Ok(s) => ok.push(s),
                Err(e) => bad.push(e),
            }
        }
        ok.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((ok, bad))
    }

    /// Every directory under `<root>/forks` whose name follows the naming
    /// rule, in natural order of names (`fan-2` before `fan-10`). What each holds is the fork engine's business
    /// ([`crate::fork::lifecycle`]).
    pub fn fork_dirs(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut dirs = list_dirs(&self.forks_dir())?;
        dirs.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
        Ok(dirs)
    }

    /// `<root>/sessions`.
    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }
}

fn list_dirs(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_at(dir)(e)),
    };
    for entry in rd {
        let entry = entry.map_err(io_at(dir))?;
        let path = entry.path();
        let name_ok = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| ValidName::new(n).is_ok());
        // A symlink is never a snapshot or fork: following it could lead
        // anywhere (and `rm` would act there).
        let real_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if name_ok && real_dir {
            out.push(path);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_layout_and_lists_nothing() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path().join("st")).unwrap();
        assert!(s.snapshots_dir().is_dir());
        assert!(s.forks_dir().is_dir());
        assert!(s.snapshots().unwrap().0.is_empty());
        assert!(matches!(
            s.snapshot("nope"),
            Err(StoreError::NoSuchSnapshot { .. })
        ));
        assert!(matches!(
            s.snapshot("../etc"),
            Err(StoreError::InvalidName(_))
        ));
    }
}
