//! Guest images for the qemu driver: `<store>/images/<name>/{vmlinuz,
//! initrd.img,image.json}`. The initramfs (cpio newc, gzip; [`initrd`]):
//! busybox for the basics, the virtio modules, an `/init` that brings up the
//! network, and the guest program: `forkmail-guest` as the agent — the one
//! installed beside `forkmail`, with the loader and shared libraries it
//! needs when it is dynamically linked (as `cargo install` builds it), or a
//! static one — or a program of your own ([`GuestProgram`]).
//!
//! Missing inputs come from Debian packages (`apt-get download` into a
//! temporary directory, unpacked with `dpkg -x`, never installed).

pub mod cpio;
mod debian;
mod guest_binary;
mod initrd;
pub mod libs;

use debian::newest_with_prefix;
pub use debian::*;
pub use guest_binary::*;
pub use initrd::*;

use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::store::{Store, ValidName, now_rfc3339, read_json, write_json_atomic};
use cpio::CpioError;

/// The image used when none is named.
pub const DEFAULT_IMAGE: &str = "default";
/// Metadata file of an image.
pub const IMAGE_META: &str = "image.json";
/// Kernel file of an image.
pub const IMAGE_KERNEL: &str = "vmlinuz";
/// Initramfs file of an image.
pub const IMAGE_INITRD: &str = "initrd.img";
/// Debian's busybox package with a static binary.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

/// virtio modules in load order (Debian 12 builds them as modules).
pub const VIRTIO_MODULES: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "virtio_mmio",
    "failover",
    "net_failover",
    "virtio_net",
];

/// Errors of image building.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A tool could not be started.
    #[error("cannot run {cmd}: {source}{hint}")]
    Spawn {
        /// The command.
        cmd: String,
        /// Cause.
        source: std::io::Error,
        /// What to do.
        hint: &'static str,
    },
    /// A tool failed.
    #[error("{cmd} failed ({status}): {stderr}{hint}")]
    Failed {
        /// The command.
        cmd: String,
        /// Exit status.
        status: std::process::ExitStatus,
        /// Its stderr.
        stderr: String,
        /// What to do.
        hint: &'static str,
    },
    /// A required input is missing.
    #[error("{what}: {detail}")]
    Missing {
        /// What.
        what: String,
        /// Why and what to do.
        detail: String,
    },
    /// Reading an input failed.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing the image failed.
    #[error("writing {path}: {source}")]
    Write {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// No such image.
    #[error("no guest image {name:?} in {dir}; build one with `forkmail image build`")]
    NoSuchImage {
        /// Name.
        name: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// Bad name or metadata.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The cpio writer failed.
    #[error("building the initramfs: {0}")]
    Cpio(#[from] CpioError),
}

impl crate::error::Kinded for ImageError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            ImageError::Missing { .. } => ErrorKind::BadRequest,
            ImageError::NoSuchImage { .. } => ErrorKind::NotFound,
            ImageError::Store(e) => e.kind(),
            _ => ErrorKind::Io,
        }
    }
}

const APT_HINT: &str = "; on Debian/Ubuntu run `apt-get update` first; elsewhere pass --kernel, --modules and --busybox (a static busybox) yourself";

