//! `forkmail snapshots` and `forkmail markers`: every snapshot of the store
//! and of the read-only sources, grouped by source, and the markers of any
//! one of them (a store name, `SOURCE/NAME`, a snapshot directory or a memory
//! file, raw or compressed).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Value, json};

use crate::files::ReadError;
use crate::sanitize::escaped;
use crate::scan::{ScanOptions, ScanProgress, ScanReport, scan_cached, scan_file};
use crate::source::{Listed, SnapshotKind, SourceSet, SourceSnapshot, snapshot_at};
use crate::store::{MEMORY_FILE, SNAPSHOT_META, SnapshotInfo, Store, StoreError, ValidName};
use crate::units::human_size;
use crate::{errln, outln};

use super::snapshot_rows::{
    dead_source_row, problem_row, source_row, store_problem_row, store_row,
};

/// The label of the store in listings.
const STORE: &str = crate::source::set::STORE_LABEL;

/// What `markers` (or `import`) was asked about.
// One per command: boxing the snapshot would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Target<'a> {
    /// A snapshot in the store.
    Store(SnapshotInfo),
    /// A read-only snapshot, with the label of its source when it is one of
    /// the run's sources.
    Source {
        /// `LABEL` of `LABEL/NAME`, when known.
        label: Option<&'a str>,
        /// The snapshot.
        snap: SourceSnapshot,
    },
    /// A store-shaped snapshot directory elsewhere: its `memory` file.
    File(PathBuf),
}

/// Resolve a target: a store name first, then `LABEL/NAME` of a source,
/// then a path (a store-shaped directory, a snapshot directory, a memory
/// file).
pub(super) fn resolve<'a>(
    store: Option<&Store>,
    sources: &'a SourceSet,
    target: &str,
) -> Result<Target<'a>> {
    if ValidName::new(target).is_ok()
        && let Some(store) = store
    {
        match store.snapshot(target) {
            Ok(snap) => return Ok(Target::Store(snap)),
            Err(StoreError::NoSuchSnapshot { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(found) = sources.resolve(target) {
        let (s, snap) = found?;
        return Ok(Target::Source {
            label: Some(&s.label),
            snap,
        });
    }
    let path = Path::new(target);
    if path.is_dir() && path.join(SNAPSHOT_META).is_file() && path.join(MEMORY_FILE).exists() {
        return Ok(Target::File(path.join(MEMORY_FILE)));
    }
    match snapshot_at(path) {
        Some(found) => {
            let snap = found?;
            Ok(Target::Source {
                label: sources.label_of(&snap.source),
                snap,
            })
        }
        None if target.contains('/') => {
            let labels: Vec<&str> = sources.sources.iter().map(|s| s.label.as_str()).collect();
            Err(ReadError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "no such file, and no source labelled {:?} (sources: {})",
                        target.split('/').next().unwrap_or(""),
                        if labels.is_empty() {
                            "none; add one with --source DIR".to_string()
                        } else {
                            labels.join(", ")
                        }
                    ),
                ),
            }
            .into())
        }
        None => Err(StoreError::NoSuchSnapshot {
            name: target.into(),
            store: store.map(|s| s.root().to_path_buf()).unwrap_or_default(),
        }
        .into()),
    }
}

/// The markers of a target, through the discovery cache when there is a
/// store, with its `source` and `hypervisor` for JSON.
fn discover(
    store: Option<&Store>,
    target: &Target,
    quiet: bool,
) -> Result<(ScanReport, Value, Value, String)> {
    // A compressed file cannot skip holes: its scan reads every byte.
    let progress = super::progress::Progress::new("scan", quiet);
    let report_progress = |p: ScanProgress| progress.update(p.done, p.total);
    let opts = ScanOptions {
        progress: Some(&report_progress),
        ..Default::default()
    };
    let out = match target {
        Target::Store(snap) => {
            let report = match store {
                Some(st) => {
                    scan_cached(&snap.memory_path(), &st.scan_cache_path(&snap.name), &opts)?
                }
                None => scan_file(&snap.memory_path(), &opts)?,
            };
            let vmm = snap.meta.vmm.label();
            (
                report,
                json!(STORE),
                json!(vmm),
                format!("{STORE}/{}", snap.name),
            )
        }
        Target::Source { label, snap } => {
            let report = match (store, &snap.memory) {
                (Some(st), Some(mem)) => {
                    snap.scan_cached(&st.scan_cache_path_for_file(mem), &opts)?
                }
                _ => snap.scan(&opts)?,
            };
            let at = match (label, &snap.memory) {
                (Some(l), _) => format!("{l}/{}", snap.id),
                (None, Some(m)) => m.display().to_string(),
                (None, None) => snap.dir.display().to_string(),
            };
            let about = format!(
                "{at} ({}, {}, read-only)",
                snap.hypervisor.label(),
                snap.format
            );
            (
                report,
                json!(
                    label
                        .map(str::to_owned)
                        .unwrap_or_else(|| snap.source.to_string_lossy().into_owned())
                ),
                json!(snap.hypervisor.label()),
                about,
            )
        }
        Target::File(path) => {
            let report = match store {
                Some(st) => scan_cached(path, &st.scan_cache_path_for_file(path), &opts)?,
                None => scan_file(path, &opts)?,
            };
            (report, Value::Null, Value::Null, path.display().to_string())
        }
    };
    progress.finish();
    Ok(out)
}

