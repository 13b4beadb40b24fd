//! The CLI fits the ecosystem: a config file validated at start (errors
//! name the line), its commented default, shell completions and a man page;
//! sessions of `fork` go to the store's history; progress stays off pipes.

use std::path::Path;
use std::process::{Command, Output};

const FORKMAIL: &str = env!("CARGO_BIN_EXE_forkmail");

fn run(dir: &Path, config: Option<&str>, args: &[&str]) -> Output {
    let cfg = dir.join("config.toml");
    if let Some(text) = config {
        std::fs::write(&cfg, text).expect("write config");
    }
    Command::new(FORKMAIL)
        .args(args)
        .env("FORKMAIL_CONFIG", &cfg)
        .env("XDG_STATE_HOME", dir.join("state"))
        .env_remove("FORKMAIL_STORE")
        .env("HOME", dir)
        .env_remove("XDG_DATA_HOME")
        .output()
        .expect("run forkmail")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_broken_config_file_names_its_line_and_stops_every_command() {
    let d = tempfile::tempdir().expect("tempdir");
    let out = run(
        d.path(),
        Some("[fork]\nack_timeout_ms = 5000\n\n[keys]\nfork = [\"j\"]\n"),
        &["snapshots"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("config.toml, line 5"), "{err}");
    assert!(err.contains("would mean both"), "{err}");
    // The commented default is still there to start over from.
    let out = run(d.path(), None, &["config", "--print-default"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("# \"main.fork\" = [\"f\"]"));
}

#[test]
fn the_config_sets_the_default_store_and_ack_timeout() {
    let d = tempfile::tempdir().expect("tempdir");
    let store = d.path().join("configured-store");
    let cfg = format!(
        "store = \"{}\"\n[fork]\nack_timeout_ms = 2500\n",
        store.display()
    );
    let out = run(
        d.path(),
        Some(&cfg),
        &[
            "template",
            "create",
            "t",
            "--mailbox",
            "m",
            "--memory",
            "32M",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        store.join("snapshots/t/snapshot.json").is_file(),
        "created in the configured store"
    );
    let out = run(
        d.path(),
        None,
        &["fork", "t", "--payload", "m={}", "--ack", "m", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let waiting = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["stage"] == "ack" && v["status"] == "started" && v["mailbox"] == "m")
        .expect("an ack wait");
    assert_eq!(waiting["deadline_ms"], 2500, "the config's default");
    // The session is in the store's history, its events the same lines.
    let sessions: Vec<_> = std::fs::read_dir(store.join("sessions"))
        .expect("sessions dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    let lines = sessions
        .iter()
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .expect("a recorded session");
    assert_eq!(lines, text(&out.stdout), "exactly the --json lines");
    let fork = serde_json::from_str::<serde_json::Value>(lines.lines().next().unwrap_or("{}"))
        .expect("json")["fork"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let out = run(d.path(), None, &["rm", &fork]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn completions_and_the_man_page_are_generated() {
    let d = tempfile::tempdir().expect("tempdir");
    for shell in ["bash", "zsh", "fish"] {
        let out = run(d.path(), None, &["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        assert!(
            script.contains("forkmail") && script.contains("template"),
            "{shell}: {script}"
        );
    }
    let out = run(d.path(), None, &["man"]);
    assert!(out.status.success());
    let man = text(&out.stdout);
    assert!(
        man.starts_with(".ie") || man.contains(".TH forkmail"),
        "{man}"
    );
    assert!(man.contains("snapshots"));
}

#[test]
fn progress_is_not_drawn_into_a_pipe() {
    let d = tempfile::tempdir().expect("tempdir");
    let cfg = format!("store = \"{}\"\n", d.path().join("s").display());
    let out = run(
        d.path(),
        Some(&cfg),
        &[
            "template",
            "create",
            "t",
            "--mailbox",
            "m",
            "--memory",
            "64M",
        ],
    );
    assert!(out.status.success());
    let out = run(
        d.path(),
        None,
        &["fork", "t", "--name", "p1", "--payload", "m={}"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !all.contains('\x1b'),
        "no terminal control in a pipe: {all:?}"
    );
    assert!(text(&out.stdout).contains("copy"), "{all}");
    assert!(run(d.path(), None, &["rm", "p1"]).status.success());
}
