//! The one list of VMM drivers. Adding a driver is a new module under
//! `vmm/` plus a variant and a line here.

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
}

impl VmmKind {
    /// Every kind.
    pub const ALL: [VmmKind; 2] = [VmmKind::Sim, VmmKind::Qemu];

    /// Lowercase label (the same as in `snapshot.json`).
    pub fn label(self) -> &'static str {
        match self {
            VmmKind::Sim => "sim",
            VmmKind::Qemu => "qemu",
        }
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

/// The driver for `kind`.
pub fn driver(kind: VmmKind) -> Result<Box<dyn Vmm>, VmmError> {
    match kind {
        VmmKind::Sim => Ok(Box::new(sim::SimVmm::new())),
        VmmKind::Qemu => Ok(Box::new(qemu::QemuVmm::new())),
    }
}
