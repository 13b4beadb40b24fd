//! Import: a read-only source snapshot becomes a store snapshot. The memory
//! is copied sparse (reflink where the filesystems allow, else data extents
//! only) or, when compressed, decompressed straight into a sparse file; the
//! device state is copied beside it under the VMM's own names; and the
//! files that device state names (disks, kernel, initrd; Hypeman's
//! `firecracker-config.json`) are copied into `files/`, so that an export
//! can later make every path point into its own directory
//! ([`super::rewrite`]) with the disks of the moment the memory was taken.
//! What cannot be exported safely is recorded with the reason; the import
//! itself still succeeds (markers, patched forks).
//!
//! A Hypeman instance that leaves standby while it is imported (its VMM
//! socket appears, a file copied changes) fails the import: the copy would
//! not be one snapshot. The snapshot is built in a hidden directory and
//! renamed into place, so a failed or cancelled import leaves nothing.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::rewrite::{self, ExportPlan, FC_RESTORE_METADATA, FILES_DIR, RewriteError, Role};
use super::{ImportOrigin, ImportedConfig, SparseLimits, TransferError, decompress_sparse};
use crate::copy::copy_memory;
use crate::source::{Hypervisor, MemoryFormat, Origin, SnapshotKind, SourceSnapshot};
use crate::store::{MEMORY_FILE, STATE_FILE, SnapshotInfo, SnapshotMeta, Store, ValidName};
use crate::template::common::SnapshotDraft;
use crate::vmm::VmmKind;

/// Firecracker's device-state names, in order of preference (the first
/// present is copied as `state`).
const FIRECRACKER_STATE: [&str; 2] = ["state", "vmstate"];
/// Cloud Hypervisor's device-state files, kept under their own names.
const CLOUD_HYPERVISOR_STATE: [&str; 2] = ["config.json", "state.json"];

/// What an import made.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The new store snapshot.
    pub snapshot: SnapshotInfo,
    /// How the memory was copied: `reflink`, `sparse copy`, or
    /// `decompressed zstd` / `decompressed lz4`.
    pub method: String,
    /// Bytes of data in the new memory file (the rest are holes).
    pub data_bytes: u64,
    /// Device-state files copied, by their names in the store.
    pub device_state: Vec<String>,
}

/// The store VMM of a source snapshot: Firecracker and Cloud Hypervisor
/// (no driver: forks run `--no-restore`); anything else cannot be imported.
pub fn vmm_of(snap: &SourceSnapshot) -> Result<VmmKind, TransferError> {
    let not = |reason: String| TransferError::NotImportable {
        name: snap.name.clone(),
        reason,
    };
    match &snap.hypervisor {
        Hypervisor::Firecracker => Ok(VmmKind::Firecracker),
        Hypervisor::CloudHypervisor => Ok(VmmKind::CloudHypervisor),
        Hypervisor::Qemu => Err(not(
            "a QEMU snapshot's memory file is a migration stream, not raw guest RAM".into(),
        )),
        Hypervisor::Vz => Err(not(
            "a vz snapshot's machine-state.vzm is Apple's opaque saved-machine format (device \
             state and memory together): there is no guest RAM to scan or patch"
                .into(),
        )),
        Hypervisor::Unknown(h) if h.is_empty() => Err(not(
            "nothing says which VMM it belongs to: import its snapshot directory (the memory beside its device state), not the memory file alone".into(),
        )),
        Hypervisor::Unknown(h) => Err(not(format!("forkmail does not know the VMM {h:?}"))),
    }
}

/// The store name an import takes by default: the snapshot's name in
/// lowercase with anything outside `[a-z0-9-]` turned into `-`, when that
/// follows the naming rule.
pub fn default_import_name(snap: &SourceSnapshot) -> Option<String> {
    let mut name: String = snap
        .name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches('-').chars().take(63).collect();
    let name = name.trim_end_matches('-').to_string();
    ValidName::new(&name).ok().map(|_| name)
}

/// The longest memory an import decompresses when its snapshot records no
/// size (a plain directory's `memory.zst`, a lone compressed file): 64 GiB.
/// A few KiB of zstd can hold a TiB of zeros; `import --max-memory` raises
/// the limit for a larger guest.
pub const DEFAULT_MAX_UNRECORDED_MEMORY: u64 = 64 << 30;

