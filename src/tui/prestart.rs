//! Starting a QEMU snapshot's VMM while the person is still editing its
//! payloads, so the fork only loads, patches and resumes. One prestart is
//! kept at a time, for the selected snapshot; moving to another snapshot or
//! quitting tears it down (no QEMU is left behind).

use super::app::{App, Msg};
use crate::fork::{Forks, Prestart};
use crate::vmm::VmmKind;

/// The prestart the TUI holds.
#[derive(Debug, Default)]
pub enum PrestartSlot {
    /// None.
    #[default]
    Empty,
    /// Being started (job `id`).
    Starting {
        /// The snapshot.
        snapshot: String,
        /// Which job, so a stale result is dropped.
        id: u64,
    },
    /// Ready to be used by the next fork of `snapshot`.
    Ready(Prestart),
}

impl PrestartSlot {
    /// The snapshot it is (being) started for.
    pub fn snapshot(&self) -> Option<&str> {
        match self {
            PrestartSlot::Empty => None,
            PrestartSlot::Starting { snapshot, .. } => Some(snapshot),
            PrestartSlot::Ready(p) => Some(p.snapshot()),
        }
    }
}

impl App {
    /// The person is about to fork `snapshot` (editing its payloads, or the
    /// fork dialog opened): start its VMM if it is a QEMU snapshot and none
    /// is started for it yet.
    pub fn want_prestart(&mut self, snapshot: &str) {
        if self.prestart.snapshot() == Some(snapshot) {
            return;
        }
        let is_qemu = self
            .catalog
            .snapshots
            .iter()
            .any(|s| s.name == snapshot && s.meta.vmm == VmmKind::Qemu);
        // Any other snapshot's prestart goes (dropping it stops its VMM).
        self.prestart = PrestartSlot::Empty;
        if !is_qemu {
            return;
        }
        self.next_prestart_id += 1;
        let id = self.next_prestart_id;
        self.prestart = PrestartSlot::Starting {
            snapshot: snapshot.to_string(),
            id,
        };
        let (tx, store, snap) = (self.tx.clone(), self.store.clone(), snapshot.to_string());
        let spawned = std::thread::Builder::new()
            .name(format!("prestart-{snap}"))
            .spawn(move || {
                let result = Forks::new(&store)
                    .prestart(&snap, false)
                    .map_err(|e| crate::sanitize::safe_owned(&e.to_string()));
                // A closed channel drops the prestart here: its VMM stops.
                let _ = tx.send(Msg::Prestarted { id, result });
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a prestart thread: {e}");
            self.prestart = PrestartSlot::Empty;
        }
    }

    /// A prestart job finished.
    pub fn prestarted(&mut self, id: u64, result: Result<Option<Prestart>, String>) {
        let current = matches!(&self.prestart, PrestartSlot::Starting { id: i, .. } if *i == id);
        if !current {
            return; // stale: dropping it tears it down
        }
        self.prestart = match result {
            Ok(Some(p)) => PrestartSlot::Ready(p),
            Ok(None) => PrestartSlot::Empty,
            Err(e) => {
                tracing::info!("prestart failed (the fork will start its VMM itself): {e}");
                PrestartSlot::Empty
            }
        };
    }

    /// The prestart for a fork of `snapshot`, if one is ready (taken).
    pub fn take_prestart(&mut self, snapshot: &str) -> Option<Prestart> {
        match std::mem::take(&mut self.prestart) {
            PrestartSlot::Ready(p) if p.snapshot() == snapshot => Some(p),
            other => {
                self.prestart = other;
                None
            }
        }
    }

    /// The selection moved: a prestart for another snapshot is torn down.
    pub fn keep_prestart_only_for(&mut self, snapshot: Option<&str>) {
        if self.prestart.snapshot().is_some() && self.prestart.snapshot() != snapshot {
            self.prestart = PrestartSlot::Empty;
        }
    }
}
