//! Per-fork payloads from one text: `{{i}}` (the fork's 0-based index),
//! `{{fork}}` (its name) and `{{uuid}}` (a random v4 UUID, one per fork)
//! are replaced in the payload text before it is validated like any other.
//!
//! Every replacement is made of characters that need no escaping inside a
//! JSON string (digits, `a-z`, `-`), so a placeholder works inside a
//! string (`"web-{{i}}"`) and as a bare value (`"replica":{{i}}`).

use super::FanoutError;

/// The placeholders, as written.
pub const PLACEHOLDERS: [&str; 3] = ["{{i}}", "{{fork}}", "{{uuid}}"];

/// What the placeholders stand for in one fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    /// 0-based index in the fan-out.
    pub index: usize,
    /// The fork's name.
    pub fork: String,
    /// The fork's UUID.
    pub uuid: String,
}

impl Vars {
    /// The values for fork `index` named `fork`, with a fresh UUID.
    pub fn new(index: usize, fork: &str) -> Vars {
        Vars {
            index,
            fork: fork.to_string(),
            uuid: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// Whether `text` holds any placeholder.
pub fn has_placeholders(text: &str) -> bool {
    PLACEHOLDERS.iter().any(|p| text.contains(p))
}

/// `text` with every placeholder replaced. A `{{word}}` that is not one of
/// the three is refused (a typo would otherwise reach the guest); `{{`
/// followed by anything but `word}}` is left as it is.
pub fn expand(text: &str, vars: &Vars) -> Result<String, FanoutError> {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let word_len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if word_len == 0 || !after[word_len..].starts_with("}}") {
            out.push_str("{{");
            rest = after;
            continue;
        }
        let word = &after[..word_len];
        match word {
            "i" => out.push_str(&vars.index.to_string()),
            "fork" => out.push_str(&vars.fork),
            "uuid" => out.push_str(&vars.uuid),
            other => {
                return Err(FanoutError::Placeholder(format!(
                    "unknown placeholder {{{{{other}}}}} (known: {})",
                    PLACEHOLDERS.join(", ")
                )));
            }
        }
        rest = &after[word_len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            index: 7,
            fork: "fan-7".into(),
            uuid: "00000000-0000-4000-8000-000000000000".into(),
        }
    }

    #[test]
    fn placeholders_expand_inside_strings_and_as_values() {
        let t = r#"{"replica":{{i}},"fork":"{{fork}}","id":"{{uuid}}","x":"a{{i}}b"}"#;
        assert_eq!(
            expand(t, &vars()).unwrap(),
            r#"{"replica":7,"fork":"fan-7","id":"00000000-0000-4000-8000-000000000000","x":"a7b"}"#
        );
    }

    #[test]
    fn json_braces_are_left_alone_and_typos_refused() {
        assert_eq!(
            expand(r#"{"a":{"b":{}}}"#, &vars()).unwrap(),
            r#"{"a":{"b":{}}}"#
        );
        assert_eq!(
            expand(r#"{"a":"{{ x"}"#, &vars()).unwrap(),
            r#"{"a":"{{ x"}"#
        );
        let e = expand(r#"{"a":{{idx}}}"#, &vars()).unwrap_err();
        assert!(matches!(e, FanoutError::Placeholder(_)), "{e}");
    }

    #[test]
    fn every_fork_gets_its_own_uuid() {
        assert_ne!(Vars::new(0, "a").uuid, Vars::new(1, "b").uuid);
        assert!(has_placeholders("{{uuid}}") && !has_placeholders("{}"));
    }
}
