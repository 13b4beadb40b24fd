//! Device state that restores as a fork: every path a Firecracker or Cloud
//! Hypervisor snapshot's device state names is made to point into the
//! export directory DIR, so a VMM restoring DIR opens DIR's copies — never
//! the source instance's writable disk, sockets or memory.
//!
//! Hypeman's own fork does the same for its fork directory
//! (`rewriteSnapshotConfigForFork`, `lib/hypervisor/cloudhypervisor/fork_snapshot.go`
//! @a1b7f3b; `rewriteSnapshotStatePathsForFork`,
//! `lib/hypervisor/firecracker/snapshot_state.go` @2211346 — kernel/hypeman
//! `main` as mirrored by mpuig/hypeman 7a99231), but leaves shared images,
//! kernels and initrds where they are. An export must stand alone, so here
//! *every* path moves into DIR:
//!
//! | what the device state names               | role               | in DIR                      |
//! |-------------------------------------------|--------------------|-----------------------------|
//! | disks, pmem, kernel, initrd, firmware     | [`Role::File`]     | `files/<name>` (a copy)     |
//! | vsock / serial / console sockets          | [`Role::Socket`]   | `<name>` (the VMM binds it) |
//! | serial / console log files                | [`Role::Created`]  | `<name>` (the VMM creates)  |
//! | Cloud Hypervisor's memory zone `file`     | [`Role::Memory`]   | `memory-ranges` (patched)   |
//!
//! It happens in two steps. At **import** ([`classify`]) the device state is
//! read and every path in it is given a role — from the field it is in
//! (Cloud Hypervisor's JSON) or from what is on disk (Firecracker's binary
//! state) — and the files are copied into the store snapshot, so the disks
//! an export carries are the ones of the moment the memory was taken, not
//! what the source instance wrote after it resumed. What cannot live in DIR
//! (VFIO, vhost-user, virtio-fs, TPM, a shared memory zone, a path inside
//! a longer string, UFFD overlay pages, …) is recorded as a [`Refusal`]. At
//! **export** ([`rewrite_for_export`]) the device state is rewritten with
//! DIR's paths, in memory, before anything is written; [`paths_outside`]
//! then parses what was written and lists any path that is not in DIR.

mod cloud_hypervisor;
pub mod crc64;
pub mod fc_state;
mod firecracker;
mod restore_doc;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ErrorKind, Kinded};
use crate::files::{ReadError, read_bounded};
use crate::vmm::VmmKind;

pub use fc_state::FcStateError;
pub use firecracker::alias_source_dir as fc_alias_source_dir;
pub use restore_doc::{RESTORE_JSON, RESTORE_MD, restore_json, restore_md};

/// Longest socket path a VMM can bind (`sun_path` is 108 bytes with its NUL).
pub const MAX_SOCKET_PATH: usize = 107;
/// Host devices a device state may name outside DIR (Cloud Hypervisor's
/// `rng.src` default is `/dev/urandom`).
pub const ALLOWED_HOST_DEVICES: [&str; 2] = ["/dev/urandom", "/dev/random"];
/// Sub-directory (of the store snapshot and of DIR) holding carried files.
pub const FILES_DIR: &str = "files";
/// Hypeman's Firecracker restore metadata, in the instance directory
/// (`restoreMetadataFile`, `lib/hypervisor/firecracker/config.go` @6458cf3).
pub const FC_RESTORE_METADATA: &str = "firecracker-config.json";
/// Largest device-state file read (Firecracker limits its own to 10 MiB;
/// Cloud Hypervisor's `state.json` holds every device's state as JSON).
pub const MAX_DEVICE_STATE_BYTES: u64 = 64 << 20;
/// Names in DIR the export writes itself: a socket or log never takes one.
const RESERVED: [&str; 9] = [
    "memory",
    "memory-ranges",
    "state",
    "config.json",
    "state.json",
    FC_RESTORE_METADATA,
    RESTORE_MD,
    RESTORE_JSON,
    FILES_DIR,
];

/// How an export treats a path the device state names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A file the VMM opens (disk, kernel, initrd, firmware, pmem): copied
    /// into the store snapshot at import and into `DIR/files/` at export.
    File,
    /// A socket the VMM binds (vsock, serial, console): `DIR/<name>`.
    Socket,
    /// A file the VMM creates (a serial or console log): `DIR/<name>`.
    Created,
    /// Cloud Hypervisor's memory zone file (a snapshot Hypeman prepared for
    /// kernel paging): the exported, patched `DIR/memory-ranges`.
    Memory,
}

/// One path the device state names, with what the export does with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedPath {
    /// The path, exactly as the device state names it.
    pub path: String,
    /// What it is.
    pub role: Role,
    /// Where it is first named: `config.json:/disks/1/path`, `state:@1234`.
    pub location: String,
    /// [`Role::File`]: its copy in the store snapshot, relative
    /// (`files/overlay.raw`); set by the import that copied it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<String>,
}

