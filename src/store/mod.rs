//! Where snapshots and forks live, their metadata, and listing them.
//!
//! ```text
//! <store>/snapshots/<name>/{snapshot.json,memory,state}
//! <store>/forks/<name>/{fork.json,memory,state,guest.log,...}
//! <store>/images/<name>/...
//! <store>/drafts/<snapshot>/<mailbox>.json
//! ```

mod meta;
mod name;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use meta::*;
pub use name::*;

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
}

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
    /// Open (and create if missing) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        for sub in ["snapshots", "forks"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(io_at(&p))?;
        }
        let root = std::fs::canonicalize(&root).map_err(io_at(&root))?;
        Ok(Store { root })
    }

    /// The store named by `explicit`, else `$FORKMAIL_STORE`, else the XDG
    /// data dir (`$XDG_DATA_HOME/forkmail`, `~/.local/share/forkmail`).
    pub fn resolve_root(explicit: Option<&Path>) -> Result<PathBuf, StoreError> {
        if let Some(p) = explicit {
            return Ok(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os("FORKMAIL_STORE").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(p));
        }
        Ok(data_dir()?.join("forkmail"))
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

    /// Load fork `name`.
    pub fn fork(&self, name: &str) -> Result<ForkInfo, StoreError> {
        let valid = ValidName::new(name)?;
        let dir = self.fork_dir(&valid);
        if !dir.join(FORK_META).is_file() {
            return Err(StoreError::NoSuchFork {
                name: name.into(),
                store: self.root.clone(),
            });
        }
        ForkInfo::load(&dir)
    }

    /// Every fork with its metadata, sorted by name.
    pub fn forks(&self) -> Result<Vec<ForkInfo>, StoreError> {
        let mut out = Vec::new();
        for dir in list_dirs(&self.forks_dir())? {
            if let Ok(f) = ForkInfo::load(&dir) {
                out.push(f);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

impl Store {
    /// Fork directories whose `fork.json` is missing or does not parse, with
    /// why: shown as broken so they can still be removed.
    pub fn broken_forks(&self) -> Result<Vec<(String, StoreError)>, StoreError> {
        let mut out = Vec::new();
        for dir in list_dirs(&self.forks_dir())? {
            if let Err(e) = ForkInfo::load(&dir) {
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((name, e));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
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
        if name_ok && path.is_dir() {
            out.push(path);
        }
    }
    Ok(out)
}

/// `$XDG_DATA_HOME`, else `~/.local/share`.
pub fn data_dir() -> Result<PathBuf, StoreError> {
    xdg_dir("XDG_DATA_HOME", ".local/share")
}

/// `$XDG_STATE_HOME`, else `~/.local/state`.
pub fn state_dir() -> Result<PathBuf, StoreError> {
    xdg_dir("XDG_STATE_HOME", ".local/state")
}

fn xdg_dir(var: &str, fallback: &str) -> Result<PathBuf, StoreError> {
    if let Some(p) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            return Ok(p);
        }
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .ok_or(StoreError::NoHome)?;
    Ok(PathBuf::from(home).join(fallback))
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
