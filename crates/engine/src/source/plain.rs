//! Plain snapshot directories and single memory files.
//!
//! Firecracker lets its caller name the files (`mem_file_path`,
//! `snapshot_path`); the usual names are recognised: memory `memory`, `mem`,
//! `*.mem` (Cloud Hypervisor: `memory-ranges`), each possibly `.zst`/`.lz4`;
//! device state `state`, `vmstate`, `*.snap`, `*.vmstate` (Cloud Hypervisor:
//! `state.json`, `config.json`). `vm1.mem` pairs with `vm1.snap`; a lone
//! memory file takes every device-state file of the directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::memory::{self, Expect, MemoryFile};
use super::{
    Hypervisor, Listed, MemoryFormat, Origin, SnapshotKind, SourceError, SourceProblem,
    SourceSnapshot,
};

/// A memory file name's stem ("" for the directory-wide names) and what the
/// name promises.
fn memory_name(name: &str) -> Option<(String, Expect)> {
    let (expect, base) = Expect::from_name(name);
    match base {
        "memory" | "mem" | "memory-ranges" => Some((String::new(), expect)),
        _ => base
            .strip_suffix(".mem")
            .filter(|stem| !stem.is_empty())
            .map(|stem| (stem.to_string(), expect)),
    }
}

/// A device-state file name's stem ("" for the directory-wide names).
/// `config.json` counts only when pairing, not for detection.
fn state_name(name: &str, pairing: bool) -> Option<String> {
    match name {
        "state" | "vmstate" | "state.json" => Some(String::new()),
        "config.json" if pairing => Some(String::new()),
        _ => name
            .strip_suffix(".snap")
            .or_else(|| name.strip_suffix(".vmstate"))
            .filter(|stem| !stem.is_empty())
            .map(str::to_owned),
    }
}

/// File names in `dir`, sorted (non-UTF-8 names cannot be any of ours).
fn names(dir: &Path) -> Result<Vec<String>, SourceError> {
    let list_err = |source| SourceError::ListDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list_err)? {
        if let Some(name) = entry.map_err(list_err)?.file_name().to_str() {
            out.push(name.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// Whether `dir` holds a memory file and a device-state file.
pub(super) fn looks_like(dir: &Path) -> Result<bool, SourceError> {
    let names = names(dir)?;
    Ok(names.iter().any(|n| memory_name(n).is_some())
        && names.iter().any(|n| state_name(n, false).is_some()))
}

/// One entry per memory stem (raw preferred over compressed, as Hypeman
/// does), each with its device state.
pub(super) fn list_dir(dir: &Path) -> Vec<Listed> {
    let names = match names(dir) {
        Ok(n) => n,
        Err(error) => {
            return vec![Listed::Problem(SourceProblem {
                path: dir.to_path_buf(),
                id: None,
                origin: Origin::SnapshotDir,
                error,
            })];
        }
    };
    let mut memories: BTreeMap<String, (String, Expect)> = BTreeMap::new();
    for name in &names {
        if let Some((stem, expect)) = memory_name(name) {
            let better = memories
                .get(&stem)
                .is_none_or(|(_, had)| *had != Expect::Raw && expect == Expect::Raw);
            if better {
                memories.insert(stem, (name.clone(), expect));
            }
        }
    }
    let lone = memories.len() == 1;
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".into());
    let mut out = Vec::new();
    for (stem, (file, expect)) in memories {
        let states: Vec<&str> = names
            .iter()
            .filter(|n| state_name(n, true).is_some_and(|s| lone || s == stem))
            .map(String::as_str)
            .collect();
        let name = if stem.is_empty() {
            dir_name.clone()
        } else {
            stem
        };
        let path = dir.join(&file);
        match dir_entry(dir, &path, expect, &states) {
            Ok(mut s) => {
                s.name = name;
                s.id = file;
                out.push(Listed::Snapshot(s));
            }
            Err(error) => out.push(Listed::Problem(SourceProblem {
                path,
                id: Some(file),
                origin: Origin::SnapshotDir,
                error,
            })),
        }
    }
    out
}

fn dir_entry(
    dir: &Path,
    path: &Path,
    expect: Expect,
    states: &[&str],
) -> Result<SourceSnapshot, SourceError> {
    let mem = memory::inspect(path, expect, None)?;
    let device_state = memory::device_state(dir, states)?;
    let ch = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("memory-ranges"))
        || states.contains(&"state.json");
    let hypervisor = if mem.format == MemoryFormat::QemuMigrationStream {
        Hypervisor::Qemu
    } else if ch {
        Hypervisor::CloudHypervisor
    } else {
        Hypervisor::Firecracker
    };
    Ok(entry(
        dir,
        dir,
        mem,
        hypervisor,
        device_state,
        Origin::SnapshotDir,
    ))
}

/// A single memory file: its format told by its magic bytes alone.
pub(super) fn list_file(path: &Path) -> Listed {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match memory::inspect(path, Expect::Sniff, None) {
        Ok(mem) => {
            let hypervisor = if mem.format == MemoryFormat::QemuMigrationStream {
                Hypervisor::Qemu
            } else {
                Hypervisor::Unknown(String::new())
            };
            let dir = path.parent().unwrap_or(Path::new("/"));
            let mut s = entry(path, dir, mem, hypervisor, Vec::new(), Origin::MemoryFile);
            s.name = Expect::from_name(&file).1.to_string();
            s.id = file;
            Listed::Snapshot(s)
        }
        Err(error) => Listed::Problem(SourceProblem {
            path: path.to_path_buf(),
            id: Some(file),
            origin: Origin::MemoryFile,
            error,
        }),
    }
}

fn entry(
    source: &Path,
    dir: &Path,
    mem: MemoryFile,
    hypervisor: Hypervisor,
    device_state: Vec<PathBuf>,
    origin: Origin,
) -> SourceSnapshot {
    SourceSnapshot {
        name: String::new(),
        id: String::new(),
        source: source.to_path_buf(),
        origin,
        dir: dir.to_path_buf(),
        hypervisor,
        kind: SnapshotKind::Standby,
        format: mem.format,
        memory_compression: mem.compression,
        memory_size: mem.memory_size(None),
        memory_file_bytes: Some(mem.file_bytes),
        memory: Some(mem.path),
        compression: None,
        payload_bytes: None,
        device_state,
        created_at: None,
        instance: None,
        instance_dir: None,
        recorded_dir: None,
        read_only: true,
    }
}
