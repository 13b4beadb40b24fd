use super::*;
use crate::mailbox::{FORK_MAGIC, encode_fork_marker, encode_resume_network_marker, write_frame};
use std::os::unix::fs::FileExt;

fn sparse(size: u64) -> (tempfile::TempDir, PathBuf, File) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory");
    let f = File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    f.set_len(size).unwrap();
    (dir, path, f)
}

fn opts(buffer_size: usize) -> ScanOptions<'static> {
    ScanOptions {
        buffer_size,
        ..Default::default()
    }
}

#[test]
fn finds_every_marker_of_both_kinds_in_one_pass() {
    let (_d, path, f) = sparse(64 << 20);
    f.write_all_at(&encode_fork_marker("a", "t1"), 4 << 20)
        .unwrap();
    f.write_all_at(&encode_fork_marker("b", "t2"), 30 << 20)
        .unwrap();
    f.write_all_at(&encode_resume_network_marker("net"), 50 << 20)
        .unwrap();
    let r = scan_file(&path, &ScanOptions::default()).unwrap();
    let names: Vec<_> = r
        .markers
        .iter()
        .map(|m| (m.kind, m.name.clone(), m.token.clone(), m.offset))
        .collect();
    assert_eq!(
        names,
        vec![
            (MailboxKind::Fork, Some("a".into()), "t1".into(), 4 << 20),
            (MailboxKind::Fork, Some("b".into()), "t2".into(), 30 << 20),
            (MailboxKind::ResumeNetwork, None, "net".into(), 50 << 20),
        ]
    );
    assert!(
        r.markers
            .iter()
            .all(|m| m.valid && !m.duplicate && m.page_aligned)
    );
    assert!(
        r.data_bytes < 1 << 20,
        "only data extents are read: {}",
        r.data_bytes
    );
}

#[test]
fn marker_straddling_a_buffer_boundary_is_found_once() {
    for split in 1..8u64 {
        let (_d, path, f) = sparse(1 << 20);
        let buf = 64 * 1024u64;
        let at = buf - split;
        f.write_all_at(&vec![7u8; 256 * 1024], 0).unwrap();
        let mut page = vec![0u8; 4096];
        let m = encode_fork_marker("edge", "tok");
        page[..m.len()].copy_from_slice(&m);
        f.write_all_at(&page, at).unwrap();
        let r = scan_file(&path, &opts(usize::try_from(buf).unwrap())).unwrap();
        assert_eq!(r.markers.len(), 1, "split {split}");
        assert_eq!(r.markers[0].offset, at);
        assert_eq!(r.markers[0].name.as_deref(), Some("edge"));
        assert!(!r.markers[0].page_aligned);
    }
}

#[test]
fn marker_too_close_to_end_of_file_is_reported() {
    let (_d, path, f) = sparse(8192);
    f.write_all_at(&encode_fork_marker("tail", "tok"), 8192 - 100)
        .unwrap();
    let r = scan_file(&path, &ScanOptions::default()).unwrap();
    assert_eq!(r.markers.len(), 1);
    assert!(!r.markers[0].valid);
    assert!(
        r.markers[0]
            .problem
            .as_ref()
            .unwrap()
            .contains("no room for a frame")
    );
}

#[test]
fn duplicate_names_are_flagged_on_every_occurrence() {
    let (_d, path, f) = sparse(1 << 20);
    f.write_all_at(&encode_fork_marker("dup", "x"), 4096)
        .unwrap();
    f.write_all_at(&encode_fork_marker("dup", "y"), 8 * 4096)
        .unwrap();
    f.write_all_at(&encode_fork_marker("solo", "z"), 16 * 4096)
        .unwrap();
    f.write_all_at(&encode_resume_network_marker("n"), 20 * 4096)
        .unwrap();
    f.write_all_at(&encode_resume_network_marker("n"), 24 * 4096)
        .unwrap();
    let r = scan_file(&path, &ScanOptions::default()).unwrap();
    let dup: Vec<_> = r.markers.iter().map(|m| m.duplicate).collect();
    assert_eq!(dup, vec![true, true, false, true, true]);
}

#[test]
fn invalid_markers_are_reported_not_dropped() {
    let (_d, path, f) = sparse(1 << 20);
    f.write_all_at(&encode_fork_marker("has space", "t"), 4096)
        .unwrap();
    f.write_all_at(&encode_fork_marker("ok", "   "), 3 * 4096)
        .unwrap();
    let r = scan_file(&path, &ScanOptions::default()).unwrap();
    assert_eq!(r.markers.len(), 2);
    assert!(r.markers.iter().all(|m| !m.valid && m.problem.is_some()));
}

