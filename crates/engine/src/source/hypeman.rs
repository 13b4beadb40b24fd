//! A Hypeman data directory, as Hypeman writes it:
//!
//! ```text
//! guests/<id>/metadata.json                      Go field names, no JSON tags
//! guests/<id>/snapshots/snapshot-latest/         present while in standby
//! snapshots/<id>/snapshot.json                   {"snapshot": {...}, "stored_metadata": {...}}
//! snapshots/<id>/guest/snapshots/snapshot-latest/  memory of a Standby snapshot
//! ```
//!
//! Metadata is read leniently: unknown keys are ignored, missing or
//! mistyped optional keys count as absent. A `snapshots/<id>/` without
//! `snapshot.json` is being created and is skipped, as Hypeman skips it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::memory::{self, HYPEMAN_DEVICE_STATE, HYPEMAN_MEMORY, MemoryFile};
use super::{
    HypemanCompression, Hypervisor, Listed, MemoryFormat, MemorySize, Origin, SnapshotKind,
    SourceError, SourceProblem, SourceSnapshot,
};
use crate::files::{MAX_METADATA_BYTES, read_bounded};

/// Whether `root` looks like a Hypeman data directory: `guests/`, or
/// `snapshots/` beside `system/` (a forkmail store has `snapshots/` but
/// neither of the others).
pub(super) fn looks_like(root: &Path) -> bool {
    root.join("guests").is_dir()
        || (root.join("snapshots").is_dir() && root.join("system").is_dir())
}

/// Standby instances by id, then central snapshots by id.
pub(super) fn list(root: &Path) -> Vec<Listed> {
    let mut out = Vec::new();
    for (area, origin) in [
        ("guests", Origin::HypemanStandby),
        ("snapshots", Origin::HypemanSnapshot),
    ] {
        let dir = root.join(area);
        let entries = match subdirs(&dir) {
            Ok(e) => e,
            Err(error) => {
                out.push(Listed::Problem(SourceProblem {
                    path: dir,
                    id: None,
                    origin,
                    error,
                }));
                continue;
            }
        };
        for (id, path) in entries {
            let found = match origin {
                Origin::HypemanStandby => instance(root, &id, &path),
                _ => central(root, &id, &path),
            };
            match found {
                None => {}
                Some(Ok(s)) => out.push(Listed::Snapshot(s)),
                Some(Err(error)) => out.push(Listed::Problem(SourceProblem {
                    path,
                    id: Some(id),
                    origin,
                    error,
                })),
            }
        }
    }
    out
}

