//! Names of snapshots and forks: `^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`, at most
//! 63 characters (Hypeman's instance-name rule), so no name escapes the store.

use std::fmt;

use super::StoreError;

/// Longest snapshot or fork name.
pub const MAX_STORE_NAME: usize = 63;

/// A snapshot or fork name that passed the naming rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValidName(String);

impl ValidName {
    /// Check `name` against the rule.
    pub fn new(name: &str) -> Result<ValidName, StoreError> {
        let b = name.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= MAX_STORE_NAME
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-';
        if ok {
            Ok(ValidName(name.to_string()))
        } else {
            Err(StoreError::InvalidName(name.to_string()))
        }
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ValidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_instance_rule() {
        for ok in ["a", "web", "web-1", "0", &"a".repeat(63)] {
            assert!(ValidName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "a/b",
            "..",
            ".",
            "a.b",
            &"a".repeat(64),
        ] {
            assert!(ValidName::new(bad).is_err(), "{bad}");
        }
    }
}
