//! Background work: scans, fork sessions, fork stop/remove, and the store
//! watcher. Each runs on its own thread and reports through the UI's channel;
//! a closed channel (the UI left) makes them wind down quietly.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use super::app::Msg;
use super::catalog::{FileKey, ScanFailure};
use crate::error::Kinded;
use crate::fork::{ForkInfo, ForkRequest, Forks};
use crate::history::Recorder;
use crate::sanitize::safe_owned;
use crate::scan::{ScanOptions, ScanProgress, ScanReport, scan_cached};
use crate::store::Store;

/// Progress is forwarded at most this often, so a fast scan cannot flood
/// the UI with redraws.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

fn scan_with_progress(
    tx: &UnboundedSender<Msg>,
    snapshot: &str,
    path: &Path,
    cache: &Path,
    cancel: &AtomicBool,
) -> Result<Arc<ScanReport>, ScanFailure> {
    let last = Mutex::new(Instant::now());
    let progress = |p: ScanProgress| {
        if let Ok(mut t) = last.lock()
            && t.elapsed() >= PROGRESS_EVERY
        {
            *t = Instant::now();
            let _ = tx.send(Msg::ScanProgress {
                snapshot: snapshot.to_string(),
                done: p.done,
                total: p.total,
            });
        }
    };
    let opts = ScanOptions {
        cancel: Some(cancel),
        progress: Some(&progress),
        ..ScanOptions::default()
    };
    // The one discovery cache: a snapshot scanned by the CLI, by a fork or
    // in an earlier run is not scanned again.
    scan_cached(path, cache, &opts)
        .map(Arc::new)
        .map_err(|e| ScanFailure {
            kind: e.kind(),
            message: safe_owned(&e.to_string()),
        })
}

