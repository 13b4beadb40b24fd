//! The simulator's `state` file: what the simulated guest armed, where.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::GuestFault;

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
    /// Unreadable, not a regular file, or larger than a state file can be.
    #[error("{path}: cannot read the simulator state file: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
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
    let bytes = read_small_file(path).map_err(|source| StateError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// A state file is a few hundred bytes; anything past this bound is not one.
const MAX_STATE_BYTES: u64 = 1 << 20;

/// Read a small regular file without blocking on a FIFO or device someone
/// put in its place, and without reading more than [`MAX_STATE_BYTES`].
fn read_small_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use rustix::fs::{Mode, OFlags};
    use std::io::Read;
    let file = std::fs::File::from(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_STATE_BYTES {
        return Err(std::io::Error::other(format!(
            "{} bytes, more than a state file can hold ({MAX_STATE_BYTES})",
            meta.len()
        )));
    }
    // Bounded above: the capacity is a hint only.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_STATE_BYTES + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}
