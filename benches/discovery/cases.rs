//! The cases: discovery (warm and cold, three files), the sparse copy and
//! the patch of 16 frames, each with its yardsticks from `performance.md`.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use forkmail::fork::copy_memory;
use forkmail::mailbox::{MailboxKind, encode_fork_marker, write_frame};
use forkmail::scan::{Extent, ScanOptions, data_extents, scan_file};

use crate::harness::{Cache, Case, Kind, Side, Subject, time_lib, time_process};
use crate::inputs::{self, Spec};

/// What every case may need.
pub struct Ctx {
    /// Where inputs are built and kept between runs.
    pub inputs: PathBuf,
    /// Scratch space for copies, removed at exit.
    pub scratch: PathBuf,
    /// This benchmark's executable, re-run as `--child ...` to time forkmail
    /// as a whole process.
    pub exe: PathBuf,
    /// Whether `rg` is installed.
    pub rg: bool,
    /// Timed runs for yardsticks that take seconds per run.
    pub slow_runs: usize,
    /// `--quick`: skip yardsticks that take a minute per run.
    pub quick: bool,
    /// Also run yardsticks that take minutes (`FORKMAIL_BENCH_SLOW=1`).
    pub slow: bool,
}

/// Whether a case runs warm or cold.
#[derive(Clone, Copy)]
pub enum Temp {
    /// In the page cache.
    Warm,
    /// Evicted before each run.
    Cold,
}

impl Temp {
    fn cache(self, files: &[&Path]) -> Cache {
        match self {
            Temp::Warm => Cache::Warm,
            Temp::Cold => Cache::Cold(files.iter().map(|p| p.to_path_buf()).collect()),
        }
    }
}

fn io_err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn expect(what: &str, got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: found {got}, expected {want}"))
    }
}

/// Marker discovery in `spec`: forkmail's `scan_file` in this process and in
/// a child process, against one-pass `memmem` over the same data extents
/// (1 and 2 threads), the original one-search-per-marker design, and ripgrep.
pub fn discovery(ctx: &Ctx, spec: &Spec, temp: Temp) -> io::Result<Case<'static>> {
    let input = inputs::ensure(spec, &ctx.inputs)?;
    let n = input.spec.markers;
    let path = input.path.clone();
    let huge = spec.size > 16 << 30;
    let mut subjects = Vec::new();

    let p = path.clone();
    subjects.push(Subject::new(
        "scan_file (library call)",
        Side::Forkmail,
        Kind::Lib,
        move || {
            time_lib(|| {
                let r = scan_file(&p, &ScanOptions::default()).map_err(io_err)?;
                expect("markers", r.markers.len(), n)
            })
        },
    ));
    let (p, exe) = (path.clone(), ctx.exe.clone());
    subjects.push(Subject::new(
        "scan_file (child process)",
        Side::Forkmail,
        Kind::Proc,
        move || {
            time_process(
                Command::new(&exe)
                    .arg("--child")
                    .arg("scan")
                    .arg(&p)
                    .arg(n.to_string()),
                &[],
            )
        },
    ));
    for threads in [1, 2] {
        let p = path.clone();
        subjects.push(Subject::new(
            format!(
                "memmem, mmap'd data extents, {threads} thread{}",
                if threads == 1 { "" } else { "s" }
            ),
            Side::Yardstick,
            Kind::Lib,
            move || time_lib(|| expect("hits", one_pass(&p, threads)?, n)),
        ));
    }
    let label = format!("one search per marker ({n}), whole-file mmap");
    subjects.push(if huge && !ctx.slow {
        Subject::skipped(
            label,
            Side::Yardstick,
            Kind::Lib,
            "skipped: a minute per run (FORKMAIL_BENCH_SLOW=1 runs it)",
        )
    } else {
        let (p, names) = (path.clone(), input.names.clone());
        Subject::new(label, Side::Yardstick, Kind::Lib, move || {
            time_lib(|| expect("markers", per_marker(&p, &names)?, names.len()))
        })
        .max_runs(ctx.slow_runs)
    });
    let label = "rg -a -c -F HYPEMAN_FORK_MAILBOX_V1";
    subjects.push(if !ctx.rg {
        Subject::skipped(label, Side::Yardstick, Kind::Proc, "not installed")
    } else if huge && ctx.quick {
        Subject::skipped(
            label,
            Side::Yardstick,
            Kind::Proc,
            "skipped by --quick: a minute per run",
        )
    } else {
        let p = path.clone();
        let s = Subject::new(label, Side::Yardstick, Kind::Proc, move || {
            time_process(
                Command::new("rg")
                    .args(["-a", "-c", "-F", "HYPEMAN_FORK_MAILBOX_V1"])
                    .arg(&p),
                &[],
            )
        });
        // Its holes alone are more than the page cache can hold: every run
        // is as cold as the first, takes about a minute here, and evicts
        // what the other subjects read.
        if huge {
            s.max_runs(1).no_warm_up().last()
        } else {
            s
        }
    });
    Ok(Case {
        name: spec.name.to_string(),
        cache: temp.cache(&[&path]),
        subjects,
        notes: Vec::new(),
    })
}

