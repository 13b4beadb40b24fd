//! Listing and housekeeping commands: forks, stop, rm, gc, paths. Snapshots
//! and markers are in `catalog`, template creation in `template_cmd`.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::fork::{ForkEntry, Forks, divergence};
use crate::sanitize::escaped;
use crate::store::Store;
use crate::units::human_size;
use crate::{errln, outln};

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
    let store = crate::env::store_root(store, crate::config::current().store.as_deref())?;
    let demo = crate::env::demo_store_root(None).ok();
    let log = super::log_path();
    let hypeman = crate::env::hypeman_data_dir();
    let from = match &hypeman.from {
        crate::source::DataDirFrom::Environment => "DATA_DIR".to_string(),
        crate::source::DataDirFrom::ConfigFile(f) => f.display().to_string(),
        crate::source::DataDirFrom::Default => "default".to_string(),
    };
    if json {
        super::output::json(&json!({
            "store": store, "demo_store": demo, "log": log,
            "hypeman_data_dir": {"path": hypeman.path, "from": from},
        }))?;
    } else {
        outln!("store:      {}", store.display())?;
        if let Some(d) = demo {
            outln!("demo store: {}", d.display())?;
        }
        if let Some(l) = log {
            outln!("log:        {}", l.display())?;
        }
        outln!(
            "hypeman:    {} (from {})",
            escaped(&hypeman.path.display().to_string()),
            escaped(&from)
        )?;
    }
    Ok(0)
}
