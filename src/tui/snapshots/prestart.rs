//! Starting a QEMU snapshot's VMM while the person is still editing its
//! payloads, so the fork only loads, patches and resumes. One prestart is
//! kept at a time, for the selected snapshot; moving to another snapshot or
//! quitting tears it down (no QEMU is left behind).

use crate::fork::{Forks, Prestart};
use crate::tui::msg::Msg;
use crate::tui::shared::Shared;

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

impl PrestartSlot {
    /// The person is about to fork `snapshot` (editing its payloads, or the
    /// fork dialog opened): start its VMM if it is a QEMU snapshot
    /// (`is_qemu`) and none is started for it yet. Any other snapshot's
    /// prestart goes (dropping it stops its VMM).
    pub fn want(&mut self, snapshot: &str, is_qemu: bool, cx: &mut Shared) {
        if self.snapshot() == Some(snapshot) {
            return;
        }
        *self = PrestartSlot::Empty;
        if !is_qemu {
            return;
        }
        let id = cx.next_id();
        *self = PrestartSlot::Starting {
            snapshot: snapshot.to_string(),
            id,
        };
        let (tx, store, snap) = (cx.tx().clone(), cx.store().clone(), snapshot.to_string());
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
            *self = PrestartSlot::Empty;
        }
    }

    /// A prestart job finished.
    pub fn prestarted(&mut self, id: u64, result: Result<Option<Prestart>, String>) {
        let current = matches!(self, PrestartSlot::Starting { id: i, .. } if *i == id);
        if !current {
            return; // stale: dropping it tears it down
        }
        *self = match result {
            Ok(Some(p)) => PrestartSlot::Ready(p),
            Ok(None) => PrestartSlot::Empty,
            Err(e) => {
                tracing::info!("prestart failed (the fork will start its VMM itself): {e}");
                PrestartSlot::Empty
            }
        };
    }

    /// The prestart for a fork of `snapshot`, if one is ready (taken).
    pub fn take(&mut self, snapshot: &str) -> Option<Prestart> {
        match std::mem::take(self) {
            PrestartSlot::Ready(p) if p.snapshot() == snapshot => Some(p),
            other => {
                *self = other;
                None
            }
        }
    }

    /// The selection moved: a prestart for another snapshot is torn down.
    pub fn keep_only_for(&mut self, snapshot: Option<&str>) {
        if self.snapshot().is_some() && self.snapshot() != snapshot {
            *self = PrestartSlot::Empty;
        }
    }
}
