//! `forkmail fork`: build a request from flags, run the session, render its
//! events as lines (or JSON lines), roll back on Ctrl-C/SIGTERM/SIGHUP.

use std::io::Write;

use anyhow::Result;

use super::ForkArgs;
use super::event_line::human_line;
use super::fork_args::mailbox_specs;
use super::progress::Progress;
use super::signals::cancel_flag;
use crate::error::UsageError;
use crate::fork::{ForkRequest, Forks, Happening, SessionEvent};
use crate::history::Recorder;
use crate::sanitize::escaped;
use crate::source::SourceSet;
use crate::store::Store;
use crate::{errln, outln};
use std::sync::Mutex;

pub(super) fn fork(store: &Store, sources: &SourceSet, a: &ForkArgs) -> Result<i32> {
    if a.count.is_some() || a.matrix.is_some() {
        if a.export.is_some() {
            return Err(UsageError(
                "--export writes one patched fork; it does not go with --count or --matrix".into(),
            )
            .into());
        }
        return super::fanout_cmd::fanout(store, a);
    }
    let mut req = ForkRequest::new(&a.snapshot);
    req.fork_name = a.name.clone();
    req.mailboxes = mailbox_specs(a)?;
    req.restore = !a.no_restore;
    req.zero_copy = a.zero_copy;
    req.ack_bind = a.ack_bind;
    if let Some(dir) = &a.export {
        // Nothing under a source is ever written, exports included: the
        // directory is resolved as the filesystem will (against the working
        // directory, links followed) before it is compared, however spelled.
        let resolved = crate::transfer::export_dir(dir);
        if sources.contains_path(&resolved) {
            return Err(UsageError(format!(
                "--export {}: that is inside a read-only source ({}); export elsewhere",
                dir.display(),
                resolved.display()
            ))
            .into());
        }
        req.export = Some(resolved);
        req.export_keep_source_paths = a.keep_source_paths;
    }
    // A closed terminal (SIGHUP) rolls back like Ctrl-C: no half-made fork stays.
    let cancel = cancel_flag()?;
    let json = a.json;
    // Kept in the store's session history (the TUI lists it, `r` replays it).
    let recorder = match Recorder::start(store, &req, "cli") {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    };
    let recorder = Mutex::new(recorder);
    let progress = Progress::new("copy", json);
    let sink = move |e: SessionEvent| {
        if let Ok(mut r) = recorder.lock()
            && let Some(r) = r.as_mut()
        {
            r.record(&e);
        }
        match &e.what {
            Happening::CopyProgress { bytes, total } if !json => {
                progress.update(*bytes, *total);
                if bytes != total {
                    return;
                }
                progress.finish();
            }
            Happening::Copied { .. } | Happening::StageFailed(_) => progress.finish(),
            _ => {}
        }
        let mut out = std::io::stdout().lock();
        // A closed stdout must not stop the session: its outcome still
        // counts (and its exit status says it).
        if json {
            if let Ok(line) = serde_json::to_string(&e) {
                let _ = writeln!(out, "{line}");
            }
        } else if let Some(line) = human_line(&e) {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    };
    let forks = Forks::new(store);
    let prestart = if a.prestart {
        let p = forks.prestart(&a.snapshot, a.zero_copy)?;
        if let Some(p) = &p
            && !json
        {
            let pid = p.process().map(|r| r.pid).unwrap_or_default();
            let _ = outln!(
                "prestarted the VMM (pid {pid}) in {} ms",
                p.booted_in().as_millis()
            );
        }
        p
    } else {
        None
    };
    match forks.create_prestarted(&req, prestart, &sink, &cancel) {
        Ok(outcome) => {
            if !json {
                let _ = match outcome.pid() {
                    Some(pid) => outln!(
                        "fork {} is running (pid {pid}); `forkmail stop {}` stops it, `forkmail rm {}` removes it",
                        outcome.name,
                        outcome.name,
                        outcome.name
                    ),
                    None => outln!(
                        "fork {} patched at {} (not restored)",
                        outcome.name,
                        outcome.dir.display()
                    ),
                };
                if let Some(dir) = &req.export {
                    let how = dir.join(crate::transfer::rewrite::RESTORE_MD);
                    let _ = if how.exists() {
                        outln!(
                            "exported to {}: {} says how your VMM restores it as a fork",
                            dir.display(),
                            how.display()
                        )
                    } else {
                        outln!("exported to {}", dir.display())
                    };
                }
            }
            Ok(0)
        }
        Err(err) => {
            errln!(
                "forkmail: fork of {} failed ({}): {}",
                escaped(&a.snapshot),
                err.kind(),
                escaped(&err.to_string())
            );
            Ok(err.kind().exit_code())
        }
    }
}
