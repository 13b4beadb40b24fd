//! Exit statuses from typed errors: the CLI walks an error's chain for the
//! first of forkmail's typed errors and exits with its kind's code
//! (README: "Exit status"). Nothing here looks at message text.

use crate::error::ErrorKind;

/// The kind of the first error in `err`'s chain that forkmail knows, or
/// `None` when no typed error is in it.
pub fn kind_of(err: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(k) = known_kind(e) {
            return Some(k);
        }
        cur = e.source();
    }
    None
}

forkmail_engine::kinded_types! {
    /// The kind of `e` itself when it is one of the app's own typed errors.
    fn app_kind,
    const APP_ERROR_TYPES = [
        crate::config::ConfigError,
        crate::tui::keymap::KeymapError,
    ]
}

/// The kind of `e` itself when it is one of forkmail's typed errors (whose
/// messages already include their causes).
pub fn known_kind(e: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    crate::kinds::engine_kind(e).or_else(|| app_kind(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::error::UsageError;

    #[test]
    fn the_first_known_error_in_a_chain_decides() {
        let e = anyhow::Error::new(UsageError("x".into())).context("while parsing");
        assert_eq!(kind_of(e.as_ref()), Some(ErrorKind::BadRequest));
        let plain = anyhow::anyhow!("no type");
        assert_eq!(kind_of(plain.as_ref()), None);
    }
}

/// Every error type in the workspace's source has a kind: the chain walk
/// above knows it, so its exit status is its kind's, never 1 by omission.
#[cfg(test)]
mod every_error_type {
    use std::path::Path;

    /// Names of the error types defined in `dir`'s Rust files: a type whose
    /// derive list names `Error` (thiserror), or with `impl ... Error for`.
    fn error_types(dir: &Path, out: &mut Vec<(String, String)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                error_types(&p, out);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let mut derive_error = false;
            for line in text.lines() {
                let t = line.trim();
                if t.starts_with("#[derive(") {
                    derive_error = t.contains("Error)") || t.contains("Error,");
                    continue;
                }
                if t.starts_with("#[") || t.starts_with("///") || t.starts_with("//") {
                    continue;
                }
                let decl = t
                    .strip_prefix("pub ")
                    .or_else(|| t.strip_prefix("pub(crate) "))
                    .unwrap_or(t);
                let name = decl
                    .strip_prefix("enum ")
                    .or_else(|| decl.strip_prefix("struct "))
                    .and_then(|r| r.split(|c: char| !c.is_alphanumeric() && c != '_').next());
                if let (true, Some(name)) = (derive_error, name) {
                    out.push((name.to_string(), p.display().to_string()));
                }
                if let Some(rest) = t.strip_prefix("impl std::error::Error for ") {
                    let name = rest
                        .split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next();
                    out.push((
                        name.unwrap_or_default().to_string(),
                        p.display().to_string(),
                    ));
                }
                derive_error = false;
            }
        }
    }

    #[test]
    fn every_error_type_has_a_kind_and_so_an_exit_status() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut found = Vec::new();
        for dir in [
            "src",
            "crates/contract/src",
            "crates/guest/src",
            "crates/engine/src",
        ] {
            error_types(&root.join(dir), &mut found);
        }
        assert!(
            found.len() >= 20,
            "the walk found the error types: {found:?}"
        );
        let known: Vec<&str> = crate::kinds::ENGINE_ERROR_TYPES
            .iter()
            .chain(super::APP_ERROR_TYPES)
            .map(|t| t.rsplit("::").next().unwrap_or(t).trim())
            .collect();
        let missing: Vec<String> = found
            .iter()
            .filter(|(name, _)| !known.contains(&name.as_str()))
            .map(|(name, file)| format!("{name} ({file})"))
            .collect();
        assert!(
            missing.is_empty(),
            "error types without a kind (add them to a kinded_types! list with a Kinded impl): {missing:?}"
        );
    }
}
