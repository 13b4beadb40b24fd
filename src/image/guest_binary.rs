//! Finding the static `forkmail-guest` the initramfs carries, and refusing
//! a dynamically linked one (there is no loader in the guest).

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

/// A static `forkmail-guest` near the running executable: beside it, or
/// where the documented static build puts it
/// (`target/x86_64-unknown-linux-gnu/release/`, `target/static-guest/...`).
pub fn find_static_guest() -> Result<PathBuf, ImageError> {
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
                && elf_is_dynamic(&data) == Some(false)
            {
                return Ok(cand);
            }
            tried.push(cand.display().to_string());
        }
    }
    Err(ImageError::Missing {
        what: "static forkmail-guest".into(),
        detail: format!(
            "none found (tried {}). Build it with\n  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu --bin forkmail-guest\nand pass --guest target/x86_64-unknown-linux-gnu/release/forkmail-guest",
            tried.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_interp_is_detected() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        // Test binaries are linked dynamically by default.
        assert!(elf_is_dynamic(&me).is_some());
        assert_eq!(elf_is_dynamic(b"not an elf"), None);
    }
}
