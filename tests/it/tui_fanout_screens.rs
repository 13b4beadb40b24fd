//! Fan-out, check and bulk screens of the TUI in `TestBackend`, compared
//! with `insta` snapshots: the fan-out dialog with its payload preview, a
//! fan-out grouped as one expandable row with a per-fork stage grid, the
//! check table, and the forks screen's marks, filter and bulk remove.

use crate::support::tui as common;

use std::sync::atomic::AtomicBool;

use common::{app_on, demo_like_store, key, keycode, render, select, settle, until};
use crossterm::event::KeyCode;
use forkmail::check::{CheckEvent, CheckId, CheckResult, Verdict};
use forkmail::error::ErrorKind;
use forkmail::fork::{ForkError, ForkRequest, Forks, Happening, MailboxSpec, SessionEvent, Stage};
use forkmail::store::Draft;
use forkmail::tui::action::{Action, Screen};
use forkmail::tui::app::App;
use forkmail::tui::msg::Msg;
use forkmail::tui::sessions::SessionRow;
use forkmail::vmm::VmmKind;

fn small_app() -> (
    tempfile::TempDir,
    App,
    tokio::sync::mpsc::UnboundedReceiver<Msg>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = demo_like_store(&dir.path().join("store"), false);
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    (dir, app, rx)
}