/// Free space an import leaves on the store's filesystem (the memory copy
/// stops short of it).
pub const FREE_SPACE_RESERVE: u64 = 64 << 20;

/// How an import may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Without a recorded size, the longest memory decompressed.
    pub max_unrecorded_memory: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            max_unrecorded_memory: DEFAULT_MAX_UNRECORDED_MEMORY,
        }
    }
}

/// Copy `snap` into `store` as snapshot `name`. `progress(done, total)`
/// reports bytes of memory (uncompressed); `total` is 0 while unknown.
pub fn import_snapshot(
    store: &Store,
    snap: &SourceSnapshot,
    name: &str,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Imported, TransferError> {
    import_snapshot_with(
        store,
        snap,
        name,
        &ImportOptions::default(),
        cancel,
        progress,
    )
}

/// [`import_snapshot`] with `options`. Before anything is written, the
/// store's filesystem must have room for the data (a raw memory's data
/// extents, at least a compressed memory's own size, and the device
/// state); a compressed memory is decompressed only as far as its
/// recorded size (or `options`' limit) and the room there is.
pub fn import_snapshot_with(
    store: &Store,
    snap: &SourceSnapshot,
    name: &str,
    options: &ImportOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Imported, TransferError> {
    let not = |reason: &str| TransferError::NotImportable {
        name: snap.name.clone(),
        reason: reason.into(),
    };
    if snap.kind != SnapshotKind::Standby {
        return Err(not(
            "a stopped snapshot holds no memory: only standby snapshots can be forked",
        ));
    }
    let vmm = vmm_of(snap)?;
    let Some(memory) = snap.memory.as_ref().filter(|_| snap.scannable()) else {
        return Err(not("it has no raw (or zstd/lz4) memory file"));
    };
    let room = room_for(store, snap, memory)?;
    let before = Identities::of(snap.memory.iter().chain(&snap.device_state));
    let draft = SnapshotDraft::begin(store, name)?;
    let dst = draft.dir().join(MEMORY_FILE);
    let (method, data_bytes) = match snap.format {
        MemoryFormat::Raw => {
            let stats = copy_memory(memory, &dst, cancel, progress)?;
            (stats.method.label().to_string(), stats.data_bytes)
        }
        format => {
            let Some(compression) = format.compression() else {
                return Err(not("its memory format cannot be read"));
            };
            let limits = SparseLimits {
                // Only a size the snapshot records binds (not the file's).
                recorded: match snap.memory_size {
                    crate::source::MemorySize::FromMetadata { bytes } => Some(bytes),
                    _ => None,
                },
                max_size: options.max_unrecorded_memory,
                room,
            };
            let stats =
                decompress_sparse(memory, compression, &dst, &limits, cancel, &mut |d, t| {
                    progress(d, t.unwrap_or(0))
                })?;
            (format!("decompressed {compression}"), stats.data_bytes)
        }
    };
    let device_state = copy_device_state(snap, vmm, draft.dir(), cancel)?;
    let (export, carried) = carry_for_export(snap, vmm, draft.dir(), cancel)?;
    // Nothing changed meanwhile: the copy is one snapshot.
    let changed = before.changed().or_else(|| carried.changed());
    let still = match snap.origin {
        Origin::HypemanStandby | Origin::HypemanSnapshot => {
            crate::source::open_source(&snap.source)
                .and_then(|s| s.find(&snap.id))
                .err()
                .map(|e| e.to_string())
        }
        _ => None,
    };
    if let Some(what) = changed.or(still) {
        return Err(TransferError::SourceChanged {
            name: snap.name.clone(),
            what,
        });
    }
    #[cfg(feature = "test-hooks")]
    crate::test_hooks::hold_point_if_asked("import", Some(cancel));
    let size = std::fs::metadata(&dst)
        .map_err(|source| TransferError::Io {
            context: format!("stat {}", dst.display()),
            source,
        })?
        .len();
    let config = ImportedConfig {
        device_state: device_state.clone(),
        imported_from: ImportOrigin {
            source: snap.source.clone(),
            id: snap.id.clone(),
            name: snap.name.clone(),
            memory: memory.clone(),
            format: snap.format.label().into(),
            created_at: snap.created_at.clone(),
        },
        export: Some(export),
    };
    let meta = SnapshotMeta {
        kind: "standby".into(),
        vmm,
        created_at: crate::store::now_rfc3339(),
        memory_size: size,
        vmm_config: serde_json::to_value(&config).unwrap_or_default(),
        ack_bind: None,
        description: Some(format!(
            "imported from {} ({})",
            snap.dir.display(),
            snap.hypervisor.label()
        )),
    };
    Ok(Imported {
        snapshot: draft.commit(&meta)?,
        method,
        data_bytes,
        device_state,
    })
}

/// The data bytes an import may write: the free space of the store's
/// filesystem less [`FREE_SPACE_RESERVE`] — refused up front when even what
/// is surely needed (a raw memory's data, a compressed memory's own size,
/// the device state) does not fit.
fn room_for(store: &Store, snap: &SourceSnapshot, memory: &Path) -> Result<u64, TransferError> {
    use std::os::unix::fs::MetadataExt;
    let dir = store.snapshots_dir();
    let free = crate::store::free_space(&dir).map_err(|source| TransferError::Io {
        context: format!("free space of {}", dir.display()),
        source,
    })?;
    let size_of = |p: &Path, allocated: bool| {
        std::fs::metadata(p)
            .map(|m| if allocated { m.blocks() * 512 } else { m.len() })
            .unwrap_or(0)
    };
    // Raw: its data extents are copied; compressed: its data is seldom less
    // than the compressed file (the rest is checked as it is written).
    let memory_needs = size_of(memory, snap.format == MemoryFormat::Raw);
    let needed = memory_needs
        + snap
            .device_state
            .iter()
            .map(|p| size_of(p, false))
            .sum::<u64>();
    let room = free.saturating_sub(FREE_SPACE_RESERVE);
    if needed > room {
        return Err(TransferError::NoRoom {
            dir,
            needed,
            free: room,
        });
    }
    Ok(room)
}

/// Copy the device state into `dir`: Firecracker's (`state`, `vmstate`,
/// `*.snap`, `*.vmstate`) as `state`, Cloud Hypervisor's `config.json` and
/// `state.json` as they are.
fn copy_device_state(
    snap: &SourceSnapshot,
    vmm: VmmKind,
    dir: &Path,
    cancel: &AtomicBool,
) -> Result<Vec<String>, TransferError> {
    let named = |name: &str| {
        snap.device_state
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n == name))
    };
    let mut pairs = Vec::new();
    match vmm {
        VmmKind::CloudHypervisor => {
            for name in CLOUD_HYPERVISOR_STATE {
                if let Some(p) = named(name) {
                    pairs.push((p.clone(), name.to_string()));
                }
            }
        }
        _ => {
            let first = FIRECRACKER_STATE.iter().find_map(|n| named(n)).or_else(|| {
                snap.device_state
                    .iter()
                    .find(|p| p.extension().is_some_and(|e| e == "snap" || e == "vmstate"))
            });
            if let Some(p) = first {
                pairs.push((p.clone(), STATE_FILE.to_string()));
            }
        }
    }
    let mut out = Vec::new();
    for (src, name) in pairs {
        copy_memory(&src, &dir.join(&name), cancel, &mut |_, _| {})?;
        out.push(name);
    }
    Ok(out)
}

