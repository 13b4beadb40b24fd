//! How much memory a fork no longer shares with its template.
//!
//! A zero-copy fork maps the template's memory file privately: every page
//! its guest (or the engine's patch) wrote became a private copy, counted by
//! the kernel as `Private_Dirty` in `/proc/PID/smaps` for the mapping of
//! that file. A copy fork has its own memory file: what it no longer shares
//! is that file's allocated blocks (on a filesystem without reflink, the
//! whole copied data).

use std::path::Path;

use serde::Serialize;

use super::lifecycle::{ForkEntry, LiveStatus};
use crate::files::read_text_bounded;

/// Largest smaps file read (a QEMU process has a few hundred mappings).
const MAX_SMAPS: u64 = 16 << 20;

/// Where a divergence figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DivergenceSource {
    /// Private dirty pages of the VMM's private mapping of the template.
    PrivateDirty,
    /// Allocated blocks of the fork's own memory file.
    AllocatedBlocks,
}

impl DivergenceSource {
    /// A few words for tables.
    pub fn label(self) -> &'static str {
        match self {
            DivergenceSource::PrivateDirty => "private dirty pages",
            DivergenceSource::AllocatedBlocks => "allocated blocks of the copy",
        }
    }
}

/// Memory a fork no longer shares with its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// Bytes.
    pub bytes: u64,
    /// How they were counted.
    pub source: DivergenceSource,
}

/// The divergence of a listed fork: for a running zero-copy fork its
/// private dirty pages, for a copy fork its copy's allocated blocks; `None`
/// when it cannot be known (a zero-copy fork whose VMM is not running).
pub fn divergence(entry: &ForkEntry) -> Option<Divergence> {
    let info = entry.info.as_ref()?;
    if !info.meta.zero_copy {
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::symlink_metadata(info.dir.join(crate::store::MEMORY_FILE)).ok()?;
        return Some(Divergence {
            bytes: md.blocks() * 512,
            source: DivergenceSource::AllocatedBlocks,
        });
    }
    if entry.status != LiveStatus::Running {
        return None;
    }
    let process = info.meta.process.as_ref()?;
    // Exactly that process, not a reused pid.
    if !process.is_alive() {
        return None;
    }
    let smaps = read_text_bounded(
        Path::new(&format!("/proc/{}/smaps", process.pid)),
        MAX_SMAPS,
        "a smaps file",
    )
    .ok()?;
    Some(Divergence {
        bytes: private_dirty_of(&smaps, &info.vm_memory()),
        source: DivergenceSource::PrivateDirty,
    })
}

/// The `Private_Dirty` bytes of every mapping of `file` in smaps text.
pub fn private_dirty_of(smaps: &str, file: &Path) -> u64 {
    let want = file.to_string_lossy();
    let mut in_file = false;
    let mut total_kb = 0u64;
    for line in smaps.lines() {
        let mut it = line.split_ascii_whitespace();
        let Some(first) = it.next() else { continue };
        if first.contains('-') && first.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            // A mapping header: range perms offset dev inode [path]; the
            // path (which may hold spaces) is everything after the inode.
            let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
            in_file = tokens.len() > 5 && tokens[5..].join(" ") == want;
            continue;
        }
        if in_file
            && first == "Private_Dirty:"
            && let Some(kb) = it.next().and_then(|v| v.parse::<u64>().ok())
        {
            total_kb += kb;
        }
    }
    total_kb * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dirty_counts_only_the_template_mapping() {
        let smaps = "\
55d0c0000000-55d0c0001000 rw-p 00001000 fd:00 1234 /store/snapshots/web/memory
Size:                  4 kB
Private_Dirty:         4 kB
55d0c0002000-55d0c0004000 rw-p 00005000 fd:00 1234 /store/snapshots/web/memory
Private_Dirty:         8 kB
7f0000000000-7f0000001000 rw-p 00000000 00:00 0 
Private_Dirty:       100 kB
7f0000002000-7f0000003000 r--p 00000000 fd:00 99 /usr/lib/libc.so.6
Private_Dirty:        12 kB
";
        assert_eq!(
            private_dirty_of(smaps, Path::new("/store/snapshots/web/memory")),
            12 * 1024
        );
        assert_eq!(private_dirty_of(smaps, Path::new("/other")), 0);
    }

    #[test]
    fn a_running_zero_copy_sim_fork_diverges_by_the_pages_written() {
        // The simulated guest of this test process: map one page of a file
        // privately, write it, and read our own smaps.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("memory");
        std::fs::write(&p, vec![0u8; 16384]).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        // SAFETY: a private mapping of a file we own; unmapped on drop.
        let mut m = unsafe { memmap2::MmapOptions::new().len(8192).map_copy(&f).unwrap() };
        m[0] = 1;
        m[4096] = 1;
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        assert_eq!(private_dirty_of(&smaps, &p), 8192);
        drop(m);
    }
}
