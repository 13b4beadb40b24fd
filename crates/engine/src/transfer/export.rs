//! Export: a patched fork written out in the layout of the VMM its snapshot
//! belongs to, for a person to restore with their own VMM, as a fork — a VM
//! of its own, not the source instance:
//!
//! | VMM | DIR |
//! |---|---|
//! | Firecracker | `memory` (patched), `state`, `firecracker-config.json` (Hypeman's, when it had one), `files/` (disks, kernel, initrd), `restore.json`, `RESTORE.md` |
//! | Cloud Hypervisor | `memory-ranges` (patched), `config.json`, `state.json`, `files/`, `restore.json`, `RESTORE.md` |
//! | forkmail's own (sim, QEMU) | `memory` + `state`, as forkmail restores them |
//!
//! Every path the Firecracker or Cloud Hypervisor device state names points
//! into DIR ([`super::rewrite`]): disks are private copies (reflink, else
//! sparse), sockets are bound in DIR, a kernel-paging memory zone maps the
//! exported (patched) memory. What cannot be rewritten safely is refused
//! with the reason before anything is written; `keep_source_paths` (the
//! CLI's `--keep-source-paths`, for experts) writes the device state
//! unchanged instead, and says so in `RESTORE.md`. After writing, every
//! exported device-state file is parsed again and any path outside DIR
//! undoes the export.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::rewrite::{
    self, FC_RESTORE_METADATA, FILES_DIR, RESTORE_JSON, RESTORE_MD, Refusal, RewriteError,
    Rewritten, restore_json, restore_md,
};
use super::{ImportedConfig, TransferError};
use crate::copy::copy_memory;
use crate::store::{STATE_FILE, SnapshotInfo};
use crate::vmm::VmmKind;

/// What an export wrote, and how to take it back (a session that fails
/// after its export removes it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The directory, absolute, as the exported device state names it.
    pub dir: PathBuf,
    /// Files written, by name relative to `dir` (`files/overlay.raw`).
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
        let _ = std::fs::remove_dir(self.dir.join(FILES_DIR));
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
    let names: Vec<String> = imported_config(snapshot)
        .map(|c| c.device_state)
        .unwrap_or_else(|| vec![STATE_FILE.to_string()]);
    let state = names
        .into_iter()
        // Names come from snapshot.json: only plain file names are used.
        .filter(|n| Path::new(n).file_name().is_some_and(|f| f == n.as_str()))
        .map(|n| (snapshot.dir.join(&n), n))
        .filter(|(p, _)| p.is_file())
        .collect();
    (memory, state)
}

/// What an export of `snapshot` will do with its device state, as its
/// import found: the files carried and why it would be refused, if it
/// would. `None` for snapshots whose exports are not rewritten.
pub fn export_readiness(snapshot: &SnapshotInfo) -> Option<ExportReadiness> {
    let plan = imported_config(snapshot)?.export?;
    Some(ExportReadiness {
        carried: plan.paths.iter().filter_map(|p| p.stored.clone()).collect(),
        refused: plan.refused,
    })
}

/// See [`export_readiness`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportReadiness {
    /// Files carried in the store snapshot for exports (`files/…`).
    pub carried: Vec<String>,
    /// Why an export would be refused (without `--keep-source-paths`).
    pub refused: Option<Refusal>,
}

fn imported_config(snapshot: &SnapshotInfo) -> Option<ImportedConfig> {
    serde_json::from_value::<ImportedConfig>(snapshot.meta.vmm_config.clone()).ok()
}

/// Where `dir` is, absolute, as the filesystem resolves it (relative to
/// the working directory, links of the existing part followed): the
/// directory the exported device state names, and the one checked against
/// the sources.
pub fn export_dir(dir: &Path) -> PathBuf {
    crate::files::resolve_path(dir)
}