#[test]
fn fan_out_dialog_previews_the_first_and_last_fork() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    // Another window (or the CLI) wrote this draft: the app takes it in.
    let draft = Draft {
        payload: r#"{"replica":{{i}},"fork":"{{fork}}"}"#.into(),
        ..Draft::default()
    };
    let path = forkmail::store::draft_path(app.store(), "web", "app.config");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    forkmail::store::write_json_atomic(&path, &draft).expect("draft");
    app.reload_store();
    // Item 6: the editor takes the template as valid once expanded.
    keycode(&mut app, KeyCode::Tab);
    while app
        .snapshots()
        .selected_mailbox()
        .is_some_and(|(_, m)| m != "app.config")
    {
        key(&mut app, 'j');
    }
    let editor = render(&mut app, 110, 34);
    assert!(
        editor.contains("✓ template: valid after expansion"),
        "{editor}"
    );
    key(&mut app, 'f');
    for _ in 0..63 {
        keycode(&mut app, KeyCode::Backspace);
    }
    for c in "fan".chars() {
        key(&mut app, c);
    }
    keycode(&mut app, KeyCode::Tab);
    keycode(&mut app, KeyCode::Backspace);
    key(&mut app, '1');
    key(&mut app, '6');
    let screen = render(&mut app, 110, 34);
    assert!(
        screen.contains(r#"✓ fan-0 app.config={"replica":0,"fork":"fan-0"}"#),
        "{screen}"
    );
    assert!(
        screen.contains(r#"✓ fan-15 app.config={"replica":15,"fork":"fan-15"}"#),
        "{screen}"
    );
    assert!(
        screen.contains("({{i}}, {{fork}}, {{uuid}} expanded)"),
        "one syntax: {screen}"
    );
    insta::assert_snapshot!(screen);
}

fn ev(fork: &str, ms: u64, what: Happening) -> SessionEvent {
    SessionEvent {
        fork: fork.into(),
        elapsed_ms: ms,
        what,
    }
}

/// Events of a session up to (and including) `until`.
fn events(fork: &str, until: Stage) -> Vec<SessionEvent> {
    let all = vec![
        ev(fork, 0, Happening::StageStarted(Stage::Validate)),
        ev(fork, 1, Happening::Validated { mailboxes: 1 }),
        ev(
            fork,
            1,
            Happening::CopyStarted {
                dir: "/nonexistent".into(),
            },
        ),
        ev(fork, 2, Happening::ZeroCopy),
        ev(fork, 2, Happening::StageStarted(Stage::Preflight)),
        ev(fork, 3, Happening::Preflighted { markers: 1 }),
        ev(fork, 3, Happening::StageStarted(Stage::Restore)),
        ev(fork, 3, Happening::StageStarted(Stage::Patch)),
        ev(
            fork,
            4,
            Happening::Patched {
                frames: 1,
                into_paused_guest: true,
            },
        ),
        ev(
            fork,
            9,
            Happening::Restored {
                vmm: VmmKind::Sim,
                pid: 4242,
            },
        ),
        ev(fork, 9, Happening::StageStarted(Stage::Ack)),
        ev(fork, 10, Happening::AcksDone { count: 1 }),
        ev(fork, 10, Happening::Done),
    ];
    let mut out = Vec::new();
    for e in all {
        let stage = e.stage();
        out.push(e);
        if stage == until && until != Stage::Restore && until != Stage::Patch {
            // Through the end of that stage's events.
        }
    }
    out.into_iter()
        .filter(|e| stage_rank(e.stage()) <= stage_rank(until))
        .collect()
}

fn stage_rank(s: Stage) -> usize {
    Stage::PIPELINE.iter().position(|p| *p == s).unwrap_or(99)
}

/// A fan-out of six the app follows; the test plays the engine: three
/// done, one failed at its ack, one copying, one not started.
fn fake_fanout(app: &mut App) -> Vec<u64> {
    let forks: Vec<String> = (0..6).map(|i| format!("fan-{i}")).collect();
    let names: Vec<&str> = forks.iter().map(String::as_str).collect();
    let (ids, _cancel) = app.follow_fanout("fan", "web", 2, &names, &["app.config"]);
    for (i, until) in [
        Stage::Done,
        Stage::Done,
        Stage::Done,
        Stage::Ack,
        Stage::Copy,
    ]
    .into_iter()
    .enumerate()
    {
        let f = format!("fan-{i}");
        for event in events(&f, until) {
            app.on_msg(Msg::Session { id: ids[i], event });
        }
        if until == Stage::Done {
            app.on_msg(Msg::SessionEnd {
                id: ids[i],
                result: Ok(f),
            });
        }
    }
    // fan-3 fails its ack.
    let err = ForkError::mailbox(
        ErrorKind::AckTimeout,
        "app.config",
        "no ack from the guest within 5000 ms on port 40003",
    )
    .at(Stage::Ack);
    app.on_msg(Msg::Session {
        id: ids[3],
        event: ev("fan-3", 5010, Happening::Failed((&err).into())),
    });
    app.on_msg(Msg::SessionEnd {
        id: ids[3],
        result: Err(err),
    });
    ids
}

#[test]
fn a_fan_out_is_one_expandable_row_with_a_stage_grid() {
    let (_d, mut app, _rx) = small_app();
    fake_fanout(&mut app);
    key(&mut app, 'g');
    let folded = render(&mut app, 110, 24);
    assert!(
        folded.contains("▸fan ×6") && folded.contains("3/6"),
        "{folded}"
    );
    insta::assert_snapshot!("fanout_grid_folded", folded);
    key(&mut app, ' ');
    let open = render(&mut app, 110, 24);
    assert!(
        open.contains("▾fan ×6") && open.contains("  ✓ fan-0"),
        "{open}"
    );
    insta::assert_snapshot!("fanout_grid_expanded", open);
    // A member row shows that fork's own session.
    app.update(Action::Down);
    app.update(Action::Down);
    assert!(render(&mut app, 110, 24).contains("Session · fan-1 ← web"));
}

#[test]
fn the_check_table_fills_in_as_checks_end() {
    let (_d, mut app, _rx) = small_app();
    let mut rows: std::collections::BTreeMap<CheckId, Option<CheckResult>> =
        CheckId::ALL.iter().map(|c| (*c, None)).collect();
    let row = |id: CheckId, verdict, evidence: &[&str], ms| CheckResult {
        check: id,
        rule: id.rule(),
        verdict,
        required: id.required(),
        evidence: evidence.iter().map(|s| s.to_string()).collect(),
        elapsed_ms: ms,
        forks: 1,
        latency: None,
    };
    rows.insert(
        CheckId::Acks,
        Some(row(
            CheckId::Acks,
            Verdict::Fail,
            &[
                "3 ack(s) from 3 fork(s): median 2507 ms, max 2509 ms (deadline 2000 ms)",
                "fork chk-1-acks-0: warmup acked after 2509 ms, past the 2000 ms deadline",
            ],
            2585,
        )),
    );
    rows.insert(
        CheckId::Consumption,
        Some(row(
            CheckId::Consumption,
            Verdict::Pass,
            &["warmup: seq 0 once acked"],
            31,
        )),
    );
    let id = app.follow_check("slow-ack");
    for r in rows.into_values().flatten() {
        app.on_msg(Msg::Check {
            id,
            event: CheckEvent::Finished(r),
        });
    }
    key(&mut app, 'g');
    insta::assert_snapshot!(render(&mut app, 110, 24));
    // Item 5: the detail's rows are selected; Enter shows the whole
    // evidence of one, `y` copies it.
    key(&mut app, 'l');
    keycode(&mut app, KeyCode::Enter);
    let screen = render(&mut app, 110, 24);
    assert!(screen.contains("check acks · slow-ack"), "{screen}");
    assert!(
        screen.contains("fork chk-1-acks-0: warmup acked after 2509 ms, past the 2000 ms deadline"),
        "the whole evidence: {screen}"
    );
    key(&mut app, 'y');
    assert!(
        app.status()
            .is_some_and(|(t, _)| t.contains("sent to the terminal's clipboard (OSC 52)")),
        "{:?}",
        app.status()
    );
}

fn patched_fork(store: &forkmail::store::Store, name: &str) {
    let mut req = ForkRequest::new("web");
    req.fork_name = Some(name.into());
    req.restore = false;
    req.mailboxes = vec![MailboxSpec {
        name: "app.config".into(),
        token: None,
        payload: Some("{}".into()),
        wait_for_ack: false,
        ack_timeout_ms: None,
    }];
    Forks::new(store)
        .create(&req, &|_| {}, &AtomicBool::new(false))
        .expect("fork");
}

#[test]
fn forks_screen_marks_filters_and_removes_in_bulk() {
    let (_d, mut app, mut rx) = small_app();
    for n in ["fan-10", "fan-2", "fan-1", "other"] {
        patched_fork(app.store(), n);
    }
    app.update(Action::Show(Screen::Forks));
    let all = render(&mut app, 110, 24);
    let order: Vec<usize> = ["fan-1 ", "fan-2 ", "fan-10 ", "other "]
        .iter()
        .map(|n| all.find(n).expect(n))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "natural order: {all}"
    );
    // Filter to the fan-out, mark every visible fork, remove them with one question.
    key(&mut app, '/');
    for c in "fan".chars() {
        key(&mut app, c);
    }
    keycode(&mut app, KeyCode::Enter);
    key(&mut app, 'v');
    key(&mut app, 'd');
    let screen = render(&mut app, 110, 24);
    assert!(screen.contains("Remove 3 forks?"), "{screen}");
    assert!(screen.contains("fan-1, fan-2, fan-10"), "{screen}");
    key(&mut app, 'y');
    until(&mut app, &mut rx, "the forks removed", |a| {
        a.forks().pending() == 0
    });
    app.reload_store();
    let names: Vec<&str> = app
        .forks()
        .state()
        .rows
        .iter()
        .map(|r| r.info.name.as_str())
        .collect();
    assert_eq!(names, ["other"]);
    // Item 7: one message for all of them.
    assert_eq!(
        app.status().map(|s| s.0.to_string()).as_deref(),
        Some("removed 3 forks (0 failed)")
    );
}

