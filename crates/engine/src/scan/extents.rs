//! Data extents of a file via `SEEK_DATA`/`SEEK_HOLE`.

use std::fs::File;
use std::io;

use rustix::fs::SeekFrom;
use rustix::io::Errno;

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
    let mut out = Vec::new();
    let mut pos: u64 = 0;
    while pos < size {
        let data = match rustix::fs::seek(file, SeekFrom::Data(pos)) {
            Ok(data) => data,
            // No more data after pos.
            Err(Errno::NXIO) => return Ok(out),
            // Filesystem does not support it: treat everything as data.
            Err(Errno::INVAL | Errno::OPNOTSUPP) if out.is_empty() => {
                return Ok(vec![Extent {
                    start: 0,
                    end: size,
                }]);
            }
            Err(e) => return Err(e.into()),
        };
        if data >= size {
            break;
        }
        let hole = match rustix::fs::seek(file, SeekFrom::Hole(data)) {
            Ok(hole) => hole.min(size),
            Err(Errno::NXIO) => size,
            Err(e) => return Err(e.into()),
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
