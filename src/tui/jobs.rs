//! Background work: scans, fork sessions, fork stop/remove, and the store
//! watcher. Each runs on its own thread and reports through the UI's channel;
//! a closed channel (the UI left) makes them wind down quietly.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use super::msg::{FanoutSummary, Msg, ScanFailure};
use crate::error::Kinded;
use crate::fork::{ForkInfo, ForkRequest, Forks};
use crate::history::Recorder;
use crate::sanitize::safe_owned;
use crate::scan::{FileIdentity as FileKey, ScanOptions, ScanProgress, ScanReport, scan_cached};
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

/// Look for the cached discovery of each `(row key, memory file, cache
/// file)` off the UI task; each one found comes back as [`Msg::Peeked`].
pub fn spawn_peek(tx: UnboundedSender<Msg>, todo: Vec<(String, PathBuf, PathBuf)>) {
    let spawned = std::thread::Builder::new()
        .name("scan-cache".into())
        .spawn(move || {
            for (snapshot, memory, cache) in todo {
                let Ok(key) = FileKey::of(&memory) else {
                    continue;
                };
                if let Some(report) = crate::scan::cached_report(&memory, &cache)
                    && tx
                        .send(Msg::Peeked {
                            snapshot,
                            key,
                            report: Arc::new(report),
                        })
                        .is_err()
                {
                    return;
                }
            }
            let _ = tx.send(Msg::PeekDone);
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the scan-cache thread: {e}");
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
                summary: fanout_summary(&forks, &report),
            });
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start fan-out thread: {e}");
    }
}

/// What a fan-out did, as the sessions screen shows it: what the CLI's
/// summary says (counts, per-stage spread, divergence of the forks that
/// run, each failure with its kind).
pub fn fanout_summary(forks: &Forks, r: &crate::fanout::FanoutReport) -> FanoutSummary {
    let mut div: Option<(usize, u64, &'static str)> = None;
    for f in r.forks.iter().filter(|f| f.result.is_ok() && !f.removed) {
        if let Ok(entry) = forks.get(&f.name)
            && let Some(d) = crate::fork::divergence(&entry)
        {
            let (n, b, _) = div.unwrap_or((0, 0, ""));
            div = Some((n + 1, b + d.bytes, d.source.label()));
        }
    }
    FanoutSummary {
        forks: r.forks.len(),
        done: r.done(),
        failed: r.failed(),
        elapsed_ms: u64::try_from(r.elapsed.as_millis()).unwrap_or(u64::MAX),
        per_second: r.forks_per_second(),
        stages: crate::fanout::spreads(r.forks.iter().map(|f| &f.clock))
            .into_iter()
            .map(|(st, sp)| (st, sp.median_ms, sp.p95_ms, sp.max_ms))
            .collect(),
        divergence: div,
        failures: r
            .forks
            .iter()
            .filter_map(|f| {
                let e = f.result.as_ref().err()?;
                Some((f.name.clone(), e.kind(), safe_owned(&e.to_string())))
            })
            .collect(),
        removed: r.forks.iter().filter(|f| f.removed).count(),
    }
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

/// Stop or remove `names` off the UI task (stopping waits for each VMM),
/// one after the other; one [`Msg::ForkOps`] says how each went.
pub fn spawn_fork_ops(tx: UnboundedSender<Msg>, store: Store, names: Vec<String>, remove: bool) {
    let spawned = std::thread::Builder::new()
        .name("fork-ops".into())
        .spawn(move || {
            let forks = Forks::new(&store);
            let results = names
                .into_iter()
                .map(|fork| {
                    let r = if remove {
                        forks.remove(&fork)
                    } else {
                        forks.stop(&fork)
                    };
                    let r = r.map_err(|e| safe_owned(&e.to_string()));
                    (fork, r)
                })
                .collect();
            let _ = tx.send(Msg::ForkOps { remove, results });
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start a fork-op thread: {e}");
    }
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

/// Watch `<store>/snapshots`, `<store>/forks`, `<store>/sessions` (the
/// CLI's sessions show up in the list) and `<store>/drafts` (another
/// window's drafts); fall back to polling once a second when the watcher
/// cannot start. Returns the watch and a note for
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
    if super::edge::watcher_disabled() {
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
        store.drafts_dir(),
    ] {
        // The history and the drafts appear with their first file.
        let _ = crate::store::private_dir(&dir);
        w.watch(&dir, RecursiveMode::Recursive)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(w)
}
