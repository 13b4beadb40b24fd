//! `fork.json`: what a session records about the fork it made — written
//! only by the engine and the fork lifecycle.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Stage;
use crate::store::{FORK_META, GUEST_LOG, MEMORY_FILE, StoreError, read_json, write_json_atomic};
use crate::vmm::{ProcessRecord, VmmKind};

/// Lifecycle of a fork as recorded on disk. What is true *now* also depends
/// on the session and the VMM: see [`super::lifecycle::LiveStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForkStatus {
    /// The session has not finished (or died before it could).
    Creating,
    /// Patched but never restored (`--no-restore`).
    Patched,
    /// The session reached `done` with the VM running.
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

/// When a stage ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTiming {
    /// The stage.
    pub stage: Stage,
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
    /// Process id of the VMM (kept for readers of older versions; the
    /// identity that counts is `process`).
    #[serde(default)]
    pub pid: Option<u32>,
    /// The VMM process exactly (pid, start time, boot, arguments), recorded
    /// before the guest ran.
    #[serde(default)]
    pub process: Option<ProcessRecord>,
    /// The memory file the VMM maps (the template's for zero-copy forks).
    #[serde(default)]
    pub memory: Option<PathBuf>,
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

/// A fork in the store with its record.
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
    /// Load from a fork directory (bounded, regular files only).
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
    /// The memory file the fork's VM maps.
    pub fn vm_memory(&self) -> PathBuf {
        self.meta
            .memory
            .clone()
            .unwrap_or_else(|| self.dir.join(MEMORY_FILE))
    }
}
