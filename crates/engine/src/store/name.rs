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

/// Natural order of names: runs of digits compare as numbers, so `fan-2`
/// sorts before `fan-10` (fan-outs name their forks `<base>-<i>`).
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..n], &y[..m]);
                // Compare as numbers without overflow: strip leading zeros,
                // then the longer is larger, then digit by digit.
                let strip = |d: &[u8]| -> usize { d.iter().take_while(|c| **c == b'0').count() };
                let (tx, ty) = (&dx[strip(dx)..], &dy[strip(dy)..]);
                let ord = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
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

#[cfg(test)]
mod natural_tests {
    use super::natural_cmp;

    #[test]
    fn digits_sort_as_numbers() {
        let mut v = vec![
            "fan-10", "fan-2", "fan-1", "fan-02", "web", "fan-1a", "fan-100",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "fan-1", "fan-1a", "fan-02", "fan-2", "fan-10", "fan-100", "web"
            ]
        );
    }
}
