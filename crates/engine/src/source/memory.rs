//! A snapshot's memory file and device state in a directory: which file it
//! is, and what it holds (raw RAM, zstd, lz4, a QEMU migration stream), told
//! by its name and its first bytes. Files are opened read-only, non-blocking,
//! and must be regular; nothing but the first bytes (and the headers of
//! any skippable frames before the data) is read.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{Hypervisor, MemoryFormat, MemorySize, SourceError};
use crate::files::{ReadError, open_regular};
use crate::scan::{Compression, Framing, framing};

/// A QEMU migration stream starts with `QEVM` (QEMU_VM_FILE_MAGIC).
pub(super) const QEMU_MAGIC: &[u8; 4] = b"QEVM";

/// Memory file names in a Hypeman `snapshot-latest/`, in Hypeman's own order
/// of preference: raw before compressed, Cloud Hypervisor before Firecracker.
pub(super) const HYPEMAN_MEMORY: [&str; 6] = [
    "memory-ranges",
    "memory",
    "memory-ranges.zst",
    "memory-ranges.lz4",
    "memory.zst",
    "memory.lz4",
];

/// Device-state files in a Hypeman `snapshot-latest/`: Firecracker `state`,
/// Cloud Hypervisor `config.json` and `state.json`, QEMU's saved VM
/// configuration (`qemu-config.json`, `lib/hypervisor/qemu/qemu.go`
/// @b7c500b), vz's manifest (`config.json`).
pub(super) const HYPEMAN_DEVICE_STATE: [&str; 4] =
    ["state", "config.json", "state.json", "qemu-config.json"];

/// vz's saved machine (`SnapshotMachineStateFile`,
/// `lib/hypervisor/vz/shimconfig/config.go` @8331138): never compressed by
/// Hypeman (not among `snapshotMemoryFileCandidates`).
pub(super) const VZ_MACHINE_STATE: &str = "machine-state.vzm";

/// What a memory file's name promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// A raw name (`memory`, `memory-ranges`, `*.mem`): raw RAM, or a QEMU
    /// stream when it says `QEVM`.
    Raw,
    /// A `.zst`/`.lz4` name: the magic must agree.
    Compressed(Compression),
    /// No promise (a file given directly): the magic decides.
    Sniff,
}

impl Expect {
    /// What the name `name` promises: compressed by suffix, else raw.
    pub(super) fn from_name(name: &str) -> (Expect, &str) {
        if let Some(base) = name.strip_suffix(".zst") {
            (Expect::Compressed(Compression::Zstd), base)
        } else if let Some(base) = name.strip_suffix(".lz4") {
            (Expect::Compressed(Compression::Lz4), base)
        } else {
            (Expect::Raw, name)
        }
    }
}

/// A memory file as found: where, what, how large.
#[derive(Debug, Clone)]
pub(super) struct MemoryFile {
    pub(super) path: PathBuf,
    pub(super) format: MemoryFormat,
    /// How the file is compressed, whatever it holds.
    pub(super) compression: Option<Compression>,
    /// Apparent size of the file itself.
    pub(super) file_bytes: u64,
}

impl MemoryFile {
    /// The guest memory size: the apparent size of raw RAM; for compressed
    /// RAM, `recorded` (what the compressing tool wrote down) if any.
    pub(super) fn memory_size(&self, recorded: Option<u64>) -> MemorySize {
        match self.format {
            MemoryFormat::Raw => MemorySize::Apparent {
                bytes: self.file_bytes,
            },
            MemoryFormat::Zstd | MemoryFormat::Lz4 => match recorded {
                Some(bytes) => MemorySize::FromMetadata { bytes },
                None => MemorySize::Unknown,
            },
            MemoryFormat::QemuMigrationStream
            | MemoryFormat::VzMachineState
            | MemoryFormat::None => MemorySize::Unknown,
        }
    }
}

/// Whether anything (even a dangling link or a FIFO) is at `path`.
pub(super) fn exists(path: &Path) -> Result<bool, SourceError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ReadError::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()),
    }
}

/// The first of `names` present in `dir`, inspected. The first present
/// wins even when it is unusable (a FIFO, a directory): the error says so
/// rather than silently falling back to another file.
pub(super) fn find_memory(
    dir: &Path,
    names: &[&str],
    hypervisor: Option<&Hypervisor>,
) -> Result<Option<MemoryFile>, SourceError> {
    for name in names {
        let path = dir.join(name);
        if exists(&path)? {
            let (expect, _) = Expect::from_name(name);
            return inspect(&path, expect, hypervisor).map(Some);
        }
    }
    Ok(None)
}

