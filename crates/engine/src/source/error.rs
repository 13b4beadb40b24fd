//! Why a source, or one of its entries, cannot be read.

use std::path::PathBuf;

use thiserror::Error;

use super::MemoryFormat;
use crate::error::{ErrorKind, Kinded};
use crate::files::ReadError;
use crate::scan::ScanError;

/// Errors of sources: each says what, where and why.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The source path itself cannot be inspected.
    #[error("source {path}: cannot open: {source}")]
    Open {
        /// The path given.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The path is none of the shapes forkmail lists snapshots from.
    #[error("source {path}: not a snapshot source: {reason}")]
    NotASource {
        /// The path given.
        path: PathBuf,
        /// What was looked for.
        reason: String,
    },
    /// A directory of the source cannot be listed.
    #[error("{path}: cannot list the directory: {source}")]
    ListDir {
        /// The directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file of the source cannot be read: missing, no permission, a FIFO
    /// or a directory where a file should be, larger than any valid one.
    #[error(transparent)]
    Unreadable(#[from] ReadError),
    /// A metadata file is not the JSON it should be.
    #[error("{path}: not valid metadata: {reason}")]
    BadMetadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A standby snapshot has no memory file.
    #[error("{dir}: no memory file (looked for {looked_for})")]
    NoMemory {
        /// The snapshot directory.
        dir: PathBuf,
        /// The names tried.
        looked_for: String,
    },
    /// A memory file is not what its name says.
    #[error("{path}: {reason}")]
    BadMemoryFile {
        /// The memory file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A Hypeman snapshot of a kind forkmail does not know.
    #[error("{path}: unknown snapshot kind {kind:?} (expected \"Standby\" or \"Stopped\")")]
    UnknownKind {
        /// The metadata file.
        path: PathBuf,
        /// The kind found.
        kind: String,
    },
    /// A Hypeman entry's metadata claims an id that is not its directory's
    /// name. Hypeman addresses instances and snapshots by directory
    /// (`loadMetadata` reads `guests/<id>/metadata.json`, `saveMetadata`
    /// writes to the directory of the `Id` it holds; `lib/instances/storage.go`
    /// @7eeefb7), so such an entry is not what it claims: refused, never
    /// listed under another's id.
    #[error(
        "{path}: claims id {claimed:?} but its directory is {dir:?}: Hypeman addresses entries by          directory, so this is not the {claimed:?} it claims; not listed"
    )]
    IdMismatch {
        /// The metadata file.
        path: PathBuf,
        /// The id it claims.
        claimed: String,
        /// Its directory's name (the id Hypeman uses).
        dir: String,
    },
    /// A Hypeman instance whose VMM socket exists: Hypeman asks the VMM
    /// (Running, Paused, …: `deriveStateWithOptions`,
    /// `lib/instances/query.go` @c2e2295); it is not in standby.
    #[error(
        "{dir}: the VMM socket {socket} exists: Hypeman reports this instance as running, paused          or unknown (it asks the VMM), not in standby; only standby snapshots are forked"
    )]
    NotStandby {
        /// The instance directory.
        dir: PathBuf,
        /// The socket found.
        socket: PathBuf,
    },
    /// No entry of the source has this id or name.
    #[error("source {source_path}: no snapshot with id or name {key:?}")]
    NotFound {
        /// The source root.
        source_path: PathBuf,
        /// What was asked for.
        key: String,
    },
    /// More than one entry has this name.
    #[error("source {source_path}: {key:?} names {} snapshots (ids {}): use an id", .ids.len(), .ids.join(", "))]
    Ambiguous {
        /// The source root.
        source_path: PathBuf,
        /// What was asked for.
        key: String,
        /// The ids it matches.
        ids: Vec<String>,
    },
    /// Several entries have this id (a guest directory and a central
    /// snapshot of one name): which one is meant would be a guess.
    #[error("source {source_path}: {key:?} is the id of {} entries ({}): refused, name one by its path", .paths.len(), .paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    SharedId {
        /// The source root.
        source_path: PathBuf,
        /// What was asked for.
        key: String,
        /// The entries' directories.
        paths: Vec<PathBuf>,
    },
    /// The snapshot has no raw guest memory to scan.
    #[error("snapshot {name:?} ({format}): nothing to scan: {reason}")]
    NotScannable {
        /// The snapshot.
        name: String,
        /// Its memory format.
        format: MemoryFormat,
        /// Why.
        reason: &'static str,
    },
    /// The scan of a memory file failed.
    #[error(transparent)]
    Scan(#[from] ScanError),
}

impl SourceError {
    /// A stable kebab-case name of exactly what went wrong (`bad-metadata`,
    /// `not-a-regular-file`, ...), finer than its [`ErrorKind`]: problem
    /// entries carry it as `problem` in JSON, so renderers need not parse
    /// messages.
    pub fn problem(&self) -> &'static str {
        match self {
            SourceError::Open { .. } => "open",
            SourceError::NotASource { .. } => "not-a-source",
            SourceError::ListDir { .. } => "list-dir",
            SourceError::Unreadable(ReadError::NotRegular { .. }) => "not-a-regular-file",
            SourceError::Unreadable(ReadError::TooLarge { .. }) => "too-large",
            SourceError::Unreadable(ReadError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                "missing"
            }
            SourceError::Unreadable(_) => "unreadable",
            SourceError::BadMetadata { .. } => "bad-metadata",
            SourceError::NoMemory { .. } => "no-memory",
            SourceError::BadMemoryFile { .. } => "bad-memory-file",
            SourceError::UnknownKind { .. } => "unknown-kind",
            SourceError::IdMismatch { .. } => "id-mismatch",
            SourceError::NotStandby { .. } => "running",
            SourceError::SharedId { .. } => "shared-id",
            SourceError::NotFound { .. } => "not-found",
            SourceError::Ambiguous { .. } => "ambiguous",
            SourceError::NotScannable { .. } => "not-scannable",
            SourceError::Scan(_) => "scan",
        }
    }
}

impl Kinded for SourceError {
    /// Contents that are not what they should be count as I/O, as a broken
    /// `snapshot.json` does in the store; asking for the impossible (a path
    /// that is no source, an ambiguous name, a scan of a QEMU stream) is a
    /// bad request.
    fn kind(&self) -> ErrorKind {
        match self {
            SourceError::Open { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            SourceError::NotFound { .. } => ErrorKind::NotFound,
            SourceError::NotStandby { .. } => ErrorKind::Busy,
            SourceError::NotASource { .. }
            | SourceError::Ambiguous { .. }
            | SourceError::SharedId { .. }
            | SourceError::NotScannable { .. } => ErrorKind::BadRequest,
            SourceError::Unreadable(e) => e.kind(),
            SourceError::Scan(e) => e.kind(),
            SourceError::Open { .. }
            | SourceError::ListDir { .. }
            | SourceError::BadMetadata { .. }
            | SourceError::IdMismatch { .. }
            | SourceError::NoMemory { .. }
            | SourceError::BadMemoryFile { .. }
            | SourceError::UnknownKind { .. } => ErrorKind::Io,
        }
    }
}
