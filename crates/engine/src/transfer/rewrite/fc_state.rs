//! Firecracker's binary snapshot state file (`snapshot-latest/state`).
//!
//! Layout for Firecracker v1.13 – v1.14.x (snapshot data version 8.0.0,
//! `src/vmm/src/snapshot/mod.rs` at tag v1.14.2, commit 9252763; the
//! version Hypeman ships, `lib/hypervisor/firecracker/binaries.go` @9a87bd5):
//!
//! ```text
//! u64 LE   magic        0x0710_1984_8664_0000 (x86_64) / 0x0710_1984_AAAA_0000 (aarch64)
//! u64 LE   len          \  semver `Version` through serde: a string "8.0.0"
//! [len]    version      /
//! ...      MicrovmState bincode, fixed-int encoding, little endian
//! u64 LE   CRC-64       of every byte before it ([`super::crc64`])
//! ```
//!
//! bincode (fixint) writes a `String` as a u64 LE length and its bytes, an
//! `Option` as one tag byte, an enum variant as a u32, a `Vec` as a u64
//! count. It writes no offsets and no enclosing lengths, so a whole string
//! can change length in place as long as its own length prefix changes with
//! it. Firecracker's `main` after v1.14 (snapshot version 11.0.0, commit
//! 37480d9 "migrate from bincode to bitcode") encodes differently: there
//! only Hypeman's same-length replacement is safe, and a path that would
//! change length is refused ([`FcStateError::CannotResize`]).
//!
//! The MicrovmState is not decoded (its KVM parts are architecture
//! structs): paths are found as bincode strings that start with `/`. In
//! v1.14.2 these are `vm_info.boot_source.{kernel_image_path,initrd_path}`,
//! block `disk_path`, vhost-user block `socket_path`, vsock
//! `backend.Uds.path` and pmem `config.path_on_host`.

use memchr::memmem;

use super::crc64;

/// Firecracker's x86_64 snapshot magic.
pub const MAGIC_X86_64: u64 = 0x0710_1984_8664_0000;
/// Firecracker's aarch64 snapshot magic.
pub const MAGIC_AARCH64: u64 = 0x0710_1984_AAAA_0000;
/// The snapshot data version whose bincode layout is rewritten with length
/// changes (Firecracker v1.13.0 – v1.14.4).
pub const BINCODE_FIXINT_MAJOR: u64 = 8;
/// Longest string taken for a path.
pub const MAX_PATH_LEN: usize = 4096;

/// Why a state file cannot be read or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FcStateError {
    /// The file is shorter than a header and a CRC trailer.
    #[error("firecracker snapshot state is too short ({0} bytes)")]
    TooShort(usize),
    /// The trailing CRC-64 does not match.
    #[error("firecracker snapshot state: CRC64 validation failed {0}")]
    Crc(&'static str),
    /// The header is not a Firecracker bincode header.
    #[error("firecracker snapshot header not understood: {0}")]
    Header(String),
    /// A path would change length in a layout that cannot be resized.
    #[error(
        "snapshot data version {version} is not the bincode layout (major {BINCODE_FIXINT_MAJOR}): \
         {path:?} can only be replaced by a string of the same length"
    )]
    CannotResize {
        /// Header version string.
        version: String,
        /// The path that would change length.
        path: String,
    },
    /// A directory being rewritten occurs inside a longer string (boot
    /// args, ...): it would be left pointing at the source.
    #[error("{prefix:?} occurs at byte {offset} inside a longer string; rewriting it is not safe")]
    Embedded {
        /// What was looked for.
        prefix: String,
        /// Where it was found.
        offset: usize,
    },
    /// A replacement is not a usable path string.
    #[error("replacement path {0:?} is empty, too long or not printable")]
    BadReplacement(String),
}

/// The parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Magic value.
    pub magic: u64,
    /// Snapshot data version ("8.0.0").
    pub version: String,
    /// Offset of the MicrovmState.
    pub body_start: usize,
}

impl Header {
    /// Major version number, when the version parses.
    pub fn major(&self) -> Option<u64> {
        self.version.split('.').next()?.parse().ok()
    }

