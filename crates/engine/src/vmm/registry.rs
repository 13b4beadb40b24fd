//! The one list of VMM drivers. Adding a driver is a new module under
//! `vmm/` (declared in `vmm/mod.rs`) and its arm in [`driver`] here — plus a
//! variant of [`VmmKind`] if the kind is new (Firecracker and Cloud
//! Hypervisor exist already: their snapshots are listed and imported).

use serde::{Deserialize, Serialize};

use super::{Vmm, VmmError, qemu, sim};

/// Which VMM a snapshot belongs to (`vmm` in `snapshot.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmmKind {
    /// The built-in simulator.
    Sim,
    /// QEMU.
    Qemu,
    /// Firecracker: snapshots imported from a source (`memory` + `state`).
    /// No driver yet: forks run with `--no-restore` (and `--export`).
    Firecracker,
    /// Cloud Hypervisor: snapshots imported from a source (`memory-ranges`
    /// + `config.json` + `state.json`). No driver yet, as for Firecracker.
    #[serde(rename = "cloud-hypervisor")]
    CloudHypervisor,
}

impl VmmKind {
    /// Every kind.
    pub const ALL: [VmmKind; 4] = [
        VmmKind::Sim,
        VmmKind::Qemu,
        VmmKind::Firecracker,
        VmmKind::CloudHypervisor,
    ];

    /// Lowercase label (the same as in `snapshot.json`).
    pub fn label(self) -> &'static str {
        match self {
            VmmKind::Sim => "sim",
            VmmKind::Qemu => "qemu",
            VmmKind::Firecracker => "firecracker",
            VmmKind::CloudHypervisor => "cloud-hypervisor",
        }
    }

    /// Whether forkmail has a driver that restores snapshots of this kind
    /// (asked of [`driver`], the one list; making a driver costs nothing).
    pub fn has_driver(self) -> bool {
        driver(self).is_ok()
    }
}

impl std::str::FromStr for VmmKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        VmmKind::ALL
            .into_iter()
            .find(|k| k.label() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = VmmKind::ALL.iter().map(|k| k.label()).collect();
                format!("unknown VMM {s:?} (expected one of {})", all.join(", "))
            })
    }
}

/// The driver for `kind`; [`VmmError::NoDriver`] for a kind forkmail can
/// list, import, patch and export but not restore.
pub fn driver(kind: VmmKind) -> Result<Box<dyn Vmm>, VmmError> {
    match kind {
        VmmKind::Sim => Ok(Box::new(sim::SimVmm::new())),
        VmmKind::Qemu => Ok(Box::new(qemu::QemuVmm::new())),
        VmmKind::Firecracker | VmmKind::CloudHypervisor => Err(VmmError::NoDriver { kind }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, Kinded};

    #[test]
    fn kinds_round_trip_through_their_labels_and_json() {
        for k in VmmKind::ALL {
            assert_eq!(k.label().parse::<VmmKind>(), Ok(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.label()));
        }
    }

    #[test]
    fn kinds_without_a_driver_say_so_with_a_typed_error() {
        for k in [VmmKind::Firecracker, VmmKind::CloudHypervisor] {
            assert!(!k.has_driver());
            let Err(e) = driver(k) else {
                panic!("{k:?} has no driver")
            };
            assert!(matches!(e, VmmError::NoDriver { kind } if kind == k));
            assert_eq!(e.kind(), ErrorKind::BadRequest);
            let text = e.to_string();
            assert!(
                text.contains("--no-restore") && text.contains(k.label()),
                "{text}"
            );
        }
        assert!(driver(VmmKind::Sim).is_ok() && driver(VmmKind::Qemu).is_ok());
    }
}
