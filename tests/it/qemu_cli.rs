//! The qemu commands' error paths and `doctor`, without a real VM.

use crate::support::cli as common;

use common::Env;

#[test]
fn qemu_template_without_image_says_how_to_build_one() {
    let env = Env::new();
    let out = env.run(&[
        "template",
        "create",
        "t1",
        "--vmm",
        "qemu",
        "--mailbox",
        "app",
        "--memory",
        "256M",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("forkmail image build"), "{err}");
    assert!(
        !env.store().join("snapshots/t1").exists(),
        "nothing left behind"
    );
}

#[test]
fn qemu_template_rejects_simulator_only_options_and_bad_mailboxes() {
    let env = Env::new();
    let out = env.run(&[
        "template",
        "create",
        "t1",
        "--vmm",
        "qemu",
        "--mailbox",
        "app",
        "--guest-fault",
        "app=no-ack",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("simulator options"));
    let out = env.run(&["template", "create", "t1", "--vmm", "qemu"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least one --mailbox"));
}

#[test]
fn doctor_reports_missing_qemu_and_image_with_what_to_do() {
    let env = Env::new();
    let out = env
        .cmd()
        .arg("doctor")
        .env("FORKMAIL_QEMU", "/nonexistent/qemu-system-x86_64")
        .output()
        .expect("run forkmail doctor");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("warn qemu"), "{text}");
    assert!(text.contains("apt-get install qemu-system-x86"), "{text}");
    assert!(text.contains("warn image"), "{text}");
    assert!(text.contains("auto picks"), "{text}");
    let out = env.run(&["doctor", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor --json");
    assert_eq!(v["checks"].as_array().map(Vec::len), Some(4));
}

#[test]
fn image_build_packs_a_dynamic_guest_with_its_loader_and_libraries() {
    let env = Env::new();
    // The forkmail test binary itself is dynamically linked, like the
    // forkmail-guest `cargo install` puts beside forkmail.
    let me = std::env::current_exe().expect("current exe");
    let me = me.to_str().expect("utf-8 path");
    let out = env.run(&[
        "image",
        "build",
        "--guest",
        me,
        "--kernel",
        me,
        "--busybox",
        me,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("image JSON");
    let libs: Vec<&str> = v["meta"]["guest_libraries"]
        .as_array()
        .expect("guest_libraries")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    assert!(libs.contains(&"/lib/libc.so.6"), "{libs:?}");
    assert!(libs.iter().any(|l| l.contains("ld-linux")), "{libs:?}");
    assert!(env.store().join("images/default/initrd.img").is_file());
}
