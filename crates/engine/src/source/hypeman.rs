//! A Hypeman data directory, as Hypeman writes it (kernel/hypeman `main`
//! as mirrored by mpuig/hypeman 7a99231; `lib/paths/paths.go` @7eeefb7):
//!
//! ```text
//! guests/<id>/metadata.json                      StoredMetadata: Go field names, no JSON tags
//! guests/<id>/snapshots/snapshot-latest/         the standby snapshot
//! snapshots/<id>/snapshot.json                   {"snapshot": {...}, "stored_metadata": {...}}
//! snapshots/<id>/guest/snapshots/snapshot-latest/  memory of a Standby snapshot
//! ```
//!
//! An instance is a snapshot by Hypeman's own rule
//! (`deriveStateWithOptions` and `hasSnapshot`, `lib/instances/query.go`
//! @c2e2295): its VMM socket is absent and `snapshot-latest/` is a
//! directory with at least one entry (Standby). An empty `snapshot-latest/`
//! is Stopped: not listed, like an instance without one. A socket that
//! exists means Hypeman asks the VMM (Running, Paused, Unknown): listed as
//! a problem that says so, never as a snapshot to fork.
//!
//! The directory's name is the id, as it is for Hypeman (`listInstances`
//! takes it from the path, `loadMetadata(id)` reads `guests/<id>/`); an
//! entry whose metadata claims another id is refused
//! ([`SourceError::IdMismatch`]), so no directory can shadow another.
//!
//! Metadata is read leniently: unknown keys are ignored, missing or
//! mistyped optional keys count as absent. A `snapshots/<id>/` without
//! `snapshot.json` is being created and is skipped, as Hypeman skips it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::memory::{self, HYPEMAN_DEVICE_STATE, HYPEMAN_MEMORY, MemoryFile};
use super::{
    HypemanCompression, HypemanInstance, Hypervisor, Listed, MemoryFormat, MemorySize, Origin,
    PendingCompression, SnapshotKind, SourceError, SourceProblem, SourceSnapshot,
};
use crate::files::{MAX_METADATA_BYTES, ReadError, read_bounded};

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

/// Hypeman's `hasSnapshot`: `snapshot-latest` stats as a directory (links
/// followed) holding at least one entry of any kind. A directory that
/// cannot be read is a problem here (Hypeman would call it Stopped): an
/// entry that cannot be read is never hidden.
fn has_snapshot(latest: &Path) -> Result<bool, SourceError> {
    match std::fs::metadata(latest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ReadError::Io {
            path: latest.to_path_buf(),
            source,
        }
        .into()),
        Ok(md) if !md.is_dir() => Ok(false),
        Ok(_) => match std::fs::read_dir(latest) {
            Ok(mut rd) => Ok(rd.next().is_some()),
            Err(source) => Err(SourceError::ListDir {
                path: latest.to_path_buf(),
                source,
            }),
        },
    }
}

/// `guests/<id>`: a snapshot while Hypeman would call it Standby.
fn instance(root: &Path, id: &str, dir: &Path) -> Option<Result<SourceSnapshot, SourceError>> {
    let latest = dir.join("snapshots").join("snapshot-latest");
    match has_snapshot(&latest) {
        Ok(false) => None,
        Ok(true) => Some(instance_snapshot(root, id, dir, &latest)),
        Err(e) => Some(Err(e)),
    }
}

/// Hypeman's API socket name per hypervisor (`RegisterSocketName` in each
/// hypervisor package; the fallback is `<type>.sock`, `hypervisor.go`
/// @b7c500b).
fn socket_name(hypervisor: Option<&str>) -> String {
    match hypervisor.unwrap_or("") {
        "cloud-hypervisor" => "ch.sock".into(),
        "firecracker" => "fc.sock".into(),
        "qemu" | "qemu-microvm" => "qemu.sock".into(),
        "vz" => "vz.sock".into(),
        other => format!("{other}.sock"),
    }
}

/// A path the metadata records under its `DataDir`, where it is now (under
/// `dir`, the directory the metadata was found in); other paths as they are.
fn relocate(recorded_dir: Option<&Path>, dir: &Path, path: &Path) -> PathBuf {
    match recorded_dir.and_then(|r| path.strip_prefix(r).ok()) {
        Some(rel) => dir.join(rel),
        None => path.to_path_buf(),
    }
}

