//! Property tests (proptest, a bounded number of cases per run): the marker
//! decoder, the scan over random files with planted markers, request and
//! payload validation, and the ack parser never panic, and agree with what
//! was planted or built.

use std::collections::BTreeSet;
use std::os::unix::fs::FileExt;

use forkmail::mailbox::{
    FORK_MAX_PAYLOAD, MailboxKind, MailboxRequest, check_ack, check_payload, decode_marker,
    encode_fork_marker, format_ack, inject_ack_port, parse_ack_fields, validate_request,
};
use forkmail::scan::{ScanOptions, scan_file};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,64}"
}

fn token() -> impl Strategy<Value = String> {
    // Printable, no NUL, not blank, at most 128 bytes.
    "[!-~]{1,128}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_marker(&bytes);
        let mut with_magic = b"HYPEMAN_FORK_MAILBOX_V1\0".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = decode_marker(&with_magic);
    }

    #[test]
    fn a_marker_decodes_to_what_was_encoded(n in name(), t in token()) {
        let mut page = encode_fork_marker(&n, &t);
        page.resize(4096, 0);
        let m = decode_marker(&page).expect("a marker");
        prop_assert_eq!(m.kind, MailboxKind::Fork);
        prop_assert_eq!(m.name.as_deref(), Some(n.as_str()));
        prop_assert_eq!(m.token, t);
        prop_assert!(m.problem.is_none());
    }

    #[test]
    fn the_ack_parser_never_panics_and_accepts_its_own_acks(
        junk in proptest::collection::vec(any::<u8>(), 0..200),
        n in name(),
    ) {
        let _ = parse_ack_fields(&junk);
        let _ = check_ack(&junk, &n);
        prop_assert!(check_ack(format_ack(&n).as_bytes(), &n).is_ok());
        let other = format!("{n}x");
        prop_assert!(check_ack(format_ack(&other).as_bytes(), &n).is_err());
    }

    #[test]
    fn validation_never_panics(
        n in ".{0,80}",
        t in ".{0,150}",
        payload in proptest::option::of(".{0,300}"),
        ack in any::<bool>(),
        timeout in proptest::option::of(-10i64..40_000),
    ) {
        let _ = validate_request(&[MailboxRequest {
            name: n,
            token: t,
            payload,
            wait_for_ack: ack,
            ack_timeout_ms: timeout,
        }]);
    }

    #[test]
    fn the_budget_is_the_injected_length(
        keys in proptest::collection::vec(("[a-z]{1,8}", any::<i64>()), 0..40),
        pad in 0usize..4000,
    ) {
        let members: Vec<String> = keys.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
        let text = format!("{{{} , \"pad\": \"{}\"}}", members.join(", "), "p".repeat(pad))
            .replacen("{ ,", "{", 1);
        let c = check_payload(&text, true);
        if text.len() <= FORK_MAX_PAYLOAD {
            let injected = inject_ack_port(&text, 65535).expect("an object");
            prop_assert_eq!(c.sent_bytes, injected.len());
            prop_assert_eq!(c.problem.is_none(), injected.len() <= FORK_MAX_PAYLOAD);
        } else {
            prop_assert!(c.problem.is_some());
        }
    }
}

proptest! {
    // Each case writes a file: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_scan_finds_exactly_the_planted_markers(
        size_pages in 64u64..1024,
        slots in proptest::collection::btree_set(0u64..20_000, 0..24),
        data in proptest::collection::vec((0u64..1024, 1u64..16), 0..12),
        buffer in 8192usize..70_000,
    ) {
        let size = size_pages * 4096;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("memory");
        let f = std::fs::File::create(&path).expect("create");
        f.set_len(size).expect("size");
        // Random data extents (bytes that never spell a marker).
        for (page, len) in &data {
            let at = (page % size_pages) * 4096;
            let len = (len * 4096).min(size - at);
            let len = usize::try_from(len).expect("a page count");
            f.write_all_at(&vec![0x5a; len], at).expect("data");
        }
        // Markers at unaligned offsets 256 bytes apart at least, so each has
        // room for its identity; a frame may run past the end (invalid, still found).
        let mut planted = BTreeSet::new();
        for slot in slots {
            let at = (slot * 272) % size.saturating_sub(64);
            if planted.iter().any(|p: &u64| p.abs_diff(at) < 272) {
                continue;
            }
            f.write_all_at(&encode_fork_marker(&format!("m{slot}"), "tok"), at).expect("marker");
            planted.insert(at);
        }
        drop(f);
        let opts = ScanOptions { buffer_size: buffer, ..ScanOptions::default() };
        let report = scan_file(&path, &opts).expect("scan");
        let found: BTreeSet<u64> = report.markers.iter().map(|m| m.offset).collect();
        prop_assert_eq!(found, planted);
        prop_assert_eq!(report.file_size, size);
    }
}
