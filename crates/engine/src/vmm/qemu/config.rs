//! The QEMU command line of a template or fork (they must match but for paths).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::*;

/// How a qemu snapshot was started: everything a restore must repeat.
/// Stored as `vmm_config` in `snapshot.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QemuConfig {
    /// The QEMU program.
    pub binary: String,
    /// QEMU's version line when the template was made.
    #[serde(default)]
    pub qemu_version: String,
    /// Acceleration (a restore must use the same).
    pub accel: Accel,
    /// `-cpu` model.
    pub cpu: String,
    /// `-machine` type.
    pub machine: String,
    /// vCPUs.
    pub smp: u32,
    /// Guest RAM in bytes (= memory file size).
    pub memory_size: u64,
    /// Kernel, relative to the snapshot directory (or absolute).
    pub kernel: String,
    /// Initramfs, relative to the snapshot directory (or absolute).
    pub initrd: String,
    /// Kernel command line.
    pub append: String,
    /// Image the template was booted from ("" for a kernel and initramfs
    /// given directly).
    #[serde(default)]
    pub image: String,
    /// A raw disk image attached read-only as a virtio block device,
    /// relative to the snapshot directory (or absolute). Template and forks
    /// attach the same file, so none of them may write it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<String>,
}

/// Where QEMU keeps its files for one run.
pub struct RunPaths<'a> {
    /// Directory holding the serial log and QMP socket.
    pub run_dir: &'a Path,
    /// Directory the kernel/initrd paths are relative to.
    pub base_dir: &'a Path,
    /// The memory file.
    pub memory: &'a Path,
    /// `share=on` (the file is the RAM) or `share=off` (private mapping).
    pub share: bool,
    /// Start with `-incoming defer`.
    pub incoming: bool,
}

/// Double commas: QEMU's option syntax for a literal comma in a value.
fn opt_path(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

impl QemuConfig {
    fn resolve(&self, base: &Path, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    }

    /// The full QEMU argument list for one run.
    pub fn args(&self, paths: &RunPaths) -> Vec<OsString> {
        let mib = self.memory_size >> 20;
        let serial = paths.run_dir.join(SERIAL_LOG);
        let qmp = paths.run_dir.join(QMP_SOCKET);
        let mut a: Vec<String> = vec![
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-display".into(),
            "none".into(),
            "-accel".into(),
            self.accel.label().into(),
            "-cpu".into(),
            self.cpu.clone(),
            "-smp".into(),
            self.smp.to_string(),
            "-m".into(),
            format!("{mib}M"),
            "-object".into(),
            format!(
                "memory-backend-file,id=mem,size={mib}M,mem-path={},share={}",
                opt_path(paths.memory),
                if paths.share { "on" } else { "off" }
            ),
            "-machine".into(),
            format!("{},memory-backend=mem", self.machine),
            "-kernel".into(),
            self.resolve(paths.base_dir, &self.kernel)
                .to_string_lossy()
                .into_owned(),
            "-initrd".into(),
            self.resolve(paths.base_dir, &self.initrd)
                .to_string_lossy()
                .into_owned(),
            "-append".into(),
            self.append.clone(),
            "-netdev".into(),
            "user,id=n0".into(),
            "-device".into(),
            if self.machine == "microvm" {
                "virtio-net-device,netdev=n0".into()
            } else {
                "virtio-net-pci,netdev=n0".into()
            },
            "-chardev".into(),
            format!("file,id=ser0,path={}", opt_path(&serial)),
            "-serial".into(),
            "chardev:ser0".into(),
            "-chardev".into(),
            format!("socket,id=qmp0,path={},server=on,wait=off", opt_path(&qmp)),
            "-mon".into(),
            "chardev=qmp0,mode=control".into(),
        ];
        if let Some(disk) = &self.disk {
            let file = self.resolve(paths.base_dir, disk);
            a.push("-drive".into());
            a.push(format!(
                "file={},format=raw,if=none,id=disk0,readonly=on",
                opt_path(&file)
            ));
            a.push("-device".into());
            a.push(if self.machine == "microvm" {
                "virtio-blk-device,drive=disk0".into()
            } else {
                "virtio-blk-pci,drive=disk0".into()
            });
        }
        if paths.incoming {
            a.push("-incoming".into());
            a.push("defer".into());
        }
        a.into_iter().map(OsString::from).collect()
    }
}

/// Quote `p` for `/bin/sh` (QEMU runs `exec:` migration URIs through it).
pub fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_escape_commas_and_select_share() {
        let cfg = QemuConfig {
            binary: "qemu-system-x86_64".into(),
            qemu_version: String::new(),
            accel: Accel::Tcg,
            cpu: "max".into(),
            machine: "microvm".into(),
            smp: 1,
            memory_size: 256 << 20,
            kernel: "vmlinuz".into(),
            initrd: "initrd.img".into(),
            append: "console=ttyS0".into(),
            image: "default".into(),
            disk: None,
        };
        let args = cfg.args(&RunPaths {
            run_dir: Path::new("/f"),
            base_dir: Path::new("/s"),
            memory: Path::new("/s/a,b/memory"),
            share: false,
            incoming: true,
        });
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(
            &"memory-backend-file,id=mem,size=256M,mem-path=/s/a,,b/memory,share=off".to_string()
        ));
        assert!(args.contains(&"/s/vmlinuz".to_string()));
        assert_eq!(&args[args.len() - 2..], ["-incoming", "defer"]);
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }

    #[test]
    fn a_disk_is_attached_read_only_beside_the_kernel() {
        let cfg = QemuConfig {
            binary: "qemu-system-x86_64".into(),
            qemu_version: String::new(),
            accel: Accel::Tcg,
            cpu: "max".into(),
            machine: "microvm".into(),
            smp: 1,
            memory_size: 256 << 20,
            kernel: "vmlinuz".into(),
            initrd: "initrd.img".into(),
            append: "console=ttyS0".into(),
            image: String::new(),
            disk: Some("disk.img".into()),
        };
        let args: Vec<String> = cfg
            .args(&RunPaths {
                run_dir: Path::new("/f"),
                base_dir: Path::new("/s"),
                memory: Path::new("/s/memory"),
                share: true,
                incoming: false,
            })
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            args.contains(&"file=/s/disk.img,format=raw,if=none,id=disk0,readonly=on".to_string()),
            "{args:?}"
        );
        assert!(args.contains(&"virtio-blk-device,drive=disk0".to_string()));
        let json = serde_json::to_value(&cfg).unwrap();
        let back: QemuConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, cfg);
        let mut old = serde_json::to_value(&cfg).unwrap();
        old.as_object_mut().unwrap().remove("disk");
        let back: QemuConfig = serde_json::from_value(old).unwrap();
        assert_eq!(back.disk, None, "templates made before disks still load");
    }
}
