//! Guest memory of a running VMM process through `/proc/PID/mem`,
//! addressed by memory-file offsets: zero-copy patching and inspection for
//! any driver whose VMM maps the memory file (QEMU, the simulator's guest).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::mailbox::MemoryAt;

/// Errors of `/proc/PID/mem` access.
#[derive(Debug, thiserror::Error)]
pub enum ProcMemError {
    /// The maps file could not be read.
    #[error("reading /proc/{pid}/maps: {source}")]
    Maps {
        /// QEMU's pid.
        pid: u32,
        /// Cause.
        source: io::Error,
    },
    /// QEMU does not map the file.
    #[error("the VMM (pid {pid}) has no mapping of {file}; is it running on this memory file?")]
    NoMapping {
        /// QEMU's pid.
        pid: u32,
        /// The memory file.
        file: PathBuf,
    },
    /// `/proc/PID/mem` could not be opened.
    #[error("opening /proc/{pid}/mem read-write: {source} (needs ptrace permission over the VMM)")]
    Open {
        /// QEMU's pid.
        pid: u32,
        /// Cause.
        source: io::Error,
    },
}

/// One mapping of a file in a process: `[start, end)` at `file_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// File offset of `start`.
    pub file_offset: u64,
}

/// The mappings of `file` (exact path) in `/proc/PID/maps` text.
pub fn mappings_of(maps: &str, file: &Path) -> Vec<Mapping> {
    let want = file.to_string_lossy();
    maps.lines()
        .filter_map(|line| {
            let mut it = line.split_ascii_whitespace();
            let range = it.next()?;
            let _perms = it.next()?;
            let off = it.next()?;
            let _dev = it.next()?;
            let _inode = it.next()?;
            // The path is the rest of the line (it may contain spaces).
            let rest = line.splitn(6, |c: char| c.is_ascii_whitespace()).nth(5)?;
            if rest.trim_start() != want {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                file_offset: u64::from_str_radix(off, 16).ok()?,
            })
        })
        .collect()
}

/// Guest memory of a running QEMU addressed by memory-file offsets: host
/// address = mapping start + offset − mapping file offset.
pub struct ProcMem {
    mem: File,
    maps: Vec<Mapping>,
}

impl ProcMem {
    /// Find QEMU's mapping of `file` and open its memory.
    pub fn open(pid: u32, file: &Path) -> Result<ProcMem, ProcMemError> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .map_err(|source| ProcMemError::Maps { pid, source })?;
        let real = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
        let maps = mappings_of(&text, &real);
        if maps.is_empty() {
            return Err(ProcMemError::NoMapping { pid, file: real });
        }
        let mem = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/mem"))
            .map_err(|source| ProcMemError::Open { pid, source })?;
        Ok(ProcMem { mem, maps })
    }

    fn addr(&self, offset: u64, len: usize) -> io::Result<u64> {
        let end = offset
            .checked_add(len as u64)
            .ok_or_else(|| io::Error::other("offset overflows"))?;
        self.maps
            .iter()
            .find(|m| m.file_offset <= offset && end <= m.file_offset + (m.end - m.start))
            .map(|m| m.start + (offset - m.file_offset))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("memory file range {offset:#x}+{len} is not mapped by QEMU"),
                )
            })
    }
}

impl MemoryAt for ProcMem {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.mem, buf, self.addr(offset, buf.len())?)
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.mem, buf, self.addr(offset, buf.len())?)
    }
}

impl crate::error::Kinded for ProcMemError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::VmmFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_are_matched_by_exact_path() {
        let t = "7f0000000000-7f0010000000 rw-p 00000000 fe:01 1234                       /s/memory\n\
                 7f0020000000-7f0020001000 rw-p 00001000 fe:01 1234   /s/memory2\n\
                 7f0010000000-7f0010001000 rw-p 00000000 00:00 0 \n";
        let m = mappings_of(t, Path::new("/s/memory"));
        assert_eq!(
            m,
            vec![Mapping {
                start: 0x7f00_0000_0000,
                end: 0x7f00_1000_0000,
                file_offset: 0
            }]
        );
    }

    #[test]
    fn proc_mem_patches_our_own_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory");
        std::fs::write(&path, vec![0u8; 3 * 4096]).unwrap();
        let f = File::open(&path).unwrap();
        // A private mapping, like QEMU's share=off: writes must not reach the file.
        // SAFETY: a file this test made, changed by no one else; the bytes
        // change behind the mapping only through /proc/self/mem below, and
        // no reference into the mapping is held across those writes.
        let map = unsafe { memmap2::MmapOptions::new().map_copy(&f).unwrap() };
        let mut pm = ProcMem::open(std::process::id(), &path).unwrap();
        pm.write_all_at(b"hello", 4096 + 10).unwrap();
        assert_eq!(&map[4096 + 10..4096 + 15], b"hello");
        let mut back = [0u8; 5];
        pm.read_exact_at(&mut back, 4096 + 10).unwrap();
        assert_eq!(&back, b"hello");
        assert!(std::fs::read(&path).unwrap().iter().all(|b| *b == 0));
        assert!(pm.write_all_at(b"x", 3 * 4096).is_err());
    }
}