#[test]
fn a_zero_copy_fan_out_from_the_dialog_keeps_each_fork_in_the_history() {
    let (dir, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    key(&mut app, 'f');
    for _ in 0..63 {
        keycode(&mut app, KeyCode::Backspace);
    }
    for c in "zf".chars() {
        key(&mut app, c);
    }
    // Count 2; then parallel, no restore, zero copy (on).
    keycode(&mut app, KeyCode::Tab);
    keycode(&mut app, KeyCode::Backspace);
    key(&mut app, '2');
    for _ in 0..3 {
        keycode(&mut app, KeyCode::Tab);
    }
    key(&mut app, ' ');
    keycode(&mut app, KeyCode::Enter);
    assert_eq!(app.sessions().model().fanouts.len(), 1, "a fan-out started");
    until(&mut app, &mut rx, "the fan-out's end", |a| {
        a.sessions().model().fanouts[0].summary.is_some()
    });
    let summary = app.sessions().model().fanouts[0]
        .summary
        .clone()
        .unwrap_or_default();
    assert_eq!((summary.done, summary.failed), (2, 0), "{summary:?}");
    // Item 12: the divergence of the forks that run is in it.
    assert!(summary.divergence.is_some(), "{summary:?}");
    // Zero copy, as in the CLI: the forks map the template, no copy of it.
    let store = app.store().clone();
    for f in ["zf-0", "zf-1"] {
        let d = store.fork_dir(&forkmail::store::ValidName::new(f).expect("name"));
        assert!(d.is_dir() && !d.join("memory").exists(), "{f}: zero copy");
    }
    // Each fork is a session of the history, known to this TUI already:
    // the store watcher's merge adds nothing twice.
    let ids = forkmail::history::ids(&store);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let members = app.sessions().model().members(0);
    assert!(
        members
            .iter()
            .all(|s| s.history_id.is_some() && s.request.is_some())
    );
    app.reload_due();
    assert_eq!(
        app.sessions().model().list.len(),
        2,
        "no member listed twice"
    );
    for id in &ids {
        let past = forkmail::history::load(&store, id).expect("load");
        assert!(past.finished() && past.header.zero_copy && past.header.origin == "tui");
    }
    drop(app);

    // A new TUI on the same store lists both forks' sessions.
    let store2 = forkmail::store::Store::open(dir.path().join("store")).expect("store");
    let (mut app, mut rx) = app_on(store2);
    settle(&mut app, &mut rx);
    let m = app.sessions().model();
    let forks: Vec<&str> = m.list.iter().map(|s| s.fork.as_str()).collect();
    assert_eq!(forks, ["zf-0", "zf-1"]);
    assert!(m.list.iter().all(|s| s.past));
    // Grouped again as one fan-out row, its forks under it.
    assert_eq!(m.fanouts.len(), 1);
    assert_eq!(m.rows(), [SessionRow::Group(0)]);
    app.show(Screen::Sessions);
    let screen = render(&mut app, 110, 24);
    assert!(
        screen.contains("▸zf ×2") && screen.contains("2/2"),
        "{screen}"
    );
    let f = Forks::new(&store);
    for n in ["zf-0", "zf-1"] {
        f.remove(n).expect("remove");
    }
}
