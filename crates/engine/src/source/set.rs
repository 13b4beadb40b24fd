//! The sources a run of forkmail lists from, each with a short label so a
//! snapshot can be named `LABEL/NAME` (`hypeman/web`): `--source` paths, then
//! `$FORKMAIL_SOURCES` (colon-separated), then Hypeman's data directory as
//! Hypeman resolves it ([`super::datadir`]: `DATA_DIR`, its config file's
//! `data_dir`, `/var/lib/hypeman`) when it is there and readable. A source that cannot be opened stays in the set with
//! its error, so listings can say why instead of dropping it.

use std::path::{Path, PathBuf};

use super::{Listed, Source, SourceError, SourceSnapshot, open_source};

/// Hypeman's default data directory ([`super::datadir`] resolves the one
/// Hypeman uses, as Hypeman does).
pub use super::datadir::HYPEMAN_DEFAULT_DIR;
/// The label of forkmail's own store in listings; no source takes it.
pub const STORE_LABEL: &str = "store";

/// One source of the set: its label, the path as given, and the opened
/// source or why it could not be opened.
#[derive(Debug)]
pub struct LabeledSource {
    /// Short unique name (the directory's or file's name): `LABEL/NAME`.
    pub label: String,
    /// The path as given.
    pub path: PathBuf,
    /// The source, or why not.
    pub source: Result<Source, SourceError>,
}

/// Every source of a run, in the order given.
#[derive(Debug, Default)]
pub struct SourceSet {
    /// The sources.
    pub sources: Vec<LabeledSource>,
}

/// The source paths of a run: `explicit` (from `--source`), then the paths
/// then `hypeman` (the default Hypeman directory) when it is a readable
/// directory; each path once.
pub fn source_paths_from(
    explicit: &[PathBuf],
    env: Option<&std::ffi::OsStr>,
    hypeman: &Path,
) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = explicit.to_vec();
    if let Some(v) = env {
        out.extend(
            std::env::split_paths(v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect::<Vec<_>>(),
        );
    }
    if std::fs::read_dir(hypeman).is_ok() {
        out.push(hypeman.to_path_buf());
    }
    let mut seen = Vec::new();
    out.retain(|p| {
        let key = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    out
}

impl SourceSet {
    /// Open every path (detecting each one's kind); labels are the paths'
    /// last components, made unique with `-2`, `-3`, … (and never
    /// [`STORE_LABEL`]).
    pub fn open(paths: &[PathBuf]) -> SourceSet {
        let mut sources: Vec<LabeledSource> = Vec::new();
        for path in paths {
            let base = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| !n.is_empty() && !n.contains('/'))
                .unwrap_or_else(|| "source".into());
            let mut label = base.clone();
            let mut n = 1;
            while label == STORE_LABEL || sources.iter().any(|s| s.label == label) {
                n += 1;
                label = format!("{base}-{n}");
            }
            sources.push(LabeledSource {
                label,
                path: path.clone(),
                source: open_source(path),
            });
        }
        SourceSet { sources }
    }

    /// Whether the set has no source.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The source labelled `label`.
    pub fn get(&self, label: &str) -> Option<&LabeledSource> {
        self.sources.iter().find(|s| s.label == label)
    }

    /// The snapshot named `LABEL/KEY` (`KEY` an id or a name), when `target`
    /// starts with a label of the set; `None` otherwise.
    pub fn resolve(
        &self,
        target: &str,
    ) -> Option<Result<(&LabeledSource, SourceSnapshot), SourceError>> {
        let (label, key) = target.split_once('/')?;
        let s = self.get(label)?;
        Some(match &s.source {
            Ok(src) => src.find(key).map(|snap| (s, snap)),
            Err(e) => Err(SourceError::NotASource {
                path: s.path.clone(),
                reason: e.to_string(),
            }),
        })
    }

    /// The label of the source whose root is `root`.
    pub fn label_of(&self, root: &Path) -> Option<&str> {
        self.sources
            .iter()
            .find(|s| s.source.as_ref().is_ok_and(|src| src.root() == root))
            .map(|s| s.label.as_str())
    }

    /// Whether `path` is inside (or is) one of the sources: nothing may be
    /// written there. `path` need not exist: it is resolved as the
    /// filesystem would (against the working directory, links of the part
    /// that exists followed, `..` by name), so every spelling of a place
    /// inside a source is inside (`./new`, a bare `new` from within it, a
    /// link to it).
    pub fn contains_path(&self, path: &Path) -> bool {
        let path = crate::files::resolve_path(path);
        self.sources.iter().any(|s| match &s.source {
            Ok(src) => path.starts_with(src.root()),
            Err(_) => false,
        })
    }

    /// Every source with its listing (empty for one that failed to open).
    pub fn list(&self) -> Vec<(&LabeledSource, Vec<Listed>)> {
        self.sources
            .iter()
            .map(|s| {
                let listed = match &s.source {
                    Ok(src) => src.list(),
                    Err(_) => Vec::new(),
                };
                (s, listed)
            })
            .collect()
    }
}

/// Open the snapshot at a filesystem path: a memory file, or a snapshot
/// directory holding exactly one snapshot (a directory holding several, or
/// a Hypeman data directory, needs `LABEL/NAME`). `None` when nothing is at
/// `path`.
pub fn snapshot_at(path: &Path) -> Option<Result<SourceSnapshot, SourceError>> {
    std::fs::symlink_metadata(path).ok()?;
    let source = match open_source(path) {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    if source.kind() == super::SourceKind::HypemanDataDir {
        let label = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Some(Err(SourceError::NotASource {
            path: path.to_path_buf(),
            reason: format!(
                "a Hypeman data directory holds many snapshots: add it with --source and name one as {label}/NAME"
            ),
        }));
    }
    let list = source.list();
    let mut snaps: Vec<SourceSnapshot> = Vec::new();
    let mut problems = Vec::new();
    for l in list {
        match l {
            Listed::Snapshot(s) => snaps.push(s),
            Listed::Problem(p) => problems.push(p.error),
        }
    }
    Some(match (snaps.len(), problems.len()) {
        (1, _) => Ok(snaps.remove(0)),
        (0, 1) => Err(problems.remove(0)),
        (0, _) => Err(SourceError::NotASource {
            path: path.to_path_buf(),
            reason: "no readable snapshot in it".into(),
        }),
        _ => Err(SourceError::Ambiguous {
            source_path: path.to_path_buf(),
            key: path.display().to_string(),
            ids: snaps.into_iter().map(|s| s.id).collect(),
        }),
    })
}
