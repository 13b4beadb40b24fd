//! Fork sessions on simulated templates of 1, 4 and 16 GiB, in copy and
//! zero-copy mode: the library's `Forks::create` (a real session: the
//! simulated guest runs, reads both payloads and acks both), against
//! `cp --sparse=always` of the template's memory. Each fork is stopped and
//! removed after its run, untimed.
//!
//! Templates are made by the simulator's own generator
//! (`create_sim_template`) from a fixed seed, shaped like the demo's `web`
//! (3 % of the pages hold data, in scattered extents; two mailboxes), in a
//! store under the inputs directory, and reused while their description is
//! unchanged. The 16 GiB one holds about 490 MiB of data.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use forkmail::fork::{ForkRequest, Forks, Happening, MailboxSpec, SessionEvent, Stage};
use forkmail::store::Store;
use forkmail::template::sim::{SimTemplateSpec, create_sim_template};

use crate::cases::Ctx;
use crate::harness::{Cache, Case, Kind, Measured, Note, Side, Subject, time_process};

/// Template sizes, in the order of the table.
pub const SIZES: [(&str, u64); 3] = [("1g", 1 << 30), ("4g", 4 << 30), ("16g", 16 << 30)];

const SEED: u64 = 0x666f_726b_7365_7373;
const DATA_PERCENT: f64 = 3.0;
const MAILBOXES: [(&str, &str, &str); 2] = [
    (
        "app.config",
        "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
        r#"{"db": "postgres://db/app", "region": "eu-west", "replicas": 2}"#,
    ),
    (
        "secrets.v1",
        "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2",
        r#"{"api_key": "demo-not-a-secret"}"#,
    ),
];

/// Subject labels, also the rows of [`summary`].
const COPY_LIB: &str = "session, copy mode (library call)";
const COPY_PROC: &str = "session, copy mode (child process)";
const ZERO_LIB: &str = "session, zero-copy (library call)";
const CP: &str = "cp --sparse=always of the template memory";

fn case_name(size: &str) -> String {
    format!("session sim-{size}")
}

fn describe(size: u64) -> String {
    format!("v1 seed={SEED:#x} size={size} data%={DATA_PERCENT} mailboxes={MAILBOXES:?}")
}

