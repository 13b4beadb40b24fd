//! Listing and housekeeping commands: snapshots, markers, forks, stop, rm,
//! template create, paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::guest::GuestFault;
use crate::mailbox::MailboxKind;
use crate::sanitize::escaped;
use crate::scan::{ScanOptions, scan_cached, scan_file};
use crate::store::{ForkInfo, ForkStatus, MEMORY_FILE, Store, ValidName};
use crate::template::sim::{SimTemplateSpec, create_sim_template};
use crate::units::{human_size, parse_size};
use crate::vmm;

use super::TemplateCreateArgs;

pub(super) fn snapshots(store: &Store, json: bool) -> Result<i32> {
    let (snaps, bad) = store.snapshots()?;
    for e in &bad {
        eprintln!("warning: {e}");
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
        println!("{}", serde_json::to_string_pretty(&arr)?);
        return Ok(0);
    }
    if snaps.is_empty() {
        println!(
            "no snapshots in {} (try `forkmail demo --no-tui` or `forkmail template create`)",
            store.root().display()
        );
        return Ok(0);
    }
    println!(
        "{:<24} {:<5} {:>10} {:>10}  CREATED",
        "NAME", "VMM", "MEMORY", "ON DISK"
    );
    for s in snaps {
        println!(
            "{:<24} {:<5} {:>10} {:>10}  {}",
            s.name,
            s.meta.vmm.label(),
            human_size(s.memory_size),
            human_size(s.allocated),
            s.meta.created_at
        );
    }
    Ok(0)
}