/// The directories in `dir` (symbolic links followed), by name; none when
/// `dir` does not exist.
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, SourceError> {
    let list_err = |source| SourceError::ListDir {
        path: dir.to_path_buf(),
        source,
    };
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(list_err(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let path = entry.map_err(list_err)?.path();
        if path.is_dir() {
            let id = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((id, path));
        }
    }
    out.sort();
    Ok(out)
}

/// `guests/<id>`: a snapshot while `snapshots/snapshot-latest/` exists.
fn instance(root: &Path, id: &str, dir: &Path) -> Option<Result<SourceSnapshot, SourceError>> {
    let latest = dir.join("snapshots").join("snapshot-latest");
    match memory::exists(&latest) {
        Ok(false) => None,
        Ok(true) => Some(instance_snapshot(root, id, dir, &latest)),
        Err(e) => Some(Err(e)),
    }
}

fn instance_snapshot(
    root: &Path,
    id: &str,
    dir: &Path,
    latest: &Path,
) -> Result<SourceSnapshot, SourceError> {
    let meta = read_object(&dir.join("metadata.json"))?;
    let hypervisor = str_field(&meta, "HypervisorType").map(|h| Hypervisor::from_name(&h));
    let mem = standby_memory(latest, hypervisor.as_ref())?;
    let device_state = memory::device_state(latest, &HYPEMAN_DEVICE_STATE)?;
    let id = str_field(&meta, "Id").unwrap_or_else(|| id.to_string());
    Ok(SourceSnapshot {
        name: str_field(&meta, "Name").unwrap_or_else(|| id.clone()),
        id,
        source: root.to_path_buf(),
        origin: Origin::HypemanStandby,
        dir: latest.to_path_buf(),
        hypervisor: hypervisor.unwrap_or_else(|| infer_hypervisor(&mem, &device_state)),
        kind: SnapshotKind::Standby,
        format: mem.format,
        memory_size: mem.memory_size(None),
        memory_file_bytes: Some(mem.file_bytes),
        memory: Some(mem.path),
        compression: None,
        payload_bytes: None,
        device_state,
        created_at: str_field(&meta, "CreatedAt"),
        read_only: true,
    })
}

/// `snapshots/<id>`: a central snapshot; skipped while `snapshot.json` is
/// missing (being created).
fn central(root: &Path, id: &str, dir: &Path) -> Option<Result<SourceSnapshot, SourceError>> {
    let meta_path = dir.join("snapshot.json");
    match memory::exists(&meta_path) {
        Ok(false) => None,
        Ok(true) => Some(central_snapshot(root, id, dir, &meta_path)),
        Err(e) => Some(Err(e)),
    }
}

fn central_snapshot(
    root: &Path,
    id: &str,
    dir: &Path,
    meta_path: &Path,
) -> Result<SourceSnapshot, SourceError> {
    let record = read_object(meta_path)?;
    let snap = record
        .get("snapshot")
        .and_then(Value::as_object)
        .ok_or_else(|| SourceError::BadMetadata {
            path: meta_path.to_path_buf(),
            reason: "no \"snapshot\" object".into(),
        })?;
    let kind = match str_field(snap, "kind").as_deref() {
        Some("Standby") => SnapshotKind::Standby,
        Some("Stopped") => SnapshotKind::Stopped,
        Some(other) => {
            return Err(SourceError::UnknownKind {
                path: meta_path.to_path_buf(),
                kind: other.to_string(),
            });
        }
        None => {
            return Err(SourceError::BadMetadata {
                path: meta_path.to_path_buf(),
                reason: "snapshot has no \"kind\"".into(),
            });
        }
    };
    // The snapshot's own record first, then the instance it was taken from.
    let hypervisor = str_field(snap, "SourceHypervisor")
        .or_else(|| {
            record
                .get("stored_metadata")
                .and_then(Value::as_object)
                .and_then(|m| str_field(m, "HypervisorType"))
        })
        .map(|h| Hypervisor::from_name(&h));
    let compression = compression(snap);
    let id = str_field(snap, "id").unwrap_or_else(|| id.to_string());
    let guest = dir.join("guest");
    let mut entry = SourceSnapshot {
        name: str_field(snap, "name").unwrap_or_else(|| id.clone()),
        id,
        source: root.to_path_buf(),
        origin: Origin::HypemanSnapshot,
        dir: guest.clone(),
        hypervisor: hypervisor
            .clone()
            .unwrap_or(Hypervisor::Unknown(String::new())),
        kind,
        format: MemoryFormat::None,
        memory: None,
        memory_size: MemorySize::Unknown,
        memory_file_bytes: None,
        compression: Some(compression.clone()),
        payload_bytes: u64_field(snap, "size_bytes"),
        device_state: Vec::new(),
        created_at: str_field(snap, "created_at"),
        read_only: true,
    };
    if kind == SnapshotKind::Standby {
        let latest = guest.join("snapshots").join("snapshot-latest");
        let mem = standby_memory(&latest, hypervisor.as_ref())?;
        let device_state = memory::device_state(&latest, &HYPEMAN_DEVICE_STATE)?;
        if hypervisor.is_none() {
            entry.hypervisor = infer_hypervisor(&mem, &device_state);
        }
        entry.dir = latest;
        entry.format = mem.format;
        entry.memory_size = mem.memory_size(compression.uncompressed_bytes);
        entry.memory_file_bytes = Some(mem.file_bytes);
        entry.memory = Some(mem.path);
        entry.device_state = device_state;
    }
    Ok(entry)
}

/// The memory file of a standby `snapshot-latest/`, which must exist.
fn standby_memory(
    latest: &Path,
    hypervisor: Option<&Hypervisor>,
) -> Result<MemoryFile, SourceError> {
    is_dir(latest)?;
    memory::find_memory(latest, &HYPEMAN_MEMORY, hypervisor)?.ok_or_else(|| SourceError::NoMemory {
        dir: latest.to_path_buf(),
        looked_for: HYPEMAN_MEMORY.join(", "),
    })
}

fn is_dir(path: &Path) -> Result<(), SourceError> {
    let err = |source| SourceError::ListDir {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => Err(err(std::io::Error::from_raw_os_error(libc::ENOTDIR))),
        Err(e) => Err(err(e)),
    }
}

/// When metadata does not name the hypervisor, the files do:
/// `memory-ranges` is Cloud Hypervisor's, a `QEVM` stream QEMU's, `memory`
/// beside `state` Firecracker's.
fn infer_hypervisor(mem: &MemoryFile, device_state: &[PathBuf]) -> Hypervisor {
    let name = mem
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let has = |n: &str| device_state.iter().any(|p| p.ends_with(n));
    if name.starts_with("memory-ranges") {
        Hypervisor::CloudHypervisor
    } else if mem.format == MemoryFormat::QemuMigrationStream {
        Hypervisor::Qemu
    } else if has("state") {
        Hypervisor::Firecracker
    } else {
        Hypervisor::Unknown(String::new())
    }
}

fn compression(snap: &Map<String, Value>) -> HypemanCompression {
    let config = snap.get("compression").and_then(Value::as_object);
    HypemanCompression {
        state: str_field(snap, "compression_state"),
        algorithm: config.and_then(|c| str_field(c, "algorithm")),
        level: config.and_then(|c| c.get("level")).and_then(Value::as_i64),
        error: str_field(snap, "compression_error"),
        compressed_bytes: u64_field(snap, "compressed_size_bytes"),
        uncompressed_bytes: u64_field(snap, "uncompressed_size_bytes"),
    }
}

/// Read `path` (bounded, read-only, regular files only) as a JSON object.
fn read_object(path: &Path) -> Result<Map<String, Value>, SourceError> {
    let bytes = read_bounded(path, MAX_METADATA_BYTES, "metadata")?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(SourceError::BadMetadata {
            path: path.to_path_buf(),
            reason: "not a JSON object".into(),
        }),
        Err(e) => Err(SourceError::BadMetadata {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// A non-empty string field; anything else counts as absent.
fn str_field(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A non-negative integer field; anything else counts as absent.
fn u64_field(map: &Map<String, Value>, key: &str) -> Option<u64> {
    map.get(key).and_then(Value::as_u64)
}
