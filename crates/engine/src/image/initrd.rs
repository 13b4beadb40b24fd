//! The initramfs: a gzip-compressed cpio (newc) with busybox, the virtio
//! modules, an `/init` that mounts the basics, loads the modules, brings up
//! eth0 as 10.0.2.15/24 via 10.0.2.2 (QEMU user networking) and starts the
//! guest program, and that program: forkmail's agent, or one of your own.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::cpio::CpioWriter;
use super::{ImageError, libs};

/// Where a program of your own goes in the initramfs.
pub const OWN_PROGRAM: &str = "bin/guest";

/// The program the initramfs runs as the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestProgram {
    /// `forkmail-guest`, started as `forkmail-guest vm`: it arms the
    /// mailboxes the kernel command line names.
    Agent(PathBuf),
    /// A program of your own (static, or packed with its loader and
    /// libraries), started without arguments: it arms its own mailboxes (a
    /// template waits for its markers in memory).
    Own(PathBuf),
}

impl GuestProgram {
    /// The static binary.
    pub fn path(&self) -> &Path {
        match self {
            GuestProgram::Agent(p) | GuestProgram::Own(p) => p,
        }
    }
}

/// The `/init` script: mount, load modules, configure 10.0.2.15/24 via
/// 10.0.2.2 (QEMU user networking), start the guest program, and keep PID 1
/// alive. A program that exits says so on the console (`forkmail-init: …
/// exited`), which a template's boot watches for.
pub fn init_script(modules: &[String], program: &GuestProgram) -> String {
    let mods = modules.join(" ");
    let run = match program {
        GuestProgram::Agent(_) => "(LD_LIBRARY_PATH=/lib /bin/forkmail-guest vm; echo \"forkmail-init: forkmail-guest exited with $?\") &".to_string(),
        GuestProgram::Own(_) => format!(
            "(LD_LIBRARY_PATH=/lib /{OWN_PROGRAM}; echo \"forkmail-init: guest exited with $?\") &"
        ),
    };
    format!(
        "#!/bin/busybox sh\n\
         /bin/busybox --install -s /bin\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sys /sys\n\
         mount -t devtmpfs dev /dev\n\
         mkdir -p /run/forkmail /tmp\n\
         for m in {mods}; do insmod /lib/modules/$m.ko || echo \"forkmail-init: insmod $m failed\"; done\n\
         ip link set lo up\n\
         ip link set eth0 up || echo 'forkmail-init: no eth0'\n\
         ip addr add 10.0.2.15/24 dev eth0\n\
         ip route add default via 10.0.2.2\n\
         {run}\n\
         exec sleep 2147483647\n"
    )
}

/// Inputs of the initramfs.
pub struct InitrdInputs<'a> {
    /// Static busybox.
    pub busybox: &'a Path,
    /// Modules to include: (name, file), in load order.
    pub modules: &'a [(String, PathBuf)],
    /// The guest program.
    pub guest: &'a GuestProgram,
    /// What the guest needs when it is dynamically linked ([`libs::needed_files`]).
    pub guest_libs: &'a [libs::Needed],
}

/// Write a gzip-compressed newc initramfs to `out`.
pub fn write_initrd(inp: &InitrdInputs, out: &Path) -> Result<(), ImageError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| ImageError::Read {
            path: p.into(),
            source,
        })
    };
    let busybox = read(inp.busybox)?;
    let guest = read(inp.guest.path())?;
    let write_err = |source| ImageError::Write {
        path: out.into(),
        source,
    };
    let f = std::fs::File::create(out).map_err(write_err)?;
    let gz = flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::fast());
    let mut w = CpioWriter::new(gz);
    for d in [
        "bin",
        "sbin",
        "dev",
        "proc",
        "sys",
        "run",
        "tmp",
        "lib",
        "lib/modules",
    ] {
        w.dir(d, 0o755)?;
    }
    w.char_dev("dev/console", 0o600, 5, 1)?;
    let names: Vec<String> = inp.modules.iter().map(|(n, _)| n.clone()).collect();
    w.file("init", 0o755, init_script(&names, inp.guest).as_bytes())?;
    w.file("bin/busybox", 0o755, &busybox)?;
    match inp.guest {
        GuestProgram::Agent(_) => w.file("bin/forkmail-guest", 0o755, &guest)?,
        GuestProgram::Own(_) => w.file(OWN_PROGRAM, 0o755, &guest)?,
    }
    let mut made: Vec<String> = vec!["lib".into()];
    for n in inp.guest_libs {
        // Parent directories first (`lib64` for the loader).
        let mut parent = String::new();
        for part in n
            .dest
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, d)| d)
            .unwrap_or(&[])
        {
            parent = if parent.is_empty() {
                part.to_string()
            } else {
                format!("{parent}/{part}")
            };
            if !made.contains(&parent) {
                w.dir(&parent, 0o755)?;
                made.push(parent.clone());
            }
        }
        w.file(&n.dest, 0o755, &read(&n.src)?)?;
    }
    for (name, path) in inp.modules {
        w.file(&format!("lib/modules/{name}.ko"), 0o644, &read(path)?)?;
    }
    let gz = w.finish()?;
    let mut bw = gz.finish().map_err(write_err)?;
    bw.flush().map_err(write_err)?;
    bw.into_inner()
        .map_err(|e| write_err(e.into_error()))?
        .sync_all()
        .map_err(write_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::guest_binary;

    #[test]
    fn init_loads_modules_in_order_and_keeps_pid1() {
        let agent = GuestProgram::Agent("g".into());
        let s = init_script(&["a".into(), "b".into()], &agent);
        assert!(s.contains("for m in a b; do insmod /lib/modules/$m.ko"));
        assert!(s.contains("/bin/forkmail-guest vm"));
        assert!(s.trim_end().ends_with("exec sleep 2147483647"));
        let own = init_script(&[], &GuestProgram::Own("p".into()));
        assert!(own.contains(
            "(LD_LIBRARY_PATH=/lib /bin/guest; echo \"forkmail-init: guest exited with $?\") &"
        ));
        assert!(own.contains("ip route add default via 10.0.2.2"));
    }

    #[test]
    fn initrd_packs_a_dynamic_guest_with_its_loader_and_libraries() {
        let d = tempfile::tempdir().unwrap();
        // This test binary is dynamically linked, like an installed forkmail-guest.
        let guest = std::env::current_exe().unwrap();
        let busybox = d.path().join("busybox");
        std::fs::write(&busybox, guest_binary::synthetic_elf(false)).unwrap();
        let guest_libs = libs::needed_files(&guest).unwrap();
        assert!(!guest_libs.is_empty());
        let out = d.path().join("initrd.img");
        write_initrd(
            &InitrdInputs {
                busybox: &busybox,
                modules: &[],
                guest: &GuestProgram::Own(guest.clone()),
                guest_libs: &guest_libs,
            },
            &out,
        )
        .unwrap();
        let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(&out).unwrap());
        let mut cpio = Vec::new();
        std::io::Read::read_to_end(&mut gz, &mut cpio).unwrap();
        let text = String::from_utf8_lossy(&cpio);
        assert!(text.contains("lib/libc.so.6"));
        assert!(text.contains("ld-linux-x86-64.so.2"));
        assert!(text.contains("LD_LIBRARY_PATH=/lib /bin/guest"));
        assert!(
            text.contains("bin/guest"),
            "a program of your own goes to /bin/guest"
        );
    }
}
