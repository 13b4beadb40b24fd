//! `forkmail template create`: simulated templates and QEMU ones (forkmail's
//! agent, or your own kernel and initramfs), and the markers each arms.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::json;

use super::TemplateCreateArgs;
use super::signals::cancel_flag;
use crate::error::UsageError;
use crate::guest::GuestFault;
use crate::image::{DEFAULT_IMAGE, load_image};
use crate::mailbox::MailboxKind;
use crate::sanitize::escaped;
use crate::scan::{ScanOptions, ScanReport, scan_cached};
use crate::store::{SnapshotInfo, Store};
use crate::template::common::check_armed;
use crate::template::qemu::{QemuGuest, QemuTemplateSpec, create_qemu_template};
use crate::template::sim::{SimTemplateSpec, create_sim_template};
use crate::template::watch::WantedMarker;
use crate::units::{human_size, parse_size};
use crate::vmm::qemu::AccelChoice;
use crate::{errln, outln};

/// `forkmail template create`: a simulated template, or a QEMU one.
pub(super) fn template_create(store: &Store, a: &TemplateCreateArgs) -> Result<i32> {
    if a.vmm == "qemu" {
        return qemu_template(store, a);
    }
    if a.vmm != "sim" {
        bail!(UsageError(format!("--vmm {}: expected sim or qemu", a.vmm)));
    }
    if !a.wait_for_markers.is_empty()
        || a.kernel.is_some()
        || a.append.is_some()
        || a.disk.is_some()
        || a.image.is_some()
    {
        bail!(UsageError(
            "--wait-for-marker, --kernel, --initrd, --append, --disk and --image boot a real guest: add --vmm qemu".into()
        ));
    }
    let mut spec = SimTemplateSpec::new(&a.name);
    spec.memory_size = parse_size(&a.memory).map_err(UsageError)?;
    spec.data_percent = a.data_percent;
    spec.resume_network_token = a.resume_network_token.clone();
    spec.stray_copies = a.stray_copies.clone();
    spec.description = a.description.clone();
    for m in &a.mailboxes {
        let (name, token) = match m.split_once(':') {
            Some((n, t)) => (n.to_string(), Some(t.to_string())),
            None => (m.clone(), None),
        };
        spec.mailboxes.push((name, token));
    }
    let mut faults = BTreeMap::new();
    for f in &a.guest_faults {
        let (name, kind) = f.split_once('=').ok_or_else(|| {
            UsageError(format!(
                "--guest-fault {f:?}: expected NAME=no-ack|slow:MS|bad-ack|crash"
            ))
        })?;
        let kind: GuestFault = kind.parse().map_err(UsageError)?;
        faults.insert(name.to_string(), kind);
    }
    spec.faults = faults;
    spec.ack_bind = a.ack_bind;
    let snap = create_sim_template(store, &spec)?;
    let report = scan_new(store, &snap, None)?;
    if a.json {
        super::output::json(&json!({
            "name": snap.name, "path": snap.dir, "memory_size": snap.memory_size,
            "allocated": snap.allocated,
            "markers": markers_json(&report),
        }))?;
    } else {
        outln!(
            "created snapshot {} ({} memory, {} on disk) at {}",
            snap.name,
            human_size(snap.memory_size),
            human_size(snap.allocated),
            snap.dir.display()
        )?;
        print_markers(&report)?;
    }
    Ok(0)
}

/// `forkmail template create --vmm qemu`: boot the guest, wait for its
/// mailboxes, take the standby snapshot.
fn qemu_template(store: &Store, a: &TemplateCreateArgs) -> Result<i32> {
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
    let report = scan_new(store, snap, None)?;
    // Every armed mailbox must be found exactly once, or forks would fail later.
    check_armed(&report, &t.mailboxes)?;
    if json {
        super::output::json(&json!({
            "name": snap.name, "path": snap.dir, "vmm": "qemu", "memory_size": snap.memory_size,
            "allocated": snap.allocated,
            "boot_to_armed_ms": t.timings.boot_to_armed.as_secs_f64() * 1000.0,
            "standby_snapshot_ms": t.timings.standby_snapshot.as_secs_f64() * 1000.0,
            "accel_reason": t.accel_reason,
            "markers": markers_json(&report),
        }))?;
    } else {
        outln!(
            "created qemu snapshot {} ({} memory, {} on disk) at {}",
            snap.name,
            human_size(snap.memory_size),
            human_size(snap.allocated),
            snap.dir.display()
        )?;
        print_markers(&report)?;
    }
    Ok(0)
}

/// A new snapshot's markers, scanned through its discovery cache: the first
/// fork reuses this scan.
pub(super) fn scan_new(
    store: &Store,
    snap: &SnapshotInfo,
    cancel: Option<&std::sync::atomic::AtomicBool>,
) -> Result<ScanReport, crate::scan::ScanError> {
    scan_cached(
        &snap.memory_path(),
        &store.scan_cache_path(&snap.name),
        &ScanOptions {
            cancel,
            ..ScanOptions::default()
        },
    )
}

/// A new snapshot's markers as `--json` shows them.
pub(super) fn markers_json(report: &ScanReport) -> Vec<serde_json::Value> {
    report
        .markers
        .iter()
        .map(|m| {
            json!({
                "kind": m.kind.label(), "name": m.name, "token": m.token, "offset": m.offset,
                "page_aligned": m.page_aligned,
            })
        })
        .collect()
}

/// The markers of a new template, one line each.
pub(super) fn print_markers(report: &ScanReport) -> Result<()> {
    for m in &report.markers {
        match m.kind {
            MailboxKind::Fork => outln!(
                "  fork mailbox {:<20} token {}  at {:#x}",
                escaped(m.name.as_deref().unwrap_or("")),
                escaped(&m.token),
                m.offset
            )?,
            MailboxKind::ResumeNetwork => outln!(
                "  resume-network mailbox token {}  at {:#x}",
                escaped(&m.token),
                m.offset
            )?,
        }
    }
    Ok(())
}
