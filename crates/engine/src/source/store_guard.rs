//! A store is never a source, nor inside one: forkmail writes in its store
//! (and tightens its directories to 0700), and nothing under a source is
//! ever written. `/var/lib/hypeman` is a default source, so `--store
//! /var/lib/hypeman/forkmail` is an easy mistake; it is refused before
//! anything is created.

use std::path::Path;

use super::SourceSet;
use crate::files::resolve_path;
use crate::store::StoreError;

impl SourceSet {
    /// Refuse `store` (a store root, made or not yet) when it is one of the
    /// sources or inside one — however either is spelled: both are resolved
    /// ([`resolve_path`]: relative to the working directory, links followed,
    /// `..` applied). A source that could not be opened counts by the path
    /// given (it is still someone else's).
    pub fn check_store(&self, store: &Path) -> Result<(), StoreError> {
        let store = resolve_path(store);
        for s in &self.sources {
            let root = match &s.source {
                Ok(src) => src.root().to_path_buf(),
                Err(_) => resolve_path(&s.path),
            };
            let root = resolve_path(&root);
            if store.starts_with(&root) {
                return Err(StoreError::InsideSource {
                    how: if store == root {
                        "the same directory as"
                    } else {
                        "inside"
                    },
                    store,
                    source_root: root,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_in_or_at_a_source_is_refused_however_spelled() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("hypeman");
        std::fs::create_dir_all(src.join("guests")).unwrap();
        let set = SourceSet::open(std::slice::from_ref(&src));
        for bad in [
            src.clone(),
            src.join("forkmail"),
            src.join("guests/../x"),
            src.join("./y/z"),
        ] {
            assert!(
                matches!(set.check_store(&bad), Err(StoreError::InsideSource { .. })),
                "{}",
                bad.display()
            );
        }
        for ok in [d.path().join("store"), d.path().join("hypeman-store")] {
            assert!(set.check_store(&ok).is_ok(), "{}", ok.display());
        }
    }
}
