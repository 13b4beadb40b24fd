//! What a dynamically linked program needs to run in the initramfs, found
//! the way the dynamic loader (and initramfs-tools' `copy_exec`) finds it:
//! its `PT_INTERP` loader, and its `DT_NEEDED` libraries, theirs in turn,
//! each searched in the program's `DT_RUNPATH`/`DT_RPATH` (`$ORIGIN`
//! expanded), the directories of `/etc/ld.so.conf`, then the system
//! directories. Nothing is executed: the files are only read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};

use super::ImageError;

/// Where the libraries go in the initramfs (the loader searches it first:
/// the init script sets `LD_LIBRARY_PATH` to it).
pub const INITRD_LIB_DIR: &str = "lib";

/// A file a dynamically linked program needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    /// Path in the initramfs (no leading `/`).
    pub dest: String,
    /// The file on this machine.
    pub src: PathBuf,
}

/// An ELF file's loader request and libraries.
#[derive(Debug, Default)]
struct Dynamic {
    interp: Option<String>,
    needed: Vec<String>,
    search: Vec<String>,
    machine: elf::Machine,
}

fn parse(path: &Path, data: &[u8]) -> Result<Option<Dynamic>, ImageError> {
    let bad = |e: object::read::Error| ImageError::Missing {
        what: path.display().to_string(),
        detail: format!("not an ELF file forkmail can read: {e}"),
    };
    let Ok(header) = elf::FileHeader64::<object::Endianness>::parse(data) else {
        return Ok(None); // not a 64-bit ELF: nothing to follow
    };
    let endian = header.endian().map_err(bad)?;
    let mut d = Dynamic {
        machine: header.e_machine(endian),
        ..Dynamic::default()
    };
    for ph in header.program_headers(endian, data).map_err(bad)? {
        if let Some(i) = ph.interpreter(endian, data).map_err(bad)? {
            d.interp = Some(String::from_utf8_lossy(i).into_owned());
        }
    }
    let sections = header.sections(endian, data).map_err(bad)?;
    let table = sections.dynamic_table(endian, data).map_err(bad)?;
    for entry in &table {
        let text = || -> Result<String, ImageError> {
            Ok(String::from_utf8_lossy(table.string(entry).map_err(bad)?).into_owned())
        };
        match entry.tag {
            elf::DT_NEEDED => d.needed.push(text()?),
            elf::DT_RUNPATH | elf::DT_RPATH => {
                d.search.extend(text()?.split(':').map(String::from))
            }
            _ => {}
        }
    }
    Ok(Some(d))
}

/// The system's library directories: `/etc/ld.so.conf` (with its
/// `include`s), then the usual ones.
fn system_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut confs = vec![PathBuf::from("/etc/ld.so.conf")];
    while let Some(conf) = confs.pop() {
        let Ok(text) = std::fs::read_to_string(&conf) else {
            continue;
        };
        for line in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
        {
            if let Some(pattern) = line.strip_prefix("include ") {
                // `include /etc/ld.so.conf.d/*.conf`: a directory and a suffix.
                let p = Path::new(pattern.trim());
                if let (Some(dir), Some(name)) = (p.parent(), p.file_name()) {
                    let name = name.to_string_lossy();
                    let suffix = name.trim_start_matches('*').to_string();
                    if let Ok(rd) = std::fs::read_dir(dir) {
                        let mut found: Vec<PathBuf> = rd
                            .flatten()
                            .map(|e| e.path())
                            .filter(|f| f.to_string_lossy().ends_with(&suffix))
                            .collect();
                        found.sort();
                        confs.extend(found.into_iter().rev());
                    }
                }
            } else if line.starts_with('/') {
                dirs.push(PathBuf::from(line));
            }
        }
    }
    for d in [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/lib",
        "/usr/lib",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// Find library `name` for a program of `machine` that lives in `origin`.
fn find(
    name: &str,
    rpath: &[String],
    origin: &Path,
    machine: elf::Machine,
    system: &[PathBuf],
) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    let from_rpath = rpath
        .iter()
        .map(|d| PathBuf::from(d.replace("$ORIGIN", &origin.to_string_lossy())));
    for dir in from_rpath.chain(system.iter().cloned()) {
        let cand = dir.join(name);
        let Ok(data) = std::fs::read(&cand) else {
            continue;
        };
        // A library of another architecture (a 32-bit one) is skipped, as
        // the loader does.
        if let Ok(Some(d)) = parse(&cand, &data)
            && d.machine == machine
        {
            return Some(cand);
        }
    }
    None
}