/// Scan `snapshot`'s memory file off the UI task (through the cache).
pub fn spawn_scan(
    tx: UnboundedSender<Msg>,
    snapshot: String,
    path: PathBuf,
    cache: PathBuf,
    key: FileKey,
    cancel: Arc<AtomicBool>,
) {
    let spawned = std::thread::Builder::new()
        .name(format!("scan-{snapshot}"))
        .spawn(move || {
            let result = scan_with_progress(&tx, &snapshot, &path, &cache, &cancel);
            tracing::info!(snapshot, ok = result.is_ok(), "scan finished");
            let _ = tx.send(Msg::ScanDone {
                snapshot,
                key,
                result,
            });
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start scan thread: {e}");
    }
}

/// Read a fork's memory (inspection: were the mailboxes consumed?).
pub fn spawn_inspect(tx: UnboundedSender<Msg>, store: Store, info: ForkInfo) {
    let _ = std::thread::Builder::new()
        .name(format!("inspect-{}", info.name))
        .spawn(move || {
            let result = Forks::new(&store)
                .inspect(&info)
                .map(Arc::new)
                .map_err(|e| safe_owned(&e.to_string()));
            let _ = tx.send(Msg::Inspected {
                fork: info.name.clone(),
                result,
            });
        });
}

/// Run a fork session; its events come back as [`Msg::Session`], and go
/// to the session history through `recorder`.
pub fn spawn_session(
    tx: UnboundedSender<Msg>,
    store: Store,
    req: ForkRequest,
    prestart: Option<crate::fork::Prestart>,
    id: u64,
    cancel: Arc<AtomicBool>,
    recorder: Option<Recorder>,
) {
    let spawned = std::thread::Builder::new()
        .name(format!("fork-{id}"))
        .spawn(move || {
            let sink_tx = tx.clone();
            let recorder = Mutex::new(recorder);
            let sink = move |event: crate::fork::SessionEvent| {
                if let Ok(mut r) = recorder.lock()
                    && let Some(r) = r.as_mut()
                {
                    r.record(&event);
                }
                let _ = sink_tx.send(Msg::Session { id, event });
            };
            let result = Forks::new(&store)
                .create_prestarted(&req, prestart, &sink, &cancel)
                .map(|o| o.name);
            tracing::info!(id, ok = result.is_ok(), "fork session ended");
            let _ = tx.send(Msg::SessionEnd { id, result });
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start fork thread: {e}");
    }
}

/// Run a planned fan-out; each fork's events come back as
/// [`Msg::Session`] of its member session (`members[i]` is fork i's id),
/// its end as [`Msg::SessionEnd`], the whole as [`Msg::FanoutEnd`]; each
/// fork's session goes to the session history through `recorders`.
pub fn spawn_fanout(
    tx: UnboundedSender<Msg>,
    store: Store,
    plan: crate::fanout::FanoutPlan,
    id: u64,
    members: Vec<u64>,
    cancel: Arc<AtomicBool>,
    recorders: crate::fanout::MemberRecorders,
) {
    let spawned = std::thread::Builder::new()
        .name(format!("fanout-{id}"))
        .spawn(move || {
            use crate::fanout::FanoutEvent;
            let forks = Forks::new(&store);
            let sink = |e: FanoutEvent| {
                recorders.on(&store, &e);
                let msg = match e {
                    FanoutEvent::Session { index, event } => Msg::Session {
                        id: members[index],
                        event,
                    },
                    FanoutEvent::Ended { index, result, .. } => Msg::SessionEnd {
                        id: members[index],
                        result: result.map(|o| o.name),
                    },
                    FanoutEvent::Removed { .. } => return,
                };
                let _ = tx.send(msg);
            };
            let report = crate::fanout::run_fanout(&forks, &plan, &sink, &cancel);
            let _ = tx.send(Msg::FanoutEnd {
                id,
                summary: fanout_summary(&report),
            });
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start fan-out thread: {e}");
    }
}

/// A fan-out's summary as lines for the sessions screen.
pub fn fanout_summary(r: &crate::fanout::FanoutReport) -> Vec<String> {
    let mut out = vec![format!(
        "{} done, {} failed in {} ms ({:.1} forks/s)",
        r.done(),
        r.failed(),
        r.elapsed.as_millis(),
        r.forks_per_second()
    )];
    for (st, sp) in crate::fanout::spreads(r.forks.iter().map(|f| &f.clock)) {
        let label = if st == crate::fork::Stage::Done {
            "total"
        } else {
            st.label()
        };
        out.push(format!(
            "{label:<10} median {:>5} ms  p95 {:>5} ms  max {:>5} ms",
            sp.median_ms, sp.p95_ms, sp.max_ms
        ));
    }
    let removed = r.forks.iter().filter(|f| f.removed).count();
    if removed > 0 {
        out.push(format!(
            "rolled back: removed the {removed} fork(s) that were made"
        ));
    }
    out
}

/// Run the conformance suite; results come back as [`Msg::Check`] and
/// [`Msg::CheckEnd`].
pub fn spawn_check(
    tx: UnboundedSender<Msg>,
    store: Store,
    opts: crate::check::CheckOptions,
    id: u64,
    cancel: Arc<AtomicBool>,
) {
    let spawned = std::thread::Builder::new()
        .name(format!("check-{id}"))
        .spawn(move || {
            let sink = |event| {
                let _ = tx.send(Msg::Check { id, event });
            };
            let result = crate::check::run_check(&store, &opts, &sink, &cancel)
                .map(|r| r.passed())
                .map_err(|e| safe_owned(&e.to_string()));
            let _ = tx.send(Msg::CheckEnd { id, result });
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start check thread: {e}");
    }
}

/// Stop or remove a fork off the UI task (stopping waits for the VMM).
pub fn spawn_fork_op(tx: UnboundedSender<Msg>, store: Store, fork: String, remove: bool) {
    let _ = std::thread::Builder::new()
        .name(format!("fork-op-{fork}"))
        .spawn(move || {
            let forks = Forks::new(&store);
            let result = if remove {
                forks.remove(&fork).map(|_| format!("removed {fork}"))
            } else {
                forks.stop(&fork).map(|ran| {
                    if ran {
                        format!("stopped {fork}")
                    } else {
                        format!("{fork} was not running")
                    }
                })
            };
            let msg = match result {
                Ok(message) => Msg::ForkOp {
                    fork,
                    message,
                    ok: true,
                },
                Err(e) => Msg::ForkOp {
                    message: format!("{fork}: {e}"),
                    fork,
                    ok: false,
                },
            };
            let _ = tx.send(msg);
        });
}

/// What keeps the store watched; dropping it stops the watching.
pub enum StoreWatch {
    /// A `notify` watcher.
    Notify(notify::RecommendedWatcher),
    /// A polling thread, stopped by the flag.
    Poll(Arc<AtomicBool>),
}

impl Drop for StoreWatch {
    fn drop(&mut self) {
        if let StoreWatch::Poll(stop) = self {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Watch `<store>/snapshots`, `<store>/forks` and `<store>/sessions` (the
/// CLI's sessions show up in the list); fall back to polling once
/// a second when the watcher cannot start. Returns the watch and a note for
/// the status bar.
pub fn watch_store(store: &Store, tx: UnboundedSender<Msg>) -> (StoreWatch, String) {
    match start_notify(store, tx.clone()) {
        Ok(w) => (StoreWatch::Notify(w), "watching store".into()),
        Err(e) => {
            tracing::warn!("store watcher unavailable, polling: {e}");
            let stop = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            let _ = std::thread::Builder::new()
                .name("store-poll".into())
                .spawn(move || {
                    while !flag.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_secs(1));
                        if tx.send(Msg::StoreChanged).is_err() {
                            break;
                        }
                    }
                });
            (
                StoreWatch::Poll(stop),
                format!("watcher failed ({e}): polling every 1 s"),
            )
        }
    }
}

fn start_notify(
    store: &Store,
    tx: UnboundedSender<Msg>,
) -> Result<notify::RecommendedWatcher, String> {
    if std::env::var_os("FORKMAIL_NO_WATCH").is_some() {
        return Err("disabled by FORKMAIL_NO_WATCH".into());
    }
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(Msg::StoreChanged);
        }
    })
    .map_err(|e| e.to_string())?;
    for dir in [
        store.snapshots_dir(),
        store.forks_dir(),
        store.sessions_dir(),
    ] {
        w.watch(&dir, RecursiveMode::Recursive)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(w)
}
