//! Discovery in compressed memory files, side by side with the decompressors
//! alone: `zstd -dc FILE > /dev/null` and `lz4 -dc FILE > /dev/null` (both
//! CLIs must be installed). Prints medians and the ratio forkmail / CLI.
//!
//! `cargo bench --bench stream` (FORKMAIL_BENCH_GIB sets the size, default 1;
//! FORKMAIL_BENCH_RUNS the runs per case, default 7; FORKMAIL_BENCH_BUFFERS=1
//! also times the stream scan with buffers of 64 KiB to 2 MiB).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forkmail::mailbox::{MAILBOX_SIZE, encode_fork_marker};
use forkmail::scan::{ScanOptions, scan_any, scan_file};
use rand::{Rng, RngCore, SeedableRng};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    (median(times), last.expect("runs > 0"))
}

/// `size` bytes, sparse, with `data` bytes in 1 MiB chunks at random places:
/// half random (incompressible), half page-like structure (compressible).
fn make_file(path: &Path, size: u64, data: u64, names: &[String]) -> std::io::Result<()> {
    let f = File::create(path)?;
    f.set_len(size)?;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mut buf = vec![0u8; 1 << 20];
    let mut written = 0;
    let mut chunk = 0u64;
    while written < data {
        if chunk.is_multiple_of(2) {
            rng.fill_bytes(&mut buf);
        } else {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = match i % 4096 {
                    0..=63 => (i / 4096).to_le_bytes()[0],
                    64..=1023 => b"struct task { pid, comm, mm } "[i % 30],
                    _ => 0,
                };
            }
        }
        let at = rng.random_range(0..size / (1 << 20) - 1) << 20;
        f.write_all_at(&buf, at)?;
        written += 1 << 20;
        chunk += 1;
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

fn cli(program: &str, args: &[&str]) -> bool {
    let Ok(devnull) = File::create("/dev/null") else {
        return false;
    };
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(devnull)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// forkmail's decompressor alone (no search), for the scan's own share.
fn decompress_only(path: &Path, zstd: bool) -> u64 {
    let f = File::open(path).expect("open");
    let mut reader: Box<dyn Read> = if zstd {
        Box::new(zstd::stream::read::Decoder::new(f).expect("zstd"))
    } else {
        Box::new(lz4_flex::frame::FrameDecoder::new(
            std::io::BufReader::with_capacity(256 << 10, f),
        ))
    };
    let mut buf = vec![0u8; 2 << 20];
    let mut total = 0;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n as u64,
            Err(e) => panic!("decompress: {e}"),
        }
    }
}

fn main() -> std::io::Result<()> {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let gib = env("FORKMAIL_BENCH_GIB", 1);
    let runs = usize::try_from(env("FORKMAIL_BENCH_RUNS", 7)).unwrap_or(usize::MAX);
    let dir = tempfile::tempdir()?;
    let raw = dir.path().join("memory");
    let zst = dir.path().join("memory.zst");
    let lz4 = dir.path().join("memory.lz4");
    let names: Vec<String> = (0..17).map(|i| format!("mailbox.{i}")).collect();
    let size = gib << 30;
    let data = size * 3 / 100;
    make_file(&raw, size, data, &names)?;
    let raw_s = raw.to_string_lossy().into_owned();
    assert!(
        cli("zstd", &["-q", "-f", &raw_s, "-o", &zst.to_string_lossy()]),
        "zstd CLI"
    );
    assert!(
        cli("lz4", &["-q", "-f", &raw_s, &lz4.to_string_lossy()]),
        "lz4 CLI"
    );
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!(
        "file: {gib} GiB, {} MiB data (3%), 17 markers; zstd -3: {:.1} MiB, lz4 -1: {:.1} MiB; warm cache, median of {runs}",
        data >> 20,
        len(&zst) as f64 / (1 << 20) as f64,
        len(&lz4) as f64 / (1 << 20) as f64
    );

    let opts = ScanOptions::default();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (label, path, is_zstd) in [("zstd", &zst, true), ("lz4", &lz4, false)] {
        let path_s = path.to_string_lossy().into_owned();
        if std::env::var_os("FORKMAIL_BENCH_BUFFERS").is_some() {
            let sizes = [64usize, 128, 256, 512, 1024, 2048];
            let mut times = vec![Vec::new(); sizes.len()];
            for _ in 0..runs {
                for (i, kib) in sizes.iter().enumerate() {
                    let o = ScanOptions {
                        buffer_size: kib << 10,
                        ..Default::default()
                    };
                    times[i].push(time(1, || scan_any(path, &o).expect("scan")).0);
                }
            }
            for (kib, t) in sizes.iter().zip(times) {
                println!("{label:<5} buffer {kib:>5} KiB {:>8.1} ms", ms(median(t)));
            }
        }
        // Rounds interleave the cases, so load from other processes on a
        // shared machine hits all of them alike; the ratio is taken per round.
        let (mut ours, mut cli_t, mut dec, mut ratios) = (vec![], vec![], vec![], vec![]);
        for _ in 0..runs {
            let (a, report) = time(1, || scan_any(path, &opts).expect("scan"));
            assert_eq!(report.markers.len(), 17);
            assert_eq!(report.file_size, size);
            let (b, ok) = time(1, || cli(label, &["-dc", &path_s]));
            assert!(ok, "{label} -dc");
            let (c, n) = time(1, || decompress_only(path, is_zstd));
            assert_eq!(n, size);
            ours.push(a);
            cli_t.push(b);
            dec.push(c);
            ratios.push(Duration::from_secs_f64(a.as_secs_f64() / b.as_secs_f64()));
        }
        let (ours, cli_t, dec) = (median(ours), median(cli_t), median(dec));
        println!(
            "{label:<5} forkmail scan_any (stream)   {:>8.1} ms   {label} -dc > /dev/null {:>8.1} ms   ratio forkmail/cli {:.2} (median of per-round ratios)",
            ms(ours),
            ms(cli_t),
            median(ratios).as_secs_f64()
        );
        println!(
            "{label:<5} forkmail decoder alone      {:>8.1} ms   (search share {:.0}%)",
            ms(dec),
            100.0 * (1.0 - dec.as_secs_f64() / ours.as_secs_f64()).max(0.0)
        );
    }
    let (raw_t, r) = time(runs, || scan_file(&raw, &opts).expect("scan"));
    assert_eq!(r.markers.len(), 17);
    println!(
        "raw   forkmail scan_file (data extents) {:>8.1} ms",
        ms(raw_t)
    );
    Ok(())
}
