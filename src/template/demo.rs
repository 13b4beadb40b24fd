//! The demo store: a few simulated templates that show every part of
//! forkmail, each with a one-line description of what it demonstrates.

use std::path::{Path, PathBuf};

use super::TemplateError;
use super::sim::{SimTemplateSpec, create_sim_template};
use crate::guest::GuestFault;
use crate::store::{SnapshotInfo, Store, StoreError};

/// One demo template and what it demonstrates.
pub struct DemoTemplate {
    /// How to make it.
    pub spec: SimTemplateSpec,
    /// What it shows, in one line.
    pub about: &'static str,
}

/// The demo store's root: the given store, else `$FORKMAIL_STORE`, else
/// `<data dir>/forkmail-demo` — so demo templates never mix into a
/// person's own store.
pub fn demo_store_root(explicit: Option<&Path>) -> Result<PathBuf, StoreError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("FORKMAIL_STORE").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    Ok(crate::store::data_dir()?.join("forkmail-demo"))
}

/// The demo templates.
pub fn demo_templates() -> Vec<DemoTemplate> {
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
        DemoTemplate {
            spec: web,
            about: "two mailboxes; the guest acks both",
        },
        DemoTemplate {
            spec: net,
            about: "a fork mailbox and a resume-network mailbox",
        },
        DemoTemplate {
            spec: slow,
            about: "the guest takes 2.5 s to ack (watch the countdown)",
        },
        DemoTemplate {
            spec: silent,
            about: "the guest never acks: forks fail and roll back",
        },
        DemoTemplate {
            spec: dup,
            about: "app.config's marker appears twice: forkmail refuses to guess",
        },
    ]
}

/// Create the demo store if it is missing (idempotent: existing templates
/// are kept). `made` hears of each template created.
pub fn ensure_demo_store(
    explicit: Option<&Path>,
    made: &mut dyn FnMut(&SnapshotInfo, &str),
) -> Result<Store, TemplateError> {
    let root = demo_store_root(explicit)?;
    let store = Store::open(&root)?;
    for t in demo_templates() {
        if store.snapshot(&t.spec.name).is_ok() {
            continue;
        }
        let snap = create_sim_template(&store, &t.spec)?;
        made(&snap, t.about);
    }
    Ok(store)
}
