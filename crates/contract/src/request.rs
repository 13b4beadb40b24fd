//! Fork request validation (Hypeman's rules, in Hypeman's order) and the
//! frame bytes (ack_port injection): the only implementation, used by the
//! engine and, through [`super::check_payload`], by the editor.

use thiserror::Error;

use super::layout::*;
use super::marker::name_is_valid;
use super::payload::{PayloadProblem, check_object, inject_ack_port};

/// One mailbox of a fork request, as the caller gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRequest {
    /// Mailbox name, compared exactly.
    pub name: String,
    /// Token that must follow the name in the marker.
    pub token: String,
    /// The JSON payload text; `None` when the caller gave none.
    pub payload: Option<String>,
    /// Wait for the guest's UDP ack.
    pub wait_for_ack: bool,
    /// Ack deadline; `None` or 0 means the default (5000 ms).
    pub ack_timeout_ms: Option<i64>,
}

impl MailboxRequest {
    /// The deadline to use: the given one, or the default for `None`/0.
    pub fn effective_timeout_ms(&self) -> u64 {
        match self.ack_timeout_ms {
            Some(ms) if ms > 0 => ms as u64,
            _ => DEFAULT_ACK_TIMEOUT_MS,
        }
    }
}

/// Why a fork request is rejected. Each variant is one rule of the contract.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ValidationError {
    /// Rule 1.
    #[error("too many mailboxes: {count} given, at most {MAX_MAILBOXES} per fork")]
    TooManyMailboxes {
        /// How many were given.
        count: usize,
    },
    /// Rule 2.
    #[error("mailbox name {name:?} breaks the rule ^[A-Za-z0-9._:-]{{1,64}}$")]
    InvalidName {
        /// The offending name.
        name: String,
    },
    /// Rule 3.
    #[error("mailbox name {name:?} is given more than once")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// Rule 4.
    #[error("mailbox {name}: token is blank")]
    BlankToken {
        /// Mailbox name.
        name: String,
    },
    /// Rule 5.
    #[error("mailbox {name}: token is {len} bytes, at most {MAX_TOKEN_LEN} allowed")]
    TokenTooLong {
        /// Mailbox name.
        name: String,
        /// Token length.
        len: usize,
    },
    /// Rule 6.
    #[error("mailbox {name}: no payload given")]
    MissingPayload {
        /// Mailbox name.
        name: String,
    },
    /// Rule 7 (and the re-check after ack_port injection).
    #[error(
        "mailbox {name}: payload is {len} bytes{after}, the frame holds at most {FORK_MAX_PAYLOAD}",
        after = if *.after_injection { " after ack_port injection" } else { "" }
    )]
    PayloadTooLarge {
        /// Mailbox name.
        name: String,
        /// Serialized length.
        len: usize,
        /// Whether it only overflowed once ack_port was injected.
        after_injection: bool,
    },
    /// Rule 8.
    #[error("mailbox {name}: {problem}")]
    NotAnObject {
        /// Mailbox name.
        name: String,
        /// Why: a syntax error (with its position) or the JSON type found.
        problem: PayloadProblem,
    },
    /// Rule 9.
    #[error("mailbox {name}: ack timeout {ms} ms is out of range (0..={MAX_ACK_TIMEOUT_MS})")]
    AckTimeoutOutOfRange {
        /// Mailbox name.
        name: String,
        /// The requested timeout.
        ms: i64,
    },
}

impl ValidationError {
    /// The mailbox the error is about (all but rule 1).
    pub fn mailbox(&self) -> Option<&str> {
        match self {
            ValidationError::TooManyMailboxes { .. } => None,
            ValidationError::InvalidName { name }
            | ValidationError::DuplicateName { name }
            | ValidationError::BlankToken { name }
            | ValidationError::TokenTooLong { name, .. }
            | ValidationError::MissingPayload { name }
            | ValidationError::PayloadTooLarge { name, .. }
            | ValidationError::NotAnObject { name, .. }
            | ValidationError::AckTimeoutOutOfRange { name, .. } => Some(name),
        }
    }
}