/// Open `path` read-only and tell its format from `expect`, the hypervisor
/// (QEMU memory is always a migration stream, compressed or not: Hypeman
/// compresses it like any memory file, `snapshotMemoryFileCandidates`,
/// `lib/instances/snapshot_compression.go` @5685f4c) and the first bytes —
/// of the file, and of a compressed file's content, so a compressed
/// migration stream is never taken for compressed RAM.
pub(super) fn inspect(
    path: &Path,
    expect: Expect,
    hypervisor: Option<&Hypervisor>,
) -> Result<MemoryFile, SourceError> {
    let file = open_regular(path)?;
    let file_bytes = file
        .metadata()
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let head = read_head(&file, path)?;
    let bad = |reason: String| SourceError::BadMemoryFile {
        path: path.to_path_buf(),
        reason,
    };
    let compression = if expect == Expect::Raw {
        // A raw name: raw RAM may start with any bytes.
        None
    } else {
        // Past any skippable frames (`pzstd` writes one first): compressed
        // bytes are never taken for raw memory.
        let found = framing(&file).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        match (expect, found) {
            (_, Framing::Refused(reason)) => return Err(bad(reason)),
            (Expect::Sniff | Expect::Raw, Framing::Raw) => None,
            (Expect::Sniff, Framing::Compressed(c)) => Some(c),
            (Expect::Compressed(want), Framing::Compressed(c)) if c == want => Some(c),
            (Expect::Compressed(want), other) => {
                let holds = match other {
                    Framing::Compressed(c) => format!("holds {c} data"),
                    _ => format!("does not start with the {want} magic (nor a skippable frame)"),
                };
                return Err(bad(format!(
                    "named as {want}-compressed memory but {holds}"
                )));
            }
            (Expect::Raw, Framing::Compressed(_)) => None,
        }
    };
    let qemu = hypervisor == Some(&Hypervisor::Qemu)
        || match compression {
            None => head == QEMU_MAGIC,
            Some(c) => decompressed_head(path, c).is_some_and(|h| h == *QEMU_MAGIC),
        };
    let format = match (qemu, compression) {
        (true, _) => MemoryFormat::QemuMigrationStream,
        (false, Some(c)) => c.into(),
        (false, None) => MemoryFormat::Raw,
    };
    Ok(MemoryFile {
        path: path.to_path_buf(),
        format,
        compression,
        file_bytes,
    })
}

/// The first four bytes of a compressed file's content, when they decode
/// (reads one frame's first block at most).
fn decompressed_head(path: &Path, compression: Compression) -> Option<[u8; 4]> {
    let file = open_regular(path).ok()?;
    let mut reader = crate::scan::decompressor(file, compression).ok()?;
    let mut head = [0u8; 4];
    std::io::Read::read_exact(&mut reader, &mut head).ok()?;
    Some(head)
}

/// vz's `machine-state.vzm` in `dir`, when present: Apple's format, listed
/// as such and never scanned.
pub(super) fn find_vz(dir: &Path) -> Result<Option<MemoryFile>, SourceError> {
    let path = dir.join(VZ_MACHINE_STATE);
    if !exists(&path)? {
        return Ok(None);
    }
    let file = open_regular(&path)?;
    let file_bytes = file
        .metadata()
        .map_err(|source| ReadError::Io {
            path: path.clone(),
            source,
        })?
        .len();
    Ok(Some(MemoryFile {
        path,
        format: MemoryFormat::VzMachineState,
        compression: None,
        file_bytes,
    }))
}

/// Up to the first four bytes of `file`.
fn read_head(file: &File, path: &Path) -> Result<Vec<u8>, SourceError> {
    let (head, got) = crate::files::read_head::<4>(file).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(head[..got].to_vec())
}

/// The device-state files among `names` present in `dir`; each must be a
/// regular file (a FIFO would hang the VMM that restores it).
pub(super) fn device_state(dir: &Path, names: &[&str]) -> Result<Vec<PathBuf>, SourceError> {
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(name);
        if exists(&path)? {
            open_regular(&path)?;
            out.push(path);
        }
    }
    Ok(out)
}
