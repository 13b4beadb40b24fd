//! Nothing lost, nobody in — round 2: what a careless user, a hostile local
//! user and a hostile guest or snapshot did to the surfaces added last
//! round (sources, compressed memory, import, check, fan-out), and what
//! forkmail does about it now. Each test failed before its fix.

use crate::support::cli as common;

use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{Env, events};
use serde_json::Value;

fn fork_json(env: &Env, name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(env.fork_dir(name).join("fork.json")).expect("fork.json"),
    )
    .expect("fork.json parses")
}

/// Plant a fork marker `name`/`token` at `offset` of `memory`.
fn plant_marker(memory: &Path, offset: u64, name: &str, token: &str) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(memory)
        .expect("open memory");
    let mut m = forkmail::mailbox::encode_fork_marker(name, token);
    m.resize(64, 0);
    f.write_all_at(&m, offset).expect("plant");
}

/// Defect 15: mailboxes `pfx` with tokens `abc` and `abcd`. `--token
/// pfx=abc` patches the marker whose token is exactly `abc` (the other one
/// only starts with those bytes); `--token pfx=abcd` the other one.
#[test]
fn a_token_that_is_a_prefix_of_another_still_finds_its_own_marker() {
    let env = Env::new();
    env.template("t", &["--mailbox", "pfx:abcd"]);
    let real = env.markers_json("t")[0]["offset"].as_u64().expect("offset");
    let planted = if real >= 8 << 20 {
        4 << 20
    } else {
        real + (8 << 20)
    };
    plant_marker(&env.snapshot_memory("t"), planted, "pfx", "abc");
    for (token, name, want) in [("abc", "f-abc", planted), ("abcd", "f-abcd", real)] {
        let out = env.run(&[
            "fork",
            "t",
            "--name",
            name,
            "--payload",
            "pfx={}",
            "--token",
            &format!("pfx={token}"),
            "--no-restore",
            "--json",
        ]);
        let evs = events(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(out.status.code(), Some(0), "--token pfx={token}: {evs:?}");
        assert_eq!(
            fork_json(&env, name)["mailboxes"][0]["offset"].as_u64(),
            Some(want),
            "--token pfx={token}"
        );
        env.ok(&["rm", name]);
    }
    // Without an exact one, a prefix match still works (a guest that left
    // bytes after its token), and two of them are ambiguous.
    let out = env.run(&[
        "fork",
        "t",
        "--payload",
        "pfx={}",
        "--token",
        "pfx=ab",
        "--no-restore",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "two markers start with pfx\\0ab"
    );
    let evs = events(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(evs.last().expect("events")["kind"], "marker_ambiguous");
}
