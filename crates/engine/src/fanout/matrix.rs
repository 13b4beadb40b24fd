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
    payloads: BTreeMap<String, Box<RawValue>>,
    #[serde(default)]
    ack: Option<RawAck>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawAck {
    All(bool),
    Names(Vec<String>),
    Timeouts(BTreeMap<String, i64>),
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
        for (mailbox, value) in raw.payloads {
            let text = match serde_json::from_str::<String>(value.get()) {
                Ok(s) => s,
                Err(_) => value.get().to_string(),
            };
            payloads.push((mailbox, text));
        }
        if payloads.is_empty() {
            return Err(bad("no payloads".into()));
        }
        let acks: Option<Vec<(String, Option<i64>)>> = match raw.ack {
            None | Some(RawAck::All(false)) => None,
            Some(RawAck::All(true)) => {
                Some(payloads.iter().map(|(m, _)| (m.clone(), None)).collect())
            }
            Some(RawAck::Names(names)) => Some(names.into_iter().map(|m| (m, None)).collect()),
            Some(RawAck::Timeouts(map)) => {
                Some(map.into_iter().map(|(m, t)| (m, Some(t))).collect())
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
}
