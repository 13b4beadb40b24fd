//! Snapshots forkmail did not make: listed **read-only** from a *source*, a
//! directory (or file) whose kind is detected from its shape.
//!
//! | kind | shape | entries |
//! |---|---|---|
//! | [`SourceKind::HypemanDataDir`] | `guests/` (or `snapshots/` beside `system/`) | standby instances `guests/<id>/snapshots/snapshot-latest/` with `guests/<id>/metadata.json`; central snapshots `snapshots/<id>/snapshot.json` with memory under `snapshots/<id>/guest/snapshots/snapshot-latest/` |
//! | [`SourceKind::SnapshotDir`] | a memory file (`memory`, `mem`, `*.mem`, `memory-ranges`) beside a device-state file (`state`, `vmstate`, `*.snap`, `*.vmstate`, `state.json`) | one per memory file |
//! | [`SourceKind::MemoryFile`] | any regular file | the file itself |
//!
//! Memory files may be compressed (`memory.zst`, `memory-ranges.lz4`, ...):
//! compression is a property of the memory file, detected by magic bytes, and
//! scanning streams through the decompressor ([`crate::scan::stream`]). A QEMU
//! memory file is a migration stream, not raw RAM: it is listed as
//! [`MemoryFormat::QemuMigrationStream`] (with its compression, if any) and
//! never scanned as raw; vz's `machine-state.vzm` is listed as
//! [`MemoryFormat::VzMachineState`] and never scanned at all.
//!
//! Nothing here writes: every file is opened read-only and non-blocking and
//! checked to be a regular file ([`crate::files::open_regular`]), metadata is
//! read with a bound ([`crate::files::MAX_METADATA_BYTES`]), and a FIFO or a
//! device in a source is reported, never waited on. An entry that cannot be
//! read is listed as a [`SourceProblem`] with the reason, never hidden.
//! Everything read from a source is untrusted: names and metadata strings are
//! passed on as found, for renderers to sanitize.

pub mod datadir;
mod error;
mod hypeman;
mod memory;
mod plain;
pub mod set;
mod store_guard;
mod types;

use std::path::{Path, PathBuf};

pub use datadir::{DataDirFrom, HypemanDataDir, HypemanEnv, hypeman_data_dir};
pub use error::SourceError;
pub use set::{LabeledSource, SourceSet, snapshot_at, source_paths_from};
pub use types::*;

use crate::scan::{Compression, ScanOptions, ScanReport, scan_cached, scan_compressed, scan_file};

/// A directory or file forkmail lists snapshots from, read-only.
#[derive(Debug, Clone)]
pub struct Source {
    root: PathBuf,
    kind: SourceKind,
}

/// Open the source at `path`: detect its kind from its shape. Reads only
/// directory entries and file types; lists nothing yet.
///
/// A directory with `guests/` (or with both `snapshots/` and `system/`) is a
/// Hypeman data directory; a directory holding a memory file and a
/// device-state file is a snapshot directory; a regular file is a memory
/// file. Anything else is [`SourceError::NotASource`].
pub fn open_source(path: &Path) -> Result<Source, SourceError> {
    let open = |source| SourceError::Open {
        path: path.to_path_buf(),
        source,
    };
    let md = std::fs::metadata(path).map_err(open)?;
    let root = std::fs::canonicalize(path).map_err(open)?;
    let kind = if md.is_file() {
        SourceKind::MemoryFile
    } else if md.is_dir() {
        if hypeman::looks_like(&root) {
            SourceKind::HypemanDataDir
        } else if plain::looks_like(&root)? {
            SourceKind::SnapshotDir
        } else {
            return Err(SourceError::NotASource {
                path: path.to_path_buf(),
                reason: "no guests/ directory (Hypeman data directory), no memory and \
                         device-state files (memory/mem/*.mem/memory-ranges beside \
                         state/vmstate/*.snap/state.json)"
                    .into(),
            });
        }
    } else {
        return Err(SourceError::NotASource {
            path: path.to_path_buf(),
            reason: format!("{} is neither a directory nor a regular file", md_type(&md)),
        });
    };
    Ok(Source { root, kind })
}

fn md_type(md: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let ft = md.file_type();
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else {
        "it"
    }
}

