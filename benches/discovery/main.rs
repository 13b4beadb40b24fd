//! Discovery, copy, patch, fork-session and TUI-render benchmarks: forkmail
//! side by side with its yardsticks (the machine's limit, ripgrep, the
//! original design, `cp`, a plain ratatui table, the 60 Hz frame budget),
//! run round-robin in one process and printed as one table of medians,
//! ranges and ratios.
//!
//! ```text
//! cargo bench --bench discovery                      # every case, 7 runs each
//! cargo bench --bench discovery -- --quick           # 3 runs; slow yardsticks once or never
//! cargo bench --bench discovery -- sparse-4g dense   # only cases whose name contains a word
//! cargo bench --bench discovery -- session           # fork sessions, copy and zero-copy, 1/4/16 GiB
//! cargo bench --bench discovery -- render            # TUI frames: 10,000 snapshots, 1,000 markers
//! cargo bench --bench discovery -- --list            # case names
//! ```
//!
//! Cases: `sparse-4g`, `dense-2g`, `sparse-64g` (discovery, each `warm` and
//! `cold`); `copy warm`, `copy cold`; `patch`; `session sim-1g`,
//! `session sim-4g`, `session sim-16g` (a real simulator fork session —
//! the guest runs, reads two payloads and acks both — in copy mode and
//! zero-copy, with its per-stage breakdown, then a table of both modes
//! across the three sizes; see `sessions.rs`); `render 10k snapshots`,
//! `render 1k markers` (one frame of the TUI's main screen into a 200×60
//! `TestBackend`; see `render.rs`).
//!
//! The same choices by environment: `FORKMAIL_BENCH_CASES="sparse-4g cold"`,
//! `FORKMAIL_BENCH_QUICK=1`, `FORKMAIL_BENCH_RUNS=N`, and
//! `FORKMAIL_BENCH_SLOW=1` to also run the minute-long yardsticks.
//!
//! Inputs are built from a fixed seed under `target/tmp/forkmail-bench/`
//! (same filesystem as the build; about 3.3 GiB of disk for discovery,
//! 0.7 GiB for the session templates) and reused while their description is
//! unchanged. Cold cases drop the input from the page cache before every run
//! (`fdatasync` + `POSIX_FADV_DONTNEED`). Sessions run the simulated guest
//! from the `forkmail` binary Cargo builds with the benchmark
//! (`FORKMAIL_SIM_GUEST` unless it is set).
//!
//! A ratio is the yardstick's median divided by forkmail's: above 1,
//! forkmail is faster. Yardsticks run in this process (`lib`) are compared
//! with the library call; programs (`proc`: ripgrep, cp) with forkmail as a
//! whole process (the ratio column says which it was). That process is this
//! benchmark's executable re-run as `--child scan PATH N` (or `copy`,
//! `session`), calling the library: it times the same code as the
//! library row plus a process start, does not depend on the CLI (which is
//! free to change), and needs no separately built `forkmail` binary (the
//! sessions' simulated guest is the one Cargo builds with the benchmark).
//!
//! Adding a case: write a function returning a [`harness::Case`] (see
//! `cases.rs`) and add one `entry(...)` line to [`registry`].

mod cases;
mod harness;
mod inputs;
mod render;
mod sessions;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use cases::{Ctx, Temp};
use harness::{Case, Runner};

type Build = Box<dyn Fn(&Ctx) -> std::io::Result<Case<'static>>>;

/// A named case, built only when selected.
struct Entry {
    name: String,
    build: Build,
}

fn entry(
    name: impl Into<String>,
    build: impl Fn(&Ctx) -> std::io::Result<Case<'static>> + 'static,
) -> Entry {
    Entry {
        name: name.into(),
        build: Box::new(build),
    }
}

/// Every case, in the order of the table.
fn registry() -> Vec<Entry> {
    let mut all = Vec::new();
    for spec in [inputs::SPARSE_4G, inputs::DENSE_2G, inputs::SPARSE_64G] {
        all.push(entry(format!("{} warm", spec.name), move |ctx| {
            cases::discovery(ctx, &spec, Temp::Warm)
        }));
        all.push(entry(format!("{} cold", spec.name), move |ctx| {
            cases::discovery(ctx, &spec, Temp::Cold)
        }));
    }
    all.push(entry("copy warm", |ctx| cases::copy(ctx, Temp::Warm)));
    all.push(entry("copy cold", |ctx| cases::copy(ctx, Temp::Cold)));
    all.push(entry("patch", cases::patch));
    for (label, size) in sessions::SIZES {
        all.push(entry(format!("session sim-{label}"), move |ctx| {
            sessions::session(ctx, label, size)
        }));
    }
    all.push(entry("render 10k snapshots", render::snapshot_list));
    all.push(entry("render 1k markers", render::marker_table));
    all
}

