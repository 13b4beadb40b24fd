//! Preflight and patch: every marker found and every payload fits before
//! any byte is written; then the frames, in the contract's write order.
//!
//! Finding a marker never guesses. Without a token, discovery's one marker
//! of that name is used — none, two, an invalid one, or a truncated scan
//! (a guest flooded memory with markers, so a copy could be hidden beyond
//! the cap) refuse. With a token, the marker is found by its exact bytes
//! (`magic + name + NUL + token`) in a pass of its own, as Hypeman did: a
//! guest that left bytes after its token is still found, a truncated scan
//! does not matter, and a second copy is still refused.

use std::path::Path;

use super::session::Session;
use super::{ForkError, Happening, PlannedMailbox};
use crate::error::ErrorKind;
use crate::mailbox::{
    FORK_IDENTITY_END, MailboxKind, MemoryAt, decode_marker, encode_fork_marker, frame_fits,
    write_frame,
};
use crate::scan::{Marker, ScanOptions, ScanReport, find_exact};
use crate::units::human_size;

/// Most markers named in an error message; the rest are counted.
const LISTED: usize = 10;

/// Where one planned mailbox's marker is, and how to re-verify it.
struct Located {
    offset: u64,
    /// The marker's exact bytes (magic, name, NUL, token).
    marker: Vec<u8>,
    /// Found by exact bytes: bytes after the token do not matter.
    exact: bool,
}

