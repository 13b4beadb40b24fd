//! Positioned reads for the scan: `pread` until the buffer is full, and a
//! first attempt that never waits for the disk (`RWF_NOWAIT`), which tells a
//! file in the page cache from one that is not at no cost.
//!
//! Reads copy into a buffer the scan owns, so a file that shrinks under the
//! scan ends a read early (an error) and can never raise `SIGBUS`.

use std::fs::File;
use std::io::{self, IoSliceMut};
use std::num::NonZeroU64;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::Advice;
use rustix::io::{Errno, ReadWriteFlags};

use super::ScanError;

/// Fill `buf` from `offset`; the file ending first is [`ScanError::Shrank`].
pub(super) fn read_full(
    file: &File,
    path: &Path,
    buf: &mut [u8],
    offset: u64,
) -> Result<(), ScanError> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => {
                return Err(ScanError::Shrank {
                    path: path.to_path_buf(),
                    expected: offset + buf.len() as u64,
                    got: offset + got as u64,
                });
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(ScanError::Read {
                    path: path.to_path_buf(),
                    offset: offset + got as u64,
                    source,
                });
            }
        }
    }
    Ok(())
}

/// What a read that must not wait for the disk got.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NoWait {
    /// This many bytes (possibly fewer than asked, possibly 0) were in the
    /// page cache; the rest, if any, were not (or the file ended there).
    Cached(usize),
    /// Nothing was in the page cache.
    Uncached,
    /// The kernel or filesystem cannot do such reads.
    Unsupported,
}

/// Read into `buf` from `offset` only what is already in the page cache
/// (`preadv2` with `RWF_NOWAIT`).
pub(super) fn read_cached(file: &File, buf: &mut [u8], offset: u64) -> io::Result<NoWait> {
    loop {
        let read = rustix::io::preadv2(
            file,
            &mut [IoSliceMut::new(buf)],
            offset,
            ReadWriteFlags::NOWAIT,
        );
        return match read {
            Ok(n) => Ok(NoWait::Cached(n)),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => Ok(NoWait::Uncached),
            Err(Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) => Ok(NoWait::Unsupported),
            Err(e) => Err(e.into()),
        };
    }
}

/// Ask the kernel to start reading `len` bytes at `offset` into the page
/// cache without waiting for them (`POSIX_FADV_WILLNEED`; a `len` of 0
/// means to the end of the file). Advice only: a failure changes nothing
/// but speed.
pub(super) fn prefetch(file: &File, offset: u64, len: u64) {
    let _ = rustix::fs::fadvise(file, offset, NonZeroU64::new(len), Advice::WillNeed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_read_sees_what_was_just_written() {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &[5u8; 8192]).unwrap();
        let mut buf = [0u8; 4096];
        match read_cached(&f, &mut buf, 4096).unwrap() {
            NoWait::Cached(n) => {
                assert_eq!(n, 4096);
                assert_eq!(buf, [5u8; 4096]);
            }
            // Some filesystems cannot; the scan then reads normally.
            NoWait::Unsupported => {}
            NoWait::Uncached => panic!("pages just written are cached"),
        }
    }

    #[test]
    fn reading_past_the_end_is_shrank() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(100).unwrap();
        let mut buf = [0u8; 200];
        let err = read_full(&f, Path::new("m"), &mut buf, 0).unwrap_err();
        assert!(
            matches!(
                err,
                ScanError::Shrank {
                    expected: 200,
                    got: 100,
                    ..
                }
            ),
            "{err}"
        );
    }
}
