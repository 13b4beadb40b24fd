//! The ack datagram: `stage=applied mailbox=<name>`, strictly parsed.

/// The stage value that acknowledges a payload.
pub const ACK_STAGE_APPLIED: &str = "applied";

/// Format the ack a guest sends for mailbox `name`.
pub fn format_ack(name: &str) -> String {
    format!("stage={ACK_STAGE_APPLIED} mailbox={name}\n")
}

/// Parse a datagram into its `key=value` fields. `None` unless the whole
/// datagram is one line of space-separated `key=value` tokens (an optional
/// trailing newline is allowed) with no key given twice.
pub fn parse_ack_fields(datagram: &[u8]) -> Option<Vec<(&str, &str)>> {
    let text = std::str::from_utf8(datagram).ok()?;
    let line = text.strip_suffix('\n').unwrap_or(text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.contains(['\n', '\r']) {
        return None;
    }
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for token in line.split(' ').filter(|t| !t.is_empty()) {
        let (key, value) = token.split_once('=')?;
        if key.is_empty() || fields.iter().any(|(k, _)| *k == key) {
            return None;
        }
        fields.push((key, value));
    }
    if fields.is_empty() {
        None
    } else {
        Some(fields)
    }
}

/// Why a datagram does not acknowledge a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckReject {
    /// Not one line of space-separated `key=value` fields (or a key twice).
    Malformed,
    /// `stage` is missing or not exactly `applied`.
    WrongStage,
    /// `mailbox` is missing or names another mailbox.
    OtherMailbox,
}

impl std::fmt::Display for AckReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AckReject::Malformed => "not one line of key=value fields",
            AckReject::WrongStage => "stage is not applied",
            AckReject::OtherMailbox => "not for this mailbox",
        })
    }
}

/// Whether `datagram` acknowledges mailbox `name`: it parses completely,
/// `stage` is exactly `applied` and `mailbox` is exactly `name`.
pub fn check_ack(datagram: &[u8], name: &str) -> Result<(), AckReject> {
    let fields = parse_ack_fields(datagram).ok_or(AckReject::Malformed)?;
    let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    if get("stage") != Some(ACK_STAGE_APPLIED) {
        return Err(AckReject::WrongStage);
    }
    if get("mailbox") != Some(name) {
        return Err(AckReject::OtherMailbox);
    }
    Ok(())
}

/// Whether `datagram` acknowledges mailbox `name` (see [`check_ack`]).
pub fn is_ack_for(datagram: &[u8], name: &str) -> bool {
    check_ack(datagram, name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_is_stage_applied_mailbox_name() {
        assert!(is_ack_for(b"stage=applied mailbox=foo.v1", "foo.v1"));
        assert!(is_ack_for(format_ack("foo.v1").as_bytes(), "foo.v1"));
    }

    #[test]
    fn ack_may_end_in_a_newline() {
        assert!(is_ack_for(b"stage=applied mailbox=a\n", "a"));
        assert!(!is_ack_for(b"stage=applied mailbox=a\n\n", "a"));
    }

    #[test]
    fn ack_mailbox_foo_v10_does_not_ack_foo_v1() {
        assert!(!is_ack_for(b"stage=applied mailbox=foo.v10", "foo.v1"));
        assert!(!is_ack_for(b"stage=applied mailbox=foo.v1", "foo.v10"));
    }

    #[test]
    fn ack_field_order_is_free() {
        assert!(is_ack_for(b"mailbox=a stage=applied", "a"));
    }

    #[test]
    fn ack_extra_fields_are_allowed() {
        assert!(is_ack_for(b"stage=applied pid=42 mailbox=a t=1.5", "a"));
    }

    #[test]
    fn ack_free_text_containing_stage_applied_acks_nothing() {
        assert!(!is_ack_for(b"hello stage=applied mailbox=a", "a"));
        assert!(!is_ack_for(b"stage=applied mailbox=a done!", "a"));
        assert!(!is_ack_for(b"the guest says stage=applied", "a"));
    }

    #[test]
    fn ack_wrong_stage_is_ignored() {
        assert!(!is_ack_for(b"stage=received mailbox=a", "a"));
        assert!(!is_ack_for(b"stage=Applied mailbox=a", "a"));
        assert!(!is_ack_for(b"mailbox=a", "a"));
    }

    #[test]
    fn ack_mailbox_is_case_sensitive() {
        assert!(!is_ack_for(b"stage=applied mailbox=A", "a"));
    }

    #[test]
    fn ack_is_one_line() {
        assert!(!is_ack_for(b"stage=applied\nmailbox=a", "a"));
    }

    #[test]
    fn ack_with_a_repeated_key_is_ambiguous_and_ignored() {
        assert!(!is_ack_for(b"stage=applied mailbox=b mailbox=a", "a"));
    }

    #[test]
    fn ack_must_be_utf8() {
        assert!(!is_ack_for(b"stage=applied mailbox=\xff", "a"));
    }
}
