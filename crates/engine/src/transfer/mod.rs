//! Moving snapshots across the store's edge: **import** copies a read-only
//! source snapshot into the store (sparse, decompressing where needed) so it
//! can be forked; **export** writes a patched fork back out in the layout of
//! the VMM it came from, for a person to restore with their own VMM.
//!
//! Nothing under a source is ever written: source files are only opened
//! read-only (through [`crate::files::open_regular`]), and export refuses a
//! target that is not new or empty.

mod export;
mod import;
pub mod rewrite;
mod sparse;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use export::{
    ExportReadiness, Exported, check_export_target, check_exportable, export_dir, export_fork,
    export_layout, export_readiness,
};
pub use import::{
    DEFAULT_MAX_UNRECORDED_MEMORY, FREE_SPACE_RESERVE, ImportOptions, Imported,
    default_import_name, import_snapshot, import_snapshot_with, vmm_of,
};
pub use rewrite::{ExportPlan, RewriteError};
pub use sparse::{SparseLimits, SparseStats, decompress_sparse};

use crate::error::{ErrorKind, Kinded};
use crate::scan::Compression;
use crate::source::SourceError;
use crate::template::TemplateError;

/// `vmm_config` of an imported snapshot: its layout, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedConfig {
    /// Device-state files in the snapshot directory, in the VMM's own names
    /// (Firecracker `state`; Cloud Hypervisor `config.json`, `state.json`).
    pub device_state: Vec<String>,
    /// Where it was imported from.
    pub imported_from: ImportOrigin,
    /// What an export does with the paths its device state names (absent:
    /// imported before exports were rewritten, or not Firecracker or Cloud
    /// Hypervisor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportPlan>,
}

/// The source snapshot an import copied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportOrigin {
    /// The source's root.
    pub source: PathBuf,
    /// Id within the source.
    pub id: String,
    /// Name within the source.
    pub name: String,
    /// Its memory file.
    pub memory: PathBuf,
    /// Its memory format (`raw`, `zstd`, `lz4`).
    pub format: String,
    /// Creation time the source recorded, if any.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// Why an import or an export cannot be done.
#[derive(Debug, Error)]
pub enum TransferError {
    /// The snapshot cannot be imported (a stopped snapshot, a QEMU
    /// migration stream, an unknown VMM).
    #[error("cannot import {name:?}: {reason}")]
    NotImportable {
        /// The snapshot.
        name: String,
        /// Why.
        reason: String,
    },
    /// The export target is not a new or empty directory.
    #[error("export to {dir}: {reason}")]
    ExportTarget {
        /// The directory asked for.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading the source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The compressed memory does not decompress.
    #[error("{path}: {compression} data broken at uncompressed offset {offset:#x}: {source}")]
    Decompress {
        /// The compressed file.
        path: PathBuf,
        /// Its compression.
        compression: Compression,
        /// Uncompressed bytes read before the failure.
        offset: u64,
        /// Cause.
        source: std::io::Error,
    },
    /// Making the snapshot directory in the store failed.
    #[error(transparent)]
    Store(#[from] TemplateError),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The compressed memory decompresses to more than it may: its
    /// recorded size, or without a record the limit (a decompression bomb,
    /// or the wrong record). Refused the moment it outgrows it.
    #[error(
        "{path} decompresses to more than {limit} bytes, {}: refused, nothing was kept",
        if *recorded { "the size its snapshot records" } else { "the limit for memory whose size is not recorded (`import --max-memory SIZE` raises it)" }
    )]
    TooLarge {
        /// The compressed file.
        path: PathBuf,
        /// The limit.
        limit: u64,
        /// Whether the limit is the snapshot's record.
        recorded: bool,
    },
    /// The compressed memory ends short of the size its snapshot records.
    #[error(
        "{path} decompresses to {got} bytes, but its snapshot records {recorded}: refused, nothing was kept"
    )]
    SizeMismatch {
        /// The compressed file.
        path: PathBuf,
        /// What the snapshot records.
        recorded: u64,
        /// What came out.
        got: u64,
    },
    /// The store's filesystem has not the room for the memory.
    #[error(
        "not enough free space for the memory in {dir}: {needed} bytes of data needed, {free} may be used; nothing was kept"
    )]
    NoRoom {
        /// Where it was going.
        dir: PathBuf,
        /// Bytes of data needed (at least).
        needed: u64,
        /// Bytes that could be used.
        free: u64,
    },
    /// Cancelled: nothing was kept.
    #[error("cancelled; nothing was kept")]
    Cancelled,
    /// The device state cannot be exported so that it restores as a fork.
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
    /// The source left standby (or a file of it changed) while it was
    /// imported: the copy would not be one snapshot.
    #[error(
        "cannot import {name:?}: the source changed while it was copied ({what}); nothing was kept: import it again once it is in standby"
    )]
    SourceChanged {
        /// The snapshot.
        name: String,
        /// What changed.
        what: String,
    },
}

impl Kinded for TransferError {
    fn kind(&self) -> ErrorKind {
        match self {
            TransferError::NotImportable { .. } | TransferError::ExportTarget { .. } => {
                ErrorKind::BadRequest
            }
            TransferError::Source(e) => e.kind(),
            TransferError::Store(e) => e.kind(),
            TransferError::Decompress { .. }
            | TransferError::Io { .. }
            | TransferError::TooLarge { .. }
            | TransferError::SizeMismatch { .. }
            | TransferError::NoRoom { .. } => ErrorKind::Io,
            TransferError::Cancelled => ErrorKind::Cancelled,
            TransferError::Rewrite(e) => e.kind(),
            TransferError::SourceChanged { .. } => ErrorKind::Busy,
        }
    }
}

impl From<crate::copy::CopyError> for TransferError {
    fn from(e: crate::copy::CopyError) -> TransferError {
        use crate::copy::CopyError;
        match e {
            CopyError::Cancelled => TransferError::Cancelled,
            CopyError::Source(e) => TransferError::Source(e.into()),
            CopyError::Io { context, source } => TransferError::Io { context, source },
        }
    }
}

#[cfg(test)]
mod export_tests;
#[cfg(test)]
mod tests;
