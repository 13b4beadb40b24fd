//! Finding the `forkmail-guest` the initramfs carries, and telling a
//! dynamically linked one (it needs its loader) from a static one.

use std::path::PathBuf;

use super::*;

/// Whether the ELF file `data` asks for a dynamic loader (`PT_INTERP`).
pub fn elf_is_dynamic(data: &[u8]) -> Option<bool> {
    if data.get(..4)? != b"\x7fELF" || *data.get(4)? != 2 || *data.get(5)? != 1 {
        return None; // not a 64-bit little-endian ELF
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(data.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(data.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = u16_at(0x36)? as usize;
    let phnum = u16_at(0x38)? as usize;
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?);
        if p_type == 3 {
            return Some(true);
        }
    }
    Some(false)
}

/// The `forkmail-guest` to pack: the one installed beside the running
/// `forkmail` (`cargo install` puts both in one `bin` directory; it is
/// dynamically linked and travels with its libraries), else a static build
/// where the documented static build puts it
/// (`target/x86_64-unknown-linux-gnu/release/`, `target/static-guest/...`).
pub fn find_guest() -> Result<PathBuf, ImageError> {
    let mut tried = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        let target = dir.parent().unwrap_or(dir);
        for cand in [
            dir.join("forkmail-guest"),
            target.join("x86_64-unknown-linux-gnu/release/forkmail-guest"),
            target.join("static-guest/x86_64-unknown-linux-gnu/release/forkmail-guest"),
        ] {
            if let Ok(data) = std::fs::read(&cand)
                && elf_is_dynamic(&data).is_some()
            {
                return Ok(cand);
            }
            tried.push(cand.display().to_string());
        }
    }
    Err(ImageError::Missing {
        what: "forkmail-guest".into(),
        detail: format!(
            "none found (tried {}). `cargo install --path .` installs it beside forkmail; or pass --guest PATH",
            tried.join(", ")
        ),
    })
}

/// A minimal 64-bit little-endian ELF image with one program header:
/// `PT_INTERP` (a dynamically linked program) or `PT_LOAD` (a static one).
#[cfg(test)]
pub(crate) fn synthetic_elf(interp: bool) -> Vec<u8> {
    let mut e = vec![0u8; 64 + 56];
    e[..4].copy_from_slice(b"\x7fELF");
    e[4] = 2; // 64-bit
    e[5] = 1; // little-endian
    e[6] = 1; // version
    e[0x20..0x28].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    e[0x36..0x38].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    e[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
    let p_type: u32 = if interp { 3 } else { 1 };
    e[64..68].copy_from_slice(&p_type.to_le_bytes());
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loader_request_is_what_makes_a_binary_dynamic() {
        assert_eq!(elf_is_dynamic(&synthetic_elf(true)), Some(true));
        assert_eq!(elf_is_dynamic(&synthetic_elf(false)), Some(false));
        assert_eq!(elf_is_dynamic(b"not an elf"), None);
        let mut truncated = synthetic_elf(true);
        truncated.truncate(66);
        assert_eq!(
            elf_is_dynamic(&truncated),
            None,
            "a cut header is not trusted"
        );
    }
}
