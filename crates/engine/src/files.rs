//! Reading files forkmail does not control: snapshots, metadata, payload
//! files, guest logs, files in read-only sources.
//!
//! Every such file is opened non-blocking (a FIFO or a device must never
//! hang a command), checked to be a regular file after the open (the path
//! may have been swapped), and read with a bound (a 512 MiB "payload" or a
//! huge `snapshot.json` must cost no more than the bound).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Most bytes read from a metadata file (`snapshot.json`, `fork.json`,
/// Hypeman's `metadata.json`, drafts): far above any real one.
pub const MAX_METADATA_BYTES: u64 = 4 << 20;

/// Why a file could not be read.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The file could not be opened or inspected.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// A FIFO, a device, a directory, a socket...
    #[error("{path}: not a regular file ({what})")]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// Larger than what can be valid.
    #[error("{path}: larger than {max} bytes ({what})")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The bound.
        max: u64,
        /// What the bound is for.
        what: &'static str,
    },
}

impl ReadError {
    /// The underlying I/O error kind, when there is one.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            ReadError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

fn file_type_name(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Open `path` read-only, non-blocking, and only if it is a regular file.
///
/// `O_NONBLOCK` makes opening a FIFO return at once instead of waiting for a
/// writer; the type is checked on the opened descriptor, so a path swapped
/// between a check and the open cannot slip through.
pub fn open_regular(path: &Path) -> Result<File, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let ft = file.metadata().map_err(io)?.file_type();
    if !ft.is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            what: file_type_name(ft),
        });
    }
    Ok(file)
}

/// Read at most `max` bytes of the regular file `path`; a longer file is
/// refused with [`ReadError::TooLarge`] after reading `max + 1` bytes at
/// the most (the size a file reports can lie: `/proc` files say 0).
pub fn read_bounded(path: &Path, max: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path)?;
    let mut buf = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > max {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            max,
            what,
        });
    }
    Ok(buf)
}

/// Where `path` is, or would be once made, as the filesystem resolves it:
/// relative to the working directory, symbolic links of the part that
/// exists followed (its longest existing ancestor canonicalized), and `.`
/// and `..` of the rest applied by name. Two spellings of one place
/// resolve alike (`./x`, `a/../x`, a link to the parent), so "is this
/// inside that" can be asked of a path not made yet.
pub fn resolve_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // The longest ancestor that exists, canonicalized; the rest by name.
    let mut base = abs.as_path();
    let mut rest = Vec::new();
    let canon = loop {
        if let Ok(c) = std::fs::canonicalize(base) {
            break c;
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            // `..` at the end of a missing path: keep it for the loop below.
            (Some(parent), None) => {
                rest.push("..".into());
                base = parent;
            }
            (None, _) => break base.to_path_buf(),
        }
    };
    let mut out = canon;
    for part in rest.iter().rev() {
        match Path::new(part).components().next() {
            Some(Component::ParentDir) => {
                out.pop();
            }
            Some(Component::CurDir) | None => {}
            Some(_) => out.push(part),
        }
    }
    out
}

/// [`read_bounded`] as UTF-8 text (invalid sequences replaced).
pub fn read_text_bounded(path: &Path, max: u64, what: &'static str) -> Result<String, ReadError> {
    read_bounded(path, max, what).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The first `N` bytes of an open file (fewer if it is shorter): enough to
/// recognise a format by its magic bytes without trusting the file's name.
pub fn read_head<const N: usize>(file: &File) -> io::Result<([u8; N], usize)> {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; N];
    let mut got = 0;
    while got < N {
        match file.read_at(&mut head[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((head, got))
}

/// The last `max` bytes of the regular file `path`, as text (a guest log's
/// tail); an empty string when it cannot be read.
pub fn tail_text(path: &Path, max: u64) -> String {
    let Ok(mut f) = open_regular(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if f.seek(SeekFrom::Start(len.saturating_sub(max))).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    if f.take(max).read_to_end(&mut buf).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

impl crate::error::Kinded for ReadError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            ReadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                crate::error::ErrorKind::NotFound
            }
            ReadError::Io { .. } => crate::error::ErrorKind::Io,
            ReadError::NotRegular { .. } | ReadError::TooLarge { .. } => {
                crate::error::ErrorKind::BadRequest
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("state");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let err = open_regular(&fifo).unwrap_err();
        assert!(
            matches!(err, ReadError::NotRegular { what: "a FIFO", .. }),
            "{err}"
        );
        assert!(read_bounded(&fifo, 10, "test").is_err());
    }

    #[test]
    fn directories_and_devices_are_refused() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            open_regular(d.path()),
            Err(ReadError::NotRegular { .. })
        ));
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 10, "payload"),
            Err(ReadError::NotRegular { .. })
        ));
    }

    #[test]
    fn reads_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read_bounded(&p, 10, "x").unwrap(), b"0123456789");
        let err = read_bounded(&p, 9, "a payload").unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { max: 9, .. }), "{err}");
    }

    #[test]
    fn tail_keeps_the_end() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log");
        std::fs::write(&p, b"aaaa\nbbbb\n").unwrap();
        assert_eq!(tail_text(&p, 5), "bbbb\n");
        assert_eq!(tail_text(&d.path().join("none"), 5), "");
    }

    #[test]
    fn paths_resolve_alike_however_spelled() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir(root.join("a")).unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("link")).unwrap();
        let want = root.join("a/new/x");
        for p in [
            root.join("a/new/x"),
            root.join("a/./new/x"),
            root.join("a/new/../new/x"),
            root.join("link/new/x"),
            root.join("a/../a/new/x"),
        ] {
            assert_eq!(resolve_path(&p), want, "{}", p.display());
        }
        assert_eq!(resolve_path(&root.join("a/new/..")), root.join("a"));
        assert!(resolve_path(Path::new("rel")).is_absolute());
    }
}
