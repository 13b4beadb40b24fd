//! Payload text: the one parser, the one `ack_port` injection and the one
//! budget. The engine's validation and the TUI's live editor both call
//! [`check_payload`], so the editor shows exactly the verdict and byte count
//! the engine computes.
//!
//! Parsing accepts any JSON object that fits the frame: nesting depth is not
//! limited by a recursion cap (3832 bytes allow ~1900 levels); the stack
//! grows on the heap where needed (`serde_stacker`).
//!
//! Injection keeps the caller's text: every top-level value is copied byte
//! for byte (numbers keep their digits, strings their escapes, nested
//! objects their whitespace), keys stay in order, any top-level `ack_port`
//! is dropped and `"ack_port":PORT` is appended. Only the whitespace between
//! top-level members is not kept.

use std::fmt;

use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::layout::FORK_MAX_PAYLOAD;

/// The widest port: the budget shown before a port is bound counts five
/// digits, as every port of Linux's ephemeral range (32768–60999) has.
pub const WORST_CASE_PORT: u16 = 65535;

/// What is wrong with a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadProblem {
    /// Longer than the frame holds (as typed, or once `ack_port` is in).
    TooLarge {
        /// Bytes.
        len: usize,
        /// Only too large once `ack_port` was injected.
        after_injection: bool,
    },
    /// Not JSON.
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message (without its position).
        message: String,
    },
    /// JSON, but not an object (the JSON type found).
    NotObject(&'static str),
}

impl fmt::Display for PayloadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadProblem::TooLarge {
                len,
                after_injection,
            } => write!(
                f,
                "payload is {len} bytes{}, the frame holds at most {FORK_MAX_PAYLOAD}",
                if *after_injection {
                    " after ack_port injection"
                } else {
                    ""
                }
            ),
            PayloadProblem::Syntax {
                line,
                column,
                message,
            } => write!(
                f,
                "payload must be a JSON object (not valid JSON: {message} at line {line} column {column})"
            ),
            PayloadProblem::NotObject(t) => write!(f, "payload must be a JSON object (found {t})"),
        }
    }
}

/// The verdict on one payload, as the engine computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadCheck {
    /// The first rule it breaks, in the contract's order (size, then object,
    /// then size after injection).
    pub problem: Option<PayloadProblem>,
    /// Bytes as typed.
    pub typed_bytes: usize,
    /// Bytes the frame will hold: as typed, or with an ack the injected
    /// text with a five-digit port.
    pub sent_bytes: usize,
    /// Whether `ack_port` injection is counted.
    pub with_ack: bool,
}

/// Check `text` exactly as a fork will: rule 7 (at most 3832 bytes as
/// given), rule 8 (a JSON object), then — with an ack — the size after
/// `ack_port` injection.
pub fn check_payload(text: &str, wait_for_ack: bool) -> PayloadCheck {
    let mut c = PayloadCheck {
        problem: None,
        typed_bytes: text.len(),
        sent_bytes: text.len(),
        with_ack: wait_for_ack,
    };
    if text.len() > FORK_MAX_PAYLOAD {
        c.problem = Some(PayloadProblem::TooLarge {
            len: text.len(),
            after_injection: false,
        });
        return c;
    }
    let members = match top_level(text) {
        Ok(m) => m,
        Err(p) => {
            c.problem = Some(p);
            return c;
        }
    };
    if wait_for_ack {
        c.sent_bytes = serialize_with_port(&members, WORST_CASE_PORT).len();
        if c.sent_bytes > FORK_MAX_PAYLOAD {
            c.problem = Some(PayloadProblem::TooLarge {
                len: c.sent_bytes,
                after_injection: true,
            });
        }
    }
    c
}

/// `text` (a JSON object) with the top-level `ack_port` set to `port`; see
/// the module notes for what is kept.
pub fn inject_ack_port(text: &str, port: u16) -> Result<String, PayloadProblem> {
    let members = top_level(text)?;
    Ok(serialize_with_port(&members, port))
}

/// Whether `text` is a JSON object, and if not, why.
pub fn check_object(text: &str) -> Result<(), PayloadProblem> {
    top_level(text).map(|_| ())
}

/// The top-level `ack_port` of a payload, if it is an object holding one
/// that is a valid port (the guest's side of injection).
pub fn ack_port_of(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes).ok()?;
    let members = top_level(text).ok()?;
    members
        .iter()
        .rev()
        .find(|(k, _)| k == "ack_port")
        .and_then(|(_, v)| v.get().trim().parse::<u16>().ok())
}

type Members<'a> = Vec<(String, &'a RawValue)>;

fn serialize_with_port(members: &Members, port: u16) -> String {
    let mut out = String::with_capacity(
        members
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum::<usize>()
            + 20,
    );
    out.push('{');
    for (k, v) in members.iter().filter(|(k, _)| k != "ack_port") {
        // A String always serializes.
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
        out.push(':');
        out.push_str(v.get());
        out.push(',');
    }
    out.push_str("\"ack_port\":");
    out.push_str(&port.to_string());
    out.push('}');
    out
}

