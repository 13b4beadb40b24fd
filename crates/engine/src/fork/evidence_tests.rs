//! Evidence outlives the fork: a rolled-back session keeps the end of its
//! guest log in its rollback event; a fork stopped or removed later gets
//! what became of it, with the end of its log, appended to the history of
//! the session that made it — read back by the same type. The fake VMM
//! (a test double) stands in for the VM; its guest log is written by the
//! test as the fork's directory appears.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use super::fake_vmm::{FakeVmm, Guest, Script};
use super::*;
use crate::history::{Recorder, load};
use crate::store::{GUEST_LOG, Store};
use crate::template::sim::{SimTemplateSpec, create_sim_template};

fn store(dir: &std::path::Path) -> Store {
    let store = Store::open(dir.join("store")).expect("store");
    let mut spec = SimTemplateSpec::new("t");
    spec.memory_size = 16 << 20;
    spec.data_percent = 0.5;
    spec.seed = Some(3);
    spec.mailboxes = vec![("a".into(), Some("tok-a".into()))];
    create_sim_template(&store, &spec).expect("template");
    store
}

/// Run fork `f` of `t` (mailbox `a`, ack within 300 ms) recorded in the
/// history, the guest log written as the fork's directory appears.
fn run_recorded(store: &Store, script: &Arc<Script>) -> (String, Vec<SessionEvent>) {
    let mut req = ForkRequest::new("t");
    req.fork_name = Some("f".into());
    req.mailboxes = vec![MailboxSpec {
        name: "a".into(),
        token: None,
        payload: Some("{}".into()),
        wait_for_ack: true,
        ack_timeout_ms: Some(300),
    }];
    let recorder = Mutex::new(Recorder::start(store, &req, "cli").expect("recorder"));
    let id = recorder.lock().expect("lock").id().to_string();
    let events = Mutex::new(Vec::new());
    let sink = |e: SessionEvent| {
        if let Happening::CopyStarted { dir } = &e.what {
            std::fs::write(dir.join(GUEST_LOG), "forkmail-guest: armed\nfault=no-ack\n")
                .expect("guest log");
        }
        recorder.lock().expect("lock").record(&e);
        events.lock().expect("lock").push(e);
    };
    let s = Arc::clone(script);
    let drivers = move |_kind| -> Result<Box<dyn crate::vmm::Vmm>, crate::vmm::VmmError> {
        Ok(Box::new(FakeVmm(Arc::clone(&s))))
    };
    let _ = run_session_with(store, &req, &sink, &AtomicBool::new(false), &drivers);
    (id, events.into_inner().expect("events"))
}

#[test]
fn a_rolled_back_session_keeps_the_end_of_its_guest_log() {
    let d = tempfile::tempdir().expect("tempdir");
    let store = store(d.path());
    let script = Arc::new(Script {
        guest: Guest::Silent,
        ..Script::default()
    });
    let (id, events) = run_recorded(&store, &script);
    let kept = events.iter().find_map(|e| match &e.what {
        Happening::RolledBack { kept, .. } => Some(kept.clone()),
        _ => None,
    });
    let want = vec!["forkmail-guest: armed".to_string(), "fault=no-ack".into()];
    assert_eq!(kept.map(|k| k.guest_log), Some(want.clone()));
    // The directory is gone; the history still has it, as written.
    assert!(!store.forks_dir().join("f").exists());
    let past = load(&store, &id).expect("history");
    assert_eq!(past.events, events);
}

#[test]
fn a_fork_removed_later_says_so_in_its_sessions_history() {
    let d = tempfile::tempdir().expect("tempdir");
    let store = store(d.path());
    let (id, events) = run_recorded(&store, &Script::acking(&["a"]));
    assert!(events.last().is_some_and(|e| e.what == Happening::Done));
    let drivers = |_kind| -> Result<Box<dyn crate::vmm::Vmm>, crate::vmm::VmmError> {
        Ok(Box::new(FakeVmm(Script::acking(&["a"]))))
    };
    let forks = Forks::with_drivers(&store, &drivers);
    forks.stop("f").expect("stop");
    forks.remove("f").expect("remove");
    let past = load(&store, &id).expect("history");
    let fates: Vec<Fate> = past
        .events
        .iter()
        .filter_map(|e| match &e.what {
            Happening::ForkGone { fate, logs } => {
                assert_eq!(
                    logs.guest_log.last().map(String::as_str),
                    Some("fault=no-ack")
                );
                Some(*fate)
            }
            _ => None,
        })
        .collect();
    assert_eq!(fates, [Fate::Stopped, Fate::Removed]);
    assert!(past.finished(), "done stays the final event");
}
