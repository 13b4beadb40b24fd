//! Discovery and copy benchmarks, each run side by side with the baselines
//! from `performance.md` in the same process, printing medians and ratios.
//!
//! `cargo bench --bench scan` (set FORKMAIL_BENCH_GIB to change the file size).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use forkmail::fork::copy_memory;
use forkmail::mailbox::{MAILBOX_SIZE, encode_fork_marker};
use forkmail::scan::{ScanOptions, scan_file};
use rand::{Rng, RngCore, SeedableRng};

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    (median(times), last.expect("RUNS > 0"))
}

fn make_file(path: &Path, size: u64, data: u64, names: &[String]) -> std::io::Result<()> {
    let f = File::create(path)?;
    f.set_len(size)?;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mut buf = vec![0u8; 1 << 20];
    let mut written = 0;
    while written < data {
        rng.fill_bytes(&mut buf);
        let at = rng.random_range(0..size / (1 << 20) - 1) << 20;
        f.write_all_at(&buf, at)?;
        written += 1 << 20;
    }
    for (i, n) in names.iter().enumerate() {
        let mut page = vec![0u8; MAILBOX_SIZE];
        let m = encode_fork_marker(n, "token");
        page[..m.len()].copy_from_slice(&m);
        f.write_all_at(
            &page,
            (i as u64 + 1) * (size / (names.len() as u64 + 2)) / 4096 * 4096,
        )?;
    }
    f.sync_all()
}

/// Baseline: the original design, one full search per requested marker.
fn per_marker_search(path: &Path, names: &[String]) -> usize {
    let f = File::open(path).expect("open");
    // SAFETY: benchmark file, not modified while mapped.
    let map = unsafe { memmap2::Mmap::map(&f) }.expect("mmap");
    names
        .iter()
        .filter(|n| memchr::memmem::find(&map, &encode_fork_marker(n, "token")).is_some())
        .count()
}

/// Baseline: one pass for all markers over a whole-file mmap.
fn whole_file_one_pass(path: &Path) -> usize {
    let f = File::open(path).expect("open");
    // SAFETY: as above.
    let map = unsafe { memmap2::Mmap::map(&f) }.expect("mmap");
    memchr::memmem::find_iter(&map, b"HYPEMAN_").count()
}

fn main() -> std::io::Result<()> {
    let gib: u64 = std::env::var("FORKMAIL_BENCH_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("memory");
    let names: Vec<String> = (0..17).map(|i| format!("mailbox.{i}")).collect();
    let size = gib << 30;
    let data = 200 << 20;
    make_file(&path, size, data, &names)?;
    println!(
        "file: {gib} GiB sparse, 200 MiB random data, 17 markers (warm page cache, median of {RUNS})"
    );

    let (ours, report) = time(|| scan_file(&path, &ScanOptions::default()).expect("scan"));
    assert_eq!(report.markers.len(), 17);
    let (one_pass, hits) = time(|| whole_file_one_pass(&path));
    assert_eq!(hits, 17);
    let (per_marker, found) = time(|| per_marker_search(&path, &names));
    assert_eq!(found, 17);
    let ratio = |base: Duration| base.as_secs_f64() / ours.as_secs_f64();
    println!(
        "scan  forkmail (data extents, pread)   {:>9.1} ms",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "scan  whole-file mmap, one pass        {:>9.1} ms   forkmail is {:.1}x faster",
        one_pass.as_secs_f64() * 1e3,
        ratio(one_pass)
    );
    println!(
        "scan  one search per marker (17)       {:>9.1} ms   forkmail is {:.1}x faster",
        per_marker.as_secs_f64() * 1e3,
        ratio(per_marker)
    );

    let cancel = AtomicBool::new(false);
    let mut n = 0;
    let (copy, _) = time(|| {
        n += 1;
        let dst = dir.path().join(format!("copy-{n}"));
        copy_memory(&path, &dst, &cancel, &mut |_, _| {}).expect("copy");
        std::fs::remove_file(&dst).expect("rm");
    });
    let (cp, _) = time(|| {
        n += 1;
        let dst = dir.path().join(format!("cp-{n}"));
        let ok = std::process::Command::new("cp")
            .arg("--sparse=always")
            .arg(&path)
            .arg(&dst)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        let _ = std::fs::remove_file(&dst);
        ok
    });
    println!(
        "copy  forkmail (sparse)                {:>9.1} ms",
        copy.as_secs_f64() * 1e3
    );
    println!(
        "copy  cp --sparse=always (no fsync)    {:>9.1} ms   ratio cp/forkmail {:.2}",
        cp.as_secs_f64() * 1e3,
        cp.as_secs_f64() / copy.as_secs_f64()
    );
    Ok(())
}
