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
    /// Apple's Virtualization.framework through Hypeman's vz shim:
    /// `machine-state.vzm` (device state and memory in Apple's own format).
    Vz,
    /// Anything else, as found (empty when nothing said).
    Unknown(String),
}

impl Hypervisor {
    /// Parse a hypervisor name as Hypeman writes it (`cloud-hypervisor`,
    /// `firecracker`, `qemu`, `qemu-microvm`, `vz`: `hypervisor.Type*`,
    /// `lib/hypervisor/hypervisor.go` @b7c500b); other names are kept as
    /// [`Hypervisor::Unknown`].
    pub fn from_name(name: &str) -> Hypervisor {
        match name.trim().to_ascii_lowercase().as_str() {
            "firecracker" => Hypervisor::Firecracker,
            "cloud-hypervisor" | "cloudhypervisor" | "ch" => Hypervisor::CloudHypervisor,
            "qemu" | "qemu-microvm" => Hypervisor::Qemu,
            "vz" => Hypervisor::Vz,
            _ => Hypervisor::Unknown(name.to_string()),
        }
    }

    /// Label for tables (`unknown` for an empty unknown name).
    pub fn label(&self) -> &str {
        match self {
            Hypervisor::Firecracker => "firecracker",
            Hypervisor::CloudHypervisor => "cloud-hypervisor",
            Hypervisor::Qemu => "qemu",
            Hypervisor::Vz => "vz",
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
    /// A QEMU migration stream (`QEVM`): not raw RAM, never scanned as such
    /// (compressed or not: see [`SourceSnapshot::memory_compression`]).
    QemuMigrationStream,
    /// vz's `machine-state.vzm`: Apple's opaque saved-machine format
    /// (`VZVirtualMachine.saveMachineStateTo`), device state and memory
    /// together; nothing in it can be scanned or patched.
    VzMachineState,
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
            MemoryFormat::VzMachineState => "vz-machine-state",
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
    /// The guest's memory as Hypeman records it for an instance (metadata
    /// `Size` + `HotplugSize`): the size Hypeman reports, and an upper bound
    /// of the memory file's uncompressed length (Cloud Hypervisor's
    /// `memory-ranges` holds only the ranges in use), not a recorded length.
    /// JSON: `{"from": "configured", "bytes": N}`.
    Configured {
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
            MemorySize::Apparent { bytes }
            | MemorySize::FromMetadata { bytes }
            | MemorySize::Configured { bytes } => Some(bytes),
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

/// Hypeman's `PendingStandbyCompression` of an instance: compression
/// planned at standby and not yet done (`lib/instances/types.go` @146b7ce;
/// set by `standby.go` @13baa91, cleared when the job ends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PendingCompression {
    /// `Policy.enabled`.
    pub enabled: Option<bool>,
    /// `Policy.algorithm`: `zstd` or `lz4`.
    pub algorithm: Option<String>,
    /// `Policy.level`.
    pub level: Option<i64>,
    /// `NotBefore`: the job does not start before (RFC 3339, as found).
    pub not_before: Option<String>,
}

/// What Hypeman itself reports of a standby instance, from its
/// `metadata.json` (`StoredMetadata`, `lib/instances/types.go` @146b7ce),
/// its state derived by Hypeman's rule (`deriveStateWithOptions`,
/// `lib/instances/query.go` @c2e2295).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HypemanInstance {
    /// `Standby`: no VMM socket, a non-empty `snapshot-latest/` (the only
    /// state listed as a snapshot).
    pub state: String,
    /// `CreatedAt`: when the instance was created.
    pub created_at: Option<String>,
    /// `StoppedAt`: when it went into standby (the snapshot's time).
    pub stopped_at: Option<String>,
    /// `Size`: base memory, bytes.
    pub size: Option<u64>,
    /// `HotplugSize`: hotplug memory, bytes.
    pub hotplug_size: Option<u64>,
    /// `PendingStandbyCompression`.
    pub pending_compression: Option<PendingCompression>,
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
    /// The memory file's format: what it holds.
    pub format: MemoryFormat,
    /// How the memory file is compressed, whatever it holds (a zstd QEMU
    /// stream is `qemu-migration-stream` compressed `zstd`).
    pub memory_compression: Option<Compression>,
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
    /// When the snapshot was taken, as recorded (RFC 3339 text, unchecked):
    /// a Hypeman standby instance's `StoppedAt`, a central snapshot's
    /// `created_at`; `None` when the source records none.
    pub created_at: Option<String>,
    /// A Hypeman standby instance as Hypeman reports it.
    pub instance: Option<HypemanInstance>,
    /// A Hypeman snapshot's instance directory as it is now: `guests/<id>`,
    /// or a central snapshot's `snapshots/<id>/guest` (disks, the
    /// Firecracker restore metadata).
    #[serde(serialize_with = "lossy_opt_path")]
    pub instance_dir: Option<PathBuf>,
    /// The directory its device state names for `instance_dir`, as
    /// recorded (`DataDir`, or a central snapshot's
    /// `stored_metadata.DataDir`: the source instance's, maybe gone).
    #[serde(serialize_with = "lossy_opt_path")]
    pub recorded_dir: Option<PathBuf>,
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