/// Where the device state's paths point for `snap`: a Hypeman snapshot's
/// instance directory stands for the directory its metadata recorded (and,
/// for a Firecracker fork Hypeman could not rewrite in place, for its
/// alias source); a plain directory's paths are where they say.
fn layout(snap: &SourceSnapshot, vmm: VmmKind) -> rewrite::SourceLayout {
    let mut recorded_dirs: Vec<PathBuf> = snap.recorded_dir.iter().cloned().collect();
    if let Some(guest) = &snap.instance_dir {
        if vmm == VmmKind::Firecracker
            && let Some(alias) = rewrite::fc_alias_source_dir(guest)
        {
            recorded_dirs.push(alias);
        }
        if recorded_dirs.is_empty() {
            recorded_dirs.push(guest.clone());
        }
    } else {
        recorded_dirs.push(snap.dir.clone());
    }
    // `<data>/guests/<id>` as recorded: `<data>` is the source's root now.
    let recorded_root = snap
        .recorded_dir
        .as_deref()
        .filter(|_| {
            matches!(
                snap.origin,
                Origin::HypemanStandby | Origin::HypemanSnapshot
            )
        })
        .and_then(|d| {
            let guests = d.parent()?;
            (guests.file_name()? == "guests").then(|| guests.parent().map(Path::to_path_buf))?
        })
        .filter(|was| was != &snap.source)
        .map(|was| (was, snap.source.clone()));
    rewrite::SourceLayout {
        vmm,
        snapshot_dir: snap.dir.clone(),
        guest_dir: snap.instance_dir.clone(),
        recorded_dirs,
        recorded_root,
    }
}