/// The members of the top-level object, each value's text as given.
fn top_level(text: &str) -> Result<Members<'_>, PayloadProblem> {
    let first = text.trim_start().chars().next();
    if first == Some('{') {
        return deserialize::<TopLevel>(text).map(|t| t.0);
    }
    // Not an object: tell a syntax error from a valid non-object.
    deserialize::<IgnoredAny>(text)?;
    Err(PayloadProblem::NotObject(match first {
        Some('[') => "an array",
        Some('"') => "a string",
        Some('t') | Some('f') => "a boolean",
        Some('n') => "null",
        _ => "a number",
    }))
}

fn deserialize<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, PayloadProblem> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let value = T::deserialize(serde_stacker::Deserializer::new(&mut de)).map_err(syntax)?;
    de.end().map_err(syntax)?;
    Ok(value)
}

fn syntax(e: serde_json::Error) -> PayloadProblem {
    let full = e.to_string();
    let message = match full.rsplit_once(" at line ") {
        Some((m, _)) => m.to_string(),
        None => full,
    };
    PayloadProblem::Syntax {
        line: e.line(),
        column: e.column(),
        message,
    }
}

struct TopLevel<'a>(Members<'a>);

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v: &'de RawValue = map.next_value()?;
                    members.push((k, v));
                }
                Ok(TopLevel(members))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_keeps_every_value_text_exactly() {
        let text = r#"{ "big": 123456789012345678901234567890, "f": 1.50, "s": "a\u003cb", "n": {"x" : [1, 2]} }"#;
        let out = inject_ack_port(text, 40000).unwrap();
        assert_eq!(
            out,
            r#"{"big":123456789012345678901234567890,"f":1.50,"s":"a\u003cb","n":{"x" : [1, 2]},"ack_port":40000}"#
        );
    }

    #[test]
    fn injection_overwrites_the_top_level_ack_port_only() {
        let out = inject_ack_port(r#"{"ack_port":1,"x":{"ack_port":2}}"#, 40000).unwrap();
        assert_eq!(out, r#"{"x":{"ack_port":2},"ack_port":40000}"#);
        assert_eq!(ack_port_of(out.as_bytes()), Some(40000));
        assert_eq!(inject_ack_port("{}", 7).unwrap(), r#"{"ack_port":7}"#);
    }

    #[test]
    fn deep_but_small_objects_are_valid() {
        let depth = 1500;
        let text = format!(r#"{{"a":{}1{}}}"#, "[".repeat(depth), "]".repeat(depth));
        assert!(text.len() < FORK_MAX_PAYLOAD);
        let c = check_payload(&text, true);
        assert_eq!(c.problem, None, "{c:?}");
        let out = inject_ack_port(&text, 50000).unwrap();
        assert!(out.ends_with(r#"]],"ack_port":50000}"#));
        assert_eq!(ack_port_of(out.as_bytes()), Some(50000));
    }

    #[test]
    fn problems_follow_the_contract_order() {
        let big = format!("[{}]", "1,".repeat(2000));
        assert!(matches!(
            check_payload(&big, false).problem,
            Some(PayloadProblem::TooLarge {
                after_injection: false,
                ..
            })
        ));
        assert_eq!(
            check_payload("[1]", false).problem,
            Some(PayloadProblem::NotObject("an array"))
        );
        assert!(matches!(
            check_payload("{\n  \"a\": }", false).problem,
            Some(PayloadProblem::Syntax { line: 2, .. })
        ));
        assert!(matches!(
            check_payload("{} {}", false).problem,
            Some(PayloadProblem::Syntax { .. })
        ));
        for (t, want) in [
            ("\"s\"", "a string"),
            ("3", "a number"),
            ("null", "null"),
            ("true", "a boolean"),
        ] {
            assert_eq!(
                check_payload(t, false).problem,
                Some(PayloadProblem::NotObject(want))
            );
        }
    }

    #[test]
    fn the_budget_counts_the_injected_text() {
        // Pretty-printed, ~4.2 KB as typed: too large before injection even
        // though its compact form would fit.
        let members: Vec<String> = (0..115)
            .map(|i| format!("  \"key{i:03}\": \"{}\"", "v".repeat(20)))
            .collect();
        let pretty = format!("{{\n{}\n}}", members.join(",\n"));
        assert!(
            pretty.len() > 3832 && pretty.len() < 4400,
            "{}",
            pretty.len()
        );
        let c = check_payload(&pretty, true);
        assert_eq!(
            c.problem,
            Some(PayloadProblem::TooLarge {
                len: pretty.len(),
                after_injection: false
            })
        );
        // A payload that fits only without ack_port.
        let text = format!(r#"{{"k":"{}"}}"#, "x".repeat(3832 - 8));
        assert_eq!(check_payload(&text, false).problem, None);
        let c = check_payload(&text, true);
        assert_eq!(c.sent_bytes, inject_ack_port(&text, 65535).unwrap().len());
        assert!(matches!(
            c.problem,
            Some(PayloadProblem::TooLarge {
                after_injection: true,
                ..
            })
        ));
    }
}
