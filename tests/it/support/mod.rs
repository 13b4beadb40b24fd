//! What the integration tests share: a CLI test environment (`cli`), the
//! TUI driven into a test backend (`tui`), real-VM prerequisites (`qemu`),
//! the Hypeman-shaped source fixture (`fixture`) and the one policy for
//! heavy tests (`heavy`).

pub mod cli;
// Shared with the engine's unit tests; not every helper is used by both.
#[allow(dead_code)]
#[path = "../../../crates/engine/src/source/tests/fixture.rs"]
pub mod fixture;
pub mod heavy;
pub mod qemu;
pub mod tui;
