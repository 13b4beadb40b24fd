//! End to end: the real `forkmail` binary in a real terminal (tmux) on a
//! fresh demo store. Waits poll `capture-pane` until the expected text shows
//! up, with a deadline — never a fixed sleep.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
    dir: PathBuf,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }
    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(out.status.success(), "send-keys {keys:?}: {out:?}");
    }
    fn type_text(&self, text: &str) {
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
    fn resize(&self, w: u16, h: u16) {
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
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }
    /// Poll the screen until `pred` holds; panic with the last screen.
    fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    fn wait_text(&self, text: &str, secs: u64) -> String {
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
fn require_tmux() {
    crate::support::heavy::require("tui_tmux", "tmux", &["-V"], "apt-get install tmux");
}

fn start(dir: &Path) -> Tmux {
    start_named(dir, "main")
}

fn start_named(dir: &Path, tag: &str) -> Tmux {
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

    // The whole guest log (the detail pane cuts long lines), searchable.
    t.send(&["Enter"]);
    let s = t.wait_text("guest log · web-", 5);
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
    t.wait_text("guest log · web-", 5);
    t.send(&["q"]);
    t.wait_for("the sessions screen", 5, |s| {
        s.contains("▸Sessions") && !s.contains("guest log ·")
    });

    // y copies the fork's name to the clipboard (OSC 52: tmux keeps it).
    t.send(&["y"]);
    t.wait_text("fork name copied", 5);
    let buffer = String::from_utf8_lossy(&t.cmd(&["show-buffer"]).stdout).into_owned();
    assert!(buffer.starts_with("web-"), "tmux got the copy: {buffer:?}");

    // Replay: the dialog opens prefilled; Enter forks the same again.
    t.send(&["r"]);
    t.wait_text("Replay ", 5);
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

#[test]
#[ignore = "heavy: drives the TUI in tmux (cargo test -- --include-ignored)"]
fn fan_out_grouped_row_and_bulk_remove_in_tmux() {
    require_tmux();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let bin = env!("CARGO_BIN_EXE_forkmail");
    let t = start_named(dir.path(), "fan");
    t.type_text(&format!(
        "XDG_STATE_HOME={d}/state {bin} --store {d}/store demo"
    ));
    t.send(&["Enter"]);
    t.wait_for("the TUI on the demo store", 60, |s| {
        s.contains("Snapshots (5)") && s.contains("watching store")
    });
    t.send(&["/"]);
    t.wait_text("filter: /", 5);
    t.type_text("web");
    t.send(&["Enter"]);
    t.wait_for("web's markers", 30, |s| s.contains("Markers · web"));

    // The fork dialog with a count of 4 is a fan-out (it opens once the
    // scan of the 1 GiB template is done).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        t.send(&["f"]);
        let s = t.wait_for("the fork dialog or the scan note", 5, |s| {
            s.contains("fork name: web-") || s.contains("wait for the scan")
        });
        if s.contains("fork name: web-") {
            break;
        }
        assert!(Instant::now() < deadline, "the scan never finished:\n{s}");
        t.wait_for("the scan to finish", 30, |s| {
            s.contains("app.config") && !s.contains("scanning")
        });
    }
    for _ in 0..20 {
        t.send(&["BSpace"]);
    }
    t.type_text("fan");
    t.send(&["Tab"]);
    t.send(&["BSpace"]);
    t.type_text("4");
    t.wait_text("fan-out: fan-0 … fan-3", 5);
    t.send(&["Enter"]);
    // One row for the whole fan-out, with a per-fork stage grid.
    let s = t.wait_for("the fan-out to finish", 60, |s| {
        s.contains("▸fan ×4") && s.contains("4/4") && s.contains("4 done, 0 failed")
    });
    assert!(s.contains("Fan-out · fan ×4 ← web"), "{s}");
    assert!(s.contains("val  cpy  pre  pat  res  ack  done"), "{s}");
    t.send(&["Enter"]);
    t.wait_for("the fan-out's forks listed", 5, |s| {
        s.contains("▾fan ×4") && s.contains("✓ fan-3")
    });

    // Forks screen: all four, marked at once, removed with one question.
    t.send(&["3"]);
    t.wait_text("Forks (4)", 10);
    t.send(&["v"]);
    t.wait_text("4 marked", 5);
    t.send(&["d"]);
    t.wait_text("Remove 4 forks?", 5);
    t.send(&["y"]);
    t.wait_for("the forks to be removed", 30, |s| {
        s.contains("No forks in this store.")
    });
    t.send(&["q"]);
    t.wait_for("the shell to come back", 20, |s| !s.contains("Forks ("));
    assert!(
        std::fs::read_dir(dir.path().join("store/forks"))
            .map(|rd| rd.count())
            .unwrap_or(0)
            == 0,
        "nothing left on disk"
    );
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