fn instance_snapshot(
    root: &Path,
    id: &str,
    dir: &Path,
    latest: &Path,
) -> Result<SourceSnapshot, SourceError> {
    let meta_path = dir.join("metadata.json");
    let meta = read_object(&meta_path)?;
    if let Some(claimed) = str_field(&meta, "Id").filter(|c| c != id) {
        return Err(SourceError::IdMismatch {
            path: meta_path,
            claimed,
            dir: id.to_string(),
        });
    }
    let hv_name = str_field(&meta, "HypervisorType");
    let recorded_dir = str_field(&meta, "DataDir")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    // The VMM socket, as recorded, where the data directory is now.
    let socket = str_field(&meta, "SocketPath")
        .map(|s| relocate(recorded_dir.as_deref(), dir, Path::new(&s)))
        .unwrap_or_else(|| dir.join(socket_name(hv_name.as_deref())));
    if std::fs::metadata(&socket).is_ok() {
        return Err(SourceError::NotStandby {
            dir: dir.to_path_buf(),
            socket,
        });
    }
    let hypervisor = hv_name.map(|h| Hypervisor::from_name(&h));
    let mem = standby_memory(latest, hypervisor.as_ref())?;
    let device_state = memory::device_state(latest, &HYPEMAN_DEVICE_STATE)?;
    let size = u64_field(&meta, "Size");
    let hotplug = u64_field(&meta, "HotplugSize");
    let configured = size
        .filter(|s| *s > 0)
        .and_then(|s| s.checked_add(hotplug.unwrap_or(0)));
    let memory_size = match (mem.format, configured) {
        (MemoryFormat::Raw, _) => mem.memory_size(None),
        (_, Some(bytes)) => MemorySize::Configured { bytes },
        (_, None) => MemorySize::Unknown,
    };
    let instance = HypemanInstance {
        state: "Standby".into(),
        created_at: str_field(&meta, "CreatedAt"),
        stopped_at: str_field(&meta, "StoppedAt"),
        size,
        hotplug_size: hotplug,
        pending_compression: meta
            .get("PendingStandbyCompression")
            .and_then(Value::as_object)
            .map(pending),
    };
    Ok(SourceSnapshot {
        name: str_field(&meta, "Name").unwrap_or_else(|| id.to_string()),
        id: id.to_string(),
        source: root.to_path_buf(),
        origin: Origin::HypemanStandby,
        dir: latest.to_path_buf(),
        hypervisor: hypervisor.unwrap_or_else(|| infer_hypervisor(&mem, &device_state)),
        kind: SnapshotKind::Standby,
        format: mem.format,
        memory_compression: mem.compression,
        memory_size,
        memory_file_bytes: Some(mem.file_bytes),
        memory: Some(mem.path),
        compression: None,
        payload_bytes: None,
        device_state,
        created_at: instance.stopped_at.clone(),
        instance: Some(instance),
        instance_dir: Some(dir.to_path_buf()),
        recorded_dir,
        read_only: true,
    })
}

fn pending(p: &Map<String, Value>) -> PendingCompression {
    let policy = p.get("Policy").and_then(Value::as_object);
    PendingCompression {
        enabled: policy
            .and_then(|c| c.get("enabled"))
            .and_then(Value::as_bool),
        algorithm: policy.and_then(|c| str_field(c, "algorithm")),
        level: policy.and_then(|c| c.get("level")).and_then(Value::as_i64),
        not_before: str_field(p, "NotBefore"),
    }
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
    // `LoadRecord` fills an empty id from the directory (lib/snapshot/store.go).
    if let Some(claimed) = str_field(snap, "id").filter(|c| c != id) {
        return Err(SourceError::IdMismatch {
            path: meta_path.to_path_buf(),
            claimed,
            dir: id.to_string(),
        });
    }
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
    let stored = record.get("stored_metadata").and_then(Value::as_object);
    // The snapshot's own record first, then the instance it was taken from.
    let hypervisor = str_field(snap, "SourceHypervisor")
        .or_else(|| stored.and_then(|m| str_field(m, "HypervisorType")))
        .map(|h| Hypervisor::from_name(&h));
    let compression = compression(snap);
    let guest = dir.join("guest");
    let mut entry = SourceSnapshot {
        name: str_field(snap, "name").unwrap_or_else(|| id.to_string()),
        id: id.to_string(),
        source: root.to_path_buf(),
        origin: Origin::HypemanSnapshot,
        dir: guest.clone(),
        hypervisor: hypervisor
            .clone()
            .unwrap_or(Hypervisor::Unknown(String::new())),
        kind,
        format: MemoryFormat::None,
        memory_compression: None,
        memory: None,
        memory_size: MemorySize::Unknown,
        memory_file_bytes: None,
        compression: Some(compression.clone()),
        payload_bytes: u64_field(snap, "size_bytes"),
        device_state: Vec::new(),
        created_at: str_field(snap, "created_at"),
        instance: None,
        instance_dir: Some(guest.clone()),
        recorded_dir: stored
            .and_then(|m| str_field(m, "DataDir"))
            .map(PathBuf::from)
            .filter(|p| p.is_absolute()),
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
        entry.memory_compression = mem.compression;
        entry.memory_size = mem.memory_size(compression.uncompressed_bytes);
        entry.memory_file_bytes = Some(mem.file_bytes);
        entry.memory = Some(mem.path);
        entry.device_state = device_state;
    }
    Ok(entry)
}

/// The memory file of a standby `snapshot-latest/`, which must exist:
/// vz's saved machine, else the first of Hypeman's candidates.
fn standby_memory(
    latest: &Path,
    hypervisor: Option<&Hypervisor>,
) -> Result<MemoryFile, SourceError> {
    is_dir(latest)?;
    if matches!(hypervisor, None | Some(Hypervisor::Vz))
        && let Some(vz) = memory::find_vz(latest)?
    {
        return Ok(vz);
    }
    memory::find_memory(latest, &HYPEMAN_MEMORY, hypervisor)?.ok_or_else(|| SourceError::NoMemory {
        dir: latest.to_path_buf(),
        looked_for: if hypervisor == Some(&Hypervisor::Vz) {
            memory::VZ_MACHINE_STATE.to_string()
        } else {
            HYPEMAN_MEMORY.join(", ")
        },
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
/// `memory-ranges` is Cloud Hypervisor's, a `QEVM` stream QEMU's,
/// `machine-state.vzm` vz's, `memory` beside `state` Firecracker's.
fn infer_hypervisor(mem: &MemoryFile, device_state: &[PathBuf]) -> Hypervisor {
    let name = mem
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let has = |n: &str| device_state.iter().any(|p| p.ends_with(n));
    if mem.format == MemoryFormat::VzMachineState {
        Hypervisor::Vz
    } else if name.starts_with("memory-ranges") {
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
