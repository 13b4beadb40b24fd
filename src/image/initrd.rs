//! The initramfs: a gzip-compressed cpio (newc) with busybox, the virtio
//! modules, an `/init` that mounts the basics, loads the modules, brings up
//! eth0 as 10.0.2.15/24 via 10.0.2.2 (QEMU user networking) and starts the
//! guest program, and that program: forkmail's agent, or one of your own.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::cpio::CpioWriter;
use super::{ImageError, elf_is_dynamic};

/// Where a program of your own goes in the initramfs.
pub const OWN_PROGRAM: &str = "bin/guest";

/// The program the initramfs runs as the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestProgram {
    /// A static `forkmail-guest`, started as `forkmail-guest vm`: it arms
    /// the mailboxes the kernel command line names.
    Agent(PathBuf),
    /// A static program of your own, started without arguments: it arms its
    /// own mailboxes (a template waits for its markers in memory).
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
        GuestProgram::Agent(_) => {
            "(/bin/forkmail-guest vm; echo \"forkmail-init: forkmail-guest exited with $?\") &"
                .to_string()
        }
        GuestProgram::Own(_) => {
            format!("(/{OWN_PROGRAM}; echo \"forkmail-init: guest exited with $?\") &")
        }
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
    /// The guest program (static).
    pub guest: &'a GuestProgram,
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
    if elf_is_dynamic(&guest) == Some(true) {
        return Err(match inp.guest {
            GuestProgram::Agent(p) => ImageError::DynamicGuest { path: p.clone() },
            GuestProgram::Own(p) => ImageError::Missing {
                what: format!("guest program {}", p.display()),
                detail: "it is dynamically linked and the initramfs has no loader: link it statically (gcc -static)".into(),
            },
        });
    }
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
        assert!(own.contains("(/bin/guest; echo \"forkmail-init: guest exited with $?\") &"));
        assert!(own.contains("ip route add default via 10.0.2.2"));
    }

    #[test]
    fn initrd_refuses_a_dynamic_guest() {
        let d = tempfile::tempdir().unwrap();
        let dynamic = d.path().join("forkmail-guest");
        std::fs::write(&dynamic, guest_binary::synthetic_elf(true)).unwrap();
        let busybox = d.path().join("busybox");
        std::fs::write(&busybox, guest_binary::synthetic_elf(false)).unwrap();
        let err = write_initrd(
            &InitrdInputs {
                busybox: &busybox,
                modules: &[],
                guest: &GuestProgram::Agent(dynamic.clone()),
            },
            &d.path().join("initrd.img"),
        )
        .unwrap_err();
        assert!(matches!(err, ImageError::DynamicGuest { .. }), "{err}");
        let err = write_initrd(
            &InitrdInputs {
                busybox: &busybox,
                modules: &[],
                guest: &GuestProgram::Own(dynamic),
            },
            &d.path().join("initrd.img"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("gcc -static"), "{err}");
    }
}