/// The machine's limit: one `memmem` pass for the common prefix over the
/// data extents of a plain whole-file mapping, split into `threads` equal
/// byte ranges. Returns the number of hits.
fn one_pass(path: &Path, threads: usize) -> Result<usize, String> {
    let f = File::open(path).map_err(io_err)?;
    let size = f.metadata().map_err(io_err)?.len();
    let extents = data_extents(&f, size).map_err(io_err)?;
    // SAFETY: the benchmark's own input, not modified while mapped.
    let map = unsafe { memmap2::Mmap::map(&f) }.map_err(io_err)?;
    let parts = split(&extents, threads);
    let finder = memchr::memmem::Finder::new(b"HYPEMAN_");
    let count = |part: &[Extent]| -> usize {
        part.iter()
            .map(|e| {
                // Extents of a file that is mapped whole: inside the map.
                let (start, end) = (
                    forkmail::units::len_at_most(e.start, map.len()),
                    forkmail::units::len_at_most(e.end, map.len()),
                );
                finder.find_iter(&map[start..end]).count()
            })
            .sum()
    };
    Ok(std::thread::scope(|s| {
        let others: Vec<_> = parts[1..]
            .iter()
            .map(|part| s.spawn(|| count(part)))
            .collect();
        count(&parts[0])
            + others
                .into_iter()
                .map(|h| h.join().unwrap_or(0))
                .sum::<usize>()
    }))
}

/// `extents` cut into `n` lists of (nearly) equal byte counts.
fn split(extents: &[Extent], n: usize) -> Vec<Vec<Extent>> {
    let total: u64 = extents.iter().map(Extent::len).sum();
    let share = total.div_ceil(n as u64).max(1);
    let mut parts = vec![Vec::new(); n];
    let (mut part, mut room) = (0, share);
    for e in extents {
        let mut start = e.start;
        while start < e.end {
            let take = (e.end - start).min(room);
            parts[part].push(Extent {
                start,
                end: start + take,
            });
            start += take;
            room -= take;
            if room == 0 && part + 1 < n {
                part += 1;
                room = share;
            }
        }
    }
    parts
}

/// The original design: one full search of a whole-file mapping per
/// requested marker. Returns how many were found.
fn per_marker(path: &Path, names: &[String]) -> Result<usize, String> {
    let f = File::open(path).map_err(io_err)?;
    // SAFETY: as in `one_pass`.
    let map = unsafe { memmap2::Mmap::map(&f) }.map_err(io_err)?;
    Ok(names
        .iter()
        .filter(|n| memchr::memmem::find(&map, &encode_fork_marker(n, "token")).is_some())
        .count())
}

/// The sparse copy of the 4 GiB file: `copy_memory` (in this process and in
/// a child process) against `cp --sparse=always`. No fsync on either side.
pub fn copy(ctx: &Ctx, temp: Temp) -> io::Result<Case<'static>> {
    let input = inputs::ensure(&inputs::SPARSE_4G, &ctx.inputs)?;
    let src = input.path.clone();
    let mut subjects = Vec::new();
    let (s, dst) = (src.clone(), ctx.scratch.join("copy-lib"));
    subjects.push(Subject::new(
        "copy_memory (library call)",
        Side::Forkmail,
        Kind::Lib,
        move || {
            let _ = std::fs::remove_file(&dst);
            let cancel = AtomicBool::new(false);
            let r = time_lib(|| copy_memory(&s, &dst, &cancel, &mut |_, _| {}).map_err(io_err));
            let _ = std::fs::remove_file(&dst);
            r
        },
    ));
    let (s, dst, exe) = (src.clone(), ctx.scratch.join("copy-child"), ctx.exe.clone());
    subjects.push(Subject::new(
        "copy_memory (child process)",
        Side::Forkmail,
        Kind::Proc,
        move || {
            let _ = std::fs::remove_file(&dst);
            let r = time_process(
                Command::new(&exe)
                    .arg("--child")
                    .arg("copy")
                    .arg(&s)
                    .arg(&dst),
                &[],
            );
            let _ = std::fs::remove_file(&dst);
            r
        },
    ));
    let (s, dst) = (src.clone(), ctx.scratch.join("copy-cp"));
    subjects.push(Subject::new(
        "cp --sparse=always",
        Side::Yardstick,
        Kind::Proc,
        move || {
            let _ = std::fs::remove_file(&dst);
            let r = time_process(
                Command::new("cp").arg("--sparse=always").arg(&s).arg(&dst),
                &[],
            );
            let _ = std::fs::remove_file(&dst);
            r
        },
    ));
    Ok(Case {
        name: "copy sparse-4g".into(),
        cache: temp.cache(&[&src]),
        subjects,
        notes: Vec::new(),
    })
}

