//! The chunked, multi-threaded scan against a naive reference: markers
//! planted at random offsets, on and around every window and chunk
//! boundary, are all found exactly once, in file order, whatever the plan.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::work::{Plan, find_markers};
use super::*;
use crate::mailbox::{
    FORK_MAGIC, RESUME_NETWORK_MAGIC, encode_fork_marker, encode_resume_network_marker,
};

/// SplitMix64, so every failure names a seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn below_usize(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).unwrap()
    }
}

/// Every marker of the file, by looking at every byte of it in memory.
fn reference(path: &Path) -> Vec<Marker> {
    let data = std::fs::read(path).unwrap();
    let size = data.len() as u64;
    (0..data.len())
        .filter(|&i| {
            data[i..].starts_with(FORK_MAGIC) || data[i..].starts_with(RESUME_NETWORK_MAGIC)
        })
        .filter_map(|i| {
            let end = (i + MAILBOX_SIZE).min(data.len());
            decode_mailbox(&data[i..end], i as u64, size)
        })
        .collect()
}

fn scan_with(path: &Path, plan: Plan) -> Result<(Vec<Marker>, bool), ScanError> {
    let file = File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let extents = data_extents(&file, size).unwrap();
    let total = extents.iter().map(Extent::len).sum();
    find_markers(
        &file,
        path,
        size,
        &extents,
        total,
        &ScanOptions::default(),
        plan,
    )
}

/// Offsets where a window or a chunk ends, for `plan` over `extents`.
fn boundaries(plan: Plan, extents: &[Extent]) -> Vec<u64> {
    let step = plan.buffer as u64 - (COMMON_PREFIX_LEN - 1);
    let mut out = Vec::new();
    for e in extents {
        let mut chunk = e.start;
        while chunk < e.end {
            let chunk_end = (chunk + plan.chunk).min(e.end);
            let mut w = chunk;
            while w < chunk_end {
                w = (w + step).min(chunk_end);
                out.push(w);
            }
            chunk = chunk_end;
        }
    }
    out
}

const COMMON_PREFIX_LEN: u64 = crate::mailbox::COMMON_PREFIX.len() as u64;

/// A sparse file with a few data extents of random bytes (no magic can
/// appear by chance: the bytes are below 0x40, and `H` is 0x48).
fn random_sparse_file(rng: &mut Rng, path: &Path) -> File {
    let size = (256 + rng.below(512)) * 1024;
    let f = File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    f.set_len(size).unwrap();
    for _ in 0..1 + rng.below(5) {
        let len = (1 + rng.below(40)) * 4096;
        let at = rng.below((size - len) / 4096) * 4096;
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() % 0x40) as u8).collect();
        f.write_all_at(&bytes, at).unwrap();
    }
    f
}

fn plant(f: &File, rng: &mut Rng, at: u64, i: usize) {
    let m = if rng.below(4) == 0 {
        encode_resume_network_marker(&format!("net{i}"))
    } else {
        encode_fork_marker(&format!("mb{i}"), &format!("tok{i}"))
    };
    f.write_all_at(&m, at).unwrap();
}

#[test]
fn markers_on_every_boundary_are_found_exactly_once_for_any_plan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory");
    for seed in 0..60u64 {
        let mut rng = Rng(seed);
        let f = random_sparse_file(&mut rng, &path);
        let size = f.metadata().unwrap().len();
        let extents = data_extents(&f, size).unwrap();
        let plan = Plan {
            buffer: 2 * MAILBOX_SIZE + rng.below_usize(3 * MAILBOX_SIZE),
            chunk: [2 * MAILBOX_SIZE as u64, 12_288, 20_000, 65_536][rng.below_usize(4)],
            threads: 1 + rng.below_usize(3),
            prefetch: rng.below(64 << 10),
        };
        // One marker ending just before, straddling or starting at each
        // boundary (shifts -40..+8), plus some anywhere; never overlapping.
        let mut spots: Vec<u64> = boundaries(plan, &extents)
            .into_iter()
            .map(|b| (b + 8).saturating_sub(rng.below(49)))
            .collect();
        spots.extend((0..20).map(|_| rng.below(size - 64)));
        spots.sort_unstable();
        let mut last_end = 0;
        let mut planted = 0;
        for (i, at) in spots.into_iter().enumerate() {
            if at < last_end || at + 64 > size {
                continue;
            }
            plant(&f, &mut rng, at, i);
            last_end = at + 64;
            planted += 1;
        }
        let want = reference(&path);
        assert!(want.len() >= planted, "seed {seed}");
        let (got, truncated) = scan_with(&path, plan).unwrap();
        assert!(!truncated);
        assert_eq!(
            got.iter().map(|m| m.offset).collect::<Vec<_>>(),
            want.iter().map(|m| m.offset).collect::<Vec<_>>(),
            "seed {seed}, plan {plan:?}"
        );
        assert_eq!(got, want, "seed {seed}, plan {plan:?}");
    }
}

#[test]
fn the_cap_keeps_the_first_markers_in_file_order_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory");
    let f = File::create(&path).unwrap();
    f.set_len(4 << 20).unwrap();
    let n = MAX_MARKERS + 3000;
    f.write_all_at(&FORK_MAGIC.repeat(n), 4096).unwrap();
    let plan = Plan {
        buffer: 2 * MAILBOX_SIZE,
        chunk: 16 << 10,
        threads: 3,
        prefetch: 0,
    };
    let (got, truncated) = scan_with(&path, plan).unwrap();
    assert!(truncated);
    assert_eq!(got.len(), MAX_MARKERS);
    let step = FORK_MAGIC.len() as u64;
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, m)| m.offset == 4096 + i as u64 * step)
    );
}

#[test]
fn a_file_truncated_again_and_again_during_scans_never_kills_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory");
    let f = File::create(&path).unwrap();
    let full = 2u64 << 20;
    let data = vec![0x11u8; usize::try_from(full).unwrap()];
    let fill = |f: &File| {
        f.write_all_at(&data, 0).unwrap();
        f.write_all_at(&encode_fork_marker("m", "t"), full - 8192)
            .unwrap();
    };
    fill(&f);
    // Two workers, many small chunks and windows: many reads to interrupt.
    let plan = Plan {
        buffer: 16 << 10,
        chunk: 64 << 10,
        threads: 2,
        prefetch: 0,
    };
    let stop = AtomicBool::new(false);
    let (mut scans, mut ok, mut shrank) = (0, 0, 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut rng = Rng(7);
            while !stop.load(Ordering::Relaxed) {
                f.set_len(rng.below(full)).unwrap();
                fill(&f);
            }
        });
        while scans < 200 || (shrank < 20 && scans < 100_000) {
            scans += 1;
            match scan_with(&path, plan) {
                Ok(_) => ok += 1,
                Err(ScanError::Shrank { .. }) => shrank += 1,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(ok + shrank, scans);
    assert!(
        shrank >= 20,
        "the file never shrank under a scan ({scans} scans)"
    );
}
