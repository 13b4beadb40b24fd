//! placeholder
pub const DEFAULT_DEADLINE_MS: u64 = 2000;