/// Check a fork request against the contract's rules, in Hypeman's order:
/// count, then per mailbox name, uniqueness, token blank, token length,
/// payload present, payload size, payload is an object, ack timeout.
pub fn validate_request(mailboxes: &[MailboxRequest]) -> Result<(), ValidationError> {
    if mailboxes.len() > MAX_MAILBOXES {
        return Err(ValidationError::TooManyMailboxes {
            count: mailboxes.len(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for m in mailboxes {
        if !name_is_valid(&m.name) {
            return Err(ValidationError::InvalidName {
                name: m.name.clone(),
            });
        }
        if !seen.insert(m.name.as_str()) {
            return Err(ValidationError::DuplicateName {
                name: m.name.clone(),
            });
        }
        if m.token.trim().is_empty() {
            return Err(ValidationError::BlankToken {
                name: m.name.clone(),
            });
        }
        if m.token.len() > MAX_TOKEN_LEN {
            return Err(ValidationError::TokenTooLong {
                name: m.name.clone(),
                len: m.token.len(),
            });
        }
        let Some(payload) = &m.payload else {
            return Err(ValidationError::MissingPayload {
                name: m.name.clone(),
            });
        };
        if payload.len() > FORK_MAX_PAYLOAD {
            return Err(ValidationError::PayloadTooLarge {
                name: m.name.clone(),
                len: payload.len(),
                after_injection: false,
            });
        }
        check_object(payload).map_err(|problem| ValidationError::NotAnObject {
            name: m.name.clone(),
            problem,
        })?;
        if m.wait_for_ack
            && let Some(ms) = m.ack_timeout_ms
            && (ms < 0 || ms as u64 > MAX_ACK_TIMEOUT_MS)
        {
            return Err(ValidationError::AckTimeoutOutOfRange {
                name: m.name.clone(),
                ms,
            });
        }
    }
    Ok(())
}

/// The bytes that go into the frame for mailbox `m`: the payload as given,
/// or — with wait_for_ack — the object with the top-level `"ack_port"` set
/// to `ack_port` (overwriting any caller value; every other value's text
/// kept exactly, see [`super::inject_ack_port`]).
///
/// Fails when the result exceeds 3832 bytes; call after [`validate_request`].
pub fn frame_payload(
    m: &MailboxRequest,
    ack_port: Option<u16>,
) -> Result<Vec<u8>, ValidationError> {
    let payload = m
        .payload
        .as_deref()
        .ok_or_else(|| ValidationError::MissingPayload {
            name: m.name.clone(),
        })?;
    let bytes = match (m.wait_for_ack, ack_port) {
        (true, Some(port)) => inject_ack_port(payload, port)
            .map_err(|problem| ValidationError::NotAnObject {
                name: m.name.clone(),
                problem,
            })?
            .into_bytes(),
        _ => payload.as_bytes().to_vec(),
    };
    if bytes.len() > FORK_MAX_PAYLOAD {
        return Err(ValidationError::PayloadTooLarge {
            name: m.name.clone(),
            len: bytes.len(),
            after_injection: m.wait_for_ack,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(name: &str, payload: &str) -> MailboxRequest {
        MailboxRequest {
            name: name.into(),
            token: "tok".into(),
            payload: Some(payload.into()),
            wait_for_ack: false,
            ack_timeout_ms: None,
        }
    }

    #[test]
    fn rule_1_at_most_16_mailboxes_per_fork() {
        let ok: Vec<_> = (0..16).map(|i| mb(&format!("m{i}"), "{}")).collect();
        assert!(validate_request(&ok).is_ok());
        let too_many: Vec<_> = (0..17).map(|i| mb(&format!("m{i}"), "{}")).collect();
        assert_eq!(
            validate_request(&too_many),
            Err(ValidationError::TooManyMailboxes { count: 17 })
        );
    }

    #[test]
    fn rule_2_name_matches_the_rule() {
        let err = validate_request(&[mb("bad name", "{}")]).unwrap_err();
        assert!(matches!(err, ValidationError::InvalidName { .. }));
        assert!(validate_request(&[mb(&"n".repeat(65), "{}")]).is_err());
    }

    #[test]
    fn rule_3_names_unique() {
        let err = validate_request(&[mb("a", "{}"), mb("a", "{}")]).unwrap_err();
        assert_eq!(err, ValidationError::DuplicateName { name: "a".into() });
    }

    #[test]
    fn rule_4_token_not_blank() {
        let mut m = mb("a", "{}");
        m.token = " \t ".into();
        assert!(matches!(
            validate_request(&[m]),
            Err(ValidationError::BlankToken { .. })
        ));
    }

    #[test]
    fn rule_5_token_at_most_128_bytes() {
        let mut m = mb("a", "{}");
        m.token = "t".repeat(128);
        assert!(validate_request(std::slice::from_ref(&m)).is_ok());
        m.token = "t".repeat(129);
        assert!(matches!(
            validate_request(&[m]),
            Err(ValidationError::TokenTooLong { len: 129, .. })
        ));
    }

    #[test]
    fn rule_6_payload_present() {
        let mut m = mb("a", "{}");
        m.payload = None;
        assert!(matches!(
            validate_request(&[m]),
            Err(ValidationError::MissingPayload { .. })
        ));
    }

    #[test]
    fn rule_7_payload_at_most_3832_bytes() {
        let fits = format!(r#"{{"k":"{}"}}"#, "x".repeat(3832 - 8));
        assert_eq!(fits.len(), 3832);
        assert!(validate_request(&[mb("a", &fits)]).is_ok());
        let over = format!(r#"{{"k":"{}"}}"#, "x".repeat(3832 - 7));
        assert!(matches!(
            validate_request(&[mb("a", &over)]),
            Err(ValidationError::PayloadTooLarge {
                len: 3833,
                after_injection: false,
                ..
            })
        ));
    }

    #[test]
    fn rule_8_payload_is_a_json_object() {
        for bad in ["[1]", "\"s\"", "3", "null", "{", ""] {
            assert!(
                matches!(
                    validate_request(&[mb("a", bad)]),
                    Err(ValidationError::NotAnObject { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn rule_9_ack_timeout_not_negative_and_at_most_30000_only_with_wait_for_ack() {
        let mut m = mb("a", "{}");
        m.ack_timeout_ms = Some(-1);
        assert!(
            validate_request(std::slice::from_ref(&m)).is_ok(),
            "ignored without wait_for_ack"
        );
        m.wait_for_ack = true;
        assert!(validate_request(std::slice::from_ref(&m)).is_err());
        m.ack_timeout_ms = Some(30_001);
        assert!(validate_request(std::slice::from_ref(&m)).is_err());
        m.ack_timeout_ms = Some(30_000);
        assert!(validate_request(std::slice::from_ref(&m)).is_ok());
    }

    #[test]
    fn ack_timeout_zero_or_absent_means_default_5000() {
        let mut m = mb("a", "{}");
        assert_eq!(m.effective_timeout_ms(), 5000);
        m.ack_timeout_ms = Some(0);
        assert_eq!(m.effective_timeout_ms(), 5000);
        m.ack_timeout_ms = Some(250);
        assert_eq!(m.effective_timeout_ms(), 250);
    }

    #[test]
    fn rules_are_checked_in_hypemans_order() {
        // A too-long token and a non-object payload: the token rule (5) comes first.
        let mut m = mb("a", "[]");
        m.token = "t".repeat(200);
        assert!(matches!(
            validate_request(&[m]),
            Err(ValidationError::TokenTooLong { .. })
        ));
        // An oversize non-object payload: size (7) before object (8).
        let big = format!("[{}]", "1,".repeat(2000) + "1");
        assert!(matches!(
            validate_request(&[mb("a", &big)]),
            Err(ValidationError::PayloadTooLarge { .. })
        ));
    }

    #[test]
    fn ack_port_injection_sets_top_level_key_overwriting_caller_value() {
        let mut m = mb("a", r#"{"ack_port":1,"x":{"ack_port":2}}"#);
        m.wait_for_ack = true;
        let out = frame_payload(&m, Some(40000)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ack_port"], 40000);
        assert_eq!(v["x"]["ack_port"], 2);
    }

    #[test]
    fn no_host_address_is_injected() {
        let mut m = mb("a", r#"{"x":1}"#);
        m.wait_for_ack = true;
        let out = frame_payload(&m, Some(40000)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["x", "ack_port"], "only ack_port is added");
    }

    #[test]
    fn without_wait_for_ack_nothing_is_injected() {
        let m = mb("a", r#"{ "x": 1 }"#);
        assert_eq!(frame_payload(&m, Some(4000)).unwrap(), br#"{ "x": 1 }"#);
    }

    #[test]
    fn payload_that_overflows_only_after_injection_is_rejected() {
        let text = format!(r#"{{"k":"{}"}}"#, "x".repeat(3832 - 8));
        let mut m = mb("a", &text);
        m.wait_for_ack = true;
        assert!(validate_request(std::slice::from_ref(&m)).is_ok());
        assert!(matches!(
            frame_payload(&m, Some(40000)),
            Err(ValidationError::PayloadTooLarge {
                after_injection: true,
                ..
            })
        ));
    }
}