    /// `x86_64` or `aarch64`.
    pub fn arch(&self) -> &'static str {
        if self.magic == MAGIC_AARCH64 {
            "aarch64"
        } else {
            "x86_64"
        }
    }
}

/// A bincode string that looks like an absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathString {
    /// Offset of its u64 length prefix in the file.
    pub len_offset: usize,
    /// The string.
    pub value: String,
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = data.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// Check the CRC trailer.
pub fn verify_crc(data: &[u8], when: &'static str) -> Result<(), FcStateError> {
    if data.len() < 8 {
        return Err(FcStateError::TooShort(data.len()));
    }
    if crc64::trailer_ok(data) {
        Ok(())
    } else {
        Err(FcStateError::Crc(when))
    }
}

/// Parse the header (magic, version string).
pub fn parse_header(data: &[u8]) -> Result<Header, FcStateError> {
    let magic = u64_at(data, 0).ok_or(FcStateError::TooShort(data.len()))?;
    if magic != MAGIC_X86_64 && magic != MAGIC_AARCH64 {
        return Err(FcStateError::Header(format!("magic {magic:#018x}")));
    }
    let len = u64_at(data, 8).ok_or(FcStateError::TooShort(data.len()))?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (1..=64).contains(l))
        .ok_or_else(|| FcStateError::Header(format!("version length {len}")))?;
    let end = 16 + len;
    let version = data
        .get(16..end)
        .and_then(|b| std::str::from_utf8(b).ok())
        .filter(|v| v.split('.').count() == 3 && v.split('.').all(|n| n.parse::<u64>().is_ok()))
        .ok_or_else(|| FcStateError::Header("version is not MAJOR.MINOR.PATCH".into()))?;
    Ok(Header {
        magic,
        version: version.to_string(),
        body_start: end,
    })
}

fn printable_path(bytes: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(bytes).ok()?;
    (s.starts_with('/') && !s.chars().any(char::is_control)).then_some(s)
}

/// Every bincode string in `data[from..to]` that starts with `/`, is 2 to
/// [`MAX_PATH_LEN`] bytes long and has no control characters, in file
/// order and not overlapping.
pub fn scan_path_strings(data: &[u8], from: usize, to: usize) -> Vec<PathString> {
    let to = to.min(data.len());
    let mut out = Vec::new();
    let mut p = from.saturating_add(8);
    while p < to {
        if data[p] == b'/'
            && let Some(len) = u64_at(data, p - 8)
                .and_then(|l| usize::try_from(l).ok())
                .filter(|l| (2..=MAX_PATH_LEN).contains(l))
            && p + len <= to
            && let Some(s) = printable_path(&data[p..p + len])
        {
            out.push(PathString {
                len_offset: p - 8,
                value: s.to_string(),
            });
            p += len + 8;
            continue;
        }
        p += 1;
    }
    out
}

/// The header of a CRC-checked file, and where its body ends (before the
/// CRC): a header that runs into the CRC is too short.
fn header_and_end(data: &[u8]) -> Result<(Header, usize), FcStateError> {
    let header = parse_header(data)?;
    let body_end = data.len().saturating_sub(8);
    if header.body_start > body_end {
        return Err(FcStateError::TooShort(data.len()));
    }
    Ok((header, body_end))
}

/// The header and path strings of a whole state file (CRC checked).
pub fn path_strings(data: &[u8]) -> Result<(Header, Vec<PathString>), FcStateError> {
    verify_crc(data, "on read")?;
    let (header, body_end) = header_and_end(data)?;
    let found = scan_path_strings(data, header.body_start, body_end);
    Ok((header, found))
}

/// One string replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    /// Offset of the old string's length prefix.
    pub len_offset: usize,
    /// Old value.
    pub from: String,
    /// New value.
    pub to: String,
}

