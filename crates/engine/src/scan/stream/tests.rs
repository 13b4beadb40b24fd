use super::*;
use crate::mailbox::{
    FORK_MAGIC, MailboxKind, encode_fork_marker, encode_resume_network_marker, write_frame,
};
use crate::scan::DEFAULT_BUFFER_SIZE;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::atomic::AtomicBool;

/// Size of the test memory file: not a multiple of any buffer size used.
const SIZE: u64 = (3 << 20) + 12_345;

fn opts(buffer_size: usize) -> ScanOptions<'static> {
    ScanOptions {
        buffer_size,
        ..Default::default()
    }
}

/// A sparse memory file of `size` bytes with some data to compress.
fn memory_file(dir: &Path, size: u64) -> (PathBuf, File) {
    let path = dir.join("memory");
    let f = File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    f.set_len(size).unwrap();
    // Incompressible bytes, text that merely starts like a marker, a page of
    // repeated prefixes: the finder must wade through all of them.
    let mut x: u32 = 0x1234_5678;
    let noise: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect();
    f.write_all_at(&noise, 100_000).unwrap();
    f.write_all_at(
        &b"HYPEMAN_ is a word, HYPEMAN_FORK_ too. ".repeat(200),
        700_000,
    )
    .unwrap();
    f.write_all_at(&b"HYPEMAN_".repeat(512), 900_000).unwrap();
    (path, f)
}

fn put(f: &File, offset: u64, bytes: &[u8]) {
    f.write_all_at(bytes, offset).unwrap();
}