/// The session store under `inputs`, with the template of `size` built
/// (or reused) and no forks left from an interrupted run.
fn ensure_template(inputs: &Path, label: &str, size: u64) -> io::Result<(Store, String)> {
    let root = inputs.join("sessions");
    std::fs::create_dir_all(&root)?;
    let store = Store::open(&root).map_err(io::Error::other)?;
    let forks = Forks::new(&store);
    for f in forks.list().map_err(io::Error::other)? {
        forks.remove(&f.name).map_err(io::Error::other)?;
    }
    let name = format!("sim-{label}");
    let stamp = inputs.join(format!("session-{name}.stamp"));
    let fresh = std::fs::read_to_string(&stamp).is_ok_and(|s| s == describe(size))
        && store.snapshot(&name).is_ok();
    if fresh {
        return Ok((store, name));
    }
    eprintln!(
        "building template {name} ({} GiB, {DATA_PERCENT} % data) in {}",
        size >> 30,
        root.display()
    );
    let _ = std::fs::remove_file(&stamp);
    let dir = store.snapshots_dir().join(&name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let _ = std::fs::remove_file(store.scan_cache_path(&name));
    let mut spec = SimTemplateSpec::new(&name);
    spec.memory_size = size;
    spec.data_percent = DATA_PERCENT;
    spec.seed = Some(SEED ^ size);
    spec.mailboxes = MAILBOXES
        .iter()
        .map(|(n, t, _)| (n.to_string(), Some(t.to_string())))
        .collect();
    create_sim_template(&store, &spec).map_err(io::Error::other)?;
    std::fs::write(&stamp, describe(size))?;
    Ok((store, name))
}

fn request(snapshot: &str, fork: &str, zero_copy: bool) -> ForkRequest {
    let mut req = ForkRequest::new(snapshot);
    req.fork_name = Some(fork.to_string());
    req.zero_copy = zero_copy;
    req.mailboxes = MAILBOXES
        .iter()
        .map(|(name, _, payload)| MailboxSpec {
            name: name.to_string(),
            token: None,
            payload: Some(payload.to_string()),
            wait_for_ack: true,
            ack_timeout_ms: None,
        })
        .collect();
    req
}

/// Stop and remove `fork` (untimed, after its run).
fn discard(store: &Store, fork: &str) -> Result<(), String> {
    let forks = Forks::new(store);
    forks.stop(fork).map_err(|e| format!("stop {fork}: {e}"))?;
    forks
        .remove(fork)
        .map(|_| ())
        .map_err(|e| format!("remove {fork}: {e}"))
}

/// Time spent in each stage of one session, from its events: the interval
/// up to an event counts for that event's stage, except that the interval
/// up to a stage's start counts for the stage before it.
type Breakdown = Vec<(Stage, Duration)>;

fn breakdown(started: Instant, events: &[(Instant, Stage, bool)]) -> Breakdown {
    let mut out: Breakdown = Vec::new();
    let (mut prev_t, mut prev_stage) = (started, Stage::Validate);
    for &(t, stage, starts) in events {
        let owner = if starts { prev_stage } else { stage };
        let d = t.saturating_duration_since(prev_t);
        match out.iter_mut().find(|(s, _)| *s == owner) {
            Some((_, total)) => *total += d,
            None => out.push((owner, d)),
        }
        (prev_t, prev_stage) = (t, stage);
    }
    out
}

/// One session through the library: its time and stage breakdown. The fork
/// is stopped and removed afterwards, outside the time.
fn session_lib(
    store: &Store,
    snapshot: &str,
    fork: &str,
    zero_copy: bool,
) -> Result<(Duration, Breakdown), String> {
    let events: Mutex<Vec<(Instant, Stage, bool)>> = Mutex::new(Vec::new());
    let sink = |e: SessionEvent| {
        let starts = matches!(e.what, Happening::StageStarted(_));
        // Stamped under the lock, so ack threads' events stay in order.
        if let Ok(mut v) = events.lock() {
            v.push((Instant::now(), e.stage(), starts));
        }
    };
    let req = request(snapshot, fork, zero_copy);
    let cancel = AtomicBool::new(false);
    let started = Instant::now();
    let outcome = Forks::new(store).create(&req, &sink, &cancel);
    let time = started.elapsed();
    let events = events.into_inner().unwrap_or_default();
    let discarded = discard(store, fork);
    outcome.map_err(|e| format!("session {fork}: {e}"))?;
    discarded?;
    Ok((time, breakdown(started, &events)))
}

/// `--child session STORE SNAPSHOT FORK`: one copy-mode session in this
/// process (the parent stops and removes the fork).
pub fn child_session(store: &str, snapshot: &str, fork: &str) -> Result<(), String> {
    let store = Store::open(store).map_err(|e| e.to_string())?;
    let req = request(snapshot, fork, false);
    Forks::new(&store)
        .create(&req, &|_| {}, &AtomicBool::new(false))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The medians of each stage over `runs`, as one line.
fn stage_line(label: &str, runs: &[Breakdown]) -> Option<String> {
    if runs.is_empty() {
        return None;
    }
    let parts: Vec<String> = Stage::PIPELINE
        .iter()
        .filter_map(|stage| {
            let mut t: Vec<Duration> = runs
                .iter()
                .filter_map(|b| b.iter().find(|(s, _)| s == stage).map(|(_, d)| *d))
                .collect();
            t.sort();
            let m = *t.get(t.len() / 2)?;
            Some(format!("{} {:.1}", stage.label(), m.as_secs_f64() * 1e3))
        })
        .collect();
    Some(format!(
        "  stages of {label}, ms (medians of {} runs): {}",
        runs.len(),
        parts.join(" · ")
    ))
}

/// One session case: copy mode (library call and child process), zero-copy
/// (library call), and `cp --sparse=always` of the template's memory.
pub fn session(ctx: &Ctx, label: &'static str, size: u64) -> io::Result<Case<'static>> {
    let (store, snapshot) = ensure_template(&ctx.inputs, label, size)?;
    let memory: PathBuf = store
        .snapshot(&snapshot)
        .map_err(io::Error::other)?
        .memory_path();
    let mut subjects = Vec::new();
    let mut notes: Vec<Note> = Vec::new();
    for (zero_copy, what, subject) in [(false, "copy", COPY_LIB), (true, "zero", ZERO_LIB)] {
        // Every run's breakdown; the first is the untimed warm-up (which
        // also fills the discovery cache), left out of the medians.
        let stages: Rc<RefCell<Vec<Breakdown>>> = Rc::default();
        let (st, snap, kept) = (store.clone(), snapshot.clone(), Rc::clone(&stages));
        let mut n = 0u32;
        subjects.push(Subject::new(
            subject,
            Side::Forkmail,
            Kind::Lib,
            move || {
                n += 1;
                let fork = format!("{snap}-{what}-{n}");
                let (time, b) = session_lib(&st, &snap, &fork, zero_copy)?;
                kept.borrow_mut().push(b);
                Ok(crate::harness::Sample::lib(time))
            },
        ));
        let mode = if zero_copy { "zero-copy" } else { "copy mode" };
        notes.push(Box::new(move || {
            stage_line(mode, stages.borrow().get(1..).unwrap_or_default())
        }));
    }
    // Copy mode as a whole process, so that `cp` compares process with process.
    let (st, snap, exe) = (store.clone(), snapshot.clone(), ctx.exe.clone());
    let mut n = 0u32;
    let copy_proc = Subject::new(COPY_PROC, Side::Forkmail, Kind::Proc, move || {
        n += 1;
        let fork = format!("{snap}-proc-{n}");
        let sample = time_process(
            Command::new(&exe)
                .arg("--child")
                .arg("session")
                .arg(st.root())
                .arg(&snap)
                .arg(&fork),
            &[],
        );
        let discarded = discard(&st, &fork);
        let sample = sample?;
        discarded?;
        Ok(sample)
    });
    // Rows: copy mode (library call, then child process), zero-copy, cp.
    subjects.insert(1, copy_proc);
    let dst = ctx.scratch.join(format!("session-cp-{label}"));
    subjects.push(Subject::new(CP, Side::Yardstick, Kind::Proc, move || {
        let _ = std::fs::remove_file(&dst);
        let r = time_process(
            Command::new("cp")
                .arg("--sparse=always")
                .arg(&memory)
                .arg(&dst),
            &[],
        );
        let _ = std::fs::remove_file(&dst);
        r
    }));
    Ok(Case {
        name: case_name(label),
        cache: Cache::Warm,
        subjects,
        notes,
    })
}

/// Copy mode against zero-copy across template sizes, from the medians the
/// session cases measured; nothing when fewer than two sizes ran.
pub fn summary(measured: &[Measured]) {
    let median = |size: &str, label: &str| {
        measured
            .iter()
            .find(|m| m.case == case_name(size) && m.label == label)
            .and_then(|m| m.median)
    };
    let sizes: Vec<&str> = SIZES
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| median(s, COPY_LIB).is_some() || median(s, ZERO_LIB).is_some())
        .collect();
    if sizes.len() < 2 {
        return;
    }
    let (first, last) = (sizes[0], sizes[sizes.len() - 1]);
    println!();
    print!("{:<52}", "fork sessions by template size (medians)");
    for s in &sizes {
        print!("{:>10}", format!("sim-{s}"));
    }
    println!("{:>14}", format!("{last} / {first}"));
    for label in [COPY_LIB, COPY_PROC, ZERO_LIB, CP] {
        print!("  {label:<50}");
        for s in &sizes {
            let cell = median(s, label)
                .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
                .unwrap_or_else(|| "—".into());
            print!("{cell:>10}");
        }
        let growth = match (median(first, label), median(last, label)) {
            (Some(a), Some(b)) => format!("{:.2}×", b.as_secs_f64() / a.as_secs_f64()),
            _ => "—".into(),
        };
        println!("{growth:>14}");
    }
}
