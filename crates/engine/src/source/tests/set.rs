//! The run's sources: unique labels, `LABEL/NAME`, paths inside a source,
//! a source that cannot be opened kept with its error, and a snapshot
//! opened by its path.

use std::path::PathBuf;

use super::fixture::*;
use crate::source::set::{STORE_LABEL, source_paths_from};
use crate::source::{SourceSet, snapshot_at};

#[test]
fn labels_are_the_last_components_made_unique_and_never_store() {
    let a = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for d in ["one/hypeman", "two/hypeman", "three/store"] {
        let p = a.path().join(d);
        std::fs::create_dir_all(p.join("guests")).unwrap();
        paths.push(p);
    }
    let gone = a.path().join("gone");
    paths.push(gone.clone());
    let set = SourceSet::open(&paths);
    let labels: Vec<&str> = set.sources.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["hypeman", "hypeman-2", "store-2", "gone"]);
    assert!(!labels.contains(&STORE_LABEL));
    let dead = set.get("gone").unwrap();
    assert_eq!(dead.source.as_ref().unwrap_err().problem(), "open");
    assert_eq!(
        set.list().len(),
        4,
        "a source that cannot be opened stays listed"
    );
}

#[test]
fn label_slash_name_finds_a_snapshot_and_paths_inside_a_source_are_known() {
    let fx = hypeman();
    let set = SourceSet::open(std::slice::from_ref(&fx.root));
    let (s, snap) = set.resolve("hypeman/web").unwrap().unwrap();
    assert_eq!((s.label.as_str(), snap.id.as_str()), ("hypeman", "fc-web"));
    assert_eq!(
        set.resolve("hypeman/snap-lz4").unwrap().unwrap().1.name,
        "nightly"
    );
    assert!(set.resolve("hypeman/nothing").unwrap().is_err());
    assert!(
        set.resolve("other/web").is_none(),
        "not a label: maybe a path"
    );
    assert!(set.resolve("web").is_none());
    assert_eq!(set.label_of(&fx.root), Some("hypeman"));
    assert!(set.contains_path(&fx.root.join("guests/fc-web")));
    assert!(set.contains_path(&fx.root));
    assert!(!set.contains_path(&fx.reference));
}

#[test]
fn a_path_opens_the_one_snapshot_it_holds() {
    let fx = hypeman();
    let file = snapshot_at(&fx.reference).unwrap().unwrap();
    assert_eq!(file.memory.as_deref(), Some(fx.reference.as_path()));
    let dir = fx.root.join("guests/fc-web/snapshots/snapshot-latest");
    let in_dir = snapshot_at(&dir).unwrap().unwrap();
    assert_eq!(in_dir.device_state, vec![dir.join("state")]);
    let whole = snapshot_at(&fx.root).unwrap().unwrap_err();
    assert!(
        matches!(whole, crate::source::SourceError::NotASource { .. }),
        "{whole}"
    );
    assert!(snapshot_at(&PathBuf::from("/nonexistent/x")).is_none());
}

#[test]
fn sources_come_from_options_then_the_environment_then_hypemans_default_once_each() {
    let a = tempfile::tempdir().unwrap();
    let [x, y, hypeman] = ["x", "y", "var-lib-hypeman"].map(|d| {
        let p = a.path().join(d);
        std::fs::create_dir_all(&p).unwrap();
        p
    });
    let env = std::env::join_paths([&y, &x]).unwrap();
    // Hypeman's directory is added when it can be read, after the others;
    // a path given twice (the same directory) counts once.
    let got = source_paths_from(std::slice::from_ref(&x), Some(&env), &hypeman);
    assert_eq!(got, [x.clone(), y.clone(), hypeman.clone()]);
    // Empty entries of the variable are nothing.
    let got = source_paths_from(&[], Some(std::ffi::OsStr::new("::")), &hypeman);
    assert_eq!(got, std::slice::from_ref(&hypeman));
    // Not there: not added.
    let missing = a.path().join("no-hypeman");
    assert_eq!(
        source_paths_from(&[], None, &missing),
        Vec::<PathBuf>::new()
    );
    // There but unreadable for the process: not added either (root reads
    // anything, so only checked for other users).
    if !rustix::process::geteuid().is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hypeman, std::fs::Permissions::from_mode(0o000)).unwrap();
        assert!(source_paths_from(&[], None, &hypeman).is_empty());
        std::fs::set_permissions(&hypeman, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
