//! `forkmail import SOURCE/NAME [--name NAME]`: copy a read-only snapshot
//! into the store (sparse, decompressing where needed) and show its markers.

use std::sync::atomic::Ordering;

use anyhow::Result;
use serde_json::json;

use super::ImportArgs;
use super::catalog::{Target, resolve};
use super::signals::cancel_flag;
use crate::error::{ErrorKind, UsageError};
use crate::scan::ScanError;
use crate::source::SourceSet;
use crate::store::{Store, ValidName};
use crate::transfer::{
    DEFAULT_MAX_UNRECORDED_MEMORY, ImportOptions, default_import_name, import_snapshot_with,
};
use crate::units::human_size;
use crate::{errln, outln};

pub(super) fn import(store: &Store, sources: &SourceSet, a: &ImportArgs) -> Result<i32> {
    let (label, snap) = match resolve(Some(store), sources, &a.snapshot)? {
        Target::Source { label, snap } => (label, snap),
        Target::Store(s) => {
            return Err(UsageError(format!(
                "{} is already a snapshot of the store: fork it",
                s.name
            ))
            .into());
        }
        Target::File(p) => {
            return Err(UsageError(format!(
                "{} belongs to a forkmail store: fork it there (--store)",
                p.display()
            ))
            .into());
        }
    };
    let name = match &a.name {
        Some(n) => {
            ValidName::new(n)?;
            n.clone()
        }
        None => default_import_name(&snap).ok_or_else(|| {
            UsageError(format!(
                "{:?} is not a valid store name: give one with --name (lowercase letters, digits and '-')",
                snap.name
            ))
        })?,
    };
    let cancel = cancel_flag()?;
    let bar = super::progress::Progress::new("import", a.json);
    let mut progress = |done: u64, total: u64| bar.update(done, total.max(done));
    let options = ImportOptions {
        max_unrecorded_memory: a.max_memory.unwrap_or(DEFAULT_MAX_UNRECORDED_MEMORY),
    };
    let imported = import_snapshot_with(store, &snap, &name, &options, &cancel, &mut progress);
    bar.finish();
    if cancel.load(Ordering::Relaxed) && imported.is_err() {
        errln!("import cancelled; nothing was kept");
    }
    let imported = imported?;
    let s = &imported.snapshot;
    // The import is done and kept; a Ctrl-C now stops only the scan that
    // shows its markers.
    let report = match super::template_cmd::scan_new(store, s, Some(&cancel)) {
        Ok(r) => r,
        Err(ScanError::Cancelled) => {
            errln!(
                "imported {} at {}; showing its markers was cancelled (`forkmail markers {}` shows them)",
                s.name,
                s.dir.display(),
                s.name
            );
            return Ok(ErrorKind::Cancelled.exit_code());
        }
        Err(e) => return Err(e.into()),
    };
    if a.json {
        super::output::json(&json!({
            "name": s.name, "path": s.dir, "vmm": s.meta.vmm, "memory_size": s.memory_size,
            "allocated": s.allocated, "method": imported.method,
            "data_bytes": imported.data_bytes, "device_state": imported.device_state,
            "source": label, "source_path": snap.source.to_string_lossy(), "id": snap.id,
            "hypervisor": snap.hypervisor.label(), "format": snap.format,
            "markers": super::template_cmd::markers_json(&report),
            "export": crate::transfer::export_readiness(s),
        }))?;
    } else {
        outln!(
            "imported {} as {} ({} {}, {} memory, {} on disk, {}; device state: {}) at {}",
            crate::sanitize::escaped(&format!("{}/{}", label.unwrap_or("(path)"), snap.id)),
            s.name,
            s.meta.vmm.label(),
            snap.format,
            human_size(s.memory_size),
            human_size(s.allocated),
            imported.method,
            if imported.device_state.is_empty() {
                "none".to_string()
            } else {
                imported.device_state.join(", ")
            },
            s.dir.display()
        )?;
        super::template_cmd::print_markers(&report)?;
        if !s.meta.vmm.has_driver() {
            outln!(
                "forkmail cannot restore {} snapshots: `forkmail fork {} --no-restore --export DIR …` writes a patched copy for your own {}",
                s.meta.vmm.label(),
                s.name,
                s.meta.vmm.label()
            )?;
        }
        if let Some(r) = crate::transfer::export_readiness(s).and_then(|e| e.refused) {
            outln!(
                "an export of it would be refused: {} (--keep-source-paths exports its device state unchanged)",
                crate::sanitize::escaped(&r.to_string())
            )?;
        }
    }
    Ok(0)
}