/// Why a snapshot's device state cannot be made to live in DIR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// File and JSON pointer (or byte offset) of the value.
    pub location: String,
    /// The value (empty when a whole device is the reason).
    pub value: String,
    /// Why it cannot be rewritten safely.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}: {}", self.location, self.reason)
        } else {
            write!(f, "{} = {:?}: {}", self.location, self.value, self.reason)
        }
    }
}

/// What an import found about exporting a snapshot (kept in the store
/// snapshot's `vmm_config`, under `export`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportPlan {
    /// The directories the device state was written with (Hypeman's
    /// `DataDir`, a fork's alias source), each of which stood for the
    /// instance directory the files were found in.
    pub recorded_dirs: Vec<String>,
    /// Every path the device state names.
    pub paths: Vec<NamedPath>,
    /// Hypeman's `firecracker-config.json` was carried.
    #[serde(default)]
    pub fc_restore_metadata: bool,
    /// Why it cannot be exported safely, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
}

/// Why device state cannot be classified or rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// Something in the device state cannot be made to live in DIR.
    #[error("cannot export safely: {0}")]
    Refused(Refusal),
    /// A device-state file cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A JSON device-state file does not parse or has the wrong shape.
    #[error("{file}: {reason}")]
    BadJson {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// The Firecracker state file cannot be read or rewritten.
    #[error("{file}: {source}")]
    FcState {
        /// The file.
        file: PathBuf,
        /// Why.
        source: FcStateError,
    },
    /// A socket path in DIR would be too long to bind.
    #[error(
        "socket path {path} is {len} bytes; at most {MAX_SOCKET_PATH} fit a Unix socket address: \
         export to a shorter directory"
    )]
    SocketPathTooLong {
        /// The path.
        path: String,
        /// Its length.
        len: usize,
    },
    /// Not a VMM whose device state is rewritten.
    #[error("{0}")]
    Unsupported(String),
}

impl Kinded for RewriteError {
    /// What cannot be exported is a bad request (exit 2); device state that
    /// is not what it should be counts as I/O, as a broken metadata file does.
    fn kind(&self) -> ErrorKind {
        match self {
            RewriteError::Refused(_)
            | RewriteError::SocketPathTooLong { .. }
            | RewriteError::Unsupported(_) => ErrorKind::BadRequest,
            RewriteError::Read(e) => e.kind(),
            RewriteError::BadJson { .. } | RewriteError::FcState { .. } => ErrorKind::Io,
        }
    }
}

pub(crate) fn refused(location: &str, value: &str, reason: impl Into<String>) -> RewriteError {
    RewriteError::Refused(Refusal {
        location: location.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    })
}

/// Lexical normalization: drops `.` and repeated `/`, applies `..` by name
/// (never above the root).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Whether `path` (absolute) is `dir` or inside it, by name.
pub fn is_inside(dir: &Path, path: &Path) -> bool {
    path.is_absolute() && normalize(path).starts_with(normalize(dir))
}

/// Where a snapshot's files are in its source, and which directories its
/// device state names for them.
#[derive(Debug, Clone)]
pub struct SourceLayout {
    /// The VMM (Firecracker or Cloud Hypervisor).
    pub vmm: VmmKind,
    /// The snapshot directory in the source (`…/snapshots/snapshot-latest`,
    /// or a plain snapshot directory).
    pub snapshot_dir: PathBuf,
    /// A Hypeman instance's directory as it is now: `guests/<id>`, or a
    /// central snapshot's `snapshots/<id>/guest`.
    pub guest_dir: Option<PathBuf>,
    /// The directories the device state names for `guest_dir` (metadata
    /// `DataDir`; a Firecracker fork's `snapshot_source_data_dir`).
    pub recorded_dirs: Vec<PathBuf>,
    /// A Hypeman data directory as the device state names it, and where it
    /// is now (a copy or a mount elsewhere: images, kernels and initrds
    /// are found under the source, not at the path of the host it came
    /// from).
    pub recorded_root: Option<(PathBuf, PathBuf)>,
}

impl SourceLayout {
    /// Where a path named by the device state is now: under `guest_dir`
    /// when it is under one of `recorded_dirs`, under the source when it is
    /// under the recorded data directory, else where it says.
    pub fn resolve(&self, recorded: &Path) -> PathBuf {
        let path = normalize(recorded);
        if let Some(guest) = &self.guest_dir {
            for dir in &self.recorded_dirs {
                if let Ok(rel) = path.strip_prefix(normalize(dir)) {
                    return guest.join(rel);
                }
            }
        }
        if let Some((was, is)) = &self.recorded_root
            && let Ok(rel) = path.strip_prefix(normalize(was))
        {
            return is.join(rel);
        }
        path
    }