/// Markers of every kind the contract knows, near EOF included.
fn plant_contract_cases(f: &mut File, size: u64) -> Vec<u64> {
    let cases: Vec<(u64, Vec<u8>)> = vec![
        (4096, encode_fork_marker("app.config", "t1")),
        (40 * 4096 + 17, encode_fork_marker("unaligned", "t2")),
        (60 * 4096, encode_fork_marker("dup", "first")),
        (200 * 4096, encode_fork_marker("dup", "second")),
        (300 * 4096, encode_resume_network_marker("net")),
        (310 * 4096, encode_resume_network_marker("net")),
        (320 * 4096, encode_fork_marker("bad name", "t")),
        (330 * 4096, encode_fork_marker("blank", "   ")),
        (340 * 4096, encode_fork_marker("published", "t")),
        // Within 4 KiB of the end: a frame header fits, then one that does not.
        (size - 4000, encode_fork_marker("near.end", "t")),
        (size - 100, encode_fork_marker("tail", "t")),
    ];
    for (at, bytes) in &cases {
        put(f, *at, bytes);
    }
    write_frame(f, MailboxKind::Fork, 340 * 4096, br#"{"hi":1}"#).unwrap();
    // Half a magic at the very end is not a marker.
    put(f, size - 20, &FORK_MAGIC[..20]);
    cases.iter().map(|(at, _)| *at).collect()
}

fn zstd_file(raw: &Path, out: &Path) {
    let src = File::open(raw).unwrap();
    let dst = File::create(out).unwrap();
    zstd::stream::copy_encode(src, dst, 3).unwrap();
}

fn lz4_file(raw: &Path, out: &Path) {
    let mut src = File::open(raw).unwrap();
    let mut enc = lz4_flex::frame::FrameEncoder::new(File::create(out).unwrap());
    std::io::copy(&mut src, &mut enc).unwrap();
    enc.finish().unwrap().flush().unwrap();
}

fn compressed_pair(raw: &Path) -> (PathBuf, PathBuf) {
    let zst = raw.with_extension("zst");
    let lz4 = raw.with_extension("lz4");
    zstd_file(raw, &zst);
    lz4_file(raw, &lz4);
    (zst, lz4)
}

/// Every way of streaming `raw` must report exactly what `scan_file` does.
fn assert_same_as_raw(raw: &Path, zst: &Path, lz4: &Path, buffer_size: usize) -> ScanReport {
    let reference = scan_file(raw, &opts(buffer_size)).unwrap();
    let o = opts(buffer_size);
    let streams = [
        ("zstd", scan_any(zst, &o).unwrap()),
        ("lz4", scan_any(lz4, &o).unwrap()),
        (
            "reader",
            scan_reader(File::open(raw).unwrap(), raw, None, &o).unwrap(),
        ),
    ];
    for (what, r) in streams {
        assert_eq!(r.file_size, reference.file_size, "{what}");
        assert_eq!(r.markers, reference.markers, "{what}, buffer {buffer_size}");
        assert_eq!(r.file_size, reference.file_size, "{what}");
        assert_eq!(r.truncated, reference.truncated, "{what}");
        assert_eq!(r.data_bytes, reference.file_size, "{what}");
    }
    reference
}

#[test]
fn compressed_scan_finds_the_same_markers_as_the_raw_scan() {
    let d = tempfile::tempdir().unwrap();
    let (raw, mut f) = memory_file(d.path(), SIZE);
    let planted = plant_contract_cases(&mut f, SIZE);
    let (zst, lz4) = compressed_pair(&raw);
    for buffer_size in [8192, 8193, 16_384, 65_536, 1 << 20, DEFAULT_BUFFER_SIZE] {
        let r = assert_same_as_raw(&raw, &zst, &lz4, buffer_size);
        let offsets: Vec<u64> = r.markers.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, planted, "every planted marker, nothing else");
    }
    // The reference itself says what the contract says.
    let r = scan_any(&zst, &ScanOptions::default()).unwrap();
    let by_name = |n: &'static str| r.fork_markers(n).collect::<Vec<_>>();
    assert!(by_name("dup").iter().all(|m| m.duplicate));
    assert!(!by_name("app.config")[0].duplicate && by_name("app.config")[0].valid);
    assert!(!by_name("bad name")[0].valid);
    assert!(!by_name("blank")[0].valid);
    assert!(by_name("near.end")[0].valid, "a frame header fits");
    let tail = by_name("tail")[0];
    assert!(!tail.valid);
    assert!(
        tail.problem
            .as_deref()
            .unwrap()
            .contains("no room for a frame")
    );
    let published = by_name("published")[0];
    assert_eq!(published.seq, 1);
    assert_eq!(published.payload.as_deref(), Some(r#"{"hi":1}"#));
    let nets: Vec<_> = r
        .markers
        .iter()
        .filter(|m| m.kind == MailboxKind::ResumeNetwork)
        .collect();
    assert_eq!(nets.len(), 2);
    assert!(nets.iter().all(|m| m.duplicate));
}

#[test]
fn markers_at_stream_buffer_boundaries_are_found_once() {
    // With buffer B the stream's k-th buffer covers [k*step, k*step + B),
    // step = B - (4 KiB - 1); hits before (k+1)*step are decoded from it.
    let b = 16_384u64;
    let step = b - (MAILBOX_SIZE as u64 - 1);
    let d = tempfile::tempdir().unwrap();
    let (raw, f) = memory_file(d.path(), SIZE);
    let mut planted = Vec::new();
    let mut k = 2;
    let mut place = |delta: i64| {
        let anchor = k * step;
        let at = (anchor as i64 + delta) as u64;
        put(&f, at, &encode_fork_marker(&format!("b{k}"), "tok"));
        planted.push(at);
        k += 3;
    };
    // The prefix straddles the end of a buffer (buffer end = anchor + 4095).
    for split in 1..8 {
        place(MAILBOX_SIZE as i64 - 1 - split);
    }
    // The mailbox runs past the buffer by a byte, exactly fits, fits by one.
    for delta in [-2, -1, 0, 1, 2] {
        place(delta);
    }
    // The whole marker sits in the carried-over tail.
    place(100);
    place(4000);
    planted.sort_unstable();
    let (zst, lz4) = compressed_pair(&raw);
    let b = usize::try_from(b).unwrap();
    for buffer_size in [b, b + 1, b - 1] {
        let r = assert_same_as_raw(&raw, &zst, &lz4, buffer_size);
        let offsets: Vec<u64> = r.markers.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, planted);
    }
}

#[test]
fn a_reader_that_returns_a_few_bytes_at_a_time_gives_the_same_markers() {
    struct Dribble(File, usize);
    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 = self.1 % 7 + 1;
            let n = buf.len().min(self.1);
            self.0.read(&mut buf[..n])
        }
    }
    let d = tempfile::tempdir().unwrap();
    let size = SIZE;
    let (raw, mut f) = memory_file(d.path(), size);
    plant_contract_cases(&mut f, size);
    let reference = scan_file(&raw, &opts(8192)).unwrap();
    let r = scan_reader(
        Dribble(File::open(&raw).unwrap(), 0),
        &raw,
        None,
        &opts(8192),
    )
    .unwrap();
    assert_eq!(r.markers, reference.markers);
    assert_eq!(r.file_size, size);
}

