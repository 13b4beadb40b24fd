//! What the real-VM tests share: the `forkmail` binary run against a store,
//! the QEMU prerequisites (a missing one fails the test: these tests only
//! run when asked for), hashing.

use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

/// The `forkmail` binary Cargo built for the tests.
pub const FORKMAIL: &str = env!("CARGO_BIN_EXE_forkmail");

/// The QEMU binary: `FORKMAIL_QEMU`, else `qemu-system-x86_64`.
pub fn qemu_binary() -> String {
    std::env::var("FORKMAIL_QEMU")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "qemu-system-x86_64".into())
}

/// Fail the VM test `test` unless QEMU, `apt-get` and `dpkg` (the image
/// build fetches and unpacks Debian packages) and the `extra` tools (with
/// why each is needed) are here ([`super::heavy`]: heavy tests only run
/// when asked for, and then their tools must be there).
pub fn vm_prerequisites(test: &str, extra: &[(&str, &str)]) {
    let qemu = qemu_binary();
    super::heavy::require(test, &qemu, &["--version"], "install qemu-system-x86");
    let base = [
        ("apt-get", "the image build fetches Debian packages"),
        ("dpkg", "the image build unpacks Debian packages"),
    ];
    for (tool, why) in base.iter().chain(extra) {
        super::heavy::require(test, tool, &["--version"], why);
    }
}

/// Run `forkmail --store STORE ARGS` with no store, sources or state from
/// the environment; its output is echoed for a failing test's log.
pub fn forkmail(store: &Path, args: &[&str]) -> Output {
    let out = Command::new(FORKMAIL)
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("FORKMAIL_STORE")
        .env_remove("FORKMAIL_SOURCES")
        .env("XDG_STATE_HOME", store.with_file_name("state"))
        .output()
        .expect("run forkmail");
    eprintln!(
        "$ forkmail {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// [`forkmail`] that must succeed; its stdout.
pub fn ok(store: &Path, args: &[&str]) -> String {
    let out = forkmail(store, args);
    assert!(
        out.status.success(),
        "forkmail {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// SHA-256 of a file (a template's memory before and after).
pub fn sha256(path: &Path) -> Vec<u8> {
    let mut f = std::fs::File::open(path).expect("open");
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).expect("hash");
    h.finalize().to_vec()
}
