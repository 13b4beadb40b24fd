//! The engine's every branch with the fake VMM (`fake_vmm.rs`, a test
//! double): success in copy, zero-copy and no-restore modes; each stage's
//! failure and its rollback; cancel at each stage; a guest that dies; the
//! first failed ack stopping the others. Real files, real processes for the
//! "VM", real UDP acks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::error::Cause;
use super::fake_vmm::{FakeVmm, Guest, Script};
use super::*;
use crate::error::ErrorKind;
use crate::mailbox::encode_fork_marker;
use crate::scan::{ScanOptions, scan_file};
use crate::store::{STATE_FILE, Store};
use crate::template::sim::{SimTemplateSpec, create_sim_template};

struct Rig {
    _dir: tempfile::TempDir,
    store: Store,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let mut spec = SimTemplateSpec::new("t");
    spec.memory_size = 16 << 20;
    spec.data_percent = 0.5;
    spec.seed = Some(3);
    spec.mailboxes = vec![
        ("a".into(), Some("tok-a".into())),
        ("b".into(), Some("tok-b".into())),
    ];
    create_sim_template(&store, &spec).unwrap();
    Rig { _dir: dir, store }
}

/// A request for fork `f` of `t`: (mailbox, ack timeout in ms or 0 for no ack).
fn req(mbs: &[(&str, i64)]) -> ForkRequest {
    let mut r = ForkRequest::new("t");
    r.fork_name = Some("f".into());
    r.mailboxes = mbs
        .iter()
        .map(|(name, ack)| MailboxSpec {
            name: name.to_string(),
            token: None,
            payload: Some(format!(r#"{{"for":"{name}"}}"#)),
            wait_for_ack: *ack > 0,
            ack_timeout_ms: (*ack > 0).then_some(*ack),
        })
        .collect();
    r
}

struct Ran {
    result: Result<ForkOutcome, ForkError>,
    events: Vec<SessionEvent>,
}

/// Run a session with `script`'s fake VMM; `hook` sees every event and may
/// set the cancel flag (or touch the store) at the moment it wants.
fn run(
    rig: &Rig,
    req: &ForkRequest,
    script: &Arc<Script>,
    hook: impl Fn(&SessionEvent, &AtomicBool) + Sync,
) -> Ran {
    let events = Mutex::new(Vec::new());
    let cancel = AtomicBool::new(false);
    let sink = |e: SessionEvent| {
        hook(&e, &cancel);
        events.lock().unwrap().push(e);
    };
    let s = Arc::clone(script);
    let drivers = move |_kind| -> Result<Box<dyn crate::vmm::Vmm>, crate::vmm::VmmError> {
        Ok(Box::new(FakeVmm(Arc::clone(&s))))
    };
    let result = run_session_with(&rig.store, req, &sink, &cancel, &drivers);
    Ran {
        result,
        events: events.into_inner().unwrap(),
    }
}

/// Nothing left behind: no fork directory (hidden ones included), no VM
/// process, a rollback event, and the final event a failure of `kind` at
/// `stage`.
fn assert_rolled_back(rig: &Rig, ran: &Ran, script: &Script, kind: ErrorKind, stage: Stage) {
    let err = ran.result.as_ref().expect_err("the session must fail");
    assert_eq!((err.kind(), err.stage()), (kind, stage), "{err:?}");
    let left: Vec<_> = std::fs::read_dir(rig.store.forks_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(script.nothing_running(), "a VM process is still running");
    assert!(
        ran.events
            .iter()
            .any(|e| matches!(e.what, Happening::RolledBack { .. })),
        "rolled back"
    );
    let last = ran.events.last().unwrap();
    assert!(matches!(&last.what, Happening::Failed(e) if e.kind() == kind && e.stage() == stage));
}

fn template_bytes(rig: &Rig) -> Vec<u8> {
    std::fs::read(rig.store.snapshot("t").unwrap().memory_path()).unwrap()
}

#[test]
fn a_copy_fork_runs_every_stage_and_records_them() {
    let rig = rig();
    let script = Script::acking(&["a", "b"]);
    let before = template_bytes(&rig);
    let ran = run(&rig, &req(&[("a", 5000), ("b", 5000)]), &script, |_, _| {});
    let out = ran.result.expect("done");
    let info = ForkInfo::load(&out.dir).unwrap();
    assert_eq!(info.meta.status, ForkStatus::Running);
    let stages: Vec<Stage> = info.meta.stages.iter().map(|s| s.stage).collect();
    assert_eq!(stages, Stage::PIPELINE);
    assert!(info.meta.mailboxes.iter().all(|m| m.acked));
    assert_eq!(info.meta.process, out.process);
    assert_eq!(
        template_bytes(&rig),
        before,
        "the template is never written"
    );
    // The frames are in the fork's own file.
    let report = scan_file(&out.dir.join("memory"), &ScanOptions::default()).unwrap();
    assert!(report.markers.iter().all(|m| m.seq == 1));
    // Stop and remove through the lifecycle: the VM process goes too.
    let s = Arc::clone(&script);
    let drivers = move |_| -> Result<Box<dyn crate::vmm::Vmm>, crate::vmm::VmmError> {
        Ok(Box::new(FakeVmm(Arc::clone(&s))))
    };
    let forks = Forks::with_drivers(&rig.store, &drivers);
    assert_eq!(forks.get("f").unwrap().status, LiveStatus::Running);
    assert!(forks.remove("f").unwrap());
    assert!(script.nothing_running());
}

#[test]
fn a_zero_copy_fork_patches_the_paused_guest_and_never_the_template() {
    let rig = rig();
    let script = Script::acking(&["a"]);
    let before = template_bytes(&rig);
    let mut r = req(&[("a", 5000)]);
    r.zero_copy = true;
    let ran = run(&rig, &r, &script, |_, _| {});
    let out = ran.result.expect("done");
    assert!(ran.events.iter().any(|e| matches!(
        e.what,
        Happening::Patched {
            into_paused_guest: true,
            ..
        }
    )));
    assert!(!out.dir.join("memory").exists(), "nothing copied");
    assert_eq!(template_bytes(&rig), before);
    out.process.unwrap().stop(std::time::Duration::from_secs(2));
}

#[test]
fn no_restore_keeps_the_patched_fork_and_starts_nothing() {
    let rig = rig();
    let script = Script::acking(&[]);
    let mut r = req(&[("a", 0)]);
    r.restore = false;
    let out = run(&rig, &r, &script, |_, _| {}).result.expect("done");
    assert_eq!(
        ForkInfo::load(&out.dir).unwrap().meta.status,
        ForkStatus::Patched
    );
    assert!(script.calls.lock().unwrap().is_empty());
}

#[test]
fn a_restore_that_fails_rolls_back() {
    let rig = rig();
    let script = Arc::new(Script {
        fail_start: true,
        ..Script::default()
    });
    let ran = run(&rig, &req(&[("a", 5000)]), &script, |_, _| {});
    assert_rolled_back(&rig, &ran, &script, ErrorKind::VmmFailed, Stage::Restore);
}

#[test]
fn a_resume_that_fails_rolls_back_and_leaves_no_vm() {
    let rig = rig();
    let script = Arc::new(Script {
        fail_resume: true,
        ..Script::default()
    });
    let ran = run(&rig, &req(&[("a", 5000)]), &script, |_, _| {});
    assert_rolled_back(&rig, &ran, &script, ErrorKind::VmmFailed, Stage::Restore);
}

#[test]
fn a_panic_in_a_stage_rolls_the_fork_back() {
    let rig = rig();
    let script = Arc::new(Script {
        panic_on_resume: true,
        ..Script::default()
    });
    let ran = run(&rig, &req(&[("a", 5000)]), &script, |_, _| {});
    assert_rolled_back(&rig, &ran, &script, ErrorKind::Internal, Stage::Restore);
    let err = ran.result.unwrap_err();
    assert!(
        matches!(
            err.cause(),
            Cause::Check {
                kind: ErrorKind::Internal,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_patch_into_the_paused_guest_that_fails_aborts_the_vm() {
    let rig = rig();
    let script = Arc::new(Script {
        fail_memory_write: true,
        ..Script::default()
    });
    let mut r = req(&[("a", 5000)]);
    r.zero_copy = true;
    let ran = run(&rig, &r, &script, |_, _| {});
    assert_rolled_back(&rig, &ran, &script, ErrorKind::Io, Stage::Patch);
    assert!(script.calls.lock().unwrap().contains(&"abort"));
}

#[test]
fn the_first_failed_ack_stops_the_other_waits() {
    let rig = rig();
    let script = Arc::new(Script::default()); // a silent guest
    let ran = run(&rig, &req(&[("a", 100), ("b", 30_000)]), &script, |_, _| {});
    assert_rolled_back(&rig, &ran, &script, ErrorKind::AckTimeout, Stage::Ack);
    let err = ran.result.unwrap_err();
    assert_eq!(
        err.mailbox_name(),
        Some("a"),
        "the ack that failed is reported"
    );
    let last = ran.events.last().unwrap();
    assert!(
        last.elapsed_ms < 30_000,
        "b's wait ended with a's failure, not at its own deadline"
    );
}

#[test]
fn a_guest_that_dies_fails_the_session_at_once() {
    let rig = rig();
    let script = Arc::new(Script {
        guest: Guest::Dies,
        ..Script::default()
    });
    let ran = run(&rig, &req(&[("a", 30_000)]), &script, |_, _| {});
    assert_rolled_back(&rig, &ran, &script, ErrorKind::GuestExited, Stage::Ack);
    let err = ran.result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GuestExited, "{err:?}");
    assert!(ran.events.last().unwrap().elapsed_ms < 30_000);
}

#[test]
fn cancel_at_every_stage_rolls_back() {
    type Trigger = fn(&Happening) -> bool;
    let cases: [(Stage, Trigger); 6] = [
        (Stage::Validate, |h| {
            matches!(h, Happening::StageStarted(Stage::Validate))
        }),
        (Stage::Copy, |h| matches!(h, Happening::CopyStarted { .. })),
        (Stage::Preflight, |h| {
            matches!(h, Happening::StageStarted(Stage::Preflight))
        }),
        (Stage::Patch, |h| {
            matches!(h, Happening::StageStarted(Stage::Patch))
        }),
        (Stage::Restore, |h| {
            matches!(h, Happening::StageStarted(Stage::Restore))
        }),
        (Stage::Ack, |h| matches!(h, Happening::AckWaiting { .. })),
    ];
    // Independent sessions: run side by side.
    std::thread::scope(|scope| {
        for (stage, trigger) in cases {
            scope.spawn(move || {
                let rig = rig();
                let script = Arc::new(Script::default());
                let ran = run(&rig, &req(&[("a", 30_000)]), &script, |e, cancel| {
                    if trigger(&e.what) {
                        cancel.store(true, Ordering::Relaxed);
                    }
                });
                assert_rolled_back(&rig, &ran, &script, ErrorKind::Cancelled, stage);
            });
        }
    });
}

#[test]
fn a_copy_that_fails_rolls_back_without_hanging_on_a_fifo() {
    let rig = rig();
    let state = rig.store.snapshot("t").unwrap().dir.join(STATE_FILE);
    std::fs::remove_file(&state).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &state,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let script = Arc::new(Script::default());
    let ran = run(&rig, &req(&[("a", 5000)]), &script, |_, _| {});
    assert_rolled_back(&rig, &ran, &script, ErrorKind::BadRequest, Stage::Copy);
    let err = ran.result.unwrap_err();
    assert!(
        matches!(
            err.cause_as::<crate::copy::CopyError>(),
            Some(crate::copy::CopyError::Source(
                crate::files::ReadError::NotRegular { .. }
            ))
        ),
        "{err:?}"
    );
}

#[test]
fn a_missing_marker_fails_preflight_before_anything_is_written() {
    let rig = rig();
    let script = Arc::new(Script::default());
    let ran = run(&rig, &req(&[("a", 0), ("nope", 0)]), &script, |_, _| {});
    assert_rolled_back(
        &rig,
        &ran,
        &script,
        ErrorKind::MarkerMissing,
        Stage::Preflight,
    );
    assert!(
        !ran.events
            .iter()
            .any(|e| matches!(e.what, Happening::FrameWritten { .. }))
    );
}

#[test]
fn rollback_never_removes_a_fork_made_after_its_own_was_removed() {
    let rig = rig();
    let script = Arc::new(Script::default());
    let forks_dir = rig.store.forks_dir();
    let ran = run(&rig, &req(&[("a", 150)]), &script, |e, _| {
        if matches!(e.what, Happening::AckWaiting { .. }) {
            // Someone removes the fork behind the session's back and a new,
            // healthy fork takes the name.
            std::fs::remove_dir_all(forks_dir.join("f")).unwrap();
            std::fs::create_dir(forks_dir.join("f")).unwrap();
            std::fs::write(forks_dir.join("f/fork.json"), b"{}").unwrap();
        }
    });
    let err = ran.result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AckTimeout);
    assert!(
        forks_dir.join("f/fork.json").is_file(),
        "B survives A's rollback"
    );
    assert!(script.nothing_running());
}

#[test]
fn requests_that_cannot_work_fail_at_validate_and_create_nothing() {
    let rig = rig();
    let script = Arc::new(Script::default());
    let mut bad_name = req(&[("a", 0)]);
    bad_name.fork_name = Some("Bad_Name".into());
    let mut missing = req(&[("a", 0)]);
    missing.snapshot = "absent".into();
    let mut rule = req(&[("a", 0)]);
    rule.mailboxes[0].payload = Some("[1]".into());
    for (r, kind) in [
        (bad_name, ErrorKind::BadRequest),
        (missing, ErrorKind::NotFound),
        (rule, ErrorKind::BadRequest),
    ] {
        let ran = run(&rig, &r, &script, |_, _| {});
        let err = ran.result.unwrap_err();
        assert_eq!(
            (err.kind(), err.stage()),
            (kind, Stage::Validate),
            "{err:?}"
        );
        assert_eq!(std::fs::read_dir(rig.store.forks_dir()).unwrap().count(), 0);
    }
    assert!(script.calls.lock().unwrap().is_empty());
}

#[test]
fn a_truncated_scan_is_refused_unless_the_token_is_given() {
    let rig = rig();
    let snap = rig.store.snapshot("t").unwrap();
    let mut report = scan_file(&snap.memory_path(), &ScanOptions::default()).unwrap();
    report.truncated = true;
    let report = Arc::new(report);
    let script = Arc::new(Script::default());
    let mut r = req(&[("a", 0)]);
    r.restore = false;
    r.discovery = Some(Arc::clone(&report));
    let ran = run(&rig, &r, &script, |_, _| {});
    assert_rolled_back(
        &rig,
        &ran,
        &script,
        ErrorKind::ScanTruncated,
        Stage::Preflight,
    );
    r.mailboxes[0].token = Some("tok-a".into());
    run(&rig, &r, &script, |_, _| {})
        .result
        .expect("found by its exact bytes");
}

#[test]
fn a_token_with_bytes_after_it_is_found_by_its_exact_bytes() {
    let rig = rig();
    let snap = rig.store.snapshot("t").unwrap();
    let report = scan_file(&snap.memory_path(), &ScanOptions::default()).unwrap();
    let a = report.fork_markers("a").next().unwrap().offset;
    // The guest did not zero its buffer after the token.
    let marker = encode_fork_marker("a", "tok-a");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(snap.memory_path())
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"GARBAGE", a + marker.len() as u64).unwrap();
    let script = Arc::new(Script::default());
    let mut r = req(&[("a", 0)]);
    r.restore = false;
    r.mailboxes[0].token = Some("tok-a".into());
    let out = run(&rig, &r, &script, |_, _| {}).result.expect("patched");
    let info = ForkInfo::load(&out.dir).unwrap();
    assert_eq!(info.meta.mailboxes[0].offset, a);
}

fn forks_with<'a>(rig: &'a Rig, drivers: Drivers<'a>) -> Forks<'a> {
    Forks::with_drivers(&rig.store, drivers)
}

#[test]
fn a_prestarted_vm_is_claimed_by_the_fork_and_only_loads_its_state() {
    let rig = rig();
    let script = Script::acking(&["a"]);
    let s = Arc::clone(&script);
    let drivers = move |_| -> Result<Box<dyn crate::vmm::Vmm>, crate::vmm::VmmError> {
        Ok(Box::new(FakeVmm(Arc::clone(&s))))
    };
    let forks = forks_with(&rig, &drivers);
    let before = template_bytes(&rig);
    let pre = forks
        .prestart("t", false)
        .unwrap()
        .expect("the fake prestarts");
    let process = pre.process();
    let events = Mutex::new(Vec::new());
    let sink = |e: SessionEvent| events.lock().unwrap().push(e);
    let out = forks
        .create_prestarted(
            &req(&[("a", 5000)]),
            Some(pre),
            &sink,
            &AtomicBool::new(false),
        )
        .expect("done");
    assert_eq!(out.process, process, "the fork runs on the prestarted VM");
    assert_eq!(ForkInfo::load(&out.dir).unwrap().meta.process, process);
    let events = events.into_inner().unwrap();
    assert!(events.iter().any(|e| matches!(
        e.what,
        Happening::VmLoaded {
            prestarted: true,
            ..
        }
    )));
    assert_eq!(
        *script.calls.lock().unwrap(),
        vec!["prestart", "load", "resume"]
    );
    // The fork's memory is exactly the template's, plus the frame.
    let report = scan_file(&out.dir.join("memory"), &ScanOptions::default()).unwrap();
    assert_eq!(report.markers.len(), 2);
    assert_eq!(template_bytes(&rig), before);
    assert!(forks.remove("f").unwrap());
    assert!(script.nothing_running());
}

#[test]
fn a_prestart_is_torn_down_when_unused_cancelled_or_for_another_fork() {
    let rig = rig();
    let script = Arc::new(Script::default());
    let s = Arc::clone(&script);
    let drivers = move |_| -> Result<Box<dyn crate::vmm::Vmm>, crate::vmm::VmmError> {
        Ok(Box::new(FakeVmm(Arc::clone(&s))))
    };
    let forks = forks_with(&rig, &drivers);
    let hidden = || std::fs::read_dir(rig.store.forks_dir()).unwrap().count();
    // Abandoned: dropped unused.
    let pre = forks.prestart("t", false).unwrap().unwrap();
    assert_eq!(hidden(), 1, "its hidden directory");
    drop(pre);
    assert_eq!(hidden(), 0);
    assert!(script.nothing_running());
    // Cancelled in the copy stage: rolled back with the fork.
    let pre = forks.prestart("t", false).unwrap().unwrap();
    let cancel = AtomicBool::new(false);
    let sink = |e: SessionEvent| {
        if matches!(e.what, Happening::CopyStarted { .. }) {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let err = forks
        .create_prestarted(&req(&[("a", 5000)]), Some(pre), &sink, &cancel)
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.stage()),
        (ErrorKind::Cancelled, Stage::Copy)
    );
    assert_eq!(hidden(), 0);
    assert!(script.nothing_running());
    // A prestart for the other mode does not serve this fork: torn down.
    let pre = forks.prestart("t", true).unwrap().unwrap();
    let stray = pre.process().unwrap();
    let mut r = req(&[("a", 0)]);
    r.restore = false;
    forks
        .create_prestarted(&r, Some(pre), &|_| {}, &AtomicBool::new(false))
        .unwrap();
    assert!(!stray.is_alive());
    assert!(forks.remove("f").is_ok());
}

/// A guest on a TAP network: the ack socket binds `ack_bind` (the fork's,
/// else the template's), and only the address the driver names may ack.
#[test]
fn acks_bind_ack_bind_and_count_only_from_the_drivers_address() {
    use std::net::{IpAddr, Ipv4Addr};
    let rig = rig();
    let bound: IpAddr = Ipv4Addr::new(127, 0, 0, 2).into();
    let guest: IpAddr = Ipv4Addr::LOCALHOST.into(); // the fake guest's socket
    let script = |sender: IpAddr| {
        Arc::new(Script {
            guest: Guest::Acks(vec!["a".into()]),
            ack_to: bound,
            sender: crate::vmm::AckSender::Address(sender),
            ..Script::default()
        })
    };
    // The fork's --ack-bind, and the guest's address: acked.
    let mut r = req(&[("a", 3000)]);
    r.ack_bind = Some(bound);
    let ran = run(&rig, &r, &script(guest), |_, _| {});
    ran.result.expect("acked from the guest's address");
    // The template's default (snapshot.json), when the fork names none.
    let path = rig
        .store
        .snapshot_dir(&crate::store::ValidName::new("t").unwrap())
        .join(crate::store::SNAPSHOT_META);
    let mut meta: crate::store::SnapshotMeta = crate::store::read_json(&path).unwrap();
    meta.ack_bind = Some(bound);
    crate::store::write_json_atomic(&path, &meta).unwrap();
    let mut r = req(&[("a", 3000)]);
    r.fork_name = Some("g".into());
    let ran = run(&rig, &r, &script(guest), |_, _| {});
    ran.result.expect("the template's ack_bind is used");
    // From any other address: reported and ignored — the session goes on
    // waiting (here until the test, having seen the report, cancels it).
    let mut r = req(&[("a", 30_000)]);
    r.fork_name = Some("h".into());
    let ran = run(
        &rig,
        &r,
        &script(Ipv4Addr::new(127, 0, 0, 3).into()),
        |e, cancel| {
            // Someone else's datagram: reported as such (counted noise).
            if matches!(e.what, Happening::DatagramsIgnored { foreign: 1, .. }) {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
    );
    let err = ran.result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err:?}");
    assert!(
        !ran.events
            .iter()
            .any(|e| matches!(e.what, Happening::Acked { .. })),
        "a datagram from another address never acks"
    );
    let ignored = ran.events.iter().find_map(|e| match &e.what {
        Happening::DatagramsIgnored { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        ignored.is_some_and(|r| r.contains("127.0.0.3")),
        "the stray ack was reported: {:?}",
        ran.events
    );
}

#[test]
fn a_second_ack_is_reported_while_the_socket_lingers_and_never_fails_the_fork() {
    let rig = rig();
    let script = Arc::new(Script {
        guest: super::fake_vmm::Guest::AcksTwice(vec!["a".into()]),
        ..Script::default()
    });
    let dup = |ran: &Ran| {
        ran.events
            .iter()
            .filter(
                |e| matches!(&e.what, Happening::DatagramIgnored { mailbox, .. } if mailbox == "a"),
            )
            .count()
    };
    // Lingering (what `forkmail check` asks): the duplicate is seen, after
    // the ack, and the fork is done all the same.
    let mut r = req(&[("a", 5000)]);
    r.ack_linger_ms = Some(1000);
    let ran = run(&rig, &r, &script, |_, _| {});
    let out = ran.result.as_ref().expect("done");
    assert_eq!(dup(&ran), 1, "{:?}", ran.events);
    let acked_at = ran
        .events
        .iter()
        .position(|e| matches!(e.what, Happening::Acked { .. }))
        .expect("acked");
    let ignored_at = ran
        .events
        .iter()
        .position(|e| matches!(e.what, Happening::DatagramIgnored { .. }))
        .expect("ignored");
    assert!(acked_at < ignored_at);
    if let Some(p) = &out.process {
        p.stop(std::time::Duration::from_secs(2));
    }
    // By default the socket closes at the ack: nothing more is reported.
    let mut r = req(&[("a", 5000)]);
    r.fork_name = Some("g".into());
    let ran = run(&rig, &r, &script, |_, _| {});
    let out = ran.result.as_ref().expect("done");
    assert_eq!(dup(&ran), 0);
    if let Some(p) = &out.process {
        p.stop(std::time::Duration::from_secs(2));
    }
}

/// Round 2, defect 3: `gc` while a session makes its directory (made, not
/// yet locked) leaves it alone, and `gc` itself succeeds.
#[test]
fn gc_while_a_session_makes_its_directory_leaves_it_alone() {
    let rig = rig();
    let store = rig.store.clone();
    type Seen = Vec<Result<Vec<String>, String>>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let seen2 = Arc::clone(&seen);
    super::ownership::WHILE_UNLOCKED.with(|h| {
        *h.borrow_mut() = Some(Box::new(move || {
            let r = Forks::new(&store).gc().map_err(|e| e.to_string());
            seen2.lock().unwrap().push(r);
        }));
    });
    let mut r = req(&[("a", 0)]);
    r.restore = false;
    let ran = run(&rig, &r, &Script::acking(&[]), |_, _| {});
    super::ownership::WHILE_UNLOCKED.with(|h| *h.borrow_mut() = None);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "gc ran while the directory was unlocked");
    assert_eq!(seen[0], Ok(vec![]), "gc removed nothing and did not fail");
    ran.result.expect("the session was not disturbed");
}

/// Round 2, defect 11: a fork made with `hold` stays busy to `rm` and
/// `stop` (exit 7) until its maker lets go; then it is removed as usual.
#[test]
fn a_held_fork_is_busy_until_released() {
    let rig = rig();
    let mut r = req(&[("a", 0)]);
    r.restore = false;
    r.hold = true;
    let out = run(&rig, &r, &Script::acking(&[]), |_, _| {})
        .result
        .expect("done");
    let held = out.held.clone().expect("held");
    let forks = Forks::new(&rig.store);
    let err = forks.remove("f").unwrap_err();
    assert!(matches!(err, LifecycleError::InUse(_)), "{err}");
    assert_eq!(crate::error::Kinded::kind(&err), ErrorKind::Busy);
    assert!(matches!(forks.stop("f"), Err(LifecycleError::InUse(_))));
    assert_eq!(forks.get("f").unwrap().status, LiveStatus::Patched);
    // Its maker removes it under its own lock, then lets go.
    forks.remove_held(&held).expect("removed by its maker");
    assert!(forks.get("f").is_err());
    assert!(!out.dir.exists());
}
