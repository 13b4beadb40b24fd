//! Metadata files: `snapshot.json` and `fork.json`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{StoreError, io_at};

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

/// Which VMM a snapshot belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmmKind {
    /// The built-in simulator.
    Sim,
    /// QEMU.
    Qemu,
}

impl VmmKind {
    /// Lowercase label.
    pub fn label(self) -> &'static str {
        match self {
            VmmKind::Sim => "sim",
            VmmKind::Qemu => "qemu",
        }
    }
}

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
    /// VMM-specific fields (e.g. the QEMU command parameters).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub vmm_config: serde_json::Value,
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
        let md = std::fs::metadata(&mem).map_err(io_at(&mem))?;
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

/// Lifecycle of a fork as recorded on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForkStatus {
    /// The session is still running.
    Creating,
    /// Patched but never restored (`--no-restore`).
    Patched,
    /// The VM was started; see the pid for liveness.
    Running,
    /// Stopped by `forkmail stop`.
    Stopped,
}

/// One mailbox written into a fork.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchedMailbox {
    /// Mailbox name.
    pub name: String,
    /// Marker offset in the memory file.
    pub offset: u64,
    /// Bytes written as payload.
    pub bytes: usize,
    /// Ack port, when waiting for an ack.
    #[serde(default)]
    pub ack_port: Option<u16>,
    /// Whether the ack arrived.
    #[serde(default)]
    pub acked: bool,
}

/// How long one stage took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTiming {
    /// Stage name.
    pub stage: String,
    /// Milliseconds from session start to the end of the stage.
    pub elapsed_ms: u64,
}

/// Contents of `fork.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForkMeta {
    /// Source snapshot name.
    pub source: String,
    /// VMM that runs it.
    pub vmm: VmmKind,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Lifecycle.
    pub status: ForkStatus,
    /// Zero-copy fork (maps the template privately).
    #[serde(default)]
    pub zero_copy: bool,
    /// Process id of the VMM (sim: the guest process).
    #[serde(default)]
    pub pid: Option<u32>,
    /// Mailboxes patched.
    #[serde(default)]
    pub mailboxes: Vec<PatchedMailbox>,
    /// Stage timings.
    #[serde(default)]
    pub stages: Vec<StageTiming>,
    /// VMM-specific fields.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub vmm_config: serde_json::Value,
}

/// A fork in the store.
#[derive(Debug, Clone)]
pub struct ForkInfo {
    /// Its name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Parsed `fork.json`.
    pub meta: ForkMeta,
}

impl ForkInfo {
    /// Load from a fork directory.
    pub fn load(dir: &Path) -> Result<ForkInfo, StoreError> {
        Ok(ForkInfo {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir: dir.to_path_buf(),
            meta: read_json(&dir.join(FORK_META))?,
        })
    }
    /// Write `fork.json` atomically.
    pub fn save(&self) -> Result<(), StoreError> {
        write_json_atomic(&self.dir.join(FORK_META), &self.meta)
    }
    /// Path of the guest log.
    pub fn guest_log(&self) -> PathBuf {
        self.dir.join(GUEST_LOG)
    }
}

/// Read and parse a JSON file.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StoreError> {
    let text = std::fs::read(path).map_err(io_at(path))?;
    serde_json::from_slice(&text).map_err(|source| StoreError::BadMeta {
        path: path.to_path_buf(),
        source,
    })
}

/// Write JSON to `path` via a temporary file and rename, so readers never see
/// half a file.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|source| StoreError::BadMeta {
        path: path.to_path_buf(),
        source,
    })?;
    text.push(b'\n');
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, &text).map_err(io_at(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_at(path))
}

/// Now as RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}
