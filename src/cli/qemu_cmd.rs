//! `forkmail image build` and `forkmail doctor`.

use anyhow::Result;
use serde_json::json;

use super::ImageBuildArgs;
use crate::fork::reflink_supported;
use crate::image::{ImageSpec, build_image, list_images};
use crate::store::Store;
use crate::units::human_size;
use crate::vmm::qemu::{AccelChoice, decide_accel, qemu_binary, qemu_version};
use crate::{errln, outln};

pub(super) fn image_build(store: &Store, a: &ImageBuildArgs) -> Result<i32> {
    let spec = ImageSpec {
        name: a.name.clone(),
        kernel: a.kernel.clone(),
        modules: a.modules.clone(),
        busybox: a.busybox.clone(),
        guest: a.guest.clone(),
        program: a.program.clone(),
        force: a.force,
    };
    let json = a.json;
    let mut say = |line: String| {
        if json {
            errln!("{line}");
        } else {
            let _ = outln!("{line}");
        }
    };
    let img = build_image(store, &spec, &mut say)?;
    if json {
        super::output::json(&json!({
            "name": img.name, "path": img.dir, "kernel": img.kernel(), "initrd": img.initrd(),
            "meta": img.meta,
        }))?;
    } else {
        outln!(
            "built image {} at {} (initramfs {})",
            img.name,
            img.dir.display(),
            human_size(img.meta.initrd_size)
        )?;
    }
    Ok(0)
}

pub(super) fn doctor(store: &Store, json: bool) -> Result<i32> {
    let mut checks = Vec::new();
    let mut add = |name: &str, ok: bool, detail: String, todo: &str| {
        checks.push(
            json!({"check": name, "ok": ok, "detail": detail, "todo": if ok { "" } else { todo }}),
        );
    };
    let bin = qemu_binary();
    match qemu_version(&bin) {
        Ok(v) => add("qemu", true, format!("{bin}: {v}"), ""),
        Err(e) => add(
            "qemu",
            false,
            e,
            "install QEMU (Debian: apt-get install qemu-system-x86) or set FORKMAIL_QEMU to its path",
        ),
    }
    let d = decide_accel(AccelChoice::Auto);
    add(
        "accel",
        true,
        format!("auto picks {}: {}", d.accel.label(), d.reason),
        "",
    );
    match reflink_supported(store.root()) {
        Ok(true) => add(
            "reflink",
            true,
            format!(
                "{} can reflink: forks copy memory in milliseconds",
                store.root().display()
            ),
            "",
        ),
        Ok(false) => add(
            "reflink",
            false,
            format!(
                "{} cannot reflink: copy forks use a sparse copy (data extents only)",
                store.root().display()
            ),
            "for instant copies put the store on XFS (reflink=1) or btrfs; or fork with --zero-copy (qemu)",
        ),
        Err(e) => add(
            "reflink",
            false,
            format!("cannot probe {}: {e}", store.root().display()),
            "check that the store directory is writable",
        ),
    }
    let images = list_images(store);
    if images.is_empty() {
        add(
            "image",
            false,
            format!("no guest image in {}", store.images_dir().display()),
            "run `forkmail image build` (fetches Debian's kernel and busybox-static; needs a static forkmail-guest)",
        );
    } else {
        add(
            "image",
            true,
            images
                .iter()
                .map(|i| format!("{} ({})", i.name, i.meta.kernel_source))
                .collect::<Vec<_>>()
                .join(", "),
            "",
        );
    }
    let all_ok = checks.iter().all(|c| c["ok"] == true);
    if json {
        super::output::json(&json!({"ok": all_ok, "checks": checks}))?;
    } else {
        for c in &checks {
            let mark = if c["ok"] == true { "ok  " } else { "warn" };
            outln!(
                "{mark} {:<8} {}",
                c["check"].as_str().unwrap_or(""),
                c["detail"].as_str().unwrap_or("")
            )?;
            if let Some(t) = c["todo"].as_str().filter(|t| !t.is_empty()) {
                outln!("     {:<8} → {t}", "")?;
            }
        }
    }
    Ok(0)
}
