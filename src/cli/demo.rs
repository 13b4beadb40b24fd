//! The demo store: a few templates that show every part of forkmail.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::guest::GuestFault;
use crate::store::Store;
use crate::template::sim::{SimTemplateSpec, create_sim_template};
use crate::units::human_size;

/// The demo store's root: the given store, else `$FORKMAIL_STORE`, else
/// `<data dir>/forkmail-demo` — so demo templates never mix into a
/// person's own store.
pub fn demo_store_root(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("FORKMAIL_STORE").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    Ok(crate::store::data_dir()?.join("forkmail-demo"))
}

fn demo_templates() -> Vec<(SimTemplateSpec, &'static str)> {
    let mut web = SimTemplateSpec::new("web");
    web.mailboxes = vec![("app.config".into(), None), ("secrets.v1".into(), None)];

    let mut net = SimTemplateSpec::new("edge-net");
    net.memory_size = 512 << 20;
    net.mailboxes = vec![("net.config".into(), None)];
    net.resume_network_token = Some("edge-net-handoff".into());

    let mut slow = SimTemplateSpec::new("slow-ack");
    slow.memory_size = 512 << 20;
    slow.mailboxes = vec![("warmup".into(), None)];
    slow.faults.insert("warmup".into(), GuestFault::Slow(2500));

    let mut silent = SimTemplateSpec::new("silent");
    silent.memory_size = 512 << 20;
    silent.mailboxes = vec![("app.config".into(), None)];
    silent.faults.insert("app.config".into(), GuestFault::NoAck);

    let mut dup = SimTemplateSpec::new("dup-marker");
    dup.memory_size = 512 << 20;
    dup.mailboxes = vec![("app.config".into(), None), ("cache.v2".into(), None)];
    dup.stray_copies = vec!["app.config".into()];

    vec![
        (web, "two mailboxes; the guest acks both"),
        (net, "a fork mailbox and a resume-network mailbox"),
        (slow, "the guest takes 2.5 s to ack (watch the countdown)"),
        (silent, "the guest never acks: forks fail and roll back"),
        (
            dup,
            "app.config's marker appears twice: forkmail refuses to guess",
        ),
    ]
}

/// Create the demo store if it is missing (idempotent: existing templates are
/// kept). Reports what it made to `out`.
pub fn ensure_demo_store(explicit: Option<&Path>, out: &mut dyn Write) -> Result<Store> {
    let root = demo_store_root(explicit)?;
    let store =
        Store::open(&root).with_context(|| format!("open demo store {}", root.display()))?;
    for (spec, what) in demo_templates() {
        if store.snapshot(&spec.name).is_ok() {
            continue;
        }
        let snap = create_sim_template(&store, &spec)
            .with_context(|| format!("create demo template {}", spec.name))?;
        writeln!(
            out,
            "created {:<11} {:>9} ({} on disk)  {what}",
            snap.name,
            human_size(snap.memory_size),
            human_size(snap.allocated)
        )?;
    }
    Ok(store)
}
