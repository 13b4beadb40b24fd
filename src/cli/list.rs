//! Listing and housekeeping commands: snapshots, markers, forks, stop, rm,
//! gc, template create (sim), paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde_json::json;

use super::TemplateCreateArgs;
use crate::error::UsageError;
use crate::fork::{ForkEntry, Forks, divergence};
use crate::guest::GuestFault;
use crate::mailbox::MailboxKind;
use crate::sanitize::escaped;
use crate::scan::{ScanOptions, ScanReport, scan_cached};
use crate::store::{MEMORY_FILE, Store, StoreError, ValidName};
use crate::template::sim::{SimTemplateSpec, create_sim_template};
use crate::units::{human_size, parse_size};
use crate::{errln, outln};

pub(super) fn snapshots(store: &Store, json: bool) -> Result<i32> {
    let (snaps, bad) = store.snapshots()?;
    for e in &bad {
        errln!("warning: {}", escaped(&e.to_string()));
    }
    if json {
        let arr: Vec<_> = snaps
            .iter()
            .map(|s| {
                json!({
                    "name": s.name, "vmm": s.meta.vmm, "kind": s.meta.kind,
                    "memory_size": s.memory_size, "allocated": s.allocated,
                    "created_at": s.meta.created_at, "path": s.dir,
                })
            })
            .collect();
        super::output::json(&arr)?;
        return Ok(0);
    }
    if snaps.is_empty() {
        outln!(
            "no snapshots in {} (try `forkmail demo --no-tui` or `forkmail template create`)",
            store.root().display()
        )?;
        return Ok(0);
    }
    outln!(
        "{:<24} {:<5} {:>10} {:>10}  CREATED",
        "NAME",
        "VMM",
        "MEMORY",
        "ON DISK"
    )?;
    for s in snaps {
        outln!(
            "{:<24} {:<5} {:>10} {:>10}  {}",
            s.name,
            s.meta.vmm.label(),
            human_size(s.memory_size),
            human_size(s.allocated),
            escaped(&s.meta.created_at)
        )?;
    }
    Ok(0)
}

/// A store snapshot name, a snapshot directory, or a raw memory file; with
/// the discovery cache entry it uses.
fn resolve_memory(store: Option<&Path>, target: &str) -> Result<(PathBuf, Option<PathBuf>)> {
    let store = super::open_store(store).ok();
    if ValidName::new(target).is_ok()
        && let Some(store) = &store
    {
        match store.snapshot(target) {
            Ok(snap) => {
                return Ok((snap.memory_path(), Some(store.scan_cache_path(&snap.name))));
            }
            Err(StoreError::NoSuchSnapshot { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let p = PathBuf::from(target);
    let path = if p.is_dir() {
        let m = p.join(MEMORY_FILE);
        if !m.exists() {
            return Err(UsageError(format!(
                "{} is a directory without a memory file",
                p.display()
            ))
            .into());
        }
        m
    } else if std::fs::symlink_metadata(&p).is_ok() {
        p
    } else {
        return Err(StoreError::NoSuchSnapshot {
            name: target.into(),
            store: store.map(|s| s.root().to_path_buf()).unwrap_or_default(),
        }
        .into());
    };
    let cache = store.map(|s| s.scan_cache_path_for_file(&path));
    Ok((path, cache))
}

/// Discovery through the one cache (a raw file outside the store too),
/// with a progress bar on a terminal.
fn discover(path: &Path, cache: Option<&Path>, quiet: bool) -> Result<ScanReport> {
    let progress = super::progress::Progress::new("scan", quiet);
    let report_progress = |p: crate::scan::ScanProgress| progress.update(p.done, p.total);
    let opts = ScanOptions {
        progress: Some(&report_progress),
        ..ScanOptions::default()
    };
    let report = match cache {
        Some(c) => scan_cached(path, c, &opts),
        None => crate::scan::scan_file(path, &opts),
    };
    progress.finish();
    Ok(report?)
}

pub(super) fn markers(store: Option<&Path>, target: &str, json: bool) -> Result<i32> {
    let (path, cache) = resolve_memory(store, target)?;
    let report = discover(&path, cache.as_deref(), json)?;
    if report.truncated {
        errln!(
            "warning: discovery stopped at {} markers; more may be in the file (a fork refuses to patch a mailbox found without its token)",
            report.markers.len()
        );
    }
    if json {
        let arr: Vec<_> = report
            .markers
            .iter()
            .map(|m| {
                let mut v = json!({
                    "kind": m.kind.label(), "name": m.name, "token": m.token,
                    "offset": m.offset, "seq": m.seq, "payload_len": m.payload_len,
                    "payload": m.payload, "duplicate": m.duplicate, "valid": m.valid,
                    "problem": m.problem, "page_aligned": m.page_aligned,
                });
                if report.truncated {
                    v["scan_truncated"] = json!(true);
                }
                v
            })
            .collect();
        super::output::json(&arr)?;
        return Ok(0);
    }
    errln!(
        "scanned {} of data in {} ({} extents) in {:.1} ms",
        human_size(report.data_bytes),
        human_size(report.file_size),
        report.extents,
        report.elapsed.as_secs_f64() * 1e3
    );
    if report.markers.is_empty() {
        outln!("no markers in {}", path.display())?;
        return Ok(0);
    }
    outln!(
        "{:<15} {:<24} {:<34} {:>12} {:>4} {:>6}  NOTE",
        "KIND",
        "NAME",
        "TOKEN",
        "OFFSET",
        "SEQ",
        "LEN"
    )?;
    for m in &report.markers {
        let mut note = Vec::new();
        if m.duplicate {
            note.push("DUPLICATE".to_string());
        }
        if let Some(p) = &m.problem {
            note.push(format!("INVALID: {}", escaped(p)));
        }
        outln!(
            "{:<15} {:<24} {:<34} {:>12} {:>4} {:>6}  {}",
            m.kind.label(),
            escaped(m.name.as_deref().unwrap_or("-")),
            escaped(&m.token),
            format!("{:#x}", m.offset),
            m.seq,
            m.payload_len,
            note.join("; ")
        )?;
    }
    Ok(0)
}

pub(super) fn template_create(store: &Store, a: &TemplateCreateArgs) -> Result<i32> {
    if a.vmm == "qemu" {
        return super::qemu_cmd::template_create(store, a);
    }
    if a.vmm != "sim" {
        bail!(UsageError(format!("--vmm {}: expected sim or qemu", a.vmm)));
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
