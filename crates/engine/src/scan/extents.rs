//! Data extents of a file via `SEEK_DATA`/`SEEK_HOLE`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// A byte range `[start, end)` of a file that holds data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl Extent {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    /// Whether the extent is empty.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// The data extents of `file` (of `size` bytes). Where the filesystem cannot
/// tell holes from data, the whole file is one extent. Costs a few syscalls
/// per extent, no reads.
pub fn data_extents(file: &File, size: u64) -> io::Result<Vec<Extent>> {
    let fd = file.as_raw_fd();
    let mut out = Vec::new();
    let mut pos: u64 = 0;
    while pos < size {
        // SAFETY: lseek on a valid fd has no memory-safety preconditions.
        let data = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                // No more data after pos.
                Some(libc::ENXIO) => Ok(out),
                // Filesystem does not support it: treat everything as data.
                Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) if out.is_empty() => Ok(vec![Extent {
                    start: 0,
                    end: size,
                }]),
                _ => Err(err),
            };
        }
        let data = data as u64;
        if data >= size {
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data as libc::off_t, libc::SEEK_HOLE) };
        let hole = if hole < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENXIO) {
                size
            } else {
                return Err(err);
            }
        } else {
            (hole as u64).min(size)
        };
        if hole <= data {
            break;
        }
        out.push(Extent {
            start: data,
            end: hole,
        });
        pos = hole;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn sparse_file_has_only_its_written_extents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let f = File::create(&path).unwrap();
        f.set_len(64 << 20).unwrap();
        f.write_all_at(&[1u8; 4096], 8 << 20).unwrap();
        f.write_all_at(&[1u8; 4096], 40 << 20).unwrap();
        let f = File::open(&path).unwrap();
        let ex = data_extents(&f, 64 << 20).unwrap();
        let total: u64 = ex.iter().map(Extent::len).sum();
        assert!(total < 2 << 20, "{ex:?}");
        assert!(ex.iter().any(|e| e.start <= 8 << 20 && e.end > 8 << 20));
        assert!(ex.iter().any(|e| e.start <= 40 << 20 && e.end > 40 << 20));
    }

    #[test]
    fn empty_file_has_no_extents() {
        let f = tempfile::tempfile().unwrap();
        assert!(data_extents(&f, 0).unwrap().is_empty());
    }
}
