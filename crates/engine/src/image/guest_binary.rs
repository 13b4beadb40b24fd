//! Finding the `forkmail-guest` the initramfs carries, and telling a
//! dynamically linked one (it needs its loader) from a static one.

use std::path::PathBuf;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};

use super::*;

/// Whether the ELF file `data` asks for a dynamic loader (`PT_INTERP`).
/// `None` when it is not a 64-bit little-endian ELF file, or its header or
/// program header table is cut short.
pub fn elf_is_dynamic(data: &[u8]) -> Option<bool> {
    let header = elf::FileHeader64::<object::LittleEndian>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let headers = header.program_headers(endian, data).ok()?;
    Some(headers.iter().any(|ph| ph.p_type(endian) == elf::PT_INTERP))
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
        let mut big_endian = synthetic_elf(true);
        big_endian[5] = 2;
        assert_eq!(elf_is_dynamic(&big_endian), None, "only little-endian");
    }

    #[test]
    fn real_dynamic_programs_are_dynamic() {
        // This test program: Rust links against the C library's loader.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(elf_is_dynamic(&me), Some(true));
        if let Ok(ls) = std::fs::read("/bin/ls") {
            assert_eq!(elf_is_dynamic(&ls), Some(true), "/bin/ls");
        }
    }

    /// A real static program, built here by the C compiler that links Rust
    /// programs (so it is there whenever this test could be built): no C
    /// library needed, `_start` just exits.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_real_static_program_is_static() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("exit0.c");
        std::fs::write(
            &src,
            "void _start(void) { __asm__ volatile(\"mov $60, %eax\\n xor %edi, %edi\\n syscall\"); }\n",
        )
        .unwrap();
        let prog = d.path().join("exit0");
        let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
        let out = std::process::Command::new(&cc)
            .args(["-static", "-nostdlib", "-o"])
            .arg(&prog)
            .arg(&src)
            .output()
            .unwrap_or_else(|e| panic!("run {cc:?} (it links Rust programs): {e}"));
        assert!(
            out.status.success(),
            "{cc:?} -static: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status = std::process::Command::new(&prog).status().unwrap();
        assert!(status.success(), "the static program runs: {status}");
        let data = std::fs::read(&prog).unwrap();
        assert_eq!(elf_is_dynamic(&data), Some(false));
    }
}
