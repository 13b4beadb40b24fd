//! The measuring machinery: cases made of subjects (forkmail and its
//! yardsticks), run round-robin in one process so that every ratio compares
//! figures taken side by side, and printed as rows of one table.
//!
//! A case is a name, a cache state and a list of subjects; a subject is a
//! label, a side (forkmail or yardstick), a kind (library call or whole
//! process) and a closure that performs one timed run. Adding a case is a
//! function that returns a [`Case`]; see `cases.rs`.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run of a subject measured.
pub struct Sample {
    /// Wall time of the run.
    pub time: Duration,
    /// Peak resident set of the process that did the work, when it was a
    /// child process (`ru_maxrss` from `wait4`).
    pub peak_rss: Option<u64>,
}

impl Sample {
    /// A sample of an in-process run.
    pub fn lib(time: Duration) -> Sample {
        Sample {
            time,
            peak_rss: None,
        }
    }
}

/// Who a subject is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The code under test.
    Forkmail,
    /// A baseline it is compared with.
    Yardstick,
}

/// How a subject runs; a yardstick's ratio is taken against the forkmail
/// subject of the same kind, so a process start is compared with a process
/// start and a library call with a library call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A function call in this process.
    Lib,
    /// A child process, timed from spawn to exit.
    Proc,
}

type RunFn<'a> = Box<dyn FnMut() -> Result<Sample, String> + 'a>;

/// One thing measured within a case.
pub struct Subject<'a> {
    label: String,
    side: Side,
    kind: Kind,
    run: Option<RunFn<'a>>,
    /// Why the subject is not run ("not installed", "slow: ...").
    skip: Option<String>,
    /// At most this many timed runs (slow yardsticks).
    max_runs: Option<usize>,
    /// Whether to do one untimed run first in a warm case.
    warm_up: bool,
    /// Run after every round of the others (it floods the page cache).
    last: bool,
}

impl<'a> Subject<'a> {
    /// A subject; `run` performs one timed run and checks its own result.
    pub fn new(
        label: impl Into<String>,
        side: Side,
        kind: Kind,
        run: impl FnMut() -> Result<Sample, String> + 'a,
    ) -> Subject<'a> {
        Subject {
            label: label.into(),
            side,
            kind,
            run: Some(Box::new(run)),
            skip: None,
            max_runs: None,
            warm_up: true,
            last: false,
        }
    }

    /// A subject that is listed but not run, with the reason.
    pub fn skipped(
        label: impl Into<String>,
        side: Side,
        kind: Kind,
        why: impl Into<String>,
    ) -> Subject<'a> {
        Subject {
            label: label.into(),
            side,
            kind,
            run: None,
            skip: Some(why.into()),
            max_runs: None,
            warm_up: false,
            last: false,
        }
    }

    /// Cap the number of timed runs (for yardsticks that take seconds).
    pub fn max_runs(mut self, n: usize) -> Self {
        self.max_runs = Some(n.max(1));
        self
    }

    /// Skip the untimed warm-up run (when it cannot make the run warmer,
    /// e.g. a whole-file pass over more holes than fit in memory).
    pub fn no_warm_up(mut self) -> Self {
        self.warm_up = false;
        self
    }

    /// Run after all the rounds of the other subjects: its runs push so much
    /// through the page cache that a warm case would no longer be warm.
    pub fn last(mut self) -> Self {
        self.last = true;
        self
    }
}

/// Page-cache state of a case's input files before each timed run.
pub enum Cache {
    /// Files in the page cache (one untimed run of each subject first).
    Warm,
    /// These files are written back and dropped from the page cache before
    /// every run (`fdatasync` + `POSIX_FADV_DONTNEED`).
    Cold(Vec<PathBuf>),
}

/// A line printed under a case's rows once they are measured (e.g. a
/// breakdown its subjects recorded while they ran); `None` prints nothing.
pub type Note<'a> = Box<dyn Fn() -> Option<String> + 'a>;

/// One row group of the table.
pub struct Case<'a> {
    /// Case name, e.g. `sparse 4G/200M`.
    pub name: String,
    /// Cache state.
    pub cache: Cache,
    /// Forkmail and its yardsticks.
    pub subjects: Vec<Subject<'a>>,
    /// Lines printed under the rows.
    pub notes: Vec<Note<'a>>,
}