/// Classify the device state copied into `dir` and carry the files it
/// names into `dir/files/` (and Hypeman's `firecracker-config.json` beside
/// it). What cannot be exported is recorded, not an error; a copy that
/// fails is.
fn carry_for_export(
    snap: &SourceSnapshot,
    vmm: VmmKind,
    dir: &Path,
    cancel: &AtomicBool,
) -> Result<(ExportPlan, Identities), TransferError> {
    let layout = layout(snap, vmm);
    let mut plan = match rewrite::classify(&layout, dir) {
        Ok(plan) => plan,
        Err(RewriteError::Refused(r)) => {
            return Ok((
                ExportPlan {
                    recorded_dirs: layout
                        .recorded_dirs
                        .iter()
                        .map(|d| d.to_string_lossy().into_owned())
                        .collect(),
                    refused: Some(r),
                    ..ExportPlan::default()
                },
                Identities::default(),
            ));
        }
        Err(e) => {
            return Ok((
                ExportPlan {
                    refused: Some(rewrite::Refusal {
                        location: "device state".into(),
                        value: String::new(),
                        reason: format!("it cannot be read: {e}"),
                    }),
                    ..ExportPlan::default()
                },
                Identities::default(),
            ));
        }
    };
    // Each file as it was before it was copied, compared again at the end.
    let mut carried = Identities::default();
    let mut used: Vec<String> = Vec::new();
    for p in plan.paths.iter_mut().filter(|p| p.role == Role::File) {
        let from = layout.resolve(Path::new(&p.path));
        let base = from
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let mut name = base.clone();
        let mut n = 2;
        while used.contains(&name) {
            name = format!("{n}-{base}");
            n += 1;
        }
        used.push(name.clone());
        let files = dir.join(FILES_DIR);
        crate::store::private_dir(&files).map_err(|source| TransferError::Io {
            context: format!("create {}", files.display()),
            source,
        })?;
        carried.push(&from);
        copy_memory(&from, &files.join(&name), cancel, &mut |_, _| {})?;
        p.stored = Some(format!("{FILES_DIR}/{name}"));
    }
    if plan.fc_restore_metadata
        && let Some(guest) = &snap.instance_dir
    {
        let from = guest.join(FC_RESTORE_METADATA);
        carried.push(&from);
        copy_memory(
            &from,
            &dir.join(FC_RESTORE_METADATA),
            cancel,
            &mut |_, _| {},
        )?;
    }
    Ok((plan, carried))
}

/// A file's identity: device, inode, size, mtime (seconds, nanoseconds).
type FileId = (u64, u64, u64, i64, i64);

/// Files as they were when first seen (none: not there).
#[derive(Debug, Default)]
struct Identities(Vec<(PathBuf, Option<FileId>)>);

impl Identities {
    fn id(path: &Path) -> Option<FileId> {
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
    }

    fn of<'a>(paths: impl Iterator<Item = &'a PathBuf>) -> Identities {
        Identities(paths.map(|p| (p.clone(), Identities::id(p))).collect())
    }

    fn push(&mut self, path: &Path) {
        self.0.push((path.to_path_buf(), Identities::id(path)));
    }

    /// The first file that is not what it was, said as such.
    fn changed(&self) -> Option<String> {
        self.0
            .iter()
            .find(|(p, id)| Identities::id(p) != *id)
            .map(|(p, _)| format!("{} changed while it was copied", p.display()))
    }
}