/// Rewrite path strings: `map` gives the new value of each path string that
/// must change. Every occurrence of each of `guard` (the directories the
/// state was written with) must be the start of a mapped string, else the
/// rewrite is refused ([`FcStateError::Embedded`]). Strings that change
/// length need the bincode layout (major version 8); same-length
/// replacements work on any version, as Hypeman's do. The CRC is checked
/// before and recomputed (and checked) after.
pub fn rewrite_path_strings(
    data: &[u8],
    guard: &[&str],
    map: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<(Vec<u8>, Vec<Replaced>), FcStateError> {
    verify_crc(data, "before path rewrite")?;
    let (header, body_end) = header_and_end(data)?;
    let strings = scan_path_strings(data, header.body_start, body_end);
    let mut changes = Vec::new();
    for s in &strings {
        let Some(to) = map(&s.value) else { continue };
        if to.is_empty() || to.len() > MAX_PATH_LEN || to.chars().any(char::is_control) {
            return Err(FcStateError::BadReplacement(to));
        }
        if to == s.value {
            continue;
        }
        if to.len() != s.value.len() && header.major() != Some(BINCODE_FIXINT_MAJOR) {
            return Err(FcStateError::CannotResize {
                version: header.version.clone(),
                path: s.value.clone(),
            });
        }
        changes.push(Replaced {
            len_offset: s.len_offset,
            from: s.value.clone(),
            to,
        });
    }
    // Every occurrence of a guarded directory must start a string being
    // rewritten (or one that is left alone on purpose: none is).
    for prefix in guard.iter().filter(|p| !p.is_empty()) {
        for pos in memmem::find_iter(&data[header.body_start..body_end], prefix.as_bytes()) {
            let pos = pos + header.body_start;
            if !changes.iter().any(|c| c.len_offset + 8 == pos) {
                return Err(FcStateError::Embedded {
                    prefix: (*prefix).to_string(),
                    offset: pos,
                });
            }
        }
    }
    let mut out = Vec::with_capacity(data.len() + 1024);
    let mut cursor = 0;
    for c in &changes {
        out.extend_from_slice(&data[cursor..c.len_offset]);
        out.extend_from_slice(&(c.to.len() as u64).to_le_bytes());
        out.extend_from_slice(c.to.as_bytes());
        cursor = c.len_offset + 8 + c.from.len();
    }
    out.extend_from_slice(&data[cursor..body_end]);
    let out = crc64::with_trailer(out);
    verify_crc(&out, "after path rewrite")?;
    Ok((out, changes))
}

/// Hypeman's own rewrite (`rewriteSnapshotStatePathsForFork`,
/// `lib/hypervisor/firecracker/snapshot_state.go` @2211346): replace every
/// byte occurrence of `source` with `target` when both have the same
/// length. `Ok(None)` when `source` does not occur or the lengths differ —
/// Hypeman then aliases the source directory with a symlink while
/// Firecracker loads the snapshot. Kept to show the two agree where
/// Hypeman's applies.
pub fn hypeman_same_length(
    data: &[u8],
    source: &str,
    target: &str,
) -> Result<Option<Vec<u8>>, FcStateError> {
    verify_crc(data, "before path rewrite")?;
    let body = &data[..data.len() - 8];
    if source.is_empty() || source == target || memmem::find(body, source.as_bytes()).is_none() {
        return Ok(None);
    }
    if source.len() != target.len() {
        return Ok(None);
    }
    let positions: Vec<usize> = memmem::find_iter(body, source.as_bytes()).collect();
    let mut out = body.to_vec();
    for pos in positions {
        out[pos..pos + source.len()].copy_from_slice(target.as_bytes());
    }
    let out = crc64::with_trailer(out);
    verify_crc(&out, "after path rewrite")?;
    Ok(Some(out))
}

impl crate::error::Kinded for FcStateError {
    /// A state that is not Firecracker's (or is corrupt) counts as I/O, as
    /// broken metadata does; one that cannot be rewritten safely is a bad
    /// request to export it.
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            FcStateError::TooShort(_) | FcStateError::Crc(_) | FcStateError::Header(_) => {
                ErrorKind::Io
            }
            FcStateError::CannotResize { .. }
            | FcStateError::Embedded { .. }
            | FcStateError::BadReplacement(_) => ErrorKind::BadRequest,
        }
    }
}
