//! Fetching Debian packages without installing them: `apt-get download`
//! into a directory, `dpkg -x` to unpack.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// The versioned kernel package Debian's `linux-image-amd64` depends on.
pub fn resolve_kernel_package() -> Result<String, ImageError> {
    let out = run(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-"))
        .map(str::to_owned)
        .ok_or_else(|| ImageError::Missing {
            what: "kernel package".into(),
            detail: format!(
                "`apt-cache depends linux-image-amd64` names no linux-image-* package{APT_HINT}"
            ),
        })
}

/// Download (without installing) `packages` into `dir` and unpack them into
/// `dir/root`. Returns the `.deb` files.
pub fn fetch_debs(dir: &Path, packages: &[String]) -> Result<Vec<PathBuf>, ImageError> {
    run(Command::new("apt-get")
        .current_dir(dir)
        .args(["download", "-q"])
        .args(packages))?;
    let mut debs = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|source| ImageError::Read {
        path: dir.into(),
        source,
    })?;
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "deb") {
            debs.push(p);
        }
    }
    debs.sort();
    let root = dir.join("root");
    for d in &debs {
        run(Command::new("dpkg").arg("-x").arg(d).arg(&root))?;
    }
    Ok(debs)
}

pub(super) fn newest_with_prefix(dir: &Path, prefix: &str) -> Result<PathBuf, ImageError> {
    let rd = std::fs::read_dir(dir).map_err(|source| ImageError::Read {
        path: dir.into(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    v.sort();
    v.pop().ok_or_else(|| ImageError::Missing {
        what: format!("{}/{prefix}*", dir.display()),
        detail: "not in the unpacked package".into(),
    })
}

/// `<name>.ko` anywhere below `dir`.
pub fn find_module(dir: &Path, name: &str) -> Result<PathBuf, ImageError> {
    let want = format!("{name}.ko");
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|source| ImageError::Read {
            path: d.clone(),
            source,
        })?;
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == want.as_str()) {
                return Ok(p);
            }
        }
    }
    Err(ImageError::Missing {
        what: format!("kernel module {want}"),
        detail: format!(
            "not found below {} (compressed .ko.xz/.ko.zst modules are not supported: busybox insmod loads plain .ko, as Debian 12 ships them)",
            dir.display()
        ),
    })
}