#[test]
fn published_frame_reports_seq_length_and_payload() {
    let (_d, path, mut f) = sparse(1 << 20);
    f.write_all_at(&encode_fork_marker("m", "t"), 4096).unwrap();
    write_frame(&mut f, MailboxKind::Fork, 4096, br#"{"hi":1}"#).unwrap();
    let r = scan_file(&path, &ScanOptions::default()).unwrap();
    assert_eq!(r.markers[0].seq, 1);
    assert_eq!(r.markers[0].payload_len, 8);
    assert_eq!(r.markers[0].payload.as_deref(), Some(r#"{"hi":1}"#));
}

#[test]
fn unrelated_hypeman_text_is_not_a_marker() {
    let (_d, path, f) = sparse(1 << 20);
    f.write_all_at(b"HYPEMAN_IS_A_WORD and HYPEMAN_", 4096)
        .unwrap();
    let r = scan_file(&path, &ScanOptions::default()).unwrap();
    assert!(r.markers.is_empty());
}

#[test]
fn cancel_flag_stops_the_scan() {
    let (_d, path, f) = sparse(8 << 20);
    f.write_all_at(&vec![1u8; 4 << 20], 0).unwrap();
    let cancel = AtomicBool::new(true);
    let o = ScanOptions {
        cancel: Some(&cancel),
        ..Default::default()
    };
    assert!(matches!(scan_file(&path, &o), Err(ScanError::Cancelled)));
}

#[test]
fn progress_reaches_the_data_total() {
    let (_d, path, f) = sparse(32 << 20);
    f.write_all_at(&vec![1u8; 3 << 20], 1 << 20).unwrap();
    let last = std::sync::Mutex::new((0u64, 0u64));
    let cb = |p: ScanProgress| *last.lock().unwrap() = (p.done, p.total);
    let o = ScanOptions {
        buffer_size: 1 << 20,
        progress: Some(&cb),
        ..Default::default()
    };
    let r = scan_file(&path, &o).unwrap();
    let (done, total) = *last.lock().unwrap();
    assert_eq!(done, total);
    assert_eq!(total, r.data_bytes);
}

#[test]
fn file_that_shrinks_during_the_scan_is_an_error_not_a_crash() {
    let (_d, path, f) = sparse(16 << 20);
    f.write_all_at(&vec![1u8; 16 << 20], 0).unwrap();
    let cb = |p: ScanProgress| {
        if p.done > 0 {
            f.set_len(1 << 20).unwrap();
        }
    };
    let o = ScanOptions {
        buffer_size: 1 << 20,
        progress: Some(&cb),
        ..Default::default()
    };
    let err = scan_file(&path, &o).unwrap_err();
    assert!(matches!(err, ScanError::Shrank { .. }), "{err}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let err = scan_file(Path::new("/nonexistent/memory"), &ScanOptions::default()).unwrap_err();
    assert!(
        matches!(&err, ScanError::Unreadable(crate::files::ReadError::Io { path, .. }) if path == Path::new("/nonexistent/memory")),
        "{err:?}"
    );
    assert_eq!(
        crate::error::Kinded::kind(&err),
        crate::error::ErrorKind::NotFound
    );
}

#[test]
fn text_full_of_the_prefix_yields_no_markers_and_no_growth() {
    let (_d, path, f) = sparse(8 << 20);
    f.write_all_at(&b"HYPEMAN_".repeat(1 << 20), 0).unwrap();
    let r = scan_file(&path, &opts(1 << 20)).unwrap();
    assert!(r.markers.is_empty());
    assert!(!r.truncated);
}

#[test]
fn a_flood_of_markers_is_capped() {
    let (_d, path, f) = sparse(8 << 20);
    let n = MAX_MARKERS + 10;
    f.write_all_at(&FORK_MAGIC.repeat(n), 0).unwrap();
    let r = scan_file(&path, &ScanOptions::default()).unwrap();
    assert_eq!(r.markers.len(), MAX_MARKERS);
    assert!(r.truncated);
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("memory");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let err = scan_file(&fifo, &ScanOptions::default()).unwrap_err();
    assert!(
        matches!(
            &err,
            ScanError::Unreadable(crate::files::ReadError::NotRegular { .. })
        ),
        "{err:?}"
    );
}