/// `--child OP ARGS`: one operation of forkmail's, timed by the parent.
fn child(args: &[String]) -> ExitCode {
    let result = match args {
        [op, path, want] if op == "scan" => {
            forkmail::scan::scan_file(Path::new(path), &Default::default())
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    (r.markers.len().to_string() == *want)
                        .then_some(())
                        .ok_or(format!(
                            "found {} markers, expected {want}",
                            r.markers.len()
                        ))
                })
        }
        [op, store, snapshot, fork] if op == "session" => {
            sessions::child_session(store, snapshot, fork)
        }
        [op, src, dst] if op == "copy" => forkmail::fork::copy_memory(
            Path::new(src),
            Path::new(dst),
            &AtomicBool::new(false),
            &mut |_, _| {},
        )
        .map(|_| ())
        .map_err(|e| e.to_string()),
        _ => Err(format!("unknown child operation {args:?}")),
    };
    match result {
        Ok(()) => {
            if let Some(kib) = harness::own_peak_rss_kib() {
                println!("{}{kib}", harness::PEAK_RSS_LINE);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("child: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` has them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn main() -> ExitCode {
    // Fork sessions run the simulated guest from the `forkmail` binary
    // built with this benchmark (this executable cannot host it).
    if std::env::var_os("FORKMAIL_SIM_GUEST").is_none_or(|v| v.is_empty()) {
        // SAFETY: first thing in main, before any other thread exists.
        unsafe { std::env::set_var("FORKMAIL_SIM_GUEST", env!("CARGO_BIN_EXE_forkmail")) };
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    let mut quick = env_flag("FORKMAIL_BENCH_QUICK");
    let mut runs: Option<usize> = std::env::var("FORKMAIL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok());
    let mut list = false;
    let mut filters: Vec<String> = std::env::var("FORKMAIL_BENCH_CASES")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            // Cargo passes `--bench` to every benchmark executable.
            "--bench" => {}
            "--quick" => quick = true,
            "--list" => list = true,
            "--runs" => runs = it.next().and_then(|v| v.parse().ok()),
            s if s.starts_with("--runs=") => runs = s["--runs=".len()..].parse().ok(),
            s if s.starts_with('-') => {
                eprintln!("unknown option {s}; see the doc comment of benches/discovery/main.rs");
                return ExitCode::FAILURE;
            }
            s => filters.push(s.to_owned()),
        }
    }
    let registry = registry();
    if list {
        for e in &registry {
            println!("{}", e.name);
        }
        return ExitCode::SUCCESS;
    }
    let selected: Vec<&Entry> = registry
        .iter()
        .filter(|e| filters.is_empty() || filters.iter().any(|f| e.name.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        eprintln!("no case matches {filters:?}; `-- --list` shows them");
        return ExitCode::FAILURE;
    }

    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("forkmail-bench");
    let scratch = match std::fs::create_dir_all(&root).and_then(|_| tempfile::tempdir_in(&root)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{}: {e}", root.display());
            return ExitCode::FAILURE;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot find this executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runs = runs.unwrap_or(if quick { 3 } else { 7 });
    let ctx = Ctx {
        inputs: root.join("inputs"),
        scratch: scratch.path().to_path_buf(),
        exe,
        rg: harness::installed("rg"),
        slow_runs: if quick { 1 } else { 3 },
        quick,
        slow: env_flag("FORKMAIL_BENCH_SLOW"),
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "forkmail benchmark: {runs} runs per subject, round-robin in one process; {cpus} CPU(s), \
         load {}; ratio = yardstick median / forkmail median (>1: forkmail faster), against \
         forkmail's library call (lib) or whole process (proc)",
        load_average()
    );
    let mut runner = Runner::new(runs);
    let mut failed = false;
    for e in selected {
        match (e.build)(&ctx) {
            Ok(case) => runner.run(case),
            Err(err) => {
                println!("{:<22} cannot build the case: {err}", e.name);
                failed = true;
            }
        }
    }
    sessions::summary(runner.measured());
    // Other work on the machine is what makes single figures unreliable;
    // say how much there was.
    println!("load at the end: {}", load_average());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