#[test]
fn concatenated_frames_are_read_to_the_end() {
    let d = tempfile::tempdir().unwrap();
    let (raw, mut f) = memory_file(d.path(), SIZE);
    plant_contract_cases(&mut f, SIZE);
    let bytes = std::fs::read(&raw).unwrap();
    let (first, second) = bytes.split_at(bytes.len() / 2 + 3);
    let zst = d.path().join("two.zst");
    let mut out = zstd::stream::encode_all(first, 1).unwrap();
    out.extend(zstd::stream::encode_all(second, 19).unwrap());
    std::fs::write(&zst, out).unwrap();
    let lz4 = d.path().join("two.lz4");
    let mut out = Vec::new();
    for part in [first, second] {
        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
        enc.write_all(part).unwrap();
        out.extend(enc.finish().unwrap());
    }
    std::fs::write(&lz4, out).unwrap();
    assert_same_as_raw(&raw, &zst, &lz4, 65_536);
}

#[test]
fn compression_is_detected_by_magic_bytes_not_by_name() {
    let d = tempfile::tempdir().unwrap();
    let (raw, f) = memory_file(d.path(), 1 << 20);
    put(&f, 8192, &encode_fork_marker("m", "t"));
    let disguised = d.path().join("memory-ranges");
    zstd_file(&raw, &disguised);
    assert_eq!(
        detect_compression(&disguised).unwrap(),
        Some(Compression::Zstd)
    );
    let lz4 = d.path().join("plain.bin");
    lz4_file(&raw, &lz4);
    assert_eq!(detect_compression(&lz4).unwrap(), Some(Compression::Lz4));
    let raw_named_zst = d.path().join("raw.zst");
    std::fs::copy(&raw, &raw_named_zst).unwrap();
    assert_eq!(detect_compression(&raw_named_zst).unwrap(), None);
    for p in [&disguised, &lz4, &raw_named_zst] {
        let r = scan_any(p, &ScanOptions::default()).unwrap();
        assert_eq!(r.markers.len(), 1, "{}", p.display());
        assert_eq!(r.markers[0].offset, 8192);
        assert_eq!(r.file_size, 1 << 20);
    }
    // A file shorter than a magic is raw.
    let tiny = d.path().join("tiny");
    std::fs::write(&tiny, [0x28, 0xB5]).unwrap();
    assert_eq!(detect_compression(&tiny).unwrap(), None);
    assert!(
        scan_any(&tiny, &ScanOptions::default())
            .unwrap()
            .markers
            .is_empty()
    );
}

