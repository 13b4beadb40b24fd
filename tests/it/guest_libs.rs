//! The three guest libraries' examples (C, Go, Rust) under QEMU, proven by
//! `forkmail check`: `guest-libs/run-check.sh` builds each example as one
//! static binary, packs it (`image build --program`), templates it
//! (`--wait-for-marker`) and runs `check` in copy and zero-copy modes —
//! every required rule must pass — then templates a broken variant of each
//! (no ack, ack twice, wrong ack text) that must fail exactly `acks`.
//! Every JUnit file it wrote must be well-formed XML with its test cases.

use std::path::Path;
use std::process::Command;

use crate::support::heavy;
use crate::support::qemu::{FORKMAIL, vm_prerequisites};

#[test]
#[ignore = "heavy: boots real QEMU guests for three languages (cargo test -- --include-ignored)"]
fn every_guest_library_passes_forkmail_check_and_each_broken_variant_fails_its_rule() {
    vm_prerequisites(
        "guest_libs",
        &[(
            "gcc",
            "the C example is built here (apt-get install gcc libc6-dev)",
        )],
    );
    heavy::require(
        "guest_libs",
        "go",
        &["version"],
        "apt-get install golang-go",
    );
    let work = tempfile::Builder::new()
        .prefix("fm-guest-libs-")
        .tempdir()
        .expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest-libs/run-check.sh");
    let out = Command::new(&script)
        .env("FORKMAIL", FORKMAIL)
        .env("WORK", work.path())
        .output()
        .expect("run guest-libs/run-check.sh");
    let summary = std::fs::read_to_string(work.path().join("summary.txt")).unwrap_or_default();
    eprintln!("{summary}");
    assert!(
        out.status.success(),
        "run-check.sh failed ({}):\n{summary}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut junits = 0;
    for e in std::fs::read_dir(work.path()).expect("work dir").flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "xml") {
            continue;
        }
        let xml = std::fs::read_to_string(&p).expect("read JUnit");
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut cases = 0;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Start(t) | quick_xml::events::Event::Empty(t))
                    if t.name().as_ref() == "testcase" =>
                {
                    cases += 1;
                }
                Ok(_) => {}
                Err(e) => panic!("{}: not well-formed XML: {e}", p.display()),
            }
        }
        assert!(cases >= 6, "{}: {cases} test cases", p.display());
        junits += 1;
    }
    // Per language: copy and zero-copy, and three broken variants.
    assert_eq!(junits, 3 * 5, "{summary}");
}
