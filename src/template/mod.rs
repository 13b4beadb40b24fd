//! Creating standby snapshots: the simulator's generator (and, with the
//! qemu driver, booting, arming and snapshotting a real VM).

pub mod qemu;
pub mod sim;
