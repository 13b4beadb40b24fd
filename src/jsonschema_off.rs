//! What `tui::schema` uses of `jsonschema`, for a build without the
//! `schema` feature (`cargo build --no-default-features`): no schema
//! compiles, so a schema file in the store is reported as one this build
//! cannot use, and nothing is ever validated.

use std::fmt;

/// Never constructed: no schema compiles without the feature.
pub enum Validator {}

/// Why no schema compiles.
#[derive(Debug)]
pub struct NotBuiltIn;

impl fmt::Display for NotBuiltIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("this forkmail was built without JSON Schema support (cargo feature `schema`)")
    }
}

/// Always [`NotBuiltIn`].
pub fn validator_for(_schema: &serde_json::Value) -> Result<Validator, NotBuiltIn> {
    Err(NotBuiltIn)
}

/// Never constructed, like [`Validator`].
pub enum ValidationError {}

/// Never constructed, like [`Validator`].
pub enum Location {}

impl Validator {
    /// Unreachable: there is no validator.
    pub fn iter_errors(&self, _instance: &serde_json::Value) -> std::iter::Empty<ValidationError> {
        match *self {}
    }
}

impl ValidationError {
    /// Unreachable: there are no errors.
    pub fn instance_path(&self) -> &Location {
        match *self {}
    }
}

impl Location {
    /// Unreachable: there are no errors.
    pub fn as_str(&self) -> &str {
        match *self {}
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}