/// A store snapshot name, a snapshot directory, or a raw memory file.
fn resolve_memory(store: Option<&Path>, target: &str) -> Result<PathBuf> {
    if ValidName::new(target).is_ok()
        && let Ok(store) = super::open_store(store)
    {
        match store.snapshot(target) {
            Ok(snap) => return Ok(snap.memory_path()),
            Err(crate::store::StoreError::NoSuchSnapshot { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let p = PathBuf::from(target);
    if p.is_dir() {
        let m = p.join(MEMORY_FILE);
        if m.is_file() {
            return Ok(m);
        }
        bail!("{} is a directory without a memory file", p.display());
    }
    if p.is_file() {
        return Ok(p);
    }
    bail!("{target:?} is neither a snapshot in the store, a snapshot directory nor a memory file")
}

pub(super) fn markers(store: Option<&Path>, target: &str, json: bool) -> Result<i32> {
    let path = resolve_memory(store, target)?;
    let report = scan_file(&path, &ScanOptions::default())?;
    if json {
        let arr: Vec<_> = report
            .markers
            .iter()
            .map(|m| {
                json!({
                    "kind": m.kind.label(), "name": m.name, "token": m.token,
                    "offset": m.offset, "seq": m.seq, "payload_len": m.payload_len,
                    "payload": m.payload, "duplicate": m.duplicate, "valid": m.valid,
                    "problem": m.problem, "page_aligned": m.page_aligned,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&arr)?);
        return Ok(0);
    }
    eprintln!(
        "scanned {} of data in {} ({} extents) in {:.1} ms",
        human_size(report.data_bytes),
        human_size(report.file_size),
        report.extents,
        report.elapsed.as_secs_f64() * 1e3
    );
    if report.markers.is_empty() {
        println!("no markers in {}", path.display());
        return Ok(0);
    }
    println!(
        "{:<15} {:<24} {:<34} {:>12} {:>4} {:>6}  NOTE",
        "KIND", "NAME", "TOKEN", "OFFSET", "SEQ", "LEN"
    );
    for m in &report.markers {
        let mut note = Vec::new();
        if m.duplicate {
            note.push("DUPLICATE".to_string());
        }
        if let Some(p) = &m.problem {
            note.push(format!("INVALID: {}", escaped(p)));
        }
        println!(
            "{:<15} {:<24} {:<34} {:>12} {:>4} {:>6}  {}",
            m.kind.label(),
            escaped(m.name.as_deref().unwrap_or("-")),
            escaped(&m.token),
            format!("{:#x}", m.offset),
            m.seq,
            m.payload_len,
            note.join("; ")
        );
    }
    Ok(0)
}

pub(super) fn template_create(store: &Store, a: &TemplateCreateArgs) -> Result<i32> {
    if a.vmm == "qemu" {
        return super::qemu_cmd::template_create(store, a);
    }
    if a.vmm != "sim" {
        bail!("--vmm {}: expected sim or qemu", a.vmm);
    }
    let mut spec = SimTemplateSpec::new(&a.name);
    spec.memory_size = parse_size(&a.memory).map_err(anyhow::Error::msg)?;
    spec.data_percent = a.data_percent;
    spec.resume_network_token = a.resume_network_token.clone();
    spec.stray_copies = a.stray_copies.clone();
    for m in &a.mailboxes {
        let (name, token) = match m.split_once(':') {
            Some((n, t)) => (n.to_string(), Some(t.to_string())),
            None => (m.clone(), None),
        };
        spec.mailboxes.push((name, token));
    }
    let mut faults = BTreeMap::new();
    for f in &a.guest_faults {
        let (name, kind) = f.split_once('=').with_context(|| {
            format!("--guest-fault {f:?}: expected NAME=no-ack|slow:MS|bad-ack")
        })?;
        let kind: GuestFault = kind.parse().map_err(anyhow::Error::msg)?;
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
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "name": snap.name, "path": snap.dir, "memory_size": snap.memory_size,
                "allocated": snap.allocated,
                "markers": report.markers.iter().map(|m| json!({
                    "kind": m.kind.label(), "name": m.name, "token": m.token, "offset": m.offset,
                })).collect::<Vec<_>>(),
            }))?
        );
    } else {
        println!(
            "created snapshot {} ({} memory, {} on disk) at {}",
            snap.name,
            human_size(snap.memory_size),
            human_size(snap.allocated),
            snap.dir.display()
        );
        for m in &report.markers {
            match m.kind {
                MailboxKind::Fork => println!(
                    "  fork mailbox {:<20} token {}  at {:#x}",
                    m.name.as_deref().unwrap_or(""),
                    m.token,
                    m.offset
                ),
                MailboxKind::ResumeNetwork => {
                    println!(
                        "  resume-network mailbox token {}  at {:#x}",
                        m.token, m.offset
                    )
                }
            }
        }
    }
    Ok(0)
}

/// Live status of a fork: its recorded status, corrected by process liveness.
pub fn fork_status(f: &ForkInfo) -> &'static str {
    match f.meta.status {
        ForkStatus::Creating => "creating",
        ForkStatus::Patched => "patched",
        ForkStatus::Stopped => "stopped",
        ForkStatus::Running => match f.meta.pid {
            Some(pid) if vmm::process::is_alive(pid, &f.dir) => "running",
            _ => "exited",
        },
    }
}

pub(super) fn forks(store: &Store, json: bool) -> Result<i32> {
    let forks = store.forks()?;
    let broken = store.broken_forks()?;
    if json {
        let mut arr: Vec<_> = forks
            .iter()
            .map(|f| {
                json!({
                    "name": f.name, "source": f.meta.source, "status": fork_status(f),
                    "vmm": f.meta.vmm, "pid": f.meta.pid, "zero_copy": f.meta.zero_copy,
                    "created_at": f.meta.created_at, "path": f.dir,
                    "mailboxes": f.meta.mailboxes, "stages": f.meta.stages,
                })
            })
            .collect();
        arr.extend(
            broken
                .iter()
                .map(|(name, e)| json!({"name": name, "status": "broken", "error": e.to_string()})),
        );
        println!("{}", serde_json::to_string_pretty(&arr)?);
        return Ok(0);
    }
    for (name, e) in &broken {
        eprintln!("warning: fork {name} is broken ({e}); `forkmail rm {name}` removes it");
    }
    if forks.is_empty() {
        println!("no forks");
        return Ok(0);
    }
    println!(
        "{:<28} {:<20} {:<9} {:>8}  MAILBOXES",
        "NAME", "SOURCE", "STATUS", "PID"
    );
    for f in &forks {
        let mbs: Vec<String> = f
            .meta
            .mailboxes
            .iter()
            .map(|m| format!("{}{}", m.name, if m.acked { " (acked)" } else { "" }))
            .collect();
        println!(
            "{:<28} {:<20} {:<9} {:>8}  {}",
            f.name,
            f.meta.source,
            fork_status(f),
            f.meta
                .pid
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            mbs.join(", ")
        );
    }
    Ok(0)
}

/// Stop fork `f` if it runs; record it as stopped. Returns whether it ran.
pub fn stop_fork(f: &mut ForkInfo) -> Result<bool> {
    // qemu: a clean QMP `quit` first; signals are the fallback.
    let quit = f.meta.vmm == crate::store::VmmKind::Qemu
        && f.meta.pid.is_some_and(|pid| {
            vmm::process::is_alive(pid, &f.dir)
                && vmm::qemu::quit_over_qmp(pid, &f.dir, std::time::Duration::from_secs(3))
        });
    let was = quit
        || match f.meta.pid {
            Some(pid) => vmm::process::stop(pid, &f.dir, std::time::Duration::from_secs(5)),
            None => false,
        };
    if f.meta.status == ForkStatus::Running {
        f.meta.status = ForkStatus::Stopped;
        f.save()?;
    }
    Ok(was)
}

pub(super) fn stop(store: &Store, name: &str) -> Result<i32> {
    let mut f = store.fork(name)?;
    if stop_fork(&mut f)? {
        println!("stopped {name}");
    } else {
        println!("{name} was not running");
    }
    Ok(0)
}

/// Stop (if needed) and remove fork `f`.
pub fn remove_fork(mut f: ForkInfo) -> Result<()> {
    stop_fork(&mut f)?;
    std::fs::remove_dir_all(&f.dir).with_context(|| format!("remove {}", f.dir.display()))
}

/// A fork whose fork.json is missing or broken: stop whatever runs from its
/// directory, then remove it.
fn remove_broken(dir: &Path) -> Result<()> {
    for pid in vmm::process::pids_mentioning(dir) {
        vmm::process::stop(pid, dir, std::time::Duration::from_secs(5));
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))
}