fn run(cmd: &mut Command) -> Result<String, ImageError> {
    let desc = format!("{cmd:?}");
    let out = cmd.output().map_err(|source| ImageError::Spawn {
        cmd: desc.clone(),
        source,
        hint: APT_HINT,
    })?;
    if !out.status.success() {
        return Err(ImageError::Failed {
            cmd: desc,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            hint: APT_HINT,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Contents of `image.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageMeta {
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Where the kernel came from.
    pub kernel_source: String,
    /// Where busybox came from.
    pub busybox_source: String,
    /// Where forkmail-guest came from.
    pub guest_source: String,
    /// Kernel modules in the initramfs, in load order.
    pub modules: Vec<String>,
    /// Debian packages downloaded for it.
    #[serde(default)]
    pub fetched_packages: Vec<String>,
    /// What a dynamically linked forkmail-guest brought along (paths in the
    /// initramfs); empty for a static one.
    #[serde(default)]
    pub guest_libraries: Vec<String>,
    /// Size of the initramfs in bytes.
    pub initrd_size: u64,
}

/// An image in the store.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// Name.
    pub name: String,
    /// Directory.
    pub dir: PathBuf,
    /// Parsed `image.json`.
    pub meta: ImageMeta,
}

impl ImageInfo {
    /// The kernel.
    pub fn kernel(&self) -> PathBuf {
        self.dir.join(IMAGE_KERNEL)
    }
    /// The initramfs.
    pub fn initrd(&self) -> PathBuf {
        self.dir.join(IMAGE_INITRD)
    }
}

/// Load image `name` from the store.
pub fn load_image(store: &Store, name: &str) -> Result<ImageInfo, ImageError> {
    let valid = ValidName::new(name)?;
    let dir = store.images_dir().join(valid.as_str());
    if !dir.join(IMAGE_META).is_file() {
        return Err(ImageError::NoSuchImage {
            name: name.into(),
            dir: store.images_dir(),
        });
    }
    Ok(ImageInfo {
        name: name.into(),
        meta: read_json(&dir.join(IMAGE_META))?,
        dir,
    })
}

/// Every image in the store (those that load).
pub fn list_images(store: &Store) -> Vec<ImageInfo> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(store.images_dir()) {
        for e in rd.flatten() {
            if let Some(n) = e.file_name().to_str()
                && let Ok(i) = load_image(store, n)
            {
                out.push(i);
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct ImageSpec {
    /// Image name.
    pub name: String,
    /// Kernel (default: Debian's current `linux-image-*-amd64`).
    pub kernel: Option<PathBuf>,
    /// Directory searched for the virtio `.ko` files (default: the Debian
    /// kernel package's; none when only `kernel` is given: built-in virtio).
    pub modules: Option<PathBuf>,
    /// Static busybox (default: Debian's `busybox-static`).
    pub busybox: Option<PathBuf>,
    /// forkmail-guest (default: see [`find_guest`]); a dynamically linked
    /// one is packed with its loader and libraries.
    pub guest: Option<PathBuf>,
    /// A program of your own to run instead of forkmail-guest (static, or
    /// packed with its loader and libraries like the agent).
    pub program: Option<PathBuf>,
    /// Replace an existing image of that name.
    pub force: bool,
}

/// Build image `spec.name` in the store. `say` receives progress lines
/// (what was fetched, where things came from).
pub fn build_image(
    store: &Store,
    spec: &ImageSpec,
    say: &mut dyn FnMut(String),
) -> Result<ImageInfo, ImageError> {
    let valid = ValidName::new(&spec.name)?;
    let (guest, own) = match (&spec.program, &spec.guest) {
        (Some(p), _) => (p.clone(), true),
        (None, Some(g)) => (g.clone(), false),
        (None, None) => (find_guest()?, false),
    };
    let guest_libs = libs::needed_files(&guest)?;
    let tmp = tempfile::Builder::new()
        .prefix("forkmail-image-")
        .tempdir()
        .map_err(|source| ImageError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
    // The initramfs unpacks into guest RAM: debug info stays behind.
    let guest_source = guest.display().to_string();
    let stripped = libs::stripped_copy(&guest, tmp.path());
    let how = if stripped.is_some() {
        ", debug info stripped"
    } else {
        ""
    };
    let guest = stripped.unwrap_or(guest);
    let what = if own {
        "guest program (yours)"
    } else {
        "guest agent"
    };
    if guest_libs.is_empty() {
        say(format!("{what}: {guest_source} (static{how})"));
    } else {
        let names: Vec<&str> = guest_libs.iter().map(|n| n.dest.as_str()).collect();
        say(format!(
            "{what}: {guest_source} (dynamically linked: packing {}{how})",
            names.join(", ")
        ));
    }
    let guest = if own {
        GuestProgram::Own(guest)
    } else {
        GuestProgram::Agent(guest)
    };
    let guest_source = if own {
        format!("program {guest_source}")
    } else {
        guest_source
    };
    let mut packages = Vec::new();
    if spec.kernel.is_none() {
        packages.push(resolve_kernel_package()?);
    }
    if spec.busybox.is_none() {
        packages.push(BUSYBOX_PACKAGE.to_string());
    }
    let root = tmp.path().join("root");
    if !packages.is_empty() {
        say(format!(
            "fetching Debian packages (apt-get download, unpacked with dpkg -x, not installed): {}",
            packages.join(" ")
        ));
        for d in fetch_debs(tmp.path(), &packages)? {
            let size = std::fs::metadata(&d).map(|m| m.len()).unwrap_or(0);
            say(format!(
                "  fetched {} ({})",
                d.file_name().unwrap_or_default().to_string_lossy(),
                crate::units::human_size(size)
            ));
        }
    }
    let (kernel, kernel_source) = match &spec.kernel {
        Some(k) => (k.clone(), k.display().to_string()),
        None => {
            let k = newest_with_prefix(&root.join("boot"), "vmlinuz-")?;
            let file = k.file_name().unwrap_or_default().to_string_lossy();
            let src = format!("Debian {} ({file})", packages[0]);
            (k, src)
        }
    };
    let modules_dir = match (&spec.modules, &spec.kernel) {
        (Some(m), _) => Some(m.clone()),
        (None, None) => Some(newest_with_prefix(&root.join("lib/modules"), "")?),
        (None, Some(_)) => None,
    };
    let mut modules = Vec::new();
    match &modules_dir {
        Some(dir) => {
            for m in VIRTIO_MODULES {
                modules.push((m.to_string(), find_module(dir, m)?));
            }
            say(format!(
                "modules: {} from {}",
                VIRTIO_MODULES.join(" "),
                dir.display()
            ));
        }
        None => say(
            "modules: none (--kernel without --modules: the kernel must have virtio-mmio and virtio-net built in)"
                .into(),
        ),
    }
    let (busybox, busybox_source) = match &spec.busybox {
        Some(b) => (b.clone(), b.display().to_string()),
        None => {
            let b = root.join("bin/busybox");
            (b, format!("Debian {BUSYBOX_PACKAGE}"))
        }
    };
    say(format!("kernel: {kernel_source}"));
    say(format!("busybox: {busybox_source}"));

    let dir = store.images_dir().join(valid.as_str());
    if dir.exists() {
        if !spec.force {
            return Err(ImageError::Store(crate::store::StoreError::Exists {
                what: "image",
                name: spec.name.clone(),
                path: dir,
            }));
        }
        std::fs::remove_dir_all(&dir).map_err(|source| ImageError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    // Build beside the final directory, then rename: no half image is ever visible.
    let building = store
        .images_dir()
        .join(format!(".{}.building", valid.as_str()));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building).map_err(|source| ImageError::Write {
        path: building.clone(),
        source,
    })?;
    let result = (|| {
        std::fs::copy(&kernel, building.join(IMAGE_KERNEL)).map_err(|source| ImageError::Read {
            path: kernel.clone(),
            source,
        })?;
        let initrd = building.join(IMAGE_INITRD);
        write_initrd(
            &InitrdInputs {
                busybox: &busybox,
                modules: &modules,
                guest: &guest,
                guest_libs: &guest_libs,
            },
            &initrd,
        )?;
        let meta = ImageMeta {
            created_at: now_rfc3339(),
            kernel_source,
            busybox_source,
            guest_source: guest_source.clone(),
            modules: modules.iter().map(|(n, _)| n.clone()).collect(),
            fetched_packages: packages.clone(),
            guest_libraries: guest_libs.iter().map(|n| format!("/{}", n.dest)).collect(),
            initrd_size: std::fs::metadata(&initrd).map(|m| m.len()).unwrap_or(0),
        };
        write_json_atomic(&building.join(IMAGE_META), &meta)?;
        std::fs::rename(&building, &dir).map_err(|source| ImageError::Write {
            path: dir.clone(),
            source,
        })?;
        Ok(ImageInfo {
            name: spec.name.clone(),
            dir: dir.clone(),
            meta,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    result
}
