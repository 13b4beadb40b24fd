//! The demo store: a few simulated templates that show every part of
//! forkmail, each with a one-line description of what it demonstrates.

use std::path::Path;

use super::TemplateError;
use super::sim::{SimTemplateSpec, create_sim_template};
use crate::guest::GuestFault;
use crate::store::{SnapshotInfo, Store};

/// One demo template and what it demonstrates.
pub struct DemoTemplate {
    /// How to make it.
    pub spec: SimTemplateSpec,
    /// What it shows, in one line.
    pub about: &'static str,
    /// Sample payloads of its mailboxes (the drafts the TUI opens with).
    pub samples: &'static [(&'static str, &'static str)],
}

/// The snapshot the TUI opens on in the demo store.
pub const DEMO_FIRST: &str = "web";

/// A JSON Schema the demo store ships for `net.config` (so the editor's
/// schema checks show on `edge-net`).
pub const NET_CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "net.config",
  "type": "object",
  "required": ["mtu"],
  "properties": {
    "mtu": {"type": "integer", "minimum": 576, "maximum": 9000},
    "dns": {"type": "array", "items": {"type": "string"}},
    "ack_port": {"type": "integer"}
  },
  "additionalProperties": false
}
"#;

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

    let mut all = vec![
        DemoTemplate {
            spec: web,
            about: "two mailboxes; the guest acks both",
            samples: &[
                (
                    "app.config",
                    r#"{"db": "postgres://db/app", "region": "eu-west", "replicas": 2}"#,
                ),
                ("secrets.v1", r#"{"api_key": "demo-not-a-secret"}"#),
            ],
        },
        DemoTemplate {
            spec: net,
            about: "a fork mailbox and a resume-network mailbox; net.config has a JSON Schema",
            samples: &[("net.config", r#"{"mtu": 1500, "dns": ["10.0.2.3"]}"#)],
        },
        DemoTemplate {
            spec: slow,
            about: "the guest takes 2.5 s to ack (watch the countdown)",
            samples: &[("warmup", r#"{"cache": "prime", "items": 1000}"#)],
        },
        DemoTemplate {
            spec: silent,
            about: "the guest never acks: forks fail and roll back",
            samples: &[("app.config", r#"{"db": "postgres://db/app"}"#)],
        },
        DemoTemplate {
            spec: dup,
            about: "app.config's marker appears twice: forkmail refuses to guess",
            samples: &[("cache.v2", r#"{"size_mb": 64}"#)],
        },
    ];
    for t in &mut all {
        t.spec.description = Some(t.about.to_string());
    }
    all
}

/// Create the demo store at `root` if it is missing (idempotent: existing
/// templates are kept). `made` hears of each template created.
pub fn ensure_demo_store(
    root: &Path,
    made: &mut dyn FnMut(&SnapshotInfo, &str),
) -> Result<Store, TemplateError> {
    let store = Store::open(root)?;
    for t in demo_templates() {
        if store.snapshot(&t.spec.name).is_ok() {
            continue;
        }
        let snap = create_sim_template(&store, &t.spec)?;
        // Sample payloads, so the first fork shows something (a draft the
        // person already has is kept).
        for (mailbox, payload) in t.samples {
            crate::store::seed_draft(&store, &t.spec.name, mailbox, payload);
        }
        made(&snap, t.about);
    }
    let schema = store.root().join("schemas").join("net.config.json");
    if !schema.exists() {
        let written = crate::store::private_dir(&store.root().join("schemas"))
            .and_then(|_| crate::store::private_file(&schema))
            .and_then(|mut f| std::io::Write::write_all(&mut f, NET_CONFIG_SCHEMA.as_bytes()));
        if let Err(e) = written {
            tracing::warn!("demo schema {}: {e}", schema.display());
        }
    }
    Ok(store)
}
