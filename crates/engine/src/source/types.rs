//! What a source lists: snapshots and problems, with types that say what
//! each field means. Every type serializes (the CLI prints `--json`); paths
//! serialize as lossy UTF-8 so one odd file name cannot fail a listing.

use std::path::{Path, PathBuf};

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use super::SourceError;
use crate::error::Kinded;
use crate::scan::Compression;

/// The shape a source was recognised by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A Hypeman data directory (`guests/`, `snapshots/`).
    HypemanDataDir,
    /// A plain Firecracker (or Cloud Hypervisor) snapshot directory.
    SnapshotDir,
    /// One memory file, raw or compressed.
    MemoryFile,
}

impl SourceKind {
    /// Kebab-case label, as in JSON.
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::HypemanDataDir => "hypeman-data-dir",
            SourceKind::SnapshotDir => "snapshot-dir",
            SourceKind::MemoryFile => "memory-file",
        }
    }
}

/// Where in a source an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A Hypeman instance in standby: `guests/<id>/snapshots/snapshot-latest/`.
    HypemanStandby,
    /// A Hypeman central snapshot: `snapshots/<id>/snapshot.json`.
    HypemanSnapshot,
    /// A memory file in a plain snapshot directory.
    SnapshotDir,
    /// A memory file given directly.
    MemoryFile,
}

/// The VMM a snapshot was taken with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hypervisor {
    /// Firecracker: `memory` + `state`.
    Firecracker,
    /// Cloud Hypervisor: `memory-ranges` + `config.json` + `state.json`.
    CloudHypervisor,
    /// QEMU (Hypeman's `qemu` and `qemu-microvm`): memory is a migration stream.
    Qemu,
    /// Anything else, as found (empty when nothing said).
    Unknown(String),
}

impl Hypervisor {
    /// Parse a hypervisor name as Hypeman writes it (`cloud-hypervisor`,
    /// `firecracker`, `qemu`, `qemu-microvm`); other names are kept as
    /// [`Hypervisor::Unknown`].
    pub fn from_name(name: &str) -> Hypervisor {
        match name.trim().to_ascii_lowercase().as_str() {
            "firecracker" => Hypervisor::Firecracker,
            "cloud-hypervisor" | "cloudhypervisor" | "ch" => Hypervisor::CloudHypervisor,
            "qemu" | "qemu-microvm" => Hypervisor::Qemu,
            _ => Hypervisor::Unknown(name.to_string()),
        }
    }

    /// Label for tables (`unknown` for an empty unknown name).
    pub fn label(&self) -> &str {
        match self {
            Hypervisor::Firecracker => "firecracker",
            Hypervisor::CloudHypervisor => "cloud-hypervisor",
            Hypervisor::Qemu => "qemu",
            Hypervisor::Unknown(s) if s.is_empty() => "unknown",
            Hypervisor::Unknown(s) => s,
        }
    }
}

/// Whether a snapshot carries guest memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotKind {
    /// Memory and device state: can be resumed, and forked with mailboxes.
    Standby,
    /// Disks and metadata only: nothing to scan.
    Stopped,
}

/// What the memory file holds and how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryFormat {
    /// Raw guest RAM (Firecracker `memory`, Cloud Hypervisor `memory-ranges`).
    Raw,
    /// Raw guest RAM in zstd frames.
    Zstd,
    /// Raw guest RAM in lz4 frames.
    Lz4,
    /// A QEMU migration stream (`QEVM`): not raw RAM, never scanned as such.
    QemuMigrationStream,
    /// No memory file (a stopped snapshot).
    None,
}

impl MemoryFormat {
    /// Kebab-case label, as in JSON.
    pub fn label(self) -> &'static str {
        match self {
            MemoryFormat::Raw => "raw",
            MemoryFormat::Zstd => "zstd",
            MemoryFormat::Lz4 => "lz4",
            MemoryFormat::QemuMigrationStream => "qemu-migration-stream",
            MemoryFormat::None => "none",
        }
    }

    /// The decompressor a scan needs, if any.
    pub fn compression(self) -> Option<Compression> {
        match self {
            MemoryFormat::Zstd => Some(Compression::Zstd),
            MemoryFormat::Lz4 => Some(Compression::Lz4),
            _ => None,
        }
    }
}

impl From<Compression> for MemoryFormat {
    fn from(c: Compression) -> MemoryFormat {
        match c {
            Compression::Zstd => MemoryFormat::Zstd,
            Compression::Lz4 => MemoryFormat::Lz4,
        }
    }
}

impl std::fmt::Display for MemoryFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// The guest memory size of a snapshot (uncompressed), and how it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum MemorySize {
    /// The apparent size of the raw memory file.
    Apparent {
        /// Bytes.
        bytes: u64,
    },
    /// Recorded by the tool that compressed it (Hypeman's
    /// `uncompressed_size_bytes`); the stream's real length is known only
    /// after a scan. JSON: `{"from": "metadata", "bytes": N}`.
    #[serde(rename = "metadata")]
    FromMetadata {
        /// Bytes.
        bytes: u64,
    },
    /// Not known without decompressing (or no memory at all).
    Unknown,
}

