//! `forkmail image build`, `forkmail template create --vmm qemu` and
//! `forkmail doctor`.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use super::signals::cancel_flag;
use super::{ImageBuildArgs, TemplateCreateArgs};
use crate::error::UsageError;
use crate::fork::reflink_supported;
use crate::image::{DEFAULT_IMAGE, ImageSpec, build_image, list_images, load_image};
use crate::scan::{ScanOptions, scan_cached};
use crate::store::Store;
use crate::template::common::check_armed;
use crate::template::qemu::{QemuGuest, QemuTemplateSpec, create_qemu_template};
use crate::template::watch::WantedMarker;
use crate::units::{human_size, parse_size};
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

pub(super) fn template_create(store: &Store, a: &TemplateCreateArgs) -> Result<i32> {
    if !a.guest_faults.is_empty() || !a.stray_copies.is_empty() || a.resume_network_token.is_some()
    {
        return Err(UsageError(
            "--guest-fault, --stray-copy and --resume-network-token are simulator options; a qemu guest arms only fork mailboxes".into(),
        )
        .into());
    }
    let accel: AccelChoice = a.accel.parse().map_err(UsageError)?;
    // Before the image is looked up: the request itself must be able to work.
    let guest = match (a.mailboxes.is_empty(), a.wait_for_markers.is_empty()) {
        (true, true) => {
            return Err(UsageError(
                "a qemu template needs at least one --mailbox NAME[:TOKEN] (forkmail's agent arms it) or --wait-for-marker NAME[:TOKEN] (your guest arms it)".into(),
            )
            .into());
        }
        (false, false) => {
            return Err(UsageError(
                "--mailbox (forkmail's agent arms the mailboxes) and --wait-for-marker (your guest arms them) do not mix".into(),
            )
            .into());
        }
        (false, true) => QemuGuest::Agent {
            mailboxes: a
                .mailboxes
                .iter()
                .map(|m| match m.split_once(':') {
                    // NAME:TOKEN splits at the first ':' like the sim.
                    Some((n, t)) => (n.to_string(), Some(t.to_string())),
                    None => (m.clone(), None),
                })
                .collect(),
        },
        (true, false) => QemuGuest::Markers {
            wait_for: a
                .wait_for_markers
                .iter()
                .map(|m| WantedMarker::parse(m))
                .collect(),
        },
    };
    let (image, kernel, initrd) = match (&a.kernel, &a.initrd) {
        (Some(k), Some(i)) => (String::new(), k.clone(), i.clone()),
        _ => {
            let image = load_image(store, a.image.as_deref().unwrap_or(DEFAULT_IMAGE))?;
            (image.name.clone(), image.kernel(), image.initrd())
        }
    };
    let spec = QemuTemplateSpec {
        name: a.name.clone(),
        image,
        kernel,
        initrd,
        append: a.append.clone(),
        disk: a.disk.clone(),
        guest,
        memory_size: parse_size(&a.memory).map_err(UsageError)?,
        accel,
        boot_timeout: Duration::from_secs(a.boot_timeout),
        ack_bind: a.ack_bind,
        description: a.description.clone(),
    };
    let json = a.json;
    let mut say = |line: String| {
        if json {
            errln!("{line}");
        } else {
            let _ = outln!("{line}");
        }
    };
    // Ctrl-C, SIGTERM, SIGHUP: QEMU is shut down, nothing is kept.
    let cancel = cancel_flag()?;
    let t = create_qemu_template(store, &spec, &cancel, &mut say)?;
    let snap = &t.snapshot;
    // Through the snapshot's discovery cache: the first fork reuses this scan.
    let report = scan_cached(
        &snap.memory_path(),
        &store.scan_cache_path(&snap.name),
        &ScanOptions::default(),
    )?;
    // Every armed mailbox must be found exactly once, or forks would fail later.
    check_armed(&report, &t.mailboxes)?;
    if json {
        super::output::json(&json!({
            "name": snap.name, "path": snap.dir, "vmm": "qemu", "memory_size": snap.memory_size,
            "allocated": snap.allocated,
            "boot_to_armed_ms": t.timings.boot_to_armed.as_secs_f64() * 1000.0,
            "standby_snapshot_ms": t.timings.standby_snapshot.as_secs_f64() * 1000.0,
            "accel_reason": t.accel_reason,
            "markers": report.markers.iter().map(|m| json!({
                "kind": m.kind.label(), "name": m.name, "token": m.token, "offset": m.offset,
                "page_aligned": m.page_aligned,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        outln!(
            "created qemu snapshot {} ({} memory, {} on disk) at {}",
            snap.name,
            human_size(snap.memory_size),
            human_size(snap.allocated),
            snap.dir.display()
        )?;
        super::list::print_markers(&report)?;
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