/// Every marker found (re-verified in the file the VM runs on) and every
/// payload fits. Returns the offsets, in plan order. Writes nothing.
pub(super) fn preflight(
    s: &Session,
    planned: &[PlannedMailbox],
    memory: &Path,
    discovery: &ScanReport,
) -> Result<Vec<u64>, ForkError> {
    let f = crate::files::open_regular(memory).map_err(ForkError::layer)?;
    let size = f
        .metadata()
        .map_err(|e| ForkError::io(format!("stat {}", memory.display()), e))?
        .len();
    let mut offsets = Vec::with_capacity(planned.len());
    for p in planned {
        let at = match &p.token {
            Some(token) => locate_exact(s, p, token, memory)?,
            None => locate(p, discovery, memory)?,
        };
        let offset = at.offset;
        // Re-verify: the bytes at the offset in *this* file are the marker.
        let mut head = vec![0u8; FORK_IDENTITY_END];
        let n = crate::units::len_at_most(size.saturating_sub(offset), head.len());
        MemoryAt::read_exact_at(&f, &mut head[..n], offset).map_err(|e| {
            ForkError::io(format!("read marker at {offset:#x}"), e).with_mailbox(&p.name)
        })?;
        let head = &head[..n];
        let still_there = head.starts_with(&at.marker)
            && (at.exact || head.get(at.marker.len()).is_none_or(|b| *b == 0))
            && decode_marker(head).is_some_and(|m| m.kind == MailboxKind::Fork);
        if !still_there {
            return Err(ForkError::mailbox(
                ErrorKind::MarkerInvalid,
                &p.name,
                format!("marker no longer at {offset:#x} in {}", memory.display()),
            ));
        }
        if !frame_fits(MailboxKind::Fork, offset, p.frame.len(), size) {
            return Err(ForkError::mailbox(
                ErrorKind::PayloadTooLarge,
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

/// Write every frame (payload, length, then seq) into `mem`.
pub(super) fn patch_all(
    s: &Session,
    mem: &mut dyn MemoryAt,
    planned: &[PlannedMailbox],
    offsets: &[u64],
) -> Result<(), ForkError> {
    for (p, off) in planned.iter().zip(offsets) {
        write_frame(mem, MailboxKind::Fork, *off, &p.frame).map_err(|e| {
            ForkError::io(format!("write frame at {off:#x}"), e).with_mailbox(&p.name)
        })?;
        s.emit(Happening::FrameWritten {
            mailbox: p.name.clone(),
            bytes: p.frame.len(),
            offset: *off,
        });
    }
    Ok(())
}

fn offsets_text(offsets: &[u64]) -> String {
    let shown: Vec<String> = offsets
        .iter()
        .take(LISTED)
        .map(|o| format!("{o:#x}"))
        .collect();
    let more = offsets.len().saturating_sub(LISTED);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The marker of `p` by its exact bytes, in a pass of its own.
fn locate_exact(
    s: &Session,
    p: &PlannedMailbox,
    token: &str,
    memory: &Path,
) -> Result<Located, ForkError> {
    let marker = encode_fork_marker(&p.name, token);
    let opts = ScanOptions {
        cancel: Some(s.cancel),
        ..ScanOptions::default()
    };
    // Two are enough to know it is ambiguous; a few more make the message useful.
    let hits = find_exact(memory, &marker, LISTED + 1, &opts)
        .map_err(|e| ForkError::layer(e).with_mailbox(&p.name))?;
    match hits.as_slice() {
        [one] => Ok(Located {
            offset: *one,
            marker,
            exact: true,
        }),
        [] => Err(ForkError::mailbox(
            ErrorKind::MarkerMissing,
            &p.name,
            format!(
                "marker with the given token not found in {} (searched by its exact bytes)",
                memory.display()
            ),
        )),
        many => Err(ForkError::mailbox(
            ErrorKind::MarkerAmbiguous,
            &p.name,
            format!(
                "marker with the given token occurs {}{} times (offsets {}); refusing to patch an ambiguous mailbox",
                if many.len() > LISTED {
                    "more than "
                } else {
                    ""
                },
                many.len().min(LISTED),
                offsets_text(many)
            ),
        )),
    }
}

/// The one marker of `p` in discovery. None, more than one, an invalid one
/// or a truncated scan is an error: forkmail never guesses.
fn locate(p: &PlannedMailbox, discovery: &ScanReport, memory: &Path) -> Result<Located, ForkError> {
    let searched = format!(
        "searched {} of data in {}",
        human_size(discovery.data_bytes),
        human_size(discovery.file_size)
    );
    let same: Vec<&Marker> = discovery.fork_markers(&p.name).collect();
    if discovery.truncated {
        return Err(ForkError::mailbox(
            ErrorKind::ScanTruncated,
            &p.name,
            format!(
                "discovery stopped at {} markers in {}, so another copy of this marker could be hidden; give its token (--token {}=TOKEN) to find it by its exact bytes",
                discovery.markers.len(),
                memory.display(),
                p.name
            ),
        ));
    }
    match same.as_slice() {
        [one] if one.valid => Ok(Located {
            offset: one.offset,
            marker: encode_fork_marker(&p.name, &one.token),
            exact: false,
        }),
        [one] => Err(ForkError::mailbox(
            ErrorKind::MarkerInvalid,
            &p.name,
            format!(
                "marker at {:#x} is invalid: {}",
                one.offset,
                one.problem
                    .as_deref()
                    .unwrap_or("breaks the contract's rules")
            ),
        )),
        [] => {
            let found: Vec<&str> = discovery
                .markers
                .iter()
                .filter(|m| m.kind == MailboxKind::Fork)
                .filter_map(|m| m.name.as_deref())
                .collect();
            let mut names: Vec<String> = found
                .iter()
                .take(LISTED)
                .map(|n| format!("{n:?}"))
                .collect();
            if found.len() > LISTED {
                names.push(format!("and {} more", found.len() - LISTED));
            }
            Err(ForkError::mailbox(
                ErrorKind::MarkerMissing,
                &p.name,
                format!(
                    "marker not found in {} ({searched}; markers found: {})",
                    memory.display(),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ))
        }
        many => {
            let offsets: Vec<u64> = many.iter().map(|m| m.offset).collect();
            Err(ForkError::mailbox(
                ErrorKind::MarkerAmbiguous,
                &p.name,
                format!(
                    "marker occurs {} times (offsets {}); refusing to patch an ambiguous mailbox",
                    many.len(),
                    offsets_text(&offsets)
                ),
            ))
        }
    }
}
