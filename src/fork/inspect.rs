//! Inspecting a fork's guest memory after the fact: were its mailboxes
//! consumed (seq back to 0)?

use std::time::Instant;

use crate::mailbox::{MAILBOX_SIZE, MemoryAt, decode_marker, read_frame};
use crate::scan::{Marker, ScanOptions, ScanReport, scan_file};
use crate::store::{ForkInfo, MEMORY_FILE, Store};
use crate::vmm::qemu::ProcMem;

/// The markers in a fork's memory now. A copy fork is scanned from its own
/// memory file; a zero-copy fork's memory is a private mapping inside its
/// running QEMU, so its patched mailboxes are read through `/proc/PID/mem`.
pub fn inspect_fork(store: &Store, fork: &ForkInfo) -> Result<ScanReport, String> {
    if !fork.meta.zero_copy {
        let path = fork.dir.join(MEMORY_FILE);
        return scan_file(&path, &ScanOptions::default()).map_err(|e| e.to_string());
    }
    let started = Instant::now();
    let pid = fork
        .meta
        .pid
        .filter(|pid| crate::vmm::process::is_alive(*pid, &fork.dir))
        .ok_or_else(|| {
            format!(
                "zero-copy fork {}: its memory lived only inside its VMM, which is not running",
                fork.name
            )
        })?;
    let template = store
        .snapshot(&fork.meta.source)
        .map_err(|e| e.to_string())?
        .memory_path();
    let mem = ProcMem::open(pid, &template).map_err(|e| e.to_string())?;
    let mut markers = Vec::new();
    for m in &fork.meta.mailboxes {
        let mut head = vec![0u8; MAILBOX_SIZE.min(264)];
        mem.read_exact_at(&mut head, m.offset)
            .map_err(|e| format!("read guest memory of pid {pid} at {:#x}: {e}", m.offset))?;
        let Some(decoded) = decode_marker(&head) else {
            continue;
        };
        let frame = read_frame(&mem, decoded.kind, m.offset)
            .map_err(|e| format!("read frame at {:#x}: {e}", m.offset))?;
        markers.push(Marker {
            kind: decoded.kind,
            valid: decoded.is_valid(),
            name: decoded.name,
            token: decoded.token,
            offset: m.offset,
            seq: frame.seq,
            payload_len: frame.len,
            payload: frame.payload.and_then(|p| String::from_utf8(p).ok()),
            duplicate: false,
            problem: decoded.problem,
            page_aligned: m.offset.is_multiple_of(4096),
        });
    }
    Ok(ScanReport {
        path: format!("/proc/{pid}/mem").into(),
        file_size: 0,
        data_bytes: 0,
        extents: 0,
        markers,
        truncated: false,
        elapsed: started.elapsed(),
    })
}