    fn recorded_strings(&self) -> Vec<String> {
        self.recorded_dirs
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .filter(|d| d.len() > 1)
            .collect()
    }
}

/// Read a device-state file, bounded, read-only, regular files only.
pub(crate) fn read_state(path: &Path) -> Result<Vec<u8>, RewriteError> {
    Ok(read_bounded(path, MAX_DEVICE_STATE_BYTES, "device state")?)
}

pub(crate) fn read_json(path: &Path) -> Result<Value, RewriteError> {
    serde_json::from_slice(&read_state(path)?).map_err(|e| RewriteError::BadJson {
        file: path.to_path_buf(),
        reason: e.to_string(),
    })
}

pub(crate) fn to_json(path: &Path, value: &Value) -> Result<Vec<u8>, RewriteError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| RewriteError::BadJson {
        file: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Classify every path the device state in `state_dir` (the import's
/// copies of the snapshot's device-state files) names, reading the source
/// through `layout` where the role depends on what is on disk. The `stored`
/// names are left for the importer to fill in as it copies the files.
pub fn classify(layout: &SourceLayout, state_dir: &Path) -> Result<ExportPlan, RewriteError> {
    let paths = match layout.vmm {
        VmmKind::CloudHypervisor => cloud_hypervisor::classify(layout, state_dir)?,
        VmmKind::Firecracker => firecracker::classify(layout, state_dir)?,
        other => {
            return Err(RewriteError::Unsupported(format!(
                "{} device state is not rewritten",
                other.label()
            )));
        }
    };
    let fc_restore_metadata = match (&layout.vmm, &layout.guest_dir) {
        (VmmKind::Firecracker, Some(guest)) => {
            firecracker::check_restore_metadata(&guest.join(FC_RESTORE_METADATA))?
        }
        _ => false,
    };
    Ok(ExportPlan {
        recorded_dirs: layout.recorded_strings(),
        paths,
        fc_restore_metadata,
        refused: None,
    })
}

/// A device-state (or restore) file the export writes, by name in DIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Name in DIR.
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// One value changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// File and JSON pointer or byte offset.
    pub location: String,
    /// Old value.
    pub from: String,
    /// New value.
    pub to: String,
}

/// An export's device state, rewritten in memory: nothing is written yet.
#[derive(Debug, Clone, Default)]
pub struct Rewritten {
    /// Files to write in DIR (device state, `firecracker-config.json`).
    pub files: Vec<WrittenFile>,
    /// Carried files to copy: (path in the store snapshot, name in DIR).
    pub copies: Vec<(PathBuf, String)>,
    /// Sockets the restored VMM binds, by name in DIR.
    pub sockets: Vec<String>,
    /// Every value changed.
    pub changes: Vec<Change>,
    /// Host state the export still depends on that is not a path (TAP
    /// devices, vsock CIDs), for RESTORE.md.
    pub notes: Vec<String>,
    /// Firecracker's network overrides (`iface_id`, `host_dev_name`), for
    /// the snapshot load request.
    pub network_overrides: Vec<(String, String)>,
    /// Firecracker's snapshot data version, when Firecracker.
    pub fc_version: Option<String>,
}

/// The path each named path gets in DIR (`dir` absolute, as the VMM will
/// be given it).
fn mapping(plan: &ExportPlan, dir: &Path) -> Result<BTreeMap<String, String>, RewriteError> {
    let mut used: Vec<String> = RESERVED.iter().map(|s| s.to_string()).collect();
    let mut out = BTreeMap::new();
    for p in &plan.paths {
        if out.contains_key(&p.path) {
            continue;
        }
        let new = match p.role {
            Role::Memory => dir.join("memory-ranges"),
            Role::File => {
                let stored = p.stored.as_deref().ok_or_else(|| {
                    refused(&p.location, &p.path, "the import did not carry this file")
                })?;
                dir.join(stored)
            }
            Role::Socket | Role::Created => {
                let base = Path::new(&p.path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| refused(&p.location, &p.path, "path has no file name"))?;
                let mut name = base.clone();
                let mut n = 2;
                while used.contains(&name) {
                    name = format!("{n}-{base}");
                    n += 1;
                }
                used.push(name.clone());
                dir.join(name)
            }
        };
        let new = new.to_string_lossy().into_owned();
        if p.role == Role::Socket && new.len() > MAX_SOCKET_PATH {
            return Err(RewriteError::SocketPathTooLong {
                len: new.len(),
                path: new,
            });
        }
        out.insert(p.path.clone(), new);
    }
    Ok(out)
}

/// Rewrite the device state of the store snapshot in `store_dir` (its
/// copies of the source's files, as [`classify`] found them) for the
/// export directory `dir` (absolute). Reads only; the caller writes.
pub fn rewrite_for_export(
    vmm: VmmKind,
    plan: &ExportPlan,
    store_dir: &Path,
    dir: &Path,
) -> Result<Rewritten, RewriteError> {
    if let Some(r) = &plan.refused {
        return Err(RewriteError::Refused(r.clone()));
    }
    let map = mapping(plan, dir)?;
    let mut out = Rewritten::default();
    for p in &plan.paths {
        if p.role == Role::File
            && let (Some(stored), Some(to)) = (&p.stored, map.get(&p.path))
            && !out
                .copies
                .iter()
                .any(|(_, name)| dir.join(name) == Path::new(to))
        {
            let name = Path::new(to)
                .strip_prefix(dir)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_else(|_| stored.clone());
            out.copies.push((store_dir.join(stored), name));
        }
        if p.role == Role::Socket
            && let Some(to) = map.get(&p.path)
        {
            out.sockets.push(to.clone());
        }
    }
    let recorded: Vec<&str> = plan.recorded_dirs.iter().map(String::as_str).collect();
    match vmm {
        VmmKind::CloudHypervisor => {
            cloud_hypervisor::rewrite(store_dir, &map, &recorded, &mut out)?;
        }
        VmmKind::Firecracker => {
            firecracker::rewrite(store_dir, &map, &recorded, &mut out)?;
            if plan.fc_restore_metadata {
                firecracker::rewrite_restore_metadata(store_dir, &map, &mut out)?;
            }
        }
        other => {
            return Err(RewriteError::Unsupported(format!(
                "{} device state is not rewritten",
                other.label()
            )));
        }
    }
    Ok(out)
}

/// A path in an exported file that points outside DIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    /// The file.
    pub file: PathBuf,
    /// JSON pointer or byte offset.
    pub location: String,
    /// The path.
    pub path: String,
}

