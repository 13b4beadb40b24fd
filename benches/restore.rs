//! Real-VM restore → ack, broken down: forks of a QEMU template on a VMM
//! started ahead of time (`Forks::prestart`), in copy and zero-copy mode.
//!
//! ```text
//! cargo bench --bench restore                 # 15 forks per mode
//! cargo bench --bench restore -- 30           # 30 forks per mode
//! FORKMAIL_BENCH_MODES=zero-copy cargo bench --bench restore
//! FORKMAIL_BENCH_TRACE=1 cargo bench --bench restore     # each fork's moments
//! FORKMAIL_BENCH_TEMPLATES="bench mine" cargo bench --bench restore
//! ```
//!
//! `FORKMAIL_BENCH_TEMPLATES` compares templates of the bench's store side
//! by side, round-robin (an A/B of two guest agents: build an image from the
//! other agent into that store and `template create mine --image …` there).
//!
//! It needs `qemu-system-x86_64` and a guest image; without QEMU it says so
//! and exits 0 (a benchmark, not a test). The image (`forkmail image build`
//! with this build's `forkmail-guest`) and a 256 MiB template with one
//! mailbox are made once under `target/tmp/fmq/` and made
//! again when the guest agent changes.
//!
//! Each fork is timed in this process, from the session's events and one
//! host-side observation of the guest: the first byte QEMU writes to the
//! fork's serial console after `cont` (inotify on `serial.log`). The agent
//! writes its first console line when it has read the payload, so that
//! moment is "the guest ran far enough to see the payload" — the guest's own
//! clock is stale after a restore and cannot say it. Columns, medians over
//! the forks with min–max:
//!
//! - QEMU start: spawn → QMP ready and `x-ignore-shared` set (the
//!   prestart, before the fork; not part of restore → ack);
//! - load: the restore stage's start → device state loaded (`VmLoaded`);
//! - patch: → frames written into the paused guest (zero-copy; copy mode
//!   patched its file before the restore stage);
//! - resume: → `Restored` (`cont` acknowledged, the fork's record saved);
//! - guest sees payload: end of patch → the first console byte (overlaps
//!   `resume`: the guest runs as soon as QEMU has handled `cont`);
//! - guest → ack: that console byte → the ack's arrival (`Acked`);
//! - restore → ack: the restore stage's start → the ack's arrival.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use forkmail::fork::{ForkRequest, Forks, Happening, MailboxSpec, SessionEvent, Stage};
use forkmail::store::Store;
use notify::{RecursiveMode, Watcher};

const FORKMAIL: &str = env!("CARGO_BIN_EXE_forkmail");
const TEMPLATE: &str = "bench";

/// The guest agent lives in its own crate (`crates/guest`): the bench
/// builds it into the same target directory as `forkmail`.
fn guest_agent() -> Result<PathBuf, Prep> {
    let bin = Path::new(FORKMAIL).with_file_name("forkmail-guest");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "forkmail-guest",
            "--bin",
            "forkmail-guest",
        ])
        .status()
        .map_err(|e| Prep::Fail(format!("build forkmail-guest: {e}")))?;
    if !status.success() || !bin.is_file() {
        return Err(Prep::Fail(format!(
            "build forkmail-guest: {status}, {} missing",
            bin.display()
        )));
    }
    Ok(bin)
}

