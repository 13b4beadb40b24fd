//! Listing and housekeeping commands: forks, stop, rm, gc, template create
//! (sim), paths. Snapshots and markers are in `catalog`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use serde_json::json;

use super::TemplateCreateArgs;
use crate::error::UsageError;
use crate::fork::{ForkEntry, Forks, divergence};
use crate::guest::GuestFault;
use crate::mailbox::MailboxKind;
use crate::sanitize::escaped;
use crate::scan::{ScanOptions, ScanReport, scan_cached};
use crate::store::Store;
use crate::template::sim::{SimTemplateSpec, create_sim_template};
use crate::units::{human_size, parse_size};
use crate::{errln, outln};

pub(super) fn template_create(store: &Store, a: &TemplateCreateArgs) -> Result<i32> {
    if a.vmm == "qemu" {
        return super::qemu_cmd::template_create(store, a);
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
    // Through the snapshot's discovery cache: the first fork reuses this scan.
    let report = scan_cached(
        &snap.memory_path(),
        &store.scan_cache_path(&snap.name),
        &ScanOptions::default(),
    )?;
    if a.json {
        super::output::json(&json!({
            "name": snap.name, "path": snap.dir, "memory_size": snap.memory_size,
            "allocated": snap.allocated,
            "markers": report.markers.iter().map(|m| json!({
                "kind": m.kind.label(), "name": m.name, "token": m.token, "offset": m.offset,
            })).collect::<Vec<_>>(),
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

fn fork_json(f: &ForkEntry) -> serde_json::Value {
    match &f.info {
        Some(i) => json!({
            "name": f.name, "source": i.meta.source, "status": f.status.label(),
            "vmm": i.meta.vmm, "pid": f.live_pid(), "zero_copy": i.meta.zero_copy,
            "created_at": i.meta.created_at, "path": f.dir,
            "mailboxes": i.meta.mailboxes, "stages": i.meta.stages,
            "divergence": divergence(f),
        }),
        None => json!({
            "name": f.name, "status": f.status.label(), "path": f.dir,
            "error": f.problem,
        }),
    }
}

pub(super) fn forks(store: &Store, json: bool) -> Result<i32> {
    let forks = Forks::new(store).list()?;
    if json {
        super::output::json(&forks.iter().map(fork_json).collect::<Vec<_>>())?;
        return Ok(0);
    }
    for f in forks.iter().filter(|f| f.info.is_none()) {
        errln!(
            "warning: fork {} is broken ({}); `forkmail rm {}` removes it",
            f.name,
            escaped(f.problem.as_deref().unwrap_or("no record")),
            f.name
        );
    }
    if forks.is_empty() {
        outln!("no forks")?;
        return Ok(0);
    }
    outln!(
        "{:<28} {:<20} {:<11} {:>8} {:>10}  MAILBOXES",
        "NAME",
        "SOURCE",
        "STATUS",
        "PID",
        "PRIVATE"
    )?;
    for f in &forks {
        let (source, mbs) = match &f.info {
            Some(i) => (
                i.meta.source.clone(),
                i.meta
                    .mailboxes
                    .iter()
                    .map(|m| format!("{}{}", m.name, if m.acked { " (acked)" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            None => ("-".into(), String::new()),
        };
        outln!(
            "{:<28} {:<20} {:<11} {:>8} {:>10}  {}",
            f.name,
            escaped(&source),
            f.status.label(),
            f.live_pid()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            divergence(f)
                .map(|d| human_size(d.bytes))
                .unwrap_or_else(|| "-".into()),
            escaped(&mbs)
        )?;
    }
    Ok(0)
}

pub(super) fn stop(store: &Store, name: &str) -> Result<i32> {
    if Forks::new(store).stop(name)? {
        outln!("stopped {name}")?;
    } else {
        outln!("{name} was not running")?;
    }
    Ok(0)
}

pub(super) fn rm(store: &Store, name: &str) -> Result<i32> {
    let forks = Forks::new(store);
    if let Ok(entry) = forks.get(name)
        && entry.info.is_none()
    {
        errln!(
            "warning: fork {name} is broken ({}); removing it anyway",
            escaped(entry.problem.as_deref().unwrap_or("no record"))
        );
    }
    let stopped = forks.remove(name)?;
    if stopped {
        outln!("stopped and removed {name}")?;
    } else {
        outln!("removed {name}")?;
    }
    Ok(0)
}

pub(super) fn gc(store: &Store, json: bool) -> Result<i32> {
    let removed = Forks::new(store).gc()?;
    if json {
        super::output::json(&json!({ "removed": removed }))?;
    } else if removed.is_empty() {
        outln!("nothing to clean up")?;
    } else {
        for r in &removed {
            outln!("removed {}", escaped(r))?;
        }
    }
    Ok(0)
}

pub(super) fn paths(store: Option<&Path>, json: bool) -> Result<i32> {
    let store = Store::resolve_root(store)?;
    let demo = crate::template::demo::demo_store_root(None).ok();
    let log = super::log_path();
    if json {
        super::output::json(&json!({"store": store, "demo_store": demo, "log": log}))?;
    } else {
        outln!("store:      {}", store.display())?;
        if let Some(d) = demo {
            outln!("demo store: {}", d.display())?;
        }
        if let Some(l) = log {
            outln!("log:        {}", l.display())?;
        }
    }
    Ok(0)
}