pub(super) fn rm(store: &Store, name: &str) -> Result<i32> {
    match store.fork(name) {
        Ok(f) => remove_fork(f)?,
        Err(e @ crate::store::StoreError::NoSuchFork { .. }) => {
            let dir = store.fork_dir(&ValidName::new(name)?);
            if !dir.is_dir() {
                return Err(e.into());
            }
            eprintln!("warning: fork {name} has no fork.json; removing it anyway");
            remove_broken(&dir)?;
        }
        Err(e @ crate::store::StoreError::BadMeta { .. }) => {
            let dir = store.fork_dir(&ValidName::new(name)?);
            eprintln!("warning: {e}; removing it anyway");
            remove_broken(&dir)?;
        }
        Err(e) => return Err(e.into()),
    }
    println!("removed {name}");
    Ok(0)
}

pub(super) fn paths(store: Option<&Path>, json: bool) -> Result<i32> {
    let store = Store::resolve_root(store)?;
    let demo = super::demo_store_root(None).ok();
    let log = super::log_path();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"store": store, "demo_store": demo, "log": log}))?
        );
    } else {
        println!("store:      {}", store.display());
        if let Some(d) = demo {
            println!("demo store: {}", d.display());
        }
        if let Some(l) = log {
            println!("log:        {}", l.display());
        }
    }
    Ok(0)
}
