//! The payload library file of a mailbox: the payloads last forked
//! (newest first) and presets saved by name, kept in
//! `<store>/library/<mailbox>.json` beside the drafts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::store::{Store, private_dir, write_json_atomic};

/// Payloads kept in a mailbox's history.
pub const HISTORY_LEN: usize = 20;

/// A payload that was forked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forked {
    /// The payload text.
    pub payload: String,
    /// The snapshot it was forked from.
    pub snapshot: String,
    /// When (RFC 3339).
    pub at: String,
}

/// A named payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preset {
    /// Its name.
    pub name: String,
    /// The payload text.
    pub payload: String,
}

/// One mailbox's library file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    /// Presets, by name.
    #[serde(default)]
    pub presets: Vec<Preset>,
    /// Forked payloads, newest first, each payload once.
    #[serde(default)]
    pub history: Vec<Forked>,
}

/// The library file of `mailbox`.
pub fn library_path(store: &Store, mailbox: &str) -> PathBuf {
    store.root().join("library").join(format!("{mailbox}.json"))
}

impl Library {
    /// Read `mailbox`'s library (empty when there is none or it is unreadable).
    pub fn load(store: &Store, mailbox: &str) -> Library {
        crate::files::read_bounded(
            &library_path(store, mailbox),
            crate::files::MAX_METADATA_BYTES,
            "a payload library",
        )
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
    }

    /// Write it back.
    pub fn save(&self, store: &Store, mailbox: &str) -> Result<(), String> {
        let path = library_path(store, mailbox);
        if let Some(dir) = path.parent() {
            private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        write_json_atomic(&path, self).map_err(|e| e.to_string())
    }

    /// Put a forked payload first (once).
    pub fn remember(&mut self, payload: &str, snapshot: &str) {
        self.history.retain(|f| f.payload != payload);
        self.history.insert(
            0,
            Forked {
                payload: payload.into(),
                snapshot: snapshot.into(),
                at: crate::store::now_rfc3339(),
            },
        );
        self.history.truncate(HISTORY_LEN);
    }
}

impl Library {
    /// Add (or replace) preset `name`, presets kept in natural order.
    pub fn put_preset(&mut self, name: &str, payload: &str) {
        self.presets.retain(|p| p.name != name);
        self.presets.push(Preset {
            name: name.into(),
            payload: payload.into(),
        });
        self.presets
            .sort_by(|a, b| crate::tui::text::natural(&a.name, &b.name));
    }
}

/// Remember the payloads of a fork that starts, per mailbox (best effort:
/// logged when a library cannot be written).
pub fn remember_payloads(store: &Store, snapshot: &str, specs: &[crate::fork::MailboxSpec]) {
    for m in specs {
        let Some(payload) = &m.payload else { continue };
        let mut lib = Library::load(store, &m.name);
        lib.remember(payload, snapshot);
        if let Err(e) = lib.save(store, &m.name) {
            tracing::warn!("payload library of {}: {e}", m.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_each_payload_once_newest_first() {
        let mut lib = Library::default();
        lib.remember("{\"a\":1}", "web");
        lib.remember("{\"b\":2}", "web");
        lib.remember("{\"a\":1}", "edge");
        let p: Vec<&str> = lib.history.iter().map(|f| f.payload.as_str()).collect();
        assert_eq!(p, ["{\"a\":1}", "{\"b\":2}"]);
        for i in 0..30 {
            lib.remember(&format!("{{\"n\":{i}}}"), "web");
        }
        assert_eq!(lib.history.len(), HISTORY_LEN);
    }

    #[test]
    fn a_library_round_trips_through_the_store() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(d.path().join("s")).expect("store");
        let mut lib = Library::default();
        lib.presets.push(Preset {
            name: "eu".into(),
            payload: "{}".into(),
        });
        lib.save(&store, "app.config").expect("save");
        assert_eq!(Library::load(&store, "app.config"), lib);
        assert_eq!(Library::load(&store, "other"), Library::default());
    }
}