/// Refuse, before anything is written, a target that is neither new (its
/// parent existing) nor an empty directory.
pub fn check_export_target(dir: &Path) -> Result<(), TransferError> {
    let bad = |reason: String| TransferError::ExportTarget {
        dir: dir.to_path_buf(),
        reason,
    };
    let dir = &export_dir(dir);
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
            let parent = dir.parent().unwrap_or(Path::new("/"));
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

/// Refuse, before anything is copied, an export that cannot restore as a
/// fork: the snapshot's device state is rewritten for `dir` in memory (a
/// refusal recorded at import, a socket path too long for `dir`, a
/// snapshot imported before exports were rewritten).
pub fn check_exportable(
    snapshot: &SnapshotInfo,
    dir: &Path,
    keep_source_paths: bool,
) -> Result<(), TransferError> {
    check_export_target(dir)?;
    if !keep_source_paths {
        plan_mode(snapshot, &export_dir(dir))?;
    }
    Ok(())
}

fn plan_mode(snapshot: &SnapshotInfo, dir: &Path) -> Result<Mode, TransferError> {
    let vmm = snapshot.meta.vmm;
    Ok(match vmm {
        VmmKind::Firecracker | VmmKind::CloudHypervisor => {
            let plan = imported_config(snapshot)
                .and_then(|c| c.export)
                .ok_or_else(|| {
                    RewriteError::Refused(Refusal {
                        location: format!("{}/snapshot.json", snapshot.dir.display()),
                        value: String::new(),
                        reason: "the snapshot was imported before forkmail rewrote exported \
                                 device state: import it again (or export with \
                                 --keep-source-paths, whose device state names the source)"
                            .into(),
                    })
                })?;
            Mode::Rewritten(Box::new(rewrite::rewrite_for_export(
                vmm,
                &plan,
                &snapshot.dir,
                dir,
            )?))
        }
        VmmKind::Sim | VmmKind::Qemu => Mode::Own,
    })
}

/// How the device state goes out.
enum Mode {
    /// Every path rewritten into DIR.
    Rewritten(Box<Rewritten>),
    /// Firecracker or Cloud Hypervisor device state copied unchanged
    /// (`keep_source_paths`).
    KeptSourcePaths,
    /// forkmail's own VMMs: memory + state, as forkmail restores them.
    Own,
}

/// Write the fork's patched memory and the snapshot's device state to
/// `dir` (new, or an empty directory), in the snapshot's VMM's layout,
/// every path pointing into `dir` (unless `keep_source_paths`). On failure
/// nothing stays; a refusal comes before anything is written.
pub fn export_fork(
    snapshot: &SnapshotInfo,
    fork_memory: &Path,
    dir: &Path,
    keep_source_paths: bool,
    cancel: &AtomicBool,
) -> Result<Exported, TransferError> {
    check_export_target(dir)?;
    let dir = export_dir(dir);
    let mode = match snapshot.meta.vmm {
        VmmKind::Firecracker | VmmKind::CloudHypervisor if keep_source_paths => {
            Mode::KeptSourcePaths
        }
        _ => plan_mode(snapshot, &dir)?,
    };
    let created_dir = !dir.exists();
    if created_dir {
        crate::store::private_dir(&dir).map_err(|source| TransferError::Io {
            context: format!("create {}", dir.display()),
            source,
        })?;
    }
    let mut out = Exported {
        dir: dir.clone(),
        files: Vec::new(),
        created_dir,
    };
    match write_all(snapshot, fork_memory, &dir, &mode, &mut out, cancel) {
        Ok(()) => Ok(out),
        Err(e) => {
            out.undo();
            Err(e)
        }
    }
}

fn write_all(
    snapshot: &SnapshotInfo,
    fork_memory: &Path,
    dir: &Path,
    mode: &Mode,
    out: &mut Exported,
    cancel: &AtomicBool,
) -> Result<(), TransferError> {
    let (memory, state) = export_layout(snapshot);
    copy_in(fork_memory, dir, memory, out, cancel)?;
    let device_state: Vec<String> = match mode {
        Mode::Own | Mode::KeptSourcePaths => {
            let mut names = Vec::new();
            for (src, name) in &state {
                copy_in(src, dir, name, out, cancel)?;
                names.push(name.clone());
            }
            let fc_meta = snapshot.dir.join(FC_RESTORE_METADATA);
            if matches!(mode, Mode::KeptSourcePaths) && fc_meta.is_file() {
                copy_in(&fc_meta, dir, FC_RESTORE_METADATA, out, cancel)?;
                names.push(FC_RESTORE_METADATA.into());
            }
            names
        }
        Mode::Rewritten(r) => {
            if !r.copies.is_empty() {
                let files = dir.join(FILES_DIR);
                crate::store::private_dir(&files).map_err(|source| TransferError::Io {
                    context: format!("create {}", files.display()),
                    source,
                })?;
            }
            for (src, name) in &r.copies {
                copy_in(src, dir, name, out, cancel)?;
            }
            for f in &r.files {
                write_new(dir, &f.name, &f.bytes, out)?;
            }
            r.files.iter().map(|f| f.name.clone()).collect()
        }
    };
    let rewritten = match mode {
        Mode::Own => return Ok(()),
        Mode::Rewritten(r) => Some(r.as_ref()),
        Mode::KeptSourcePaths => None,
    };
    let vmm = snapshot.meta.vmm;
    let doc = restore_json(vmm, dir, memory, &device_state, rewritten);
    let json = serde_json::to_vec_pretty(&doc).map_err(|e| TransferError::Io {
        context: format!("encode {RESTORE_JSON}"),
        source: std::io::Error::other(e),
    })?;
    write_new(dir, RESTORE_JSON, &json, out)?;
    write_new(dir, RESTORE_MD, restore_md(vmm, dir, &doc).as_bytes(), out)?;
    if rewritten.is_some() {
        // What was written is parsed again: not one path may point outside.
        let mut check: Vec<PathBuf> = device_state.iter().map(|n| dir.join(n)).collect();
        check.push(dir.join(RESTORE_JSON));
        let outside = rewrite::paths_outside(dir, &check)?;
        if let Some(o) = outside.first() {
            return Err(RewriteError::Refused(Refusal {
                location: format!("{}:{}", o.file.display(), o.location),
                value: o.path.clone(),
                reason: "the exported device state still names a path outside the export \
                         directory (a bug in forkmail: please report it); nothing was kept"
                    .into(),
            })
            .into());
        }
    }
    Ok(())
}

/// Copy `src` (sparse, reflink where possible) to the new file `dir/name`.
fn copy_in(
    src: &Path,
    dir: &Path,
    name: &str,
    out: &mut Exported,
    cancel: &AtomicBool,
) -> Result<(), TransferError> {
    let dst = dir.join(name);
    if let Err(e) = copy_memory(src, &dst, cancel, &mut |_, _| {}) {
        // A half-written file here is ours (the copy creates it new);
        // one that was there already is not.
        let theirs = matches!(&e, crate::copy::CopyError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::AlreadyExists);
        if !theirs {
            let _ = std::fs::remove_file(&dst);
        }
        return Err(e.into());
    }
    out.files.push(name.to_string());
    Ok(())
}

/// Write the new owner-only file `dir/name` (never over an existing one).
fn write_new(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    out: &mut Exported,
) -> Result<(), TransferError> {
    let path = dir.join(name);
    let io = |source| TransferError::Io {
        context: format!("write {}", path.display()),
        source,
    };
    let mut f = crate::store::private_file(&path).map_err(io)?;
    out.files.push(name.to_string());
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(())
}
