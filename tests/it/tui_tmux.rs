//! End to end: the real `forkmail` binary in a real terminal (tmux) on a
//! fresh demo store. Waits poll `capture-pane` until the expected text shows
//! up, with a deadline — never a fixed sleep.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A tmux server running one window (`e2e`) for one test.
pub(crate) struct Tmux {
    socket: String,
    dir: PathBuf,
}

impl Tmux {
    /// Run a tmux command on this server.
    pub(crate) fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }
    /// Send keys (tmux names: `Enter`, `Escape`, `C-f`, …).
    pub(crate) fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(out.status.success(), "send-keys {keys:?}: {out:?}");
    }
    /// Type `text` as it is.
    pub(crate) fn type_text(&self, text: &str) {
        let out = self.cmd(&["send-keys", "-t", "e2e", "-l", text]);
        assert!(out.status.success(), "send-keys -l {text:?}");
    }
    /// A bracketed paste, as a terminal sends one (tmux `paste-buffer -p`).
    fn paste(&self, text: &str) {
        let out = self.cmd(&["set-buffer", "-b", "e2e-paste", text]);
        assert!(out.status.success(), "set-buffer: {out:?}");
        let out = self.cmd(&["paste-buffer", "-p", "-d", "-b", "e2e-paste", "-t", "e2e"]);
        assert!(out.status.success(), "paste-buffer: {out:?}");
    }
    /// A left click at 0-based `col`, `row`, as the terminal reports it (SGR).
    fn click(&self, col: u16, row: u16) {
        let seq = format!(
            "\x1b[<0;{};{}M\x1b[<0;{};{}m",
            col + 1,
            row + 1,
            col + 1,
            row + 1
        );
        let out = self.cmd(&["send-keys", "-t", "e2e", "-l", &seq]);
        assert!(out.status.success(), "click: {out:?}");
    }
    /// Resize the window.
    pub(crate) fn resize(&self, w: u16, h: u16) {
        let out = self.cmd(&[
            "resize-window",
            "-t",
            "e2e",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
        assert!(out.status.success(), "resize-window: {out:?}");
    }
    /// What the window shows now.
    pub(crate) fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }
    /// Poll the screen until `pred` holds; panic with the last screen.
    pub(crate) fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        self.wait_within(what, Duration::from_secs(secs), pred)
    }
    /// [`Tmux::wait_for`] with a deadline of `within`.
    pub(crate) fn wait_within(
        &self,
        what: &str,
        within: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    /// Wait for `text` on the screen.
    pub(crate) fn wait_text(&self, text: &str, secs: u64) -> String {
        self.wait_for(text, secs, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
        // Forks left running by the test are stopped and removed.
        if let Ok(store) = forkmail::store::Store::open(self.dir.join("store")) {
            let forks = forkmail::fork::Forks::new(&store);
            for f in forks.list().unwrap_or_default() {
                let _ = forks.remove(&f.name);
            }
        }
    }
}

/// These tests drive the real binary in tmux: asked for, tmux must be here.
pub(crate) fn require_tmux() {
    crate::support::heavy::require("tui_tmux", "tmux", &["-V"], "apt-get install tmux");
}

fn start(dir: &Path) -> Tmux {
    start_named(dir, "main")
}

/// A tmux server for test `tag` in `dir`, its window at a shell prompt.
pub(crate) fn start_named(dir: &Path, tag: &str) -> Tmux {
    let t = Tmux {
        socket: format!("forkmail-e2e-{tag}-{}", std::process::id()),
        dir: dir.to_path_buf(),
    };
    let out = t.cmd(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "120",
        "-y",
        "40",
        "env",
        "PS1=$ ",
        "sh",
    ]);
    assert!(out.status.success(), "tmux new-session: {out:?}");
    // Applications may set tmux's buffer with OSC 52 (the `y` copy).
    let out = t.cmd(&["set-option", "-g", "set-clipboard", "on"]);
    assert!(out.status.success(), "set-clipboard: {out:?}");
    t.wait_text("$", 10);
    t
}