/// Everything `program` needs besides itself to run in the initramfs: the
/// loader at the path it asks for, and every library (recursively) in
/// [`INITRD_LIB_DIR`]. Empty for a static program.
pub fn needed_files(program: &Path) -> Result<Vec<Needed>, ImageError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| ImageError::Read {
            path: p.into(),
            source,
        })
    };
    let data = read(program)?;
    let Some(top) = parse(program, &data)? else {
        return Ok(Vec::new());
    };
    let Some(interp) = top.interp.clone() else {
        return Ok(Vec::new()); // static
    };
    let system = system_dirs();
    let mut out: BTreeMap<String, Needed> = BTreeMap::new();
    out.insert(
        interp.trim_start_matches('/').to_string(),
        Needed {
            dest: interp.trim_start_matches('/').to_string(),
            src: PathBuf::from(&interp),
        },
    );
    let mut queue: Vec<(String, Vec<String>, PathBuf)> = top
        .needed
        .iter()
        .map(|n| {
            let origin = program.parent().unwrap_or(Path::new("/")).to_path_buf();
            (n.clone(), top.search.clone(), origin)
        })
        .collect();
    let mut seen: Vec<String> = Vec::new();
    while let Some((name, rpath, origin)) = queue.pop() {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        let Some(path) = find(&name, &rpath, &origin, top.machine, &system) else {
            return Err(ImageError::Missing {
                what: format!("shared library {name} of {}", program.display()),
                detail: "not found in its RUNPATH, /etc/ld.so.conf or the system library directories; build a static forkmail-guest (RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu --bin forkmail-guest) and pass --guest".into(),
            });
        };
        // The loader itself is named as a library too: it is there already.
        let is_loader = Path::new(&interp).file_name() == Path::new(&name).file_name();
        if !is_loader {
            let dest = format!("{INITRD_LIB_DIR}/{name}");
            out.insert(
                dest.clone(),
                Needed {
                    dest,
                    src: path.clone(),
                },
            );
        }
        let lib = read(&path)?;
        if let Some(d) = parse(&path, &lib)? {
            let origin = path.parent().unwrap_or(Path::new("/")).to_path_buf();
            for n in d.needed {
                queue.push((n, d.search.clone(), origin.clone()));
            }
        }
    }
    Ok(out.into_values().collect())
}

/// Whether the ELF file `data` carries debug information (`.debug_info`;
/// `.debug_gdb_scripts` is loaded data, not debug information).
pub fn has_debug_info(data: &[u8]) -> bool {
    let Ok(header) = elf::FileHeader64::<object::Endianness>::parse(data) else {
        return false;
    };
    let Ok(endian) = header.endian() else {
        return false;
    };
    let Ok(sections) = header.sections(endian, data) else {
        return false;
    };
    sections.iter().any(|s| {
        sections
            .section_name(endian, s)
            .is_ok_and(|n| n == b".debug_info")
    })
}

/// A copy of `program` without debug information in `dir` (`strip
/// --strip-debug`, from binutils, which building forkmail needed): an
/// initramfs is unpacked into the guest's RAM, and a release build with
/// debug info is ~40 times larger. `None` when there is nothing to strip or
/// `strip` is not there (the program is packed as it is).
pub fn stripped_copy(program: &Path, dir: &Path) -> Option<PathBuf> {
    let data = std::fs::read(program).ok()?;
    if !has_debug_info(&data) {
        return None;
    }
    let out = dir.join(program.file_name()?);
    let ok = std::process::Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&out)
        .arg(program)
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_program_needs_its_loader_and_libc() {
        // This test's own binary is linked like the installed forkmail-guest.
        let exe = std::env::current_exe().expect("test binary");
        let needed = needed_files(&exe).expect("resolved");
        let dests: Vec<&str> = needed.iter().map(|n| n.dest.as_str()).collect();
        assert!(
            dests
                .iter()
                .any(|d| d.starts_with("lib64/ld-linux") || d.starts_with("lib/ld-linux")),
            "{dests:?}"
        );
        assert!(dests.contains(&"lib/libc.so.6"), "{dests:?}");
        assert!(needed.iter().all(|n| n.src.is_file()), "{needed:?}");
    }

    #[test]
    fn debug_info_is_stripped_from_the_packed_copy() {
        let exe = std::env::current_exe().expect("test binary");
        let data = std::fs::read(&exe).expect("read");
        if !has_debug_info(&data) {
            return; // built without debug info: nothing to strip
        }
        let d = tempfile::tempdir().expect("tempdir");
        let Some(out) = stripped_copy(&exe, d.path()) else {
            return; // no `strip` on this machine: packed as it is
        };
        let small = std::fs::read(&out).expect("stripped");
        assert!(!has_debug_info(&small));
        assert!(small.len() < data.len());
    }

    #[test]
    fn a_static_program_needs_nothing() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("static");
        std::fs::write(&p, super::super::guest_binary::synthetic_elf(false)).expect("write");
        assert!(needed_files(&p).expect("static").is_empty());
    }
}