impl MemorySize {
    /// The size in bytes when known.
    pub fn bytes(self) -> Option<u64> {
        match self {
            MemorySize::Apparent { bytes } | MemorySize::FromMetadata { bytes } => Some(bytes),
            MemorySize::Unknown => None,
        }
    }
}

/// Compression as a Hypeman central snapshot records it, as found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HypemanCompression {
    /// `compression_state`: `none`, `compressing`, `compressed`, `error`.
    pub state: Option<String>,
    /// `compression.algorithm`: `zstd` or `lz4`.
    pub algorithm: Option<String>,
    /// `compression.level`.
    pub level: Option<i64>,
    /// `compression_error`.
    pub error: Option<String>,
    /// `compressed_size_bytes`: the compressed memory file.
    pub compressed_bytes: Option<u64>,
    /// `uncompressed_size_bytes`: the raw memory file it came from.
    pub uncompressed_bytes: Option<u64>,
}

/// A snapshot listed from a source. Read-only: forkmail never writes to it;
/// a fork copies (or imports) it first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceSnapshot {
    /// Display name (Hypeman `Name`/`name`, else the id; a file's stem).
    pub name: String,
    /// Stable id within the source (Hypeman id, or the file name).
    pub id: String,
    /// The source's root.
    #[serde(serialize_with = "lossy_path")]
    pub source: PathBuf,
    /// Where in the source it comes from.
    pub origin: Origin,
    /// The directory holding its memory and device state.
    #[serde(serialize_with = "lossy_path")]
    pub dir: PathBuf,
    /// The VMM it belongs to.
    pub hypervisor: Hypervisor,
    /// Standby (memory) or stopped (none).
    pub kind: SnapshotKind,
    /// The memory file's format.
    pub format: MemoryFormat,
    /// The memory file, when there is one.
    #[serde(serialize_with = "lossy_opt_path")]
    pub memory: Option<PathBuf>,
    /// Guest memory size (uncompressed).
    pub memory_size: MemorySize,
    /// Apparent size of the memory file itself (compressed size for zstd/lz4).
    pub memory_file_bytes: Option<u64>,
    /// Compression as recorded by Hypeman (central snapshots only).
    pub compression: Option<HypemanCompression>,
    /// Hypeman's `size_bytes`: every file of the snapshot payload together
    /// (memory, device state, disks), not the memory size.
    pub payload_bytes: Option<u64>,
    /// Device-state files found beside the memory (`state`, `config.json`,
    /// `state.json`, `vmstate`, `*.snap`).
    #[serde(serialize_with = "lossy_paths")]
    pub device_state: Vec<PathBuf>,
    /// Creation time as recorded (RFC 3339 text, unchecked); `None` when the
    /// source records none.
    pub created_at: Option<String>,
    /// Always `true`: entries of a source are never written.
    pub read_only: bool,
}

/// An entry that looked like a snapshot but could not be read. Serializes
/// `kind` (the [`crate::error::ErrorKind`]), `problem`
/// ([`SourceError::problem`]) and `reason` (the message) instead of the error.
#[derive(Debug)]
pub struct SourceProblem {
    /// The entry's directory or file.
    pub path: PathBuf,
    /// Its id when known (a Hypeman directory name).
    pub id: Option<String>,
    /// Where in the source it was found.
    pub origin: Origin,
    /// Why it cannot be listed.
    pub error: SourceError,
}

impl Serialize for SourceProblem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("SourceProblem", 6)?;
        st.serialize_field("path", &self.path.to_string_lossy())?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("origin", &self.origin)?;
        st.serialize_field("kind", &Kinded::kind(&self.error))?;
        st.serialize_field("problem", self.error.problem())?;
        st.serialize_field("reason", &self.error.to_string())?;
        st.end()
    }
}

/// One entry of [`super::Source::list`]: a snapshot, or why one could not be
/// read. JSON: `{"entry": "snapshot", ...}` or `{"entry": "problem", "path",
/// "id", "origin", "kind": <ErrorKind, snake_case>, "problem": <kebab-case,
/// finer>, "reason": <message>}`.
// A listing holds tens of entries; boxing the common variant would cost
// every caller a deref for no measurable gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize)]
#[serde(tag = "entry", rename_all = "kebab-case")]
pub enum Listed {
    /// A readable snapshot.
    Snapshot(SourceSnapshot),
    /// An unreadable entry, with why.
    Problem(SourceProblem),
}

impl Listed {
    /// The snapshot, if this entry is one.
    pub fn snapshot(&self) -> Option<&SourceSnapshot> {
        match self {
            Listed::Snapshot(s) => Some(s),
            Listed::Problem(_) => None,
        }
    }

    /// The problem, if this entry is one.
    pub fn problem(&self) -> Option<&SourceProblem> {
        match self {
            Listed::Snapshot(_) => None,
            Listed::Problem(p) => Some(p),
        }
    }
}

fn lossy_path<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

fn lossy_opt_path<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_some(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

fn lossy_paths<S: Serializer>(ps: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(ps.len()))?;
    for p in ps {
        seq.serialize_element(&p.to_string_lossy())?;
    }
    seq.end()
}
