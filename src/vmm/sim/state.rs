//! The simulator's `state` file: what the simulated guest armed, where.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::files::{MAX_METADATA_BYTES, ReadError, read_bounded};
use crate::guest::GuestFault;

/// What the simulated guest armed: the sim's `state` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimState {
    /// Always "sim".
    pub vmm: String,
    /// Fork mailboxes the guest armed.
    pub mailboxes: Vec<SimMailbox>,
    /// The resume-network mailbox, if armed.
    #[serde(default)]
    pub resume_network: Option<SimResumeNetwork>,
}

/// One fork mailbox the simulated guest armed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimMailbox {
    /// Name.
    pub name: String,
    /// Token.
    pub token: String,
    /// Offset of the marker in the memory file.
    pub offset: u64,
    /// Injected misbehaviour.
    #[serde(default)]
    pub fault: Option<GuestFault>,
}

/// The resume-network mailbox the simulated guest armed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimResumeNetwork {
    /// Token.
    pub token: String,
    /// Offset.
    pub offset: u64,
}

/// Why a state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Unreadable.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Not a sim state file.
    #[error("{path}: not a simulator state file: {source}")]
    Parse {
        /// The file.
        path: std::path::PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
}

/// Read the sim state file (bounded, regular files only).
pub fn read_state(path: &Path) -> Result<SimState, StateError> {
    let bytes = read_bounded(path, MAX_METADATA_BYTES, "a simulator state file")?;
    serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
        path: path.to_path_buf(),
        source,
    })
}
