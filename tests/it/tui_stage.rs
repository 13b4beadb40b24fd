//! The TUI on stage, end to end in tmux with the real binary on a fresh
//! demo store, as a presenter drives it: ten sessions cancelled, each
//! final state on screen within a second of the key (the stall was 5 s); a
//! 40-fork fan-out at 80×24, its detail scrolled to the summary, its forks
//! removed with one question. Waits poll `capture-pane`, never sleep.

use std::time::{Duration, Instant};

use crate::tui_tmux::{Tmux, require_tmux, start_named};

/// The demo store's TUI at `w`×`h`, on the `name` template.
fn demo_on(dir: &std::path::Path, tag: &str, w: u16, h: u16, name: &str) -> Tmux {
    let d = dir.display().to_string();
    let bin = env!("CARGO_BIN_EXE_forkmail");
    let t = start_named(dir, tag);
    t.resize(w, h);
    t.type_text(&format!(
        "XDG_STATE_HOME={d}/state {bin} --store {d}/store demo"
    ));
    t.send(&["Enter"]);
    t.wait_for("the TUI on the demo store", 60, |s| {
        s.contains("Snapshots (5)") && s.contains("watching store")
    });
    t.send(&["/"]);
    t.wait_text("filter: /", 5);
    t.type_text(name);
    t.send(&["Enter"]);
    t.wait_for("the template's markers", 60, |s| {
        s.contains(&format!("Markers · {name}")) && !s.contains("scanning")
    });
    t
}

/// Open the fork dialog (once the scan is done) and name the fork `name`.
fn dialog_named(t: &Tmux, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        t.send(&["f"]);
        let s = t.wait_for("the fork dialog or the scan note", 5, |s| {
            s.contains("fork name: ") || s.contains("wait for the scan")
        });
        if s.contains("fork name: ") {
            break;
        }
        assert!(Instant::now() < deadline, "the scan never finished:\n{s}");
    }
    for _ in 0..64 {
        t.send(&["BSpace"]);
    }
    t.type_text(name);
    t.wait_text(&format!("name: {name}█"), 5);
}

/// Shape point 4: ten sessions cancelled while they wait for acks, each
/// final state on screen within 1 s of the key, no other key pressed.
#[test]
#[ignore = "heavy: drives the TUI in tmux (cargo test -- --include-ignored)"]
fn ten_cancels_each_show_their_final_state_within_a_second() {
    require_tmux();
    let dir = tempfile::tempdir().expect("tempdir");
    let t = demo_on(dir.path(), "cancel", 120, 40, "silent");
    for i in 0..10 {
        t.send(&["1"]);
        t.wait_text("[1 Snapshots", 5);
        let fork = format!("stop-{i}");
        dialog_named(&t, &fork);
        t.send(&["Enter"]);
        t.wait_for("the ack countdown", 30, |s| {
            s.contains("s left (deadline") && s.contains(&format!("Session · {fork}"))
        });
        t.send(&["x"]);
        t.wait_text("Cancel this fork session?", 5);
        let pressed = Instant::now();
        t.send(&["y"]);
        let row = format!("⊘ {fork}");
        let s = t.wait_within(
            &format!("{fork}'s final state within 1 s of the key"),
            Duration::from_secs(1),
            |s| {
                s.lines()
                    .any(|l| l.contains(&row) && l.contains("cancelled"))
                    && s.contains("✓  rollback")
            },
        );
        eprintln!("{fork}: final state after {:?}", pressed.elapsed());
        assert!(s.contains("⊘  cancelled"), "said as cancelled: {s}");
    }
    // The deadline passing (no cancel) ends as quickly: no `0.0 s left`
    // left standing.
    t.send(&["1"]);
    dialog_named(&t, "late");
    t.send(&["Enter"]);
    t.wait_text("0.", 30);
    t.wait_for("the countdown to run out", 30, |s| s.contains("0.0 s left"));
    let out = Instant::now();
    t.wait_within(
        "the failure within 1 s of the deadline",
        Duration::from_secs(1),
        |s| s.contains("✗ late") && s.contains("rolled back"),
    );
    eprintln!(
        "late: final state {:?} after the countdown read 0.0 s",
        out.elapsed()
    );
    t.send(&["q"]);
}

/// Items 1 and 4 on stage: a 40-fork fan-out at 80×24 — one row, its
/// detail scrolled to the summary (divergence in it), its forks removed
/// with one question and one message.
#[test]
#[ignore = "heavy: drives the TUI in tmux (cargo test -- --include-ignored)"]
fn a_40_fork_fan_out_at_80x24_scrolls_to_its_summary() {
    require_tmux();
    let dir = tempfile::tempdir().expect("tempdir");
    let t = demo_on(dir.path(), "fan40", 80, 24, "web");
    dialog_named(&t, "fan");
    // Count 40, parallel 8, zero copy.
    t.send(&["Tab"]);
    t.send(&["BSpace"]);
    t.type_text("40");
    t.send(&["Tab"]);
    t.send(&["BSpace"]);
    t.type_text("8");
    t.wait_text("fan-out: fan-0 … fan-39", 5);
    t.send(&["Tab", "Tab"]);
    t.send(&["Space"]);
    t.wait_text("[x] zero copy", 5);
    t.send(&["Enter"]);
    let s = t.wait_for("the fan-out to finish", 120, |s| {
        s.contains("fan ×40") && s.contains("40/40")
    });
    assert!(s.contains("Fan-out · fan ×40 ← web"), "{s}");
    // The detail: focus it, to its end.
    t.send(&["l"]);
    t.send(&["G"]);
    let s = t.wait_for("the summary", 10, |s| {
        s.contains("40 of 40 done, 0 failed") && s.contains("divergence")
    });
    assert!(s.contains("total"), "per-stage spread: {s}");
    // Space expands the fan-out into its forks (each name tells its index).
    t.send(&["h", "Space"]);
    t.wait_for("its forks listed", 5, |s| {
        s.contains("▾fan ×40") && s.contains("✓ fan-0")
    });
    // Forks screen: all forty marked, removed with one question.
    t.send(&["3"]);
    t.wait_text("Forks (40)", 10);
    t.send(&["v"]);
    t.wait_text("40 marked", 5);
    t.send(&["d"]);
    t.wait_text("Remove 40 forks?", 5);
    t.send(&["y"]);
    t.wait_for("the forks removed", 60, |s| {
        s.contains("No forks in this store.") && s.contains("removed 40 forks (0 failed)")
    });
    t.send(&["q"]);
    t.wait_for("the shell to come back", 20, |s| !s.contains("Forks ("));
}
