//! Metadata files: `snapshot.json` and `fork.json`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{StoreError, io_at};
use crate::files::{MAX_METADATA_BYTES, read_bounded};
use crate::vmm::VmmKind;

/// File name of a snapshot's metadata.
pub const SNAPSHOT_META: &str = "snapshot.json";
/// File name of a fork's metadata.
pub const FORK_META: &str = "fork.json";
/// Raw guest memory of a snapshot or fork.
pub const MEMORY_FILE: &str = "memory";
/// Device state for the VMM.
pub const STATE_FILE: &str = "state";
/// The guest's log (sim: written by the guest; qemu: the serial console).
pub const GUEST_LOG: &str = "guest.log";

/// Contents of `snapshot.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Always "standby".
    pub kind: String,
    /// Which VMM restores it.
    pub vmm: VmmKind,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Apparent size of the memory file in bytes.
    pub memory_size: u64,
    /// VMM-specific fields (e.g. the QEMU command parameters; an imported
    /// snapshot's layout and origin).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub vmm_config: serde_json::Value,
    /// The address forks' ack sockets bind unless a fork says otherwise
    /// (`--ack-bind`): a guest on a TAP or bridge network cannot reach
    /// 127.0.0.1. Absent: 127.0.0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_bind: Option<std::net::IpAddr>,
    /// What the snapshot is for, in one line (shown in the TUI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A snapshot in the store.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    /// Its name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Parsed `snapshot.json`.
    pub meta: SnapshotMeta,
    /// Apparent size of `memory`.
    pub memory_size: u64,
    /// Bytes allocated on disk for `memory`.
    pub allocated: u64,
}

impl SnapshotInfo {
    /// Load from a snapshot directory.
    pub fn load(dir: &Path) -> Result<SnapshotInfo, StoreError> {
        let meta: SnapshotMeta = read_json(&dir.join(SNAPSHOT_META))?;
        let mem = dir.join(MEMORY_FILE);
        let md = crate::files::open_regular(&mem)?
            .metadata()
            .map_err(io_at(&mem))?;
        Ok(SnapshotInfo {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir: dir.to_path_buf(),
            meta,
            memory_size: md.len(),
            allocated: md.blocks() * 512,
        })
    }
    /// Path of the memory file.
    pub fn memory_path(&self) -> PathBuf {
        self.dir.join(MEMORY_FILE)
    }
    /// Path of the state file.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }
}

/// Read and parse a JSON metadata file: non-blocking, regular files only,
/// at most [`MAX_METADATA_BYTES`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StoreError> {
    let text = read_bounded(path, MAX_METADATA_BYTES, "a metadata file")?;
    serde_json::from_slice(&text).map_err(|source| StoreError::BadMeta {
        path: path.to_path_buf(),
        source,
    })
}

/// Write JSON to `path` via a temporary file and rename, so readers never see
/// half a file. The file is owner-only (0600): metadata names mailboxes and
/// ports, and drafts hold payloads.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|source| StoreError::BadMeta {
        path: path.to_path_buf(),
        source,
    })?;
    text.push(b'\n');
    // A fresh hidden name beside `path` (same filesystem, so the rename is
    // atomic); removed if anything fails before the rename.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = format!(
        ".{}.",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(io_at(path))?;
    std::io::Write::write_all(&mut tmp, &text).map_err(io_at(tmp.path()))?;
    tmp.persist(path).map_err(|e| io_at(path)(e.error))?;
    Ok(())
}

/// Now as RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}
