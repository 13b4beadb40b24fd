//! Preflight and patch: every marker found and every payload fits before
//! any byte is written; then the frames, in the contract's write order.

use std::path::Path;

use crate::mailbox::{
    FORK_SEQ_OFFSET, MailboxKind, MemoryAt, decode_marker, frame_fits, write_frame,
};

use crate::scan::{Marker, ScanReport};

use super::session::{Session, StageError};
use super::{PlannedMailbox, Stage, Status};

/// Every marker found (re-verified in the file the VM runs on) and every
/// payload fits. Returns the offsets, in plan order. Writes nothing.
pub(super) fn preflight(
    planned: &[PlannedMailbox],
    memory: &Path,
    discovery: &ScanReport,
) -> Result<Vec<u64>, StageError> {
    let f = crate::scan::open_regular(memory)
        .map_err(|e| StageError::new(format!("open {}: {e}", memory.display())))?;
    let size = f
        .metadata()
        .map_err(|e| StageError::new(format!("stat {}: {e}", memory.display())))?
        .len();
    let searched = format!(
        "searched {} of data in {}",
        crate::units::human_size(discovery.data_bytes),
        crate::units::human_size(discovery.file_size)
    );
    let mut offsets = Vec::with_capacity(planned.len());
    for p in planned {
        let (offset, token) = locate(p, discovery, memory, &searched)?;
        // Re-verify: the bytes at the offset in *this* file are the marker.
        let mut head = vec![0u8; FORK_SEQ_OFFSET as usize];
        let n = (size.saturating_sub(offset)).min(head.len() as u64) as usize;
        MemoryAt::read_exact_at(&f, &mut head[..n], offset)
            .map_err(|e| StageError::at(&p.name, format!("read marker at {offset:#x}: {e}")))?;
        match decode_marker(&head[..n]) {
            Some(m)
                if m.kind == MailboxKind::Fork
                    && m.name.as_deref() == Some(p.name.as_str())
                    && m.token == token => {}
            _ => {
                return Err(StageError::at(
                    &p.name,
                    format!("marker no longer at {offset:#x} in {}", memory.display()),
                ));
            }
        }
        if !frame_fits(MailboxKind::Fork, offset, p.frame.len(), size) {
            return Err(StageError::at(
                &p.name,
                format!(
                    "payload of {} bytes does not fit: marker at {offset:#x}, memory file is {size} bytes",
                    p.frame.len()
                ),
            ));
        }
        offsets.push(offset);
    }
    Ok(offsets)
}

pub(super) fn patch_all(
    s: &Session,
    mem: &mut dyn MemoryAt,
    planned: &[PlannedMailbox],
    offsets: &[u64],
) -> Result<(), StageError> {
    for (p, off) in planned.iter().zip(offsets) {
        write_frame(mem, MailboxKind::Fork, *off, &p.frame)
            .map_err(|e| StageError::at(&p.name, format!("write frame at {off:#x}: {e}")))?;
        let mut e = s.event(Stage::Patch, Status::Progress);
        e.mailbox = Some(p.name.clone());
        e.bytes = Some(p.frame.len() as u64);
        e.detail = Some(format!("{} bytes at {off:#x}", p.frame.len()));
        s.emit(e);
    }
    Ok(())
}

/// The one marker of `p` in discovery: by name and, when the caller gave
/// one, token. None, or more than one, is an error: forkmail never guesses.
fn locate(
    p: &PlannedMailbox,
    discovery: &ScanReport,
    memory: &Path,
    searched: &str,
) -> Result<(u64, String), StageError> {
    let offsets = |ms: &[&Marker]| {
        ms.iter()
            .map(|m| format!("{:#x}", m.offset))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let same_name: Vec<&Marker> = discovery.fork_markers(&p.name).collect();
    let candidates: Vec<&Marker> = match &p.token {
        Some(t) => same_name
            .iter()
            .copied()
            .filter(|m| &m.token == t)
            .collect(),
        None => same_name.clone(),
    };
    match candidates.as_slice() {
        [one] if one.valid => Ok((one.offset, one.token.clone())),
        [one] => Err(StageError::at(
            &p.name,
            format!(
                "marker at {:#x} is invalid: {}",
                one.offset,
                one.problem
                    .as_deref()
                    .unwrap_or("breaks the contract's rules")
            ),
        )),
        [] if same_name.is_empty() => {
            let found: Vec<&str> = discovery
                .markers
                .iter()
                .filter(|m| m.kind == MailboxKind::Fork)
                .filter_map(|m| m.name.as_deref())
                .collect();
            Err(StageError::at(
                &p.name,
                format!(
                    "marker {:?} not found in {} ({searched}; markers found: {})",
                    p.name,
                    memory.display(),
                    if found.is_empty() {
                        "none".to_string()
                    } else {
                        found.join(", ")
                    }
                ),
            ))
        }
        [] => Err(StageError::at(
            &p.name,
            format!(
                "marker {:?} found at {} but with another token ({searched})",
                p.name,
                offsets(&same_name)
            ),
        )),
        many => Err(StageError::at(
            &p.name,
            format!(
                "marker occurs {} times (offsets {}); refusing to patch an ambiguous mailbox",
                many.len(),
                offsets(many)
            ),
        )),
    }
}
