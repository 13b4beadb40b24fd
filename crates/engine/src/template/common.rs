//! What the simulator's and QEMU's template creators share: the mailbox
//! list's checks, the snapshot directory made in hiding and renamed into
//! place, and the final check that every armed mailbox is found once.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rand::RngCore;

use super::TemplateError;
use crate::mailbox::{name_is_valid, token_problem};
use crate::scan::ScanReport;
use crate::store::{
    SNAPSHOT_META, SnapshotInfo, SnapshotMeta, Store, StoreError, ValidName, private_dir,
    write_json_atomic,
};

/// The disk image's name inside a snapshot directory (when linked).
pub const DISK_FILE: &str = "disk.img";

/// A random token: 32 hex characters.
pub fn generate_token(rng: &mut impl RngCore) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Check a template's mailbox list (names by the contract's rule, unique,
/// tokens valid, at most `max`) and fill in missing tokens.
pub fn check_mailboxes(
    wanted: &[(String, Option<String>)],
    max: usize,
    rng: &mut impl RngCore,
) -> Result<Vec<(String, String)>, TemplateError> {
    let bad = |m: String| Err(TemplateError::Invalid(m));
    if wanted.len() > max {
        return bad(format!(
            "{} mailboxes requested; at most {max} here",
            wanted.len()
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(wanted.len());
    for (name, token) in wanted {
        if !name_is_valid(name) {
            return bad(format!(
                "mailbox name {name:?} breaks the rule ^[A-Za-z0-9._:-]{{1,64}}$"
            ));
        }
        if !seen.insert(name.as_str()) {
            return bad(format!("mailbox {name:?} is named twice"));
        }
        let token = token.clone().unwrap_or_else(|| generate_token(rng));
        if let Some(p) = token_problem(&token) {
            return bad(format!("mailbox {name}: {p}"));
        }
        out.push((name.clone(), token));
    }
    Ok(out)
}

/// A snapshot directory being made: hidden until [`SnapshotDraft::commit`]
/// renames it into place; removed when dropped uncommitted (an error, a
/// cancel, a panic).
pub struct SnapshotDraft {
    tmp: PathBuf,
    final_dir: PathBuf,
    name: String,
    committed: bool,
}

impl SnapshotDraft {
    /// Start snapshot `name` in `store`; refuses a name in use.
    pub fn begin(store: &Store, name: &str) -> Result<SnapshotDraft, TemplateError> {
        let valid = ValidName::new(name)?;
        let final_dir = store.snapshot_dir(&valid);
        if std::fs::symlink_metadata(&final_dir).is_ok() {
            return Err(StoreError::Exists {
                what: "snapshot",
                name: name.into(),
                path: final_dir,
            }
            .into());
        }
        // Hidden (a dot name listings skip) and owner-only; tempfile makes
        // the name unique.
        let dir = store.snapshots_dir();
        let io = |source| TemplateError::Io {
            context: format!(
                "create {}",
                dir.join(format!(".creating-{name}-…")).display()
            ),
            source,
        };
        private_dir(&dir).map_err(io)?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".creating-{name}-"))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&dir)
            .map_err(io)?
            .keep();
        Ok(SnapshotDraft {
            tmp,
            final_dir,
            name: name.into(),
            committed: false,
        })
    }

    /// Where the files go meanwhile.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// Where the snapshot will be.
    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    /// Write `snapshot.json` and rename the directory into place.
    pub fn commit(mut self, meta: &SnapshotMeta) -> Result<SnapshotInfo, TemplateError> {
        write_json_atomic(&self.tmp.join(SNAPSHOT_META), meta)?;
        if std::fs::symlink_metadata(&self.final_dir).is_ok() {
            return Err(StoreError::Exists {
                what: "snapshot",
                name: self.name.clone(),
                path: self.final_dir.clone(),
            }
            .into());
        }
        std::fs::rename(&self.tmp, &self.final_dir).map_err(|source| TemplateError::Io {
            context: format!(
                "rename {} to {}",
                self.tmp.display(),
                self.final_dir.display()
            ),
            source,
        })?;
        self.committed = true;
        Ok(SnapshotInfo::load(&self.final_dir)?)
    }
}

impl Drop for SnapshotDraft {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Hard-link (else copy) `from` to `to`.
pub fn link_or_copy(from: &Path, to: &Path) -> Result<(), TemplateError> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|source| TemplateError::Io {
            context: format!("copy {} to {}", from.display(), to.display()),
            source,
        })
}

/// The disk as `vmm_config` names it: hard-linked into the snapshot
/// directory when it can be (a rebuilt image then never breaks the
/// template), else by its absolute path. Never copied: disks are large.
pub fn attach_disk(disk: &Path, dir: &Path) -> Result<String, TemplateError> {
    if std::fs::hard_link(disk, dir.join(DISK_FILE)).is_ok() {
        return Ok(DISK_FILE.into());
    }
    let abs = std::fs::canonicalize(disk).map_err(|source| TemplateError::Io {
        context: format!("disk {}", disk.display()),
        source,
    })?;
    Ok(abs.to_string_lossy().into_owned())
}

/// Every armed mailbox must be in the snapshot's memory exactly once, or
/// forks of it would fail later.
pub fn check_armed(report: &ScanReport, armed: &[(String, String)]) -> Result<(), TemplateError> {
    for (name, token) in armed {
        let count = report
            .fork_markers(name)
            .filter(|m| &m.token == token)
            .count();
        if count != 1 {
            return Err(TemplateError::NotArmed {
                name: name.clone(),
                count,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_are_checked_and_tokens_generated() {
        let mut rng = rand::rng();
        let ok = check_mailboxes(
            &[("app".into(), Some("tok".into())), ("a:b".into(), None)],
            16,
            &mut rng,
        )
        .unwrap();
        assert_eq!(ok[0], ("app".to_string(), "tok".to_string()));
        assert_eq!(ok[1].1.len(), 32);
        for bad in [
            vec![("bad name".to_string(), None)],
            vec![("a".to_string(), None), ("a".to_string(), None)],
            vec![("a".to_string(), Some("   ".to_string()))],
        ] {
            assert!(check_mailboxes(&bad, 16, &mut rng).is_err(), "{bad:?}");
        }
        let many: Vec<_> = (0..3).map(|i| (format!("m{i}"), None)).collect();
        assert!(check_mailboxes(&many, 2, &mut rng).is_err());
    }

    #[test]
    fn an_uncommitted_draft_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path().join("s")).unwrap();
        let draft = SnapshotDraft::begin(&store, "t").unwrap();
        std::fs::write(draft.dir().join("memory"), b"x").unwrap();
        drop(draft);
        assert_eq!(std::fs::read_dir(store.snapshots_dir()).unwrap().count(), 0);
    }
}
