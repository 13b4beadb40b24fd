//! A session's events as the CLI's human lines (`--json` prints them exactly
//! instead).

use crate::fork::{Happening, SessionEvent};
use crate::sanitize::escaped;
use crate::units::human_size;

/// One human line per interesting event; guest-controlled text escaped.
pub fn human_line(e: &SessionEvent) -> Option<String> {
    let t = format!("{:>6} ms", e.elapsed_ms);
    let stage = e.stage().label();
    let mb = e
        .mailbox()
        .map(|m| format!(" [{}]", escaped(m)))
        .unwrap_or_default();
    let detail = e
        .detail()
        .map(|d| format!(" {}", escaped(&d)))
        .unwrap_or_default();
    Some(match &e.what {
        Happening::StageStarted(_) => format!("{t}  {stage:<9} …"),
        Happening::CopyStarted { .. } => format!("{t}  {stage:<9} …"),
        Happening::AckWaiting {
            port, deadline_ms, ..
        } => format!("{t}  {stage:<9} …{mb} waiting on port {port} (deadline {deadline_ms} ms)"),
        Happening::CopyProgress { bytes, total } => {
            if bytes != total {
                return None;
            }
            format!(
                "{t}  {stage:<9} {} / {}",
                human_size(*bytes),
                human_size(*total)
            )
        }
        Happening::FrameWritten { .. }
        | Happening::DatagramIgnored { .. }
        | Happening::VmLoaded { .. } => {
            format!("{t}  {stage:<9} ·{mb}{detail}")
        }
        Happening::StageFailed(err) | Happening::Failed(err) => {
            format!("{t}  {stage:<9} FAILED{mb} {}", escaped(&err.to_string()))
        }
        Happening::RollbackFailed { error } => {
            format!("{t}  {stage:<9} FAILED {}", escaped(error))
        }
        _ => format!("{t}  {stage:<9} ok{mb}{detail}"),
    })
}
