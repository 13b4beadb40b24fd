//! Optional JSON Schemas for payloads: `<store>/schemas/<mailbox>.json`
//! validates a mailbox's payload live in the editor, each error pointing at
//! the line of the value it is about. The engine does not know schemas:
//! they help the person writing, the fork dialog shows what they say.

use std::path::PathBuf;
use std::sync::Arc;

use jsonc_parser::ast::{ObjectPropName, Value as Ast};
use jsonc_parser::common::Ranged;

#[cfg(not(feature = "schema"))]
use crate::jsonschema_off as jsonschema;
use crate::store::Store;

/// The most of a schema file read.
const MAX_SCHEMA_BYTES: u64 = 1 << 20;

/// A mailbox's schema, compiled.
#[derive(Clone)]
pub struct Schema {
    /// Where it came from.
    pub path: PathBuf,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").field("path", &self.path).finish()
    }
}

/// One thing the schema says is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// 1-based line of the value it is about.
    pub line: usize,
    /// Where in the payload (JSON pointer, `/` for the whole).
    pub pointer: String,
    /// What is wrong (sanitized).
    pub message: String,
}

/// The schema file of `mailbox`.
pub fn schema_path(store: &Store, mailbox: &str) -> PathBuf {
    store.root().join("schemas").join(format!("{mailbox}.json"))
}

/// Load and compile `mailbox`'s schema: `None` without one, an error text
/// when it cannot be read or is not a valid schema.
pub fn load(store: &Store, mailbox: &str) -> Option<Result<Schema, String>> {
    let path = schema_path(store, mailbox);
    if !path.exists() {
        return None;
    }
    let text = match crate::files::read_text_bounded(&path, MAX_SCHEMA_BYTES, "a JSON Schema") {
        Ok(t) => t,
        Err(e) => return Some(Err(crate::sanitize::safe_owned(&e.to_string()))),
    };
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Some(Err(format!("{}: {e}", path.display()))),
    };
    Some(
        jsonschema::validator_for(&value)
            .map(|v| Schema {
                path: path.clone(),
                validator: Arc::new(v),
            })
            .map_err(|e| {
                crate::sanitize::safe_owned(&format!("{}: not a valid schema: {e}", path.display()))
            }),
    )
}

impl Schema {
    /// What the schema says of `text` (valid JSON; a syntax error is the
    /// payload check's to report). Empty when it conforms.
    pub fn check(&self, text: &str) -> Vec<SchemaError> {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            return Vec::new();
        };
        let ast = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default())
            .ok()
            .and_then(|r| r.value);
        let mut out: Vec<SchemaError> = self
            .validator
            .iter_errors(&value)
            .map(|e| {
                let pointer = e.instance_path().as_str().to_string();
                // A property that is not allowed is about that property's
                // line, not the object's.
                let about = match e.kind() {
                    jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                        unexpected.first().map(|k| {
                            format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"))
                        })
                    }
                    _ => None,
                };
                let at = ast
                    .as_ref()
                    .and_then(|a| offset_of(a, about.as_deref().unwrap_or(&pointer)))
                    .unwrap_or(0);
                SchemaError {
                    line: text[..at.min(text.len())].matches('\n').count() + 1,
                    pointer: if pointer.is_empty() {
                        "/".into()
                    } else {
                        pointer
                    },
                    message: crate::sanitize::safe_owned(&e.to_string()),
                }
            })
            .collect();
        out.sort_by_key(|e| e.line);
        out
    }
}

/// Byte offset of the value at JSON pointer `pointer` in the parsed text.
fn offset_of(root: &Ast<'_>, pointer: &str) -> Option<usize> {
    let mut node = root;
    if pointer.is_empty() {
        return Some(node.start());
    }
    for raw in pointer.strip_prefix('/')?.split('/') {
        let key = raw.replace("~1", "/").replace("~0", "~");
        node = match node {
            Ast::Object(o) => {
                let prop = o.properties.iter().rev().find(|p| match &p.name {
                    ObjectPropName::String(s) => s.value == key,
                    ObjectPropName::Word(w) => w.value == key,
                })?;
                &prop.value
            }
            Ast::Array(a) => a.elements.get(key.parse::<usize>().ok()?)?,
            _ => return Some(node.start()),
        };
    }
    Some(node.start())
}

#[cfg(all(test, feature = "schema"))]
mod tests {
    use super::*;

    #[test]
    fn schema_errors_point_at_the_line_of_the_value() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(d.path().join("s")).expect("store");
        let dir = store.root().join("schemas");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("net.config.json"),
            r#"{"type":"object","required":["mtu"],"properties":{"mtu":{"type":"integer","maximum":9000},"dns":{"type":"array","items":{"type":"string"}}}}"#,
        )
        .expect("write schema");
        assert!(load(&store, "other").is_none());
        let schema = load(&store, "net.config").expect("schema").expect("valid");
        assert!(schema.check(r#"{"mtu": 1500}"#).is_empty());
        let errs = schema.check("{\n  \"mtu\": 99999,\n  \"dns\": [\n    \"a\",\n    7\n  ]\n}");
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!((errs[0].line, errs[0].pointer.as_str()), (2, "/mtu"));
        assert_eq!((errs[1].line, errs[1].pointer.as_str()), (5, "/dns/1"));
        let missing = schema.check("{}");
        assert_eq!(missing[0].line, 1);
        assert!(missing[0].message.contains("mtu"), "{missing:?}");
    }

    /// Item 13: a property the schema does not allow is pointed at on its
    /// own line, not line 1.
    #[test]
    fn a_property_not_allowed_points_at_its_line() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(d.path().join("s")).expect("store");
        let dir = store.root().join("schemas");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("net.config.json"),
            r#"{"type":"object","properties":{"mtu":{"type":"integer"}},"additionalProperties":false}"#,
        )
        .expect("write schema");
        let schema = load(&store, "net.config").expect("schema").expect("valid");
        let errs = schema.check("{\n  \"mtu\": 1500,\n  \"mut\": 9000\n}");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].line, 3, "{errs:?}");
    }

    #[test]
    fn a_broken_schema_says_why() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(d.path().join("s")).expect("store");
        let dir = store.root().join("schemas");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("x.json"), r#"{"type": 5}"#).expect("write");
        let err = load(&store, "x").expect("present").expect_err("invalid");
        assert!(err.contains("not a valid schema"), "{err}");
    }
}