/// Publishing 16 frames into a fork's memory file (a sparse copy of the
/// 4 GiB input): `write_frame` ×16 and one `fdatasync`, against the raw
/// writes of the same bytes with one `fdatasync` (the limit) and against an
/// `fdatasync` per frame.
pub fn patch(ctx: &Ctx) -> io::Result<Case<'static>> {
    let input = inputs::ensure(&inputs::SPARSE_4G, &ctx.inputs)?;
    let target = ctx.scratch.join("patch-target");
    let _ = std::fs::remove_file(&target);
    copy_memory(
        &input.path,
        &target,
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .map_err(io::Error::other)?;
    let offsets: Vec<u64> = input.offsets.iter().copied().take(16).collect();
    if offsets.len() < 16 {
        return Err(io::Error::other("the input has fewer than 16 markers"));
    }
    let payload = |i: usize| format!(r#"{{"mailbox":"mailbox.{i}","config":{{"replicas":3}}}}"#);
    let open = |p: &Path| {
        File::options()
            .read(true)
            .write(true)
            .open(p)
            .map_err(io_err)
    };
    let mut subjects = Vec::new();
    let (t, o) = (target.clone(), offsets.clone());
    subjects.push(Subject::new(
        "write_frame ×16 + one fdatasync",
        Side::Forkmail,
        Kind::Lib,
        move || {
            time_lib(|| {
                let mut f = open(&t)?;
                for (i, &at) in o.iter().enumerate() {
                    write_frame(&mut f, MailboxKind::Fork, at, payload(i).as_bytes())
                        .map_err(io_err)?;
                }
                f.sync_data().map_err(io_err)
            })
        },
    ));
    let (t, o) = (target.clone(), offsets.clone());
    subjects.push(Subject::new(
        "16 raw pwrites of the frames + one fdatasync",
        Side::Yardstick,
        Kind::Lib,
        move || {
            use std::os::unix::fs::FileExt;
            let kind = MailboxKind::Fork;
            let frames: Vec<Vec<u8>> = (0..o.len())
                .map(|i| {
                    let p = payload(i);
                    let mut b = Vec::with_capacity(8 + p.len());
                    b.extend_from_slice(&1u32.to_le_bytes());
                    let len = u32::try_from(p.len()).expect("a payload fits a frame");
                    b.extend_from_slice(&len.to_le_bytes());
                    b.extend_from_slice(p.as_bytes());
                    b
                })
                .collect();
            time_lib(|| {
                let f = open(&t)?;
                for (b, &at) in frames.iter().zip(&o) {
                    f.write_all_at(b, at + kind.seq_offset()).map_err(io_err)?;
                }
                f.sync_data().map_err(io_err)
            })
        },
    ));
    let (t, o) = (target.clone(), offsets);
    subjects.push(Subject::new(
        "write_frame + fdatasync, per frame",
        Side::Yardstick,
        Kind::Lib,
        move || {
            time_lib(|| {
                let mut f = open(&t)?;
                for (i, &at) in o.iter().enumerate() {
                    write_frame(&mut f, MailboxKind::Fork, at, payload(i).as_bytes())
                        .map_err(io_err)?;
                    f.sync_data().map_err(io_err)?;
                }
                Ok(())
            })
        },
    ));
    Ok(Case {
        name: "patch 16 frames".into(),
        cache: Cache::Warm,
        subjects,
        notes: Vec::new(),
    })
}
