//! `--matrix FILE`: one fork per line of a JSON Lines file, for payloads
//! that differ in more than a number:
//!
//! ```text
//! {"name":"eu-1","payloads":{"app.config":{"region":"eu"}},"ack":["app.config"]}
//! {"name":"us-1","payloads":{"app.config":"{\"region\":\"us\"}"},"ack":{"app.config":2000}}
//! ```
//!
//! `name` is optional (default: the base name and the line's index);
//! `payloads` maps each mailbox to a JSON object (written as it appears in
//! the file) or to a string holding the JSON text; `ack` is `true` (every
//! mailbox), a list of mailbox names, or mailbox → timeout in ms. Blank
//! lines are skipped. Placeholders expand here too.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::FanoutError;

/// Largest matrix file read.
pub const MAX_MATRIX_BYTES: u64 = 64 << 20;

/// One line of a matrix file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// Fork name, when given.
    pub name: Option<String>,
    /// Mailbox → payload text, in name order.
    pub payloads: Vec<(String, String)>,
    /// Which mailboxes wait for an ack, with their timeouts (`None`: the
    /// default); `None` when the line says nothing about acks.
    pub acks: Option<Vec<(String, Option<i64>)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    #[serde(default)]
    name: Option<String>,
    payloads: Unique<Box<RawValue>>,
    #[serde(default)]
    ack: Option<Box<RawValue>>,
}

enum RawAck {
    All(bool),
    Names(Vec<String>),
    Timeouts(Unique<i64>),
}

impl RawAck {
    /// `true`/`false`, a list of names, or an object of timeouts (whose
    /// own error, a name given twice, is the one reported).
    fn parse(raw: &RawValue) -> Result<RawAck, String> {
        let text = raw.get();
        if let Ok(all) = serde_json::from_str(text) {
            return Ok(RawAck::All(all));
        }
        if let Ok(names) = serde_json::from_str(text) {
            return Ok(RawAck::Names(names));
        }
        match serde_json::from_str(text) {
            Ok(map) => Ok(RawAck::Timeouts(map)),
            Err(e) if text.trim_start().starts_with('{') => Err(format!("ack: {e}")),
            Err(_) => {
                Err("ack: expected true, a list of mailboxes, or mailbox → timeout in ms".into())
            }
        }
    }
}

/// A JSON object whose keys are mailbox names, each at most once: a plain
/// map would keep the last of two `"app"` keys and drop the first without a
/// word (the command line refuses a mailbox given twice; so does a line).
/// In name order.
struct Unique<V>(BTreeMap<String, V>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Unique<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
            type Value = Unique<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of mailbox names")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = m.next_key::<String>()? {
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!(
                            "mailbox {key:?} is named twice (a line names each mailbox once)"
                        )));
                    }
                    let value = m.next_value()?;
                    out.insert(key, value);
                }
                Ok(Unique(out))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// Parse matrix text.
pub fn parse_matrix(text: &str) -> Result<Vec<MatrixLine>, FanoutError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| FanoutError::Matrix { line: n, reason };
        let raw: RawLine = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let mut payloads = Vec::new();
        for (mailbox, value) in raw.payloads.0 {
            let text = match serde_json::from_str::<String>(value.get()) {
                Ok(s) => s,
                Err(_) => value.get().to_string(),
            };
            payloads.push((mailbox, text));
        }
        if payloads.is_empty() {
            return Err(bad("no payloads".into()));
        }
        let ack = raw
            .ack
            .as_deref()
            .map(RawAck::parse)
            .transpose()
            .map_err(bad)?;
        let acks: Option<Vec<(String, Option<i64>)>> = match ack {
            None | Some(RawAck::All(false)) => None,
            Some(RawAck::All(true)) => {
                Some(payloads.iter().map(|(m, _)| (m.clone(), None)).collect())
            }
            Some(RawAck::Names(names)) => Some(names.into_iter().map(|m| (m, None)).collect()),
            Some(RawAck::Timeouts(map)) => {
                Some(map.0.into_iter().map(|(m, t)| (m, Some(t))).collect())
            }
        };
        if let Some(acks) = &acks {
            for (m, _) in acks.iter() {
                if !payloads.iter().any(|(p, _)| p == m) {
                    return Err(bad(format!("ack for mailbox {m:?}, which has no payload")));
                }
            }
        }
        out.push(MatrixLine {
            line: n,
            name: raw.name,
            payloads,
            acks,
        });
    }
    if out.is_empty() {
        return Err(FanoutError::Matrix {
            line: 0,
            reason: "the file has no forks (one JSON object per line)".into(),
        });
    }
    Ok(out)
}

/// Read and parse a matrix file (regular files only, bounded).
pub fn read_matrix(path: &Path) -> Result<Vec<MatrixLine>, FanoutError> {
    let text = crate::files::read_text_bounded(path, MAX_MATRIX_BYTES, "a matrix file")
        .map_err(FanoutError::MatrixFile)?;
    parse_matrix(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_give_names_payloads_and_acks() {
        let text = r#"{"name":"eu-1","payloads":{"app":{"region": "eu","n":123456789012345678901234567890}},"ack":["app"]}

{"payloads":{"app":"{\"region\":\"us\"}","cfg":{}},"ack":{"cfg":2000}}
{"payloads":{"app":{}},"ack":true}
"#;
        let m = parse_matrix(text).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].name.as_deref(), Some("eu-1"));
        assert_eq!(
            m[0].payloads,
            vec![(
                "app".into(),
                r#"{"region": "eu","n":123456789012345678901234567890}"#.into()
            )]
        );
        assert_eq!(m[0].acks, Some(vec![("app".into(), None)]));
        assert_eq!(m[1].line, 3);
        assert_eq!(m[1].payloads[0].1, r#"{"region":"us"}"#);
        assert_eq!(m[1].acks, Some(vec![("cfg".into(), Some(2000))]));
        assert_eq!(m[2].acks, Some(vec![("app".into(), None)]));
    }

    #[test]
    fn bad_lines_say_which() {
        let e = parse_matrix("{\"payloads\":{\"a\":{}}}\n{\"payload\":{}}\n").unwrap_err();
        assert!(matches!(e, FanoutError::Matrix { line: 2, .. }), "{e}");
        let e = parse_matrix(r#"{"payloads":{"a":{}},"ack":["b"]}"#).unwrap_err();
        assert!(matches!(e, FanoutError::Matrix { line: 1, .. }), "{e}");
        assert!(parse_matrix("\n\n").is_err());
    }

    #[test]
    fn a_mailbox_named_twice_in_a_line_is_refused_naming_line_and_mailbox() {
        let text =
            "{\"payloads\":{\"app\":{}}}\n{\"payloads\":{\"app\":{\"a\":1},\"app\":{\"b\":2}}}\n";
        let e = parse_matrix(text).unwrap_err();
        assert!(matches!(e, FanoutError::Matrix { line: 2, .. }), "{e}");
        assert!(e.to_string().contains("\"app\""), "{e}");
        // In `ack` too.
        let e = parse_matrix(r#"{"payloads":{"a":{}},"ack":{"a":1000,"a":2000}}"#).unwrap_err();
        assert!(matches!(e, FanoutError::Matrix { line: 1, .. }), "{e}");
        assert!(e.to_string().contains("\"a\""), "{e}");
    }
}