impl Source {
    /// The source's canonical path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What kind of source it is.
    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// Every snapshot of the source, and every entry that looked like one but
    /// could not be read (with why), in a stable order (Hypeman: instances
    /// by id, then central snapshots by id). Reads metadata files (bounded)
    /// and the first bytes of each memory file; never the memory itself.
    /// A directory that cannot be listed at all is one problem entry.
    pub fn list(&self) -> Vec<Listed> {
        match self.kind {
            SourceKind::HypemanDataDir => hypeman::list(&self.root),
            SourceKind::SnapshotDir => plain::list_dir(&self.root),
            SourceKind::MemoryFile => vec![plain::list_file(&self.root)],
        }
    }

    /// The snapshot whose id, else whose name, is `key`. A problem entry with
    /// that id yields its error; a name shared by several entries is
    /// [`SourceError::Ambiguous`], an id shared by several (a guest
    /// directory and a central snapshot of one name) [`SourceError::SharedId`].
    pub fn find(&self, key: &str) -> Result<SourceSnapshot, SourceError> {
        let mut by_id: Vec<Listed> = Vec::new();
        let mut by_name = Vec::new();
        for entry in self.list() {
            match entry {
                Listed::Snapshot(ref s) if s.id == key => by_id.push(entry),
                Listed::Problem(ref p) if p.id.as_deref() == Some(key) => by_id.push(entry),
                Listed::Snapshot(s) if s.name == key => by_name.push(s),
                _ => {}
            }
        }
        if by_id.len() > 1 {
            return Err(SourceError::SharedId {
                source_path: self.root.clone(),
                key: key.into(),
                paths: by_id
                    .iter()
                    .map(|l| match l {
                        Listed::Snapshot(s) => s.dir.clone(),
                        Listed::Problem(p) => p.path.clone(),
                    })
                    .collect(),
            });
        }
        if let Some(entry) = by_id.pop() {
            return match entry {
                Listed::Snapshot(s) => Ok(s),
                Listed::Problem(p) => Err(p.error),
            };
        }
        match by_name.len() {
            0 => Err(SourceError::NotFound {
                source_path: self.root.clone(),
                key: key.into(),
            }),
            1 => Ok(by_name.remove(0)),
            _ => Err(SourceError::Ambiguous {
                source_path: self.root.clone(),
                key: key.into(),
                ids: by_name.into_iter().map(|s| s.id).collect(),
            }),
        }
    }
}

impl SourceSnapshot {
    /// Whether [`SourceSnapshot::scan`] can read markers from its memory:
    /// raw or compressed guest RAM (not a QEMU migration stream, compressed
    /// or not; not vz's saved machine; not a stopped snapshot).
    pub fn scannable(&self) -> bool {
        self.memory.is_some()
            && matches!(
                self.format,
                MemoryFormat::Raw | MemoryFormat::Zstd | MemoryFormat::Lz4
            )
    }

    /// [`SourceSnapshot::scan`] through the one discovery cache: the result
    /// is remembered in `cache_file` (in the store, never in the source),
    /// keyed by the memory file's identity.
    pub fn scan_cached(
        &self,
        cache_file: &Path,
        opts: &ScanOptions,
    ) -> Result<ScanReport, SourceError> {
        match &self.memory {
            Some(path) if self.scannable() => Ok(scan_cached(path, cache_file, opts)?),
            _ => self.scan(opts),
        }
    }

    /// Discover the markers in this snapshot's memory, read-only: a raw file
    /// through [`scan_file`] (data extents only), a compressed one streamed
    /// through its decompressor with offsets in uncompressed terms.
    pub fn scan(&self, opts: &ScanOptions) -> Result<ScanReport, SourceError> {
        let not = |reason| SourceError::NotScannable {
            name: self.name.clone(),
            format: self.format,
            reason,
        };
        let Some(path) = &self.memory else {
            return Err(not("no memory file (only standby snapshots carry memory)"));
        };
        let expected = match self.memory_size {
            MemorySize::FromMetadata { bytes } => Some(bytes),
            _ => None,
        };
        let report = match self.format {
            MemoryFormat::Raw => scan_file(path, opts)?,
            MemoryFormat::Zstd => scan_compressed(path, Compression::Zstd, expected, opts)?,
            MemoryFormat::Lz4 => scan_compressed(path, Compression::Lz4, expected, opts)?,
            MemoryFormat::QemuMigrationStream => {
                return Err(not("a QEMU migration stream is not raw guest RAM"));
            }
            MemoryFormat::VzMachineState => {
                return Err(not(
                    "vz's machine-state.vzm is Apple's opaque saved-machine format, not raw guest RAM",
                ));
            }
            MemoryFormat::None => return Err(not("no memory file")),
        };
        Ok(report)
    }
}

#[cfg(test)]
pub(crate) mod tests;
