//! A minimal writer for the cpio "newc" format, the format the Linux kernel
//! unpacks as an initramfs. Entries are written in order with inode numbers
//! counting up, uid/gid 0 and mtime 0 (reproducible archives).

use std::io::{self, Write};

/// Errors of the cpio writer.
#[derive(Debug, thiserror::Error)]
pub enum CpioError {
    /// An entry name that would not unpack where intended.
    #[error("cpio entry name {name:?} is invalid: {why}")]
    BadName {
        /// The name.
        name: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// newc stores sizes in 32 bits.
    #[error("cpio entry {name:?} is too large ({len} bytes; newc allows at most 4 GiB - 1)")]
    TooLarge {
        /// The name.
        name: String,
        /// Its size.
        len: u64,
    },
    /// The underlying writer failed.
    #[error("writing cpio archive: {0}")]
    Io(#[from] io::Error),
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;
const TRAILER: &str = "TRAILER!!!";

/// Writes a newc archive entry by entry; [`CpioWriter::finish`] appends the trailer.
pub struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

struct Header<'a> {
    name: &'a str,
    mode: u32,
    nlink: u32,
    rdev: (u32, u32),
    size: u32,
}

impl<W: Write> CpioWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            written: 0,
            next_ino: 1,
        }
    }

    /// A directory with permission bits `perm` (e.g. `0o755`).
    pub fn dir(&mut self, name: &str, perm: u32) -> Result<(), CpioError> {
        self.entry(name, S_IFDIR | (perm & 0o7777), 2, (0, 0), &[])
    }

    /// A regular file with its content.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> Result<(), CpioError> {
        self.entry(name, S_IFREG | (perm & 0o7777), 1, (0, 0), data)
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, name: &str, target: &str) -> Result<(), CpioError> {
        self.entry(name, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes())
    }

    /// A character device node (e.g. `dev/console`, 5:1).
    pub fn char_dev(
        &mut self,
        name: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CpioError> {
        self.entry(name, S_IFCHR | (perm & 0o7777), 1, (major, minor), &[])
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> Result<(), CpioError> {
        check_name(name)?;
        let size = u32::try_from(data.len()).map_err(|_| CpioError::TooLarge {
            name: name.to_owned(),
            len: data.len() as u64,
        })?;
        let ino = self.next_ino;
        self.next_ino += 1;
        self.header(
            ino,
            &Header {
                name,
                mode,
                nlink,
                rdev,
                size,
            },
        )?;
        self.put(data)?;
        self.pad4()
    }

    fn header(&mut self, ino: u32, h: &Header) -> Result<(), CpioError> {
        let namesize = u32::try_from(h.name.len() + 1).map_err(|_| CpioError::BadName {
            name: h.name.to_string(),
            why: "longer than newc's 32-bit name size",
        })?;
        let fields: [u32; 13] = [
            ino, h.mode, 0, 0, h.nlink, 0, h.size, 0, 0, h.rdev.0, h.rdev.1, namesize, 0,
        ];
        let mut hdr = String::with_capacity(110);
        hdr.push_str("070701");
        for f in fields {
            hdr.push_str(&format!("{f:08X}"));
        }
        self.put(hdr.as_bytes())?;
        self.put(h.name.as_bytes())?;
        self.put(&[0])?;
        self.pad4()
    }

    fn put(&mut self, b: &[u8]) -> Result<(), CpioError> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn pad4(&mut self) -> Result<(), CpioError> {
        let pad = ((4 - self.written % 4) % 4) as usize;
        self.put(&[0u8; 3][..pad])
    }

    /// Write the trailer and hand back the inner writer.
    pub fn finish(mut self) -> Result<W, CpioError> {
        self.header(
            0,
            &Header {
                name: TRAILER,
                mode: 0,
                nlink: 1,
                rdev: (0, 0),
                size: 0,
            },
        )?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn check_name(name: &str) -> Result<(), CpioError> {
    let bad = |why| {
        Err(CpioError::BadName {
            name: name.to_owned(),
            why,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name == TRAILER {
        return bad("reserved for the trailer");
    }
    if name.starts_with('/') {
        return bad("must be relative (no leading '/')");
    }
    if name.contains('\0') {
        return bad("contains NUL");
    }
    if name.split('/').any(|c| c == ".." || c.is_empty()) {
        return bad("contains an empty or '..' component");
    }
    Ok(())
}

impl crate::error::Kinded for CpioError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            CpioError::Io(_) => crate::error::ErrorKind::Io,
            _ => crate::error::ErrorKind::BadRequest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(v: &[u8], entry_start: usize, index: usize) -> u32 {
        let at = entry_start + 6 + index * 8;
        u32::from_str_radix(std::str::from_utf8(&v[at..at + 8]).unwrap(), 16).unwrap()
    }

    #[test]
    fn one_file_has_newc_layout_and_padding() {
        let mut w = CpioWriter::new(Vec::new());
        w.file("init", 0o755, b"abc").unwrap();
        let v = w.finish().unwrap();
        assert_eq!(&v[..6], b"070701");
        assert_eq!(field(&v, 0, 1), 0o100755);
        assert_eq!(field(&v, 0, 6), 3);
        assert_eq!(field(&v, 0, 11), 5);
        // 110-byte header + "init\0" = 115, padded to 116; data 3 bytes, padded to 120.
        assert_eq!(&v[110..115], b"init\0");
        assert_eq!(&v[116..119], b"abc");
        assert_eq!(&v[120..126], b"070701");
        assert_eq!(&v[230..241], b"TRAILER!!!\0");
        assert_eq!(v.len() % 4, 0);
    }

    #[test]
    fn devices_and_links_carry_their_fields() {
        let mut w = CpioWriter::new(Vec::new());
        w.char_dev("dev/console", 0o600, 5, 1).unwrap();
        let v = w.finish().unwrap();
        assert_eq!(field(&v, 0, 1), 0o020600);
        assert_eq!((field(&v, 0, 9), field(&v, 0, 10)), (5, 1));
        let mut w = CpioWriter::new(Vec::new());
        w.symlink("bin/sh", "busybox").unwrap();
        let v = w.finish().unwrap();
        assert_eq!(field(&v, 0, 1), 0o120777);
        // 110-byte header + "bin/sh\0" = 117, padded to 120.
        assert_eq!(&v[120..127], b"busybox");
    }

    #[test]
    fn names_that_escape_are_refused() {
        let mut w = CpioWriter::new(Vec::new());
        for bad in ["", "/etc/x", "a/../b", "a//b", "TRAILER!!!"] {
            assert!(w.file(bad, 0o644, b"").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn system_cpio_reads_the_archive_when_present() {
        let Ok(out) = std::process::Command::new("cpio").arg("--version").output() else {
            eprintln!("skip: no cpio tool");
            return;
        };
        if !out.status.success() {
            return;
        }
        let mut w = CpioWriter::new(Vec::new());
        w.dir("bin", 0o755).unwrap();
        w.file("bin/hello", 0o644, b"hello\n").unwrap();
        w.symlink("bin/h", "hello").unwrap();
        let v = w.finish().unwrap();
        let mut child = std::process::Command::new("cpio")
            .arg("-t")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&v).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "bin\nbin/hello\nbin/h\n"
        );
    }
}
