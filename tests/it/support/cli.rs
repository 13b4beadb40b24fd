//! Helpers for tests that drive the real `forkmail` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

/// A store in a temp dir plus the binary to drive.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_forkmail"));
        c.arg("--store").arg(self.store());
        c.env("XDG_STATE_HOME", self.dir.path().join("state"));
        c.env_remove("FORKMAIL_STORE");
        c.env_remove("FORKMAIL_SOURCES");
        c
    }
    /// Run with args; return output (no status check).
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run forkmail")
    }
    /// Run and require success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "forkmail {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    /// Create a small sim template.
    pub fn template(&self, name: &str, extra: &[&str]) {
        let mut args = vec!["template", "create", name, "--memory", "64M"];
        args.extend_from_slice(extra);
        self.ok(&args);
    }
    pub fn snapshot_memory(&self, name: &str) -> PathBuf {
        self.store().join("snapshots").join(name).join("memory")
    }
    pub fn fork_dir(&self, name: &str) -> PathBuf {
        self.store().join("forks").join(name)
    }
    pub fn forks_on_disk(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.store().join("forks"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
    pub fn markers_json(&self, target: &str) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["markers", target, "--json"])).expect("markers json")
    }
}

/// SHA-256 of a file, hex.
pub fn hash_file(path: &Path) -> String {
    let mut f = std::fs::File::open(path).expect("open for hash");
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).expect("hash");
    format!("{:x}", h.finalize())
}

/// Parse `--json` event lines.
pub fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad event line {l:?}: {e}")))
        .collect()
}

/// The `error` of the final event.
pub fn final_error(evs: &[serde_json::Value]) -> String {
    let last = evs.last().expect("no events");
    assert_eq!(last["stage"], "failed", "last event: {last}");
    last["error"].as_str().unwrap_or_default().to_string()
}