pub(super) fn markers(
    store: Option<&Store>,
    sources: &SourceSet,
    target: &str,
    json: bool,
) -> Result<i32> {
    let resolved = resolve(store, sources, target)?;
    let (report, source, hypervisor, about) = discover(store, &resolved, json)?;
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
                    "source": source, "hypervisor": hypervisor,
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
        "{}: scanned {} of data in {} ({} extents) in {:.1} ms",
        escaped(&about),
        human_size(report.data_bytes),
        human_size(report.file_size),
        report.extents,
        report.elapsed.as_secs_f64() * 1e3
    );
    if report.markers.is_empty() {
        outln!("no markers in {}", report.path.display())?;
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

/// One line of the `snapshots` table.
fn row(cols: [&str; 9]) -> String {
    format!(
        "{:<10} {:<22} {:<16} {:<8} {:>9} {:>9} {:<11} {:<10} {}",
        cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8]
    )
}

pub(super) fn snapshots(store: &Store, sources: &SourceSet, json: bool) -> Result<i32> {
    let (snaps, bad) = store.snapshots()?;
    // As always, on stderr too: scripts that only read stdout's JSON still
    // hear about a broken store snapshot.
    for e in &bad {
        errln!("warning: {}", escaped(&e.to_string()));
    }
    let listed = sources.list();
    if json {
        let mut arr: Vec<Value> = snaps.iter().map(|s| store_row(store, s)).collect();
        arr.extend(bad.iter().map(|e| store_problem_row(store, e)));
        for (s, entries) in &listed {
            if let Err(e) = &s.source {
                arr.push(dead_source_row(s, e));
            }
            for l in entries {
                arr.push(match l {
                    Listed::Snapshot(snap) => source_row(s, snap),
                    Listed::Problem(p) => problem_row(s, p),
                });
            }
        }
        super::output::json(&arr)?;
        return Ok(0);
    }
    if snaps.is_empty() && bad.is_empty() && sources.is_empty() {
        outln!(
            "no snapshots in {} (try `forkmail demo --no-tui` or `forkmail template create`; --source DIR lists a Hypeman or Firecracker directory)",
            store.root().display()
        )?;
        return Ok(0);
    }
    outln!(
        "{}",
        row([
            "SOURCE",
            "NAME",
            "HYPERVISOR",
            "KIND",
            "MEMORY",
            "ON DISK",
            "COMPRESSION",
            "ACCESS",
            "CREATED"
        ])
    )?;
    outln!("== {STORE}: {} (forkmail store)", store.root().display())?;
    for s in &snaps {
        outln!(
            "{}",
            row([
                STORE,
                &s.name,
                s.meta.vmm.label(),
                &s.meta.kind,
                &human_size(s.memory_size),
                &human_size(s.allocated),
                "none",
                "read-write",
                &escaped(&s.meta.created_at),
            ])
        )?;
    }
    for e in &bad {
        let what = match e {
            crate::store::StoreError::AbandonedDraft { .. } => "ABANDONED DRAFT",
            _ => "UNREADABLE",
        };
        outln!("{:<10} {what}: {}", STORE, escaped(&e.to_string()))?;
    }
    for (s, entries) in &listed {
        match &s.source {
            Ok(src) => outln!(
                "== {}: {} ({}, read-only)",
                s.label,
                escaped(&src.root().display().to_string()),
                src.kind().label()
            )?,
            Err(e) => {
                outln!(
                    "== {}: {} (cannot be opened)",
                    s.label,
                    escaped(&s.path.display().to_string())
                )?;
                outln!("{:<10} UNREADABLE: {}", s.label, escaped(&e.to_string()))?;
            }
        }
        for l in entries {
            match l {
                Listed::Snapshot(snap) => {
                    let memory = match (snap.kind, snap.memory_size.bytes()) {
                        (SnapshotKind::Stopped, _) => "-".to_string(),
                        (_, Some(b)) => human_size(b),
                        (_, None) => "?".to_string(),
                    };
                    let on_disk = snap
                        .memory_file_bytes
                        .map(human_size)
                        .unwrap_or_else(|| "-".into());
                    let name = if snap.name == snap.id {
                        snap.name.clone()
                    } else {
                        format!("{} [{}]", snap.name, snap.id)
                    };
                    let kind = match snap.kind {
                        SnapshotKind::Standby => "standby",
                        SnapshotKind::Stopped => "stopped",
                    };
                    let packed = snap.memory_compression.map(|c| c.label());
                    let mut compression = match (snap.format, packed) {
                        (crate::source::MemoryFormat::QemuMigrationStream, Some(c)) => {
                            format!("qemu-stream, {c}")
                        }
                        (crate::source::MemoryFormat::QemuMigrationStream, None) => {
                            "qemu-stream".into()
                        }
                        (crate::source::MemoryFormat::VzMachineState, _) => "vz-state".into(),
                        (_, c) => c.unwrap_or("none").into(),
                    };
                    if let Some(p) = snap
                        .instance
                        .as_ref()
                        .and_then(|i| i.pending_compression.as_ref())
                    {
                        compression.push_str(&format!(
                            " ({} pending)",
                            p.algorithm.as_deref().unwrap_or("compression")
                        ));
                    }
                    outln!(
                        "{}",
                        row([
                            &s.label,
                            &escaped(&name),
                            &escaped(snap.hypervisor.label()),
                            kind,
                            &memory,
                            &on_disk,
                            &escaped(&compression),
                            "read-only",
                            &escaped(snap.created_at.as_deref().unwrap_or("-")),
                        ])
                    )?;
                }
                Listed::Problem(p) => outln!(
                    "{:<10} {:<22} UNREADABLE ({}): {}",
                    s.label,
                    escaped(p.id.as_deref().unwrap_or("-")),
                    p.error.problem(),
                    escaped(&p.error.to_string())
                )?,
            }
        }
    }
    Ok(0)
}
