//! Payload drafts: what a person last typed for each mailbox of each
//! snapshot, kept in the store (`drafts/<snapshot>/<mailbox>.json`) so an
//! editor, a restart and the demo store's sample payloads all see the same.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Store, private_dir, write_json_atomic};
use crate::mailbox::DEFAULT_ACK_TIMEOUT_MS;

/// Settings and payload of one mailbox of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    /// JSON payload text as typed.
    pub payload: String,
    /// Include this mailbox in the next fork.
    pub include: bool,
    /// Wait for the guest's ack.
    pub wait_for_ack: bool,
    /// Ack deadline in milliseconds.
    pub ack_timeout_ms: u64,
}

impl Default for Draft {
    fn default() -> Self {
        Draft {
            payload: "{}".into(),
            include: true,
            wait_for_ack: true,
            ack_timeout_ms: DEFAULT_ACK_TIMEOUT_MS,
        }
    }
}

/// Where the draft of (`snapshot`, `mailbox`) is kept.
pub fn draft_path(store: &Store, snapshot: &str, mailbox: &str) -> PathBuf {
    store
        .drafts_dir()
        .join(snapshot)
        .join(format!("{mailbox}.json"))
}

/// Write a draft holding `payload` (defaults otherwise) unless the mailbox
/// has one already: the demo store's sample payloads.
pub fn seed_draft(store: &Store, snapshot: &str, mailbox: &str, payload: &str) {
    let path = draft_path(store, snapshot, mailbox);
    if path.exists() {
        return;
    }
    let draft = Draft {
        payload: payload.into(),
        ..Draft::default()
    };
    let res = path
        .parent()
        .map(private_dir)
        .unwrap_or(Ok(()))
        .map_err(|e| e.to_string())
        .and_then(|_| write_json_atomic(&path, &draft).map_err(|e| e.to_string()));
    if let Err(e) = res {
        tracing::warn!("sample draft {}: {e}", path.display());
    }
}
