//! Per (snapshot, mailbox) drafts — the payload and the fork settings —
//! kept in the store (`<store>/drafts/<snapshot>/<mailbox>.json`), shared
//! with every other TUI and the CLI on the same store.
//!
//! Each draft remembers what the file held when it was last read or
//! written. Another window's change is taken in when this one has not
//! changed that draft since; when both changed it, saving keeps each
//! field only one side changed, this window's payload wins, and the other
//! window's payload is kept as a preset of the mailbox's library (never
//! lost, never overwritten silently).

use std::collections::HashMap;

use crate::mailbox::DEFAULT_ACK_TIMEOUT_MS;
pub use crate::store::Draft;
use crate::store::{Store, draft_path, write_json_atomic};

/// One draft as this window holds it.
#[derive(Debug, Clone)]
struct Held {
    /// As this window has it now.
    now: Draft,
    /// As the file held it when last read or written (with no file: the
    /// defaults this window started from).
    synced: Draft,
}

/// What saving a draft did beyond writing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Written.
    Written,
    /// Both windows changed the payload: this one's was written, the
    /// other's kept as a library preset of this name.
    KeptTheirs(String),
}

/// The drafts this window has read, by (snapshot, mailbox).
#[derive(Debug, Default)]
pub struct Drafts {
    held: HashMap<(String, String), Held>,
    /// Ack deadline of a mailbox without a draft (the config file's).
    default_ack_ms: u64,
}

fn read(store: &Store, snapshot: &str, mailbox: &str) -> Option<Draft> {
    crate::files::read_bounded(
        &draft_path(store, snapshot, mailbox),
        crate::files::MAX_METADATA_BYTES,
        "a draft",
    )
    .ok()
    .and_then(|b| serde_json::from_slice::<Draft>(&b).ok())
}

impl Drafts {
    /// Drafts whose mailboxes wait `default_ack_ms` for an ack unless saved
    /// otherwise (0: the contract's default).
    pub fn new(default_ack_ms: u64) -> Drafts {
        Drafts {
            held: HashMap::new(),
            default_ack_ms: match default_ack_ms {
                0 => DEFAULT_ACK_TIMEOUT_MS,
                ms => ms,
            },
        }
    }

    fn held(&mut self, store: &Store, snapshot: &str, mailbox: &str) -> &mut Held {
        let key = (snapshot.to_string(), mailbox.to_string());
        let default_ack_ms = self.default_ack_ms;
        self.held.entry(key).or_insert_with(|| {
            let synced = read(store, snapshot, mailbox).unwrap_or_else(|| Draft {
                ack_timeout_ms: default_ack_ms,
                ..Draft::default()
            });
            Held {
                now: synced.clone(),
                synced,
            }
        })
    }

    /// The draft of (`snapshot`, `mailbox`), read from the store on first use.
    pub fn get(&mut self, store: &Store, snapshot: &str, mailbox: &str) -> &Draft {
        &self.held(store, snapshot, mailbox).now
    }

    /// The draft, when read already (drawing never reads files).
    pub fn peek(&self, snapshot: &str, mailbox: &str) -> Option<&Draft> {
        self.held
            .get(&(snapshot.to_string(), mailbox.to_string()))
            .map(|h| &h.now)
    }

    /// Change the draft (in this window; [`Drafts::save`] writes it).
    pub fn edit(&mut self, store: &Store, snapshot: &str, mailbox: &str) -> &mut Draft {
        &mut self.held(store, snapshot, mailbox).now
    }

    /// Write the draft to the store, merged with what another window wrote
    /// meanwhile (see the module's notes).
    pub fn save(&mut self, store: &Store, snapshot: &str, mailbox: &str) -> Result<Saved, String> {
        let disk = read(store, snapshot, mailbox);
        let h = self.held(store, snapshot, mailbox);
        let mut saved = Saved::Written;
        if let Some(theirs) = &disk
            && *theirs != h.synced
        {
            let base = &h.synced;
            let mine = &mut h.now;
            if mine.include == base.include {
                mine.include = theirs.include;
            }
            if mine.wait_for_ack == base.wait_for_ack {
                mine.wait_for_ack = theirs.wait_for_ack;
            }
            if mine.ack_timeout_ms == base.ack_timeout_ms {
                mine.ack_timeout_ms = theirs.ack_timeout_ms;
            }
            if mine.payload == base.payload {
                mine.payload = theirs.payload.clone();
            } else if theirs.payload != base.payload && theirs.payload != mine.payload {
                saved = Saved::KeptTheirs(theirs.payload.clone());
            }
        }
        let path = draft_path(store, snapshot, mailbox);
        let now = h.now.clone();
        path.parent()
            .map(crate::store::private_dir)
            .unwrap_or(Ok(()))
            .map_err(|e| e.to_string())
            .and_then(|_| write_json_atomic(&path, &now).map_err(|e| e.to_string()))?;
        h.synced = now;
        Ok(saved)
    }

    /// Take in what other windows wrote to drafts this window has not
    /// changed since it last read or wrote them. Returns the (snapshot,
    /// mailbox) of each draft taken in.
    pub fn refresh(&mut self, store: &Store) -> Vec<(String, String)> {
        let mut taken = Vec::new();
        for ((snap, mb), h) in &mut self.held {
            if h.synced != h.now {
                continue; // changed here: saving merges
            }
            if let Some(d) = read(store, snap, mb)
                && d != h.synced
            {
                h.now = d.clone();
                h.synced = d;
                taken.push((snap.clone(), mb.clone()));
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_windows_on_one_store_never_overwrite_each_other() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(d.path().join("s")).expect("store");
        let (mut a, mut b) = (Drafts::new(0), Drafts::new(0));
        assert_eq!(a.get(&store, "web", "app").payload, "{}");
        assert_eq!(b.get(&store, "web", "app").payload, "{}");
        // A types a payload and saves it; B, which never touched it, toggles
        // include and saves: A's payload stays.
        a.edit(&store, "web", "app").payload = r#"{"from":"a"}"#.into();
        assert_eq!(a.save(&store, "web", "app"), Ok(Saved::Written));
        b.edit(&store, "web", "app").include = false;
        assert_eq!(b.save(&store, "web", "app"), Ok(Saved::Written));
        let on_disk = read(&store, "web", "app").expect("draft");
        assert_eq!(on_disk.payload, r#"{"from":"a"}"#);
        assert!(!on_disk.include);
        // A sees B's include without touching anything.
        assert_eq!(a.refresh(&store), vec![("web".into(), "app".into())]);
        assert!(!a.get(&store, "web", "app").include);
        // Both change the payload: B's is written, A's is kept aside.
        a.edit(&store, "web", "app").payload = r#"{"v":"a2"}"#.into();
        a.save(&store, "web", "app").expect("save");
        b.edit(&store, "web", "app").payload = r#"{"v":"b2"}"#.into();
        assert_eq!(
            b.save(&store, "web", "app"),
            Ok(Saved::KeptTheirs(r#"{"v":"a2"}"#.into()))
        );
        assert_eq!(
            read(&store, "web", "app").expect("draft").payload,
            r#"{"v":"b2"}"#
        );
    }
}
