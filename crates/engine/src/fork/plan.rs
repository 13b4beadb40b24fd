//! Turning a request into a plan: the contract's validation first (every
//! rule, in Hypeman's order), then ack sockets and the exact frame bytes —
//! all before any write. Finding each marker is preflight's job.

use std::net::IpAddr;

use super::{AckWaiter, ForkError, MailboxSpec};
use crate::mailbox::{MailboxRequest, frame_payload, validate_request};

/// Stand-in token for rules 4 and 5 when the caller gave none: discovery
/// supplies the real one in preflight, and discovered tokens always follow
/// those rules (invalid markers are never patched).
const DISCOVERED: &str = "(discovered)";

/// A mailbox ready to be written.
#[derive(Debug)]
pub struct PlannedMailbox {
    /// Name.
    pub name: String,
    /// Token the caller gave; `None`: the one discovery finds.
    pub token: Option<String>,
    /// The exact bytes that go into the frame (ack_port injected).
    pub frame: Vec<u8>,
    /// Ack socket and deadline in ms, when waiting for an ack.
    pub ack: Option<(AckWaiter, u64)>,
}

/// Apply the contract's validation, bind ack sockets on `ack_bind` and
/// build each frame.
pub fn resolve_mailboxes(
    specs: &[MailboxSpec],
    ack_bind: IpAddr,
) -> Result<Vec<PlannedMailbox>, ForkError> {
    let requests: Vec<MailboxRequest> = specs
        .iter()
        .map(|s| MailboxRequest {
            name: s.name.clone(),
            token: s.token.clone().unwrap_or_else(|| DISCOVERED.to_string()),
            payload: s.payload.clone(),
            wait_for_ack: s.wait_for_ack,
            ack_timeout_ms: s.ack_timeout_ms,
        })
        .collect();
    validate_request(&requests)?;
    let mut planned = Vec::with_capacity(requests.len());
    for (r, s) in requests.iter().zip(specs) {
        let ack = if r.wait_for_ack {
            let w = AckWaiter::bind_on(ack_bind).map_err(|e| {
                ForkError::io(format!("cannot bind an ack socket on {ack_bind}"), e)
                    .with_mailbox(&r.name)
            })?;
            Some((w, r.effective_timeout_ms()))
        } else {
            None
        };
        let frame = frame_payload(r, ack.as_ref().map(|(w, _)| w.port()))?;
        planned.push(PlannedMailbox {
            name: r.name.clone(),
            token: s.token.clone(),
            frame,
            ack,
        });
    }
    Ok(planned)
}
