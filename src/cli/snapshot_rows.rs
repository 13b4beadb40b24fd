//! `snapshots --json` rows: the shape the store's rows always had, plus
//! what every row now says (its source, whether it is read-only), for
//! source snapshots, unreadable entries, sources that cannot be opened and
//! store snapshots that do not load.

use serde_json::{Value, json};

use crate::error::Kinded;
use crate::files::ReadError;
use crate::source::{LabeledSource, MemorySize, SourceError, SourceProblem, SourceSnapshot};
use crate::store::{SnapshotInfo, Store, StoreError};

/// The label of the store in listings.
const STORE: &str = crate::source::set::STORE_LABEL;

/// A store snapshot as a JSON row: the shape `snapshots --json` always had
/// (name, vmm, kind, memory_size, allocated, created_at, path), plus what
/// every row now says (entry, source, hypervisor, compression, read_only).
pub(super) fn store_row(store: &Store, s: &SnapshotInfo) -> Value {
    json!({
        "name": s.name, "vmm": s.meta.vmm, "kind": s.meta.kind,
        "memory_size": s.memory_size, "allocated": s.allocated,
        "created_at": s.meta.created_at, "path": s.dir,
        "entry": "snapshot", "source": STORE, "source_path": store.root(),
        "source_kind": "store", "hypervisor": s.meta.vmm.label(),
        "format": "raw", "compression": "none", "read_only": false,
    })
}

/// A source snapshot as a JSON row of the same shape.
pub(super) fn source_row(s: &LabeledSource, snap: &SourceSnapshot) -> Value {
    let vmm = crate::transfer::vmm_of(snap)
        .ok()
        .map(|v| v.label())
        .or(match snap.hypervisor {
            crate::source::Hypervisor::Qemu => Some("qemu"),
            crate::source::Hypervisor::Vz => Some("vz"),
            _ => None,
        });
    let (size_from, size) = match snap.memory_size {
        MemorySize::Apparent { bytes } => (Some("apparent"), Some(bytes)),
        MemorySize::FromMetadata { bytes } => (Some("metadata"), Some(bytes)),
        MemorySize::Configured { bytes } => (Some("configured"), Some(bytes)),
        MemorySize::Unknown => (None, None),
    };
    json!({
        "name": snap.name, "vmm": vmm, "kind": snap.kind,
        "memory_size": size, "allocated": Value::Null,
        "created_at": snap.created_at, "path": snap.dir.to_string_lossy(),
        "entry": "snapshot", "source": s.label, "source_path": snap.source.to_string_lossy(),
        "source_kind": s.source.as_ref().map(|k| k.kind().label()).unwrap_or("unknown"),
        "hypervisor": snap.hypervisor.label(), "format": snap.format,
        "compression": snap.memory_compression.map(|c| c.label()).unwrap_or("none"),
        "scannable": snap.scannable(),
        "read_only": true, "id": snap.id, "origin": snap.origin,
        "memory_size_from": size_from, "memory": snap.memory.as_ref().map(|p| p.to_string_lossy()),
        "memory_file_bytes": snap.memory_file_bytes, "device_state": snap.device_state
            .iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
        "hypeman_compression": snap.compression, "payload_bytes": snap.payload_bytes,
        "hypeman_instance": snap.instance,
    })
}

/// An unreadable entry of a source as a JSON row.
pub(super) fn problem_row(s: &LabeledSource, p: &SourceProblem) -> Value {
    json!({
        "entry": "problem", "name": p.id, "id": p.id, "source": s.label,
        "source_path": s.path.to_string_lossy(), "path": p.path.to_string_lossy(),
        "origin": p.origin, "kind": p.error.kind(), "problem": p.error.problem(),
        "reason": p.error.to_string(), "read_only": true,
    })
}

/// A source that cannot be opened at all, as a JSON row.
pub(super) fn dead_source_row(s: &LabeledSource, e: &SourceError) -> Value {
    json!({
        "entry": "problem", "name": Value::Null, "id": Value::Null, "source": s.label,
        "source_path": s.path.to_string_lossy(), "path": s.path.to_string_lossy(),
        "kind": e.kind(), "problem": e.problem(), "reason": e.to_string(), "read_only": true,
    })
}

/// A store snapshot that does not load, as a JSON row.
pub(super) fn store_problem_row(store: &Store, e: &StoreError) -> Value {
    let (path, problem) = match e {
        StoreError::BadMeta { path, .. } => (Some(path.clone()), "bad-metadata"),
        StoreError::Io { path, .. } => (Some(path.clone()), "unreadable"),
        StoreError::AbandonedDraft { path, .. } => (Some(path.clone()), "abandoned-draft"),
        StoreError::Read(ReadError::NotRegular { path, .. }) => {
            (Some(path.clone()), "not-a-regular-file")
        }
        StoreError::Read(ReadError::TooLarge { path, .. }) => (Some(path.clone()), "too-large"),
        StoreError::Read(ReadError::Io { path, .. }) => (Some(path.clone()), "unreadable"),
        _ => (None, "unreadable"),
    };
    json!({
        "entry": "problem", "name": Value::Null, "source": STORE,
        "source_path": store.root(), "path": path, "kind": e.kind(),
        "problem": problem, "reason": e.to_string(), "read_only": false,
    })
}
