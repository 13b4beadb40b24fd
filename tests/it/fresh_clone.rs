//! The README's first command on a fresh clone: `cargo run --release --
//! demo` (here with `--no-tui`) builds only the `forkmail` binary, and a
//! fork in the demo store then reaches `done` — with no `forkmail-guest`
//! on `PATH` or beside the binary. The simulator's guest is `forkmail`
//! itself.
//!
//! The clone is of the committed `HEAD` (in CI, a clean clone already).
//! Its build goes to `target/fresh-clone` so dependencies are reused
//! between runs; the project itself is rebuilt from the clone every time.

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A PATH with the system directories and cargo's, none holding a
/// `forkmail-guest`.
fn clean_path(cargo: &Path) -> String {
    let mut dirs: Vec<PathBuf> = ["/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .map(PathBuf::from)
        .collect();
    if let Some(d) = cargo.parent() {
        dirs.push(d.to_path_buf());
    }
    for d in &dirs {
        assert!(
            !d.join("forkmail-guest").exists(),
            "{} holds a forkmail-guest",
            d.display()
        );
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
#[ignore = "heavy: clones and builds forkmail in release mode (cargo test -- --include-ignored)"]
fn the_readme_demo_forks_from_a_fresh_clone_with_only_the_forkmail_binary() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let clone = tmp.path().join("forkmail");
    run(Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(manifest)
        .arg(&clone));
    let cargo = PathBuf::from(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let target = manifest.join("target/fresh-clone");
    let release = target.join("release");
    // Whatever an earlier run left: the demo must not need it.
    let _ = std::fs::remove_file(release.join("forkmail-guest"));
    let path = clean_path(&cargo);
    let data = tmp.path().join("data");
    let isolate = |c: &mut Command| {
        c.env("PATH", &path)
            .env("XDG_DATA_HOME", &data)
            .env("XDG_STATE_HOME", tmp.path().join("state"))
            .env_remove("FORKMAIL_STORE")
            .env_remove("FORKMAIL_SIM_GUEST");
    };

    // The README's first command, exactly (without the TUI).
    let mut readme = Command::new(&cargo);
    readme
        .current_dir(&clone)
        .args(["run", "--release", "--", "demo", "--no-tui"])
        .env("CARGO_TARGET_DIR", &target);
    isolate(&mut readme);
    let out = run(&mut readme);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("demo store ready"), "{said}");
    assert!(
        !release.join("forkmail-guest").exists(),
        "cargo run built only the forkmail binary"
    );

    // Then a fork in the demo store, with the binary the user has.
    let demo = data.join("forkmail-demo");
    let mut fork = Command::new(release.join("forkmail"));
    fork.arg("--store").arg(&demo).args([
        "fork",
        "web",
        "--name",
        "fresh",
        "--payload",
        r#"app.config={"hello":"fresh clone"}"#,
        "--ack",
        "app.config",
        "--json",
    ]);
    isolate(&mut fork);
    let out = run(&mut fork);
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let last: serde_json::Value = serde_json::from_str(&last).expect("event line");
    assert_eq!(last["stage"], "done", "{last}");
    let log = std::fs::read_to_string(demo.join("forks/fresh/guest.log")).expect("guest log");
    assert!(log.contains(r#""hello":"fresh clone""#), "{log}");

    let mut rm = Command::new(release.join("forkmail"));
    rm.arg("--store").arg(&demo).args(["rm", "fresh"]);
    isolate(&mut rm);
    run(&mut rm);
}