/// The median one subject reached, kept for summaries across cases.
pub struct Measured {
    /// The case's name.
    pub case: String,
    /// The subject's label.
    pub label: String,
    /// Its median, when it ran.
    pub median: Option<Duration>,
}

/// Runs per subject and what to print.
pub struct Runner {
    /// Timed runs per subject (before `max_runs` caps).
    pub runs: usize,
    printed_header: bool,
    measured: Vec<Measured>,
}

struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
    n: usize,
    peak_rss: Option<u64>,
}

fn stats(samples: &[Sample]) -> Option<Stats> {
    let mut t: Vec<Duration> = samples.iter().map(|s| s.time).collect();
    t.sort();
    let n = t.len();
    let median = match n {
        0 => return None,
        n if n % 2 == 1 => t[n / 2],
        n => (t[n / 2 - 1] + t[n / 2]) / 2,
    };
    Some(Stats {
        median,
        min: t[0],
        max: t[n - 1],
        n,
        peak_rss: samples.iter().filter_map(|s| s.peak_rss).max(),
    })
}

fn fmt_time(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 {
        format!("{s:.1} s")
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

fn fmt_range(st: &Stats) -> String {
    let (a, b) = (st.min.as_secs_f64(), st.max.as_secs_f64());
    if b >= 1.0 {
        format!("{a:.2}–{b:.2} s")
    } else if b >= 1e-3 {
        format!("{:.1}–{:.1} ms", a * 1e3, b * 1e3)
    } else {
        format!("{:.0}–{:.0} µs", a * 1e6, b * 1e6)
    }
}

impl Runner {
    /// A runner doing `runs` timed runs per subject.
    pub fn new(runs: usize) -> Runner {
        Runner {
            runs: runs.max(1),
            printed_header: false,
            measured: Vec::new(),
        }
    }

    /// Every subject's median so far, in the order they were printed.
    pub fn measured(&self) -> &[Measured] {
        &self.measured
    }

    fn header(&mut self) {
        if self.printed_header {
            return;
        }
        self.printed_header = true;
        println!(
            "{:<22} {:<5} {:<48} {:>10}  {:<19} {:>3}  {:<12} {:>9}",
            "case", "cache", "subject", "median", "min–max", "n", "ratio", "peak RSS"
        );
        println!("{}", "-".repeat(140));
    }

    /// Run every subject of `case` round-robin and print its rows.
    pub fn run(&mut self, mut case: Case) {
        self.header();
        let mut samples: Vec<Vec<Sample>> = case.subjects.iter().map(|_| Vec::new()).collect();
        let mut errors: Vec<Option<String>> = case.subjects.iter().map(|_| None).collect();
        if matches!(case.cache, Cache::Warm) {
            for (i, s) in case.subjects.iter_mut().enumerate() {
                if let (true, Some(run)) = (s.warm_up, s.run.as_mut())
                    && let Err(e) = run()
                {
                    errors[i] = Some(e);
                }
            }
        }
        for (pass, round) in (0..2).flat_map(|p| (0..self.runs).map(move |r| (p, r))) {
            for (i, s) in case.subjects.iter_mut().enumerate() {
                if s.last != (pass == 1)
                    || errors[i].is_some()
                    || s.max_runs.is_some_and(|m| round >= m)
                {
                    continue;
                }
                let Some(run) = s.run.as_mut() else { continue };
                if let Cache::Cold(files) = &case.cache {
                    for f in files {
                        if let Err(e) = evict(f) {
                            errors[i] = Some(format!("evict {}: {e}", f.display()));
                        }
                    }
                }
                match run() {
                    Ok(sample) => samples[i].push(sample),
                    Err(e) => errors[i] = Some(e),
                }
            }
        }
        let stats: Vec<Option<Stats>> = samples.iter().map(|s| stats(s)).collect();
        // The forkmail subject a yardstick of each kind is compared with:
        // the first of the same kind, else the first of any kind.
        let reference = |kind: Kind| {
            let fm = |k: Option<Kind>| {
                case.subjects.iter().enumerate().find_map(|(i, s)| {
                    (s.side == Side::Forkmail && k.is_none_or(|k| s.kind == k))
                        .then_some(())
                        .and(stats[i].as_ref())
                        .map(|st| (st, s.kind))
                })
            };
            fm(Some(kind)).or_else(|| fm(None))
        };
        let cache = match case.cache {
            Cache::Warm => "warm",
            Cache::Cold(_) => "cold",
        };
        for (i, s) in case.subjects.iter().enumerate() {
            let name = if i == 0 { case.name.as_str() } else { "" };
            let label = match s.side {
                Side::Forkmail => format!("forkmail: {}", s.label),
                Side::Yardstick => format!("  {}", s.label),
            };
            let note = errors[i].as_deref().or(s.skip.as_deref());
            match (&stats[i], note) {
                (Some(st), None) => {
                    let ratio = match (s.side, reference(s.kind)) {
                        (Side::Yardstick, Some((fm, fm_kind))) => {
                            let r = st.median.as_secs_f64() / fm.median.as_secs_f64();
                            let against = match fm_kind {
                                Kind::Lib => "lib",
                                Kind::Proc => "proc",
                            };
                            format!("{r:>6.2}× {against}")
                        }
                        _ => String::new(),
                    };
                    let rss = st
                        .peak_rss
                        .map(|kib| format!("{:.1} MiB", kib as f64 / 1024.0))
                        .unwrap_or_default();
                    println!(
                        "{name:<22} {cache:<5} {label:<48} {:>10}  {:<19} {:>3}  {ratio:<12} {rss:>9}",
                        fmt_time(st.median),
                        fmt_range(st),
                        st.n,
                    );
                }
                (_, note) => println!(
                    "{name:<22} {cache:<5} {label:<48} {:>10}  {}",
                    "—",
                    note.unwrap_or("no runs")
                ),
            }
        }
        for note in &case.notes {
            if let Some(line) = note() {
                println!("{:<22} {line}", "");
            }
        }
        for (i, s) in case.subjects.iter().enumerate() {
            let ran = s.run.is_some() && errors[i].is_none();
            self.measured.push(Measured {
                case: case.name.clone(),
                label: s.label.clone(),
                median: stats[i].as_ref().filter(|_| ran).map(|st| st.median),
            });
        }
    }
}

/// Write `path` back and drop it from the page cache, so the next read of it
/// comes from the disk. Holes need no eviction: they are never cached unless
/// read, and then they are dropped like data.
pub fn evict(path: &std::path::Path) -> io::Result<()> {
    let f = File::open(path)?;
    f.sync_data()?;
    // Offset 0 and no length: the whole file.
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed)?;
    Ok(())
}

/// What a child prints on stdout to report its own peak RSS (`VmHWM`).
pub const PEAK_RSS_LINE: &str = "peak_rss_kib=";

/// This process's peak RSS in KiB (`VmHWM` of `/proc/self/status`).
pub fn own_peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Run `cmd` to completion, timing it from spawn to exit. Its peak RSS is
/// the `peak_rss_kib=N` line it prints (forkmail's child reports its own
/// `VmHWM`), else `ru_maxrss` from `wait4` — an upper bound: Linux counts
/// the RSS of the parent at the time of the spawn too, so the parent's peak
/// is reset to its current RSS first (`/proc/self/clear_refs`). A non-zero
/// exit is an error unless it is in `ok_codes`.
pub fn time_process(cmd: &mut Command, ok_codes: &[i32]) -> Result<Sample, String> {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn {:?}: {e}", cmd.get_program()))?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read;
        let _ = stdout.read_to_string(&mut out);
    }
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: all-zero is a valid rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our child, not reaped yet (std only reaps in wait()).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(format!("wait4: {err}"));
        }
    }
    let time = started.elapsed();
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        return Err(format!("{:?} killed by a signal", cmd.get_program()));
    };
    if code != 0 && !ok_codes.contains(&code) {
        return Err(format!("{:?} exited with {code}", cmd.get_program()));
    }
    let reported = out
        .lines()
        .find_map(|l| l.strip_prefix(PEAK_RSS_LINE)?.trim().parse().ok());
    Ok(Sample {
        time,
        // Linux reports ru_maxrss in KiB.
        peak_rss: reported.or(Some(usage.ru_maxrss as u64)),
    })
}

/// Time one call of `f`, which checks its own result.
pub fn time_lib<T>(f: impl FnOnce() -> Result<T, String>) -> Result<Sample, String> {
    let started = Instant::now();
    let out = f();
    let time = started.elapsed();
    out.map(|_| Sample::lib(time))
}

/// Whether `program` can be run (found on `PATH`).
pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