#[test]
fn corrupt_or_truncated_compressed_files_are_errors_that_name_the_file() {
    let d = tempfile::tempdir().unwrap();
    let (raw, _f) = memory_file(d.path(), SIZE);
    let (zst, lz4) = compressed_pair(&raw);
    for (path, label) in [(&zst, "zstd"), (&lz4, "lz4")] {
        let bytes = std::fs::read(path).unwrap();
        let cut = d.path().join(format!("cut.{label}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = scan_any(&cut, &ScanOptions::default()).unwrap_err();
        assert!(matches!(err, ScanError::Decompress { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&*cut.to_string_lossy()), "{msg}");
        assert!(msg.contains(label), "{msg}");

        let mut garbage = bytes[..64].to_vec();
        garbage.extend(std::iter::repeat_n(0xA5u8, 100_000));
        let bad = d.path().join(format!("bad.{label}"));
        std::fs::write(&bad, garbage).unwrap();
        let err = scan_any(&bad, &ScanOptions::default()).unwrap_err();
        assert!(matches!(err, ScanError::Decompress { .. }), "{err}");
    }
}

#[test]
fn cancel_stops_a_stream_scan() {
    let d = tempfile::tempdir().unwrap();
    let (raw, _f) = memory_file(d.path(), SIZE);
    let (zst, _) = compressed_pair(&raw);
    let cancel = AtomicBool::new(true);
    let o = ScanOptions {
        cancel: Some(&cancel),
        ..Default::default()
    };
    assert!(matches!(scan_any(&zst, &o), Err(ScanError::Cancelled)));
}

#[test]
fn progress_counts_uncompressed_bytes_and_ends_at_the_total() {
    let d = tempfile::tempdir().unwrap();
    let (raw, _f) = memory_file(d.path(), SIZE);
    let (zst, lz4) = compressed_pair(&raw);
    for (path, expected) in [(&zst, None), (&lz4, None), (&zst, Some(SIZE))] {
        let seen = std::sync::Mutex::new(Vec::new());
        let cb = |p: ScanProgress| seen.lock().unwrap().push((p.done, p.total));
        let o = ScanOptions {
            buffer_size: 256 << 10,
            progress: Some(&cb),
            ..Default::default()
        };
        let c = detect_compression(path).unwrap().unwrap();
        scan_compressed(path, c, expected, &o).unwrap();
        let seen = seen.into_inner().unwrap();
        assert!(seen.len() > 3, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
        assert!(seen.iter().all(|(done, total)| done <= total), "{seen:?}");
        assert_eq!(seen.last().copied(), Some((SIZE, SIZE)));
        if expected.is_some() {
            assert!(seen.iter().all(|(_, total)| *total == SIZE));
        }
    }
}

#[test]
fn a_flood_of_markers_is_capped_like_the_raw_scan() {
    let d = tempfile::tempdir().unwrap();
    let size = 8 << 20;
    let (raw, f) = memory_file(d.path(), size);
    put(&f, 0, &FORK_MAGIC.repeat(MAX_MARKERS + 10));
    let (zst, lz4) = compressed_pair(&raw);
    let r = assert_same_as_raw(&raw, &zst, &lz4, DEFAULT_BUFFER_SIZE);
    assert_eq!(r.markers.len(), MAX_MARKERS);
    assert!(r.truncated);
}

#[test]
fn an_empty_stream_has_no_markers_and_size_zero() {
    let d = tempfile::tempdir().unwrap();
    let empty = d.path().join("empty.zst");
    std::fs::write(&empty, zstd::stream::encode_all(&[][..], 3).unwrap()).unwrap();
    let r = scan_any(&empty, &ScanOptions::default()).unwrap();
    assert!(r.markers.is_empty());
    assert_eq!((r.file_size, r.extents), (0, 0));
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("memory.zst");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let err = scan_any(&fifo, &ScanOptions::default()).unwrap_err();
    assert!(
        matches!(
            &err,
            ScanError::Unreadable(crate::files::ReadError::NotRegular { .. })
        ),
        "{err:?}"
    );
    let err = scan_compressed(&fifo, Compression::Zstd, None, &ScanOptions::default());
    assert!(err.is_err());
}