fn qemu_binary() -> String {
    std::env::var("FORKMAIL_QEMU")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "qemu-system-x86_64".into())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runs: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .or_else(|| std::env::var("FORKMAIL_BENCH_RUNS").ok()?.parse().ok())
        .unwrap_or(15);
    let modes: Vec<bool> = match std::env::var("FORKMAIL_BENCH_MODES").as_deref() {
        Ok("copy") => vec![false],
        Ok("zero-copy") => vec![true],
        _ => vec![false, true],
    };
    if let Err(why) = Command::new(qemu_binary()).arg("--version").output() {
        println!(
            "restore bench skipped: {} not runnable ({why})",
            qemu_binary()
        );
        return ExitCode::SUCCESS;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/fmq");
    let store_dir = root.join("store");
    match prepare(&root, &store_dir) {
        Ok(()) => {}
        Err(Prep::Skip(why)) => {
            println!("restore bench skipped: {why}");
            return ExitCode::SUCCESS;
        }
        Err(Prep::Fail(why)) => {
            eprintln!("restore bench: {why}");
            return ExitCode::FAILURE;
        }
    }
    let store = match Store::open(&store_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("restore bench: open store {}: {e}", store_dir.display());
            return ExitCode::FAILURE;
        }
    };
    // More templates of the same store side by side (an A/B of guest
    // agents): FORKMAIL_BENCH_TEMPLATES="bench other".
    let templates: Vec<String> = std::env::var("FORKMAIL_BENCH_TEMPLATES")
        .ok()
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .filter(|v: &Vec<String>| !v.is_empty())
        .unwrap_or_else(|| vec![TEMPLATE.to_owned()]);
    let columns: Vec<(String, bool)> = templates
        .iter()
        .flat_map(|t| modes.iter().map(move |m| (t.clone(), *m)))
        .collect();
    println!("load before: {}", load_average());
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); columns.len()];
    // Round-robin, so the machine's load falls on every column alike; one
    // round first, not counted (page cache, QEMU's binary and libraries).
    for i in 0..=runs {
        for (col, (template, zero_copy)) in columns.iter().enumerate() {
            match one_fork(&store, template, *zero_copy, col, i) {
                Ok(s) if i > 0 => samples[col].push(s),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("restore bench: {template} fork {i} failed: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    println!("load after:  {}", load_average());
    println!();
    let tables: Vec<(String, Vec<Sample>)> = columns
        .iter()
        .zip(samples)
        .map(|((t, z), s)| {
            let mode = if *z { "zero-copy" } else { "copy" };
            let head = if templates.len() > 1 {
                format!("{t} {mode}")
            } else {
                mode.to_owned()
            };
            (head, s)
        })
        .collect();
    print_table(&tables);
    ExitCode::SUCCESS
}

enum Prep {
    Skip(String),
    Fail(String),
}

/// The image and the template, made again when the guest agent changed.
fn prepare(root: &Path, store: &Path) -> Result<(), Prep> {
    let guest_path = guest_agent()?;
    let guest = std::fs::read(&guest_path)
        .map_err(|e| Prep::Fail(format!("read {}: {e}", guest_path.display())))?;
    let stamp = format!("{:016x}-{}", fnv1a(&guest), guest.len());
    let stamp_file = root.join("guest.stamp");
    let snapshot = store.join("snapshots").join(TEMPLATE).join("snapshot.json");
    if std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str())
        && snapshot.is_file()
    {
        return Ok(());
    }
    // Only this template and the default image are made again: other
    // templates of the store (an A/B) stay.
    let _ = std::fs::remove_dir_all(store.join("snapshots").join(TEMPLATE));
    std::fs::create_dir_all(root)
        .map_err(|e| Prep::Fail(format!("create {}: {e}", root.display())))?;
    eprintln!("restore bench: building the guest image and a template (once per agent build)");
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new(FORKMAIL)
            .arg("--store")
            .arg(store)
            .args(args)
            .env_remove("FORKMAIL_STORE")
            .env("XDG_STATE_HOME", root.join("state"))
            .output()
            .map_err(|e| format!("run forkmail: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "forkmail {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    let guest_arg = guest_path.to_string_lossy();
    run(&["image", "build", "--force", "--guest", &guest_arg])
        .map_err(|e| Prep::Skip(format!("no guest image: {e}")))?;
    run(&[
        "template",
        "create",
        TEMPLATE,
        "--vmm",
        "qemu",
        "--memory",
        "256M",
        "--mailbox",
        "app:tok",
    ])
    .map_err(Prep::Fail)?;
    std::fs::write(&stamp_file, stamp).map_err(|e| Prep::Fail(format!("write stamp: {e}")))?;
    Ok(())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One fork's moments, in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Sample {
    qemu_start: f64,
    load: f64,
    patch: Option<f64>,
    resume: f64,
    guest_sees: f64,
    guest_to_ack: f64,
    restore_to_ack: f64,
}

#[derive(Default)]
struct Moments {
    restore: Option<Instant>,
    loaded: Option<Instant>,
    patched: Option<Instant>,
    restored: Option<Instant>,
    acked: Option<Instant>,
    console: Option<Instant>,
    /// Every console write QEMU made: when, and the log's size then.
    console_writes: Vec<(Instant, u64)>,
    dir: Option<PathBuf>,
}

fn one_fork(
    store: &Store,
    template: &str,
    zero_copy: bool,
    col: usize,
    i: usize,
) -> Result<Sample, String> {
    let forks = Forks::new(store);
    let name = format!("b{col}-{i}");
    let _ = forks.remove(&name);
    let t0 = Instant::now();
    let prestart = forks
        .prestart(template, zero_copy)
        .map_err(|e| format!("prestart: {e}"))?
        .ok_or("the QEMU driver did not prestart")?;
    let qemu_start = ms(t0.elapsed());
    let moments = Arc::new(Mutex::new(Moments::default()));
    let watcher: Mutex<Option<notify::RecommendedWatcher>> = Mutex::new(None);
    let sink = |e: SessionEvent| {
        let now = Instant::now();
        let Ok(mut m) = moments.lock() else { return };
        match e.what {
            Happening::StageStarted(Stage::Restore) => m.restore = Some(now),
            Happening::CopyStarted { dir } => {
                // The prestart's serial log, now under the fork's name; the
                // guest has not run yet, so its first write is after `cont`.
                let seen = Arc::clone(&moments);
                let serial = dir.join("serial.log");
                let log = serial.clone();
                let w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
                    if let Ok(ev) = ev
                        && matches!(ev.kind, notify::EventKind::Modify(_))
                        && let Ok(mut m) = seen.lock()
                    {
                        let now = Instant::now();
                        m.console.get_or_insert(now);
                        if trace() {
                            let size = std::fs::metadata(&log).map(|md| md.len()).unwrap_or(0);
                            m.console_writes.push((now, size));
                        }
                    }
                });
                if let Ok(mut w) = w
                    && w.watch(&serial, RecursiveMode::NonRecursive).is_ok()
                    && let Ok(mut slot) = watcher.lock()
                {
                    *slot = Some(w);
                }
                m.dir = Some(dir);
            }
            Happening::VmLoaded { .. } => m.loaded = Some(now),
            Happening::Patched {
                into_paused_guest: true,
                ..
            } => m.patched = Some(now),
            Happening::Restored { .. } => m.restored = Some(now),
            Happening::Acked { .. } => m.acked = Some(now),
            _ => {}
        }
    };
    let mut req = ForkRequest::new(template);
    req.fork_name = Some(name.clone());
    req.zero_copy = zero_copy;
    req.mailboxes = vec![MailboxSpec {
        name: "app".into(),
        token: None,
        payload: Some(format!(r#"{{"bench":{i}}}"#)),
        wait_for_ack: true,
        ack_timeout_ms: Some(10_000),
    }];
    let cancel = AtomicBool::new(false);
    let outcome = forks.create_prestarted(&req, Some(prestart), &sink, &cancel);
    drop(watcher.lock().map(|mut w| w.take()));
    let removed = forks.remove(&name);
    outcome.map_err(|e| format!("fork: {e}"))?;
    removed.map_err(|e| format!("rm {name}: {e}"))?;
    let m = moments.lock().map_err(|_| "poisoned")?;
    let need = |t: Option<Instant>, what: &str| t.ok_or_else(|| format!("no {what} moment"));
    let restore = need(m.restore, "restore")?;
    let loaded = need(m.loaded, "loaded")?;
    let restored = need(m.restored, "restored")?;
    let acked = need(m.acked, "acked")?;
    let console = need(m.console, "first console byte")?;
    let before_cont = m.patched.unwrap_or(loaded);
    if trace() {
        let at = |t: Instant| ms(t.saturating_duration_since(restore));
        let mut line = format!(
            "{name}: loaded {:.1} cont-from {:.1} restored {:.1} acked {:.1}; console",
            at(loaded),
            at(before_cont),
            at(restored),
            at(acked)
        );
        for (t, size) in &m.console_writes {
            line.push_str(&format!(" {:.1}:{size}", at(*t)));
        }
        eprintln!("{line}");
    }
    Ok(Sample {
        qemu_start,
        load: ms(loaded - restore),
        patch: m.patched.map(|p| ms(p - loaded)),
        resume: ms(restored - before_cont),
        guest_sees: ms(console.saturating_duration_since(before_cont)),
        guest_to_ack: ms(acked.saturating_duration_since(console)),
        restore_to_ack: ms(acked - restore),
    })
}

/// `FORKMAIL_BENCH_TRACE=1`: print each fork's moments and console writes
/// (ms from the restore stage's start; `ms:bytes in serial.log`).
fn trace() -> bool {
    std::env::var_os("FORKMAIL_BENCH_TRACE").is_some_and(|v| v == "1")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn median_range(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "—".into();
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    format!("{med:.1} ({:.1}–{:.1})", v[0], v[n - 1])
}

fn print_table(tables: &[(String, Vec<Sample>)]) {
    type Col = (&'static str, fn(&Sample) -> Option<f64>);
    let rows: [Col; 7] = [
        ("QEMU start (prestart, before the fork)", |s| {
            Some(s.qemu_start)
        }),
        ("load (migrate-incoming → completed)", |s| Some(s.load)),
        ("patch (zero-copy: into the paused guest)", |s| s.patch),
        ("resume (cont → Restored, record saved)", |s| {
            Some(s.resume)
        }),
        ("cont → guest sees payload (1st console byte)", |s| {
            Some(s.guest_sees)
        }),
        ("guest sees payload → ack arrives", |s| {
            Some(s.guest_to_ack)
        }),
        ("restore → ack", |s| Some(s.restore_to_ack)),
    ];
    print!("{:<46}", "ms, median (min–max)");
    for (head, samples) in tables {
        let head = format!("{head} (n={})", samples.len());
        print!(" | {head:<22}");
    }
    println!();
    for (label, get) in rows {
        print!("{label:<46}");
        for (_, samples) in tables {
            let v: Vec<f64> = samples.iter().filter_map(get).collect();
            print!(" | {:<22}", median_range(v));
        }
        println!();
    }
}