/// Parse every file in `files` (`state` as Firecracker's binary state,
/// anything else as JSON, JSON inside JSON strings included) and list every
/// absolute path that is not `dir` or inside it. Host random devices
/// ([`ALLOWED_HOST_DEVICES`]) are not listed.
pub fn paths_outside(dir: &Path, files: &[PathBuf]) -> Result<Vec<Outside>, RewriteError> {
    let mut out = Vec::new();
    for file in files {
        let data = read_state(file)?;
        let mut found: Vec<(String, String)> = Vec::new();
        if file.file_name().is_some_and(|n| n == "state") {
            let (_, strings) =
                fc_state::path_strings(&data).map_err(|source| RewriteError::FcState {
                    file: file.clone(),
                    source,
                })?;
            found.extend(
                strings
                    .into_iter()
                    .map(|s| (format!("@{}", s.len_offset), s.value)),
            );
        } else {
            let value: Value =
                serde_json::from_slice(&data).map_err(|e| RewriteError::BadJson {
                    file: file.clone(),
                    reason: e.to_string(),
                })?;
            collect_json_paths(&value, &mut Vec::new(), &mut found, 0);
        }
        out.extend(
            found
                .into_iter()
                .filter(|(_, p)| !ALLOWED_HOST_DEVICES.contains(&p.as_str()))
                .filter(|(_, p)| !is_inside(dir, Path::new(p)))
                .map(|(location, path)| Outside {
                    file: file.clone(),
                    location,
                    path,
                }),
        );
    }
    Ok(out)
}

/// How deep JSON-in-a-JSON-string is followed (Cloud Hypervisor nests one
/// level: `snapshot_data.state`).
const MAX_NESTED_JSON: usize = 8;

/// A string holding a JSON object or array (Cloud Hypervisor's
/// `snapshot_data.state`).
pub(crate) fn nested_json(s: &str, depth: usize) -> Option<Value> {
    if depth >= MAX_NESTED_JSON {
        return None;
    }
    let t = s.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        serde_json::from_str::<Value>(s)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
    } else {
        None
    }
}

fn collect_json_paths(
    value: &Value,
    pointer: &mut Vec<String>,
    out: &mut Vec<(String, String)>,
    depth: usize,
) {
    match value {
        Value::String(s) => {
            if let Some(inner) = nested_json(s, depth) {
                pointer.push("(json)".into());
                collect_json_paths(&inner, pointer, out, depth + 1);
                pointer.pop();
            } else if s.starts_with('/') {
                out.push((format!("/{}", pointer.join("/")), s.clone()));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointer.push(i.to_string());
                collect_json_paths(item, pointer, out, depth);
                pointer.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                pointer.push(k.clone());
                collect_json_paths(item, pointer, out, depth);
                pointer.pop();
            }
        }
        _ => {}
    }
}

fn pointer_str(file: &str, pointer: &[String]) -> String {
    format!("{file}:/{}", pointer.join("/"))
}

#[cfg(test)]
mod tests;