#[test]
#[ignore = "heavy: drives the TUI in tmux (cargo test -- --include-ignored)"]
fn fork_sessions_end_to_end_in_tmux() {
    require_tmux();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let bin = env!("CARGO_BIN_EXE_forkmail");
    let t = start(dir.path());

    t.type_text(&format!(
        "stty -g > {d}/stty.before; echo shell-before-$((40+2))"
    ));
    t.send(&["Enter"]);
    t.wait_text("shell-before-42", 10);

    // `forkmail demo` creates the demo store and opens the TUI on it.
    // A stand-in for $EDITOR that adds a key to the payload file.
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/}$/, \"via\": \"editor\"}/' \"$1\"\n",
    )
    .expect("write editor script");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod editor script");
    // And one for $PAGER that keeps what it was given.
    let pager = dir.path().join("pager.sh");
    std::fs::write(&pager, format!("#!/bin/sh\ncp \"$1\" {d}/paged.log\n"))
        .expect("write pager script");
    std::fs::set_permissions(&pager, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod pager script");
    t.type_text(&format!(
        "VISUAL= EDITOR={d}/editor.sh PAGER={d}/pager.sh XDG_STATE_HOME={d}/state {bin} --store {d}/store demo"
    ));
    t.send(&["Enter"]);
    t.wait_for("the TUI on the demo store", 60, |s| {
        s.contains("Snapshots (5)") && s.contains("watching store")
    });

    // Select the `web` template with the filter.
    t.send(&["/"]);
    t.wait_text("filter: /", 5);
    t.type_text("web");
    t.send(&["Enter"]);
    t.wait_for("web's markers", 30, |s| {
        s.contains("Markers · web") && s.contains("app.config") && s.contains("secrets.v1")
    });

    // The demo opens with sample payloads: add a key to the selected one.
    t.send(&["Tab"]);
    let s = t.wait_text("▸Markers", 5);
    let mailbox = s
        .split("Payload · ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("the payload pane names its mailbox")
        .to_string();
    let sample = forkmail::template::demo::demo_templates()
        .into_iter()
        .find(|t| t.spec.name == "web")
        .and_then(|t| {
            t.samples
                .iter()
                .find(|(m, _)| *m == mailbox)
                .map(|(_, p)| p.to_string())
        })
        .expect("a sample payload");
    let budget = |text: &str| {
        format!(
            "✓ JSON object · {} / 3832 bytes incl. ack_port",
            forkmail::mailbox::check_payload(text, true).sent_bytes
        )
    };
    t.wait_text(&budget(&sample), 5);
    t.send(&["i"]);
    t.wait_text("typing (Esc stops)", 5);
    t.send(&["End"]);
    t.send(&["BSpace"]);
    t.type_text(r#", "zone": "eu""#);
    t.wait_text("syntax error at line 1", 5);
    // A bracketed paste shows at once.
    t.paste("}");
    let typed = format!("{}, \"zone\": \"eu\"}}", sample.trim_end_matches('}'));
    t.wait_text(&budget(&typed), 5);
    // Full screen while typing, and back.
    t.send(&["C-f"]);
    t.wait_for("the full-screen editor", 5, |s| {
        s.contains("· full screen") && !s.contains("Markers · web")
    });
    t.send(&["C-f"]);
    t.wait_for("the three panes", 5, |s| {
        !s.contains("· full screen") && s.contains("Markers · web")
    });
    t.send(&["Escape"]);
    t.wait_for("typing to stop", 5, |s| !s.contains("typing (Esc stops)"));

    // Hand the payload to $EDITOR and take it back.
    t.send(&["e"]);
    t.wait_text("payload taken back from $EDITOR", 10);
    let edited = format!("{}, \"via\": \"editor\"}}", typed.trim_end_matches('}'));
    t.wait_text(&budget(&edited), 5);

    // Fork it and watch every stage reach done, with both acks.
    t.send(&["f"]);
    t.wait_text("fork name: web-", 5);
    t.send(&["Enter"]);
    let s = t.wait_for("the web fork to finish", 60, |s| {
        s.contains("✓  done") && s.matches("acked after").count() == 2
    });
    for stage in [
        "validate",
        "copy",
        "preflight",
        "patch",
        "restore",
        "ack",
        "done",
    ] {
        assert!(s.contains(&format!("✓  {stage}")), "{stage} not done:\n{s}");
    }

    // The detail and the whole guest log (the pane cuts long lines) in the
    // viewer, searchable.
    t.send(&["Enter"]);
    t.wait_text("▸session web-", 5);
    t.send(&["G"]);
    let s = t.wait_text("ack sent", 5);
    // Wrapped lines joined again: the viewer cuts nothing.
    let joined: String = s
        .lines()
        .map(|l| l.trim_end().trim_start_matches('┃').trim_end_matches('┃'))
        .collect();
    assert!(
        joined.contains(r#""zone":"eu","via":"editor""#),
        "the guest got the payload:\n{s}"
    );
    t.send(&["/"]);
    t.type_text("via");
    t.send(&["Enter"]);
    t.wait_text("\"via\": 1/", 5);
    t.send(&["w"]);
    t.wait_text("wrap off", 5);
    // `o`: the whole log in $PAGER, then back in the viewer.
    t.send(&["o"]);
    let paged = dir.path().join("paged.log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(&paged).is_ok_and(|l| l.contains(r#""via":"editor""#)) {
        assert!(
            std::time::Instant::now() < deadline,
            "$PAGER never got the guest log"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    t.wait_text("▸session web-", 5);
    t.send(&["q"]);
    t.wait_for("the sessions screen", 5, |s| {
        s.contains("▸Sessions") && !s.contains("▸session web-")
    });

    // y copies the fork's name to the clipboard (OSC 52: tmux keeps it).
    t.send(&["y"]);
    t.wait_text("fork name sent to the terminal's clipboard (OSC 52)", 5);
    let buffer = String::from_utf8_lossy(&t.cmd(&["show-buffer"]).stdout).into_owned();
    assert!(buffer.starts_with("web-"), "tmux got the copy: {buffer:?}");

    // Replay: the dialog opens prefilled, naming the session's fork.
    t.send(&["r"]);
    t.wait_text("Replay web-", 5);
    t.send(&["Enter"]);
    t.wait_for("the replayed fork", 60, |s| {
        s.matches("✓ web-").count() == 2
    });
    let forks_before_click = t.screen();

    // A click on the first session's row selects it.
    let row = forks_before_click
        .lines()
        .position(|l| l.contains("✓ web-"))
        .and_then(|r| u16::try_from(r).ok())
        .expect("session row");
    let first = forks_before_click
        .lines()
        .nth(row as usize)
        .unwrap_or_default();
    let name = first
        .split_whitespace()
        .find(|w| w.starts_with("web-"))
        .expect("fork name")
        .to_string();
    t.click(8, row);
    t.wait_text(&format!("Session · {name} ←"), 5);

    // Too small: the TUI says so instead of drawing empty boxes.
    t.resize(50, 12);
    t.wait_text("terminal too small", 5);
    t.resize(120, 40);
    t.wait_text("▸Sessions", 5);

    // Fork the never-acking template: it fails and rolls back.
    t.send(&["1"]);
    t.wait_text("[1 Snapshots", 5);
    // Back to the snapshots pane (the screen is as it was left).
    t.send(&["h", "h"]);
    t.wait_text("▸Snapshots", 5);
    t.send(&["/"]);
    t.wait_text("filter: /web", 5);
    t.send(&["BSpace", "BSpace", "BSpace"]);
    // A paste into the filter prompt.
    t.paste("silent");
    t.wait_text("filter: /silent", 5);
    t.send(&["Enter"]);
    t.wait_for("silent's markers", 30, |s| {
        s.contains("Markers · silent") && s.contains("app.config")
    });
    t.send(&["f"]);
    t.wait_text("fork name: silent-", 5);
    t.send(&["Enter"]);
    let s = t.wait_for("the silent fork to fail", 60, |s| {
        s.contains("✗  failed") && s.contains("rolled back")
    });
    assert!(s.contains("no ack from the guest"), "{s}");
    assert!(s.contains("✓  rollback"), "{s}");
    // Its guest log went with the fork: its end is kept.
    assert!(
        s.contains("guest.log (kept: the fork was rolled back)"),
        "{s}"
    );
    assert!(s.contains("fault=no-ack (not acking)"), "{s}");

    // `q` gives the terminal back; the sessions are in the store's history.
    t.send(&["q"]);
    t.wait_for("the shell to come back", 20, |s| {
        s.contains("shell-before-42") && !s.contains("Snapshots (")
    });
    t.type_text(&format!(
        "clear; XDG_STATE_HOME={d}/state {bin} --store {d}/store demo"
    ));
    t.send(&["Enter"]);
    t.wait_text("watching store", 60);
    t.wait_text("✓ JSON object", 30);
    t.send(&["2"]);
    let s = t.wait_text("▸Sessions (3)", 10);
    assert!(
        s.contains("✗ silent-") && s.matches("✓ web-").count() == 2,
        "{s}"
    );
    // After the restart, the rolled-back session's guest log is found.
    t.send(&["G"]);
    let s = t.wait_text("guest.log (kept: the fork was rolled back)", 10);
    assert!(s.contains("fault=no-ack (not acking)"), "{s}");
    t.send(&["q"]);
    t.wait_for("the shell to come back", 20, |s| !s.contains("Sessions ("));
    t.type_text(&format!(
        "stty -g > {d}/stty.after; echo shell-after-$((40+3))"
    ));
    t.send(&["Enter"]);
    t.wait_text("shell-after-43", 10);
    let before = std::fs::read_to_string(dir.path().join("stty.before")).expect("stty before");
    let after = std::fs::read_to_string(dir.path().join("stty.after")).expect("stty after");
    assert_eq!(before, after, "terminal modes restored");
}

/// A panic while the TUI has the terminal (raw mode, alternate screen): the
/// terminal is given back first, then the panic message is printed, and the
/// shell's settings are exactly what they were.
#[test]
#[ignore = "heavy: drives the TUI in tmux (cargo test -- --include-ignored)"]
fn a_panic_gives_the_terminal_back() {
    require_tmux();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let bin = env!("CARGO_BIN_EXE_forkmail");
    let t = start_named(dir.path(), "panic");
    t.type_text(&format!("stty -g > {d}/stty.before; echo ready-$((40+2))"));
    t.send(&["Enter"]);
    t.wait_text("ready-42", 10);
    t.type_text(&format!(
        "RUST_BACKTRACE=0 FORKMAIL_HOLD_AT=tui-panic XDG_STATE_HOME={d}/state {bin} --store {d}/store; r=$?; stty -g > {d}/stty.after; echo exit-$r"
    ));
    t.send(&["Enter"]);
    let s = t.wait_text("exit-101", 30);
    assert!(
        s.contains("injected panic"),
        "the message is on the normal screen: {s}"
    );
    let alt = t.cmd(&["display-message", "-p", "#{alternate_on}"]);
    assert_eq!(
        String::from_utf8_lossy(&alt.stdout).trim(),
        "0",
        "alternate screen left"
    );
    let before = std::fs::read_to_string(dir.path().join("stty.before")).expect("stty before");
    let after = std::fs::read_to_string(dir.path().join("stty.after")).expect("stty after");
    assert_eq!(before, after, "terminal modes restored (raw mode off)");
}
