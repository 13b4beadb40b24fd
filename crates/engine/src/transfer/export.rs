//! Export: a patched fork written out in the layout of the VMM its snapshot
//! belongs to, so a person can restore it with their own VMM on a host that
//! has one: Firecracker `memory` + `state`; Cloud Hypervisor
//! `memory-ranges` + `config.json` + `state.json`; forkmail's own VMMs
//! `memory` + `state`. The memory is a sparse copy of the fork's patched
//! file; the device state is copied from the snapshot, unchanged.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::{ImportedConfig, TransferError};
use crate::copy::copy_memory;
use crate::store::{STATE_FILE, SnapshotInfo};
use crate::vmm::VmmKind;

/// What an export wrote, and how to take it back (a session that fails
/// after its export removes it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The directory.
    pub dir: PathBuf,
    /// Files written, by name.
    pub files: Vec<String>,
    /// Whether the export made the directory (else it was there, empty).
    created_dir: bool,
}

impl Exported {
    /// Remove what the export wrote.
    pub fn undo(&self) {
        for f in &self.files {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        if self.created_dir {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// The export's file names for `snapshot`: the memory file's, and each
/// device-state file of the snapshot directory with the name it gets.
pub fn export_layout(snapshot: &SnapshotInfo) -> (&'static str, Vec<(PathBuf, String)>) {
    let memory = match snapshot.meta.vmm {
        VmmKind::CloudHypervisor => "memory-ranges",
        _ => "memory",
    };
    let names: Vec<String> =
        serde_json::from_value::<ImportedConfig>(snapshot.meta.vmm_config.clone())
            .map(|c| c.device_state)
            .unwrap_or_else(|_| vec![STATE_FILE.to_string()]);
    let state = names
        .into_iter()
        // Names come from snapshot.json: only plain file names are used.
        .filter(|n| Path::new(n).file_name().is_some_and(|f| f == n.as_str()))
        .map(|n| (snapshot.dir.join(&n), n))
        .filter(|(p, _)| p.is_file())
        .collect();
    (memory, state)
}

/// Refuse, before anything is written, a target that is neither new (its
/// parent existing) nor an empty directory.
pub fn check_export_target(dir: &Path) -> Result<(), TransferError> {
    let bad = |reason: String| TransferError::ExportTarget {
        dir: dir.to_path_buf(),
        reason,
    };
    match std::fs::symlink_metadata(dir) {
        Ok(md) if md.is_dir() => {
            let mut entries = std::fs::read_dir(dir).map_err(|e| bad(e.to_string()))?;
            if entries.next().is_some() {
                return Err(bad(
                    "the directory is not empty (an export never overwrites)".into(),
                ));
            }
            Ok(())
        }
        Ok(_) => Err(bad("exists and is not a directory".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = dir
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if parent.is_dir() {
                Ok(())
            } else {
                Err(bad(format!(
                    "its parent {} is not a directory",
                    parent.display()
                )))
            }
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Write the fork's patched `memory` and the snapshot's device state to
/// `dir` (new, or an empty directory). On failure nothing stays.
pub fn export_fork(
    snapshot: &SnapshotInfo,
    fork_memory: &Path,
    dir: &Path,
    cancel: &AtomicBool,
) -> Result<Exported, TransferError> {
    check_export_target(dir)?;
    let created_dir = !dir.exists();
    if created_dir {
        crate::store::private_dir(dir).map_err(|source| TransferError::Io {
            context: format!("create {}", dir.display()),
            source,
        })?;
    }
    let mut out = Exported {
        dir: dir.to_path_buf(),
        files: Vec::new(),
        created_dir,
    };
    let (memory, state) = export_layout(snapshot);
    let mut copy = |src: &Path, name: &str| -> Result<(), TransferError> {
        let dst = dir.join(name);
        if let Err(e) = copy_memory(src, &dst, cancel, &mut |_, _| {}) {
            // The directory was empty: a half-written file here is ours.
            let _ = std::fs::remove_file(&dst);
            return Err(e.into());
        }
        out.files.push(name.to_string());
        Ok(())
    };
    let mut result = copy(fork_memory, memory);
    for (src, name) in &state {
        if result.is_err() {
            break;
        }
        result = copy(src, name);
    }
    match result {
        Ok(()) => Ok(out),
        Err(e) => {
            out.undo();
            Err(e)
        }
    }
}
