//! `forkmail fork`: build a request from flags, run the session, render its
//! events as lines (or JSON lines), roll back on Ctrl-C/SIGTERM/SIGHUP.

use anyhow::Result;

use super::ForkArgs;
use super::event_line::human_line;
use super::fork_args::mailbox_specs;
use super::line_writer::{Dropped, DroppedNote, LineWriter};
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
    let writer = LineWriter::stdout(dropped_note(json));
    let sink = |e: SessionEvent| {
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
        // Queued, never written from here: a reader that does not read
        // (or a closed stdout) must not hold the session up; its outcome
        // still counts (and its exit status says it).
        let line = if json {
            serde_json::to_string(&e).ok()
        } else {
            human_line(&e)
        };
        if let Some(line) = line {
            if floodable(&e) {
                writer.floodable(line, &e);
            } else {
                writer.line(line);
            }
        }
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
    let result = forks.create_prestarted(&req, prestart, &sink, &cancel);
    // The session is over: now the lines may wait for their reader.
    writer.finish();
    match result {
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

/// Events that can come in floods (a datagram ignored, copy progress): the
/// first to go when stdout is not read fast enough.
pub(super) fn floodable(e: &SessionEvent) -> bool {
    matches!(
        e.what,
        Happening::DatagramIgnored { .. }
            | Happening::DatagramsIgnored { .. }
            | Happening::CopyProgress { .. }
    )
}

/// The line that says how many event lines were not written (a JSON event
/// line of the documented shape with `--json`).
pub(super) fn dropped_note(json: bool) -> DroppedNote {
    Box::new(move |d: &Dropped| {
        let detail = format!(
            "{} event line(s) not written: stdout was not read fast enough",
            d.count
        );
        let (fork, stage, ms) = d.last.as_ref().map_or(("", "ack", 0), |e| {
            (e.fork.as_str(), e.stage().label(), e.elapsed_ms)
        });
        if json {
            serde_json::json!({
                "fork": fork, "stage": stage, "status": "progress", "elapsed_ms": ms,
                "detail": detail, "dropped_events": d.count,
            })
            .to_string()
        } else {
            format!("{ms:>6} ms  {stage:<9} · {detail}")
        }
    })
}
