//! Inspecting a fork's guest memory after the fact: were its mailboxes
//! consumed (seq back to 0)?

use std::time::Instant;

use crate::mailbox::{MAILBOX_SIZE, MemoryAt};
use crate::scan::{ScanOptions, ScanReport, decode_mailbox, scan_file};
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
        .map_err(|e| e.to_string())?;
    let mem = ProcMem::open(pid, &template.memory_path()).map_err(|e| e.to_string())?;
    let mut markers = Vec::new();
    for m in &fork.meta.mailboxes {
        let mut page = vec![0u8; MAILBOX_SIZE];
        mem.read_exact_at(&mut page, m.offset)
            .map_err(|e| format!("read guest memory of pid {pid} at {:#x}: {e}", m.offset))?;
        markers.extend(decode_mailbox(&page, m.offset, template.memory_size));
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
