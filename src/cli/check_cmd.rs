//! `forkmail check`.
use anyhow::Result;
use super::CheckArgs;
use crate::store::Store;
pub(super) fn check(_store: &Store, _a: &CheckArgs) -> Result<i32> { Ok(0) }
