//! Turning a request into a plan: tokens from discovery, the contract's
//! validation, ack sockets and the exact frame bytes — all before any write.

use crate::mailbox::{MailboxKind, MailboxRequest, frame_payload, validate_request};
use crate::scan::ScanReport;

use super::{AckWaiter, MailboxSpec};

/// A mailbox ready to be written.
#[derive(Debug)]
pub struct PlannedMailbox {
    /// Name.
    pub name: String,
    /// Token (given or discovered).
    pub token: String,
    /// Marker offset, when discovery found exactly one marker with this
    /// name and token.
    pub offset: Option<u64>,
    /// The exact bytes that go into the frame (ack_port injected).
    pub frame: Vec<u8>,
    /// Ack socket and deadline, when waiting for an ack.
    pub ack: Option<(AckWaiter, u64)>,
}

/// Resolve tokens from `discovery`, apply the contract's validation, bind ack
/// sockets and build each frame. Errors are messages for the `validate` stage.
pub fn resolve_mailboxes(
    specs: &[MailboxSpec],
    discovery: &ScanReport,
    snapshot: &str,
) -> Result<Vec<PlannedMailbox>, String> {
    let mut requests = Vec::with_capacity(specs.len());
    for s in specs {
        let token = match &s.token {
            Some(t) => t.clone(),
            None => discovered_token(discovery, &s.name, snapshot)?,
        };
        requests.push(MailboxRequest {
            name: s.name.clone(),
            token,
            payload: s.payload.clone(),
            wait_for_ack: s.wait_for_ack,
            ack_timeout_ms: s.ack_timeout_ms,
        });
    }
    validate_request(&requests).map_err(|e| e.to_string())?;
    let mut planned = Vec::with_capacity(requests.len());
    for r in requests {
        let ack = if r.wait_for_ack {
            let w = AckWaiter::bind().map_err(|e| {
                format!(
                    "mailbox {}: cannot bind an ack socket on 127.0.0.1: {e}",
                    r.name
                )
            })?;
            Some((w, r.effective_timeout_ms()))
        } else {
            None
        };
        let frame =
            frame_payload(&r, ack.as_ref().map(|(w, _)| w.port())).map_err(|e| e.to_string())?;
        let offset = discovery
            .fork_markers(&r.name)
            .filter(|m| m.token == r.token)
            .map(|m| m.offset)
            .collect::<Vec<_>>();
        planned.push(PlannedMailbox {
            offset: if offset.len() == 1 {
                Some(offset[0])
            } else {
                None
            },
            name: r.name,
            token: r.token,
            frame,
            ack,
        });
    }
    Ok(planned)
}

fn discovered_token(discovery: &ScanReport, name: &str, snapshot: &str) -> Result<String, String> {
    let found: Vec<_> = discovery.fork_markers(name).collect();
    match found.as_slice() {
        [] => {
            let names: Vec<&str> = discovery
                .markers
                .iter()
                .filter(|m| m.kind == MailboxKind::Fork)
                .filter_map(|m| m.name.as_deref())
                .collect();
            Err(format!(
                "mailbox {name}: no marker named {name:?} in snapshot {snapshot} (found: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
        }
        [one] => Ok(one.token.clone()),
        many => Err(format!(
            "mailbox {name}: the marker occurs {} times (offsets {}); forkmail refuses to patch an ambiguous mailbox",
            many.len(),
            many.iter()
                .map(|m| format!("{:#x}", m.offset))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
