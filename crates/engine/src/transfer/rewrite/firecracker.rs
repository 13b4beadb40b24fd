//! Firecracker: the binary `state` ([`super::fc_state`]) and Hypeman's
//! `firecracker-config.json` (`restoreMetadata`,
//! `lib/hypervisor/firecracker/config.go` @6458cf3; the UFFD fields of
//! a0e5530).
//!
//! The state has no field names that survive bincode, so a path's role
//! comes from what is on disk at import: a regular file is carried, a
//! socket (or a `*.sock`/`*.vsock` path that is gone: Hypeman removes the
//! vsock socket at standby, `lib/instances/standby.go` @13baa91) is bound
//! in DIR. Paths are rewritten with their bincode length prefixes (the
//! strings may change length in Firecracker v1.13–v1.14's fixed-int
//! layout), where Hypeman can only replace same-length directories and
//! otherwise symlinks the source directory while Firecracker loads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::fc_state::{self, BINCODE_FIXINT_MAJOR};
use super::{
    ALLOWED_HOST_DEVICES, Change, FC_RESTORE_METADATA, NamedPath, RewriteError, Rewritten, Role,
    SourceLayout, WrittenFile, read_json, read_state, refused, to_json,
};

/// Keys of `firecracker-config.json` an export drops: the source-alias
/// fields would make a restore symlink the source directory
/// (`withSnapshotSourceDirAlias`, `process.go` @a3a08ef); the UFFD fields
/// name a pager of the source host.
const DROPPED: [&str; 4] = [
    "snapshot_source_data_dir",
    "retain_snapshot_source_data_dir_alias",
    "uffd_cache_key",
    "uffd_overlays",
];

fn fc_err(file: &Path) -> impl FnOnce(fc_state::FcStateError) -> RewriteError + '_ {
    move |source| RewriteError::FcState {
        file: file.to_path_buf(),
        source,
    }
}

/// Every path the `state` in `state_dir` names, with its role.
pub(super) fn classify(
    layout: &SourceLayout,
    state_dir: &Path,
) -> Result<Vec<NamedPath>, RewriteError> {
    let file = state_dir.join("state");
    let data = read_state(&file)?;
    let (header, strings) = fc_state::path_strings(&data).map_err(fc_err(&file))?;
    let mut named: Vec<NamedPath> = Vec::new();
    for s in &strings {
        let loc = format!("state:@{}", s.len_offset);
        if ALLOWED_HOST_DEVICES.contains(&s.value.as_str())
            || named.iter().any(|n| n.path == s.value)
        {
            continue;
        }
        if header.major() != Some(BINCODE_FIXINT_MAJOR) {
            return Err(refused(
                &loc,
                &s.value,
                format!(
                    "Firecracker snapshot data version {} is not the layout forkmail rewrites \
                     (8.x: Firecracker v1.13–v1.14, the one Hypeman ships); its paths could only \
                     be replaced by strings of the same length",
                    header.version
                ),
            ));
        }
        let resolved = layout.resolve(Path::new(&s.value));
        let socket_name = s.value.ends_with(".sock") || s.value.ends_with(".vsock");
        let role = match std::fs::metadata(&resolved) {
            Ok(md) if md.is_file() => Role::File,
            Ok(md) if md.is_dir() => {
                return Err(refused(&loc, &s.value, "names a directory"));
            }
            Ok(md) if is_socket(&md) || socket_name => Role::Socket,
            Ok(_) => {
                return Err(refused(
                    &loc,
                    &s.value,
                    "not a regular file (a host device cannot be copied into DIR)",
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && socket_name => Role::Socket,
            Err(e) => {
                return Err(refused(
                    &loc,
                    &s.value,
                    format!("cannot be carried: {}: {e}", resolved.display()),
                ));
            }
        };
        named.push(NamedPath {
            path: s.value.clone(),
            role,
            location: loc,
            stored: None,
        });
    }
    // A source directory anywhere but at the start of a path (boot args, a
    // string this scan does not see) would be left pointing at the source.
    let body = data
        .get(header.body_start..data.len().saturating_sub(8))
        .unwrap_or_default();
    for prefix in layout.recorded_strings() {
        for pos in memchr::memmem::find_iter(body, prefix.as_bytes()) {
            let pos = pos + header.body_start;
            if !strings.iter().any(|s| s.len_offset + 8 == pos) {
                return Err(refused(
                    &format!("state:@{pos}"),
                    &prefix,
                    "names the source directory inside a longer string",
                ));
            }
        }
    }
    Ok(named)
}

fn is_socket(md: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    md.file_type().is_socket()
}

/// Whether Hypeman's `firecracker-config.json` is at `path` and can be
/// carried: UFFD overlay pages (memory the file does not hold) cannot, nor
/// a path this module does not know.
pub(super) fn check_restore_metadata(path: &Path) -> Result<bool, RewriteError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(crate::files::ReadError::Io {
                path: path.to_path_buf(),
                source,
            }
            .into());
        }
    }
    let meta = read_json(path)?;
    let Some(obj) = meta.as_object() else {
        return Err(RewriteError::BadJson {
            file: path.to_path_buf(),
            reason: "not a JSON object".into(),
        });
    };
    if obj
        .get("uffd_overlays")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(refused(
            "firecracker-config.json:/uffd_overlays",
            "",
            "UFFD overlay pages are guest memory the snapshot's memory file does not hold",
        ));
    }
    for (k, v) in obj {
        if DROPPED.contains(&k.as_str()) {
            continue;
        }
        let mut found = Vec::new();
        super::collect_json_paths(v, &mut vec![k.clone()], &mut found, 0);
        if let Some((loc, p)) = found.into_iter().next() {
            return Err(refused(
                &format!("{FC_RESTORE_METADATA}:{loc}"),
                &p,
                "a path in a field forkmail does not know",
            ));
        }
    }
    Ok(true)
}

/// The source directory a Hypeman fork's state may still name
/// (`snapshot_source_data_dir`: Hypeman could not rewrite it in place and
/// aliases it at load).
pub fn alias_source_dir(guest_dir: &Path) -> Option<PathBuf> {
    let path = guest_dir.join(FC_RESTORE_METADATA);
    std::fs::symlink_metadata(&path).ok()?;
    let meta = read_json(&path).ok()?;
    meta.get("snapshot_source_data_dir")
        .and_then(Value::as_str)
        .filter(|s| s.starts_with('/'))
        .map(PathBuf::from)
}

/// Rewrite the store snapshot's `state` with `map`.
pub(super) fn rewrite(
    store_dir: &Path,
    map: &BTreeMap<String, String>,
    recorded: &[&str],
    out: &mut Rewritten,
) -> Result<(), RewriteError> {
    let file = store_dir.join("state");
    let data = read_state(&file)?;
    let (header, strings) = fc_state::path_strings(&data).map_err(fc_err(&file))?;
    for s in &strings {
        if !ALLOWED_HOST_DEVICES.contains(&s.value.as_str()) && !map.contains_key(&s.value) {
            return Err(refused(
                &format!("state:@{}", s.len_offset),
                &s.value,
                "a path the import did not find (the store snapshot's device state changed)",
            ));
        }
    }
    let (bytes, replaced) =
        fc_state::rewrite_path_strings(&data, recorded, &mut |p| map.get(p).cloned())
            .map_err(fc_err(&file))?;
    out.changes.extend(replaced.into_iter().map(|r| Change {
        location: format!("state:@{}", r.len_offset),
        from: r.from,
        to: r.to,
    }));
    out.fc_version = Some(header.version.clone());
    out.notes.push(format!(
        "Firecracker snapshot data version {} ({}): restore with Firecracker v1.13 or v1.14 \
         (Hypeman ships v1.14.2)",
        header.version,
        header.arch()
    ));
    out.files.push(WrittenFile {
        name: "state".into(),
        bytes,
    });
    Ok(())
}

/// Rewrite the carried `firecracker-config.json`: alias and UFFD fields
/// dropped, a UFFD memory backend made the file backend, network overrides
/// kept (and noted: the restore needs those TAP devices).
pub(super) fn rewrite_restore_metadata(
    store_dir: &Path,
    map: &BTreeMap<String, String>,
    out: &mut Rewritten,
) -> Result<(), RewriteError> {
    let path = store_dir.join(FC_RESTORE_METADATA);
    let mut meta = read_json(&path)?;
    let Some(obj) = meta.as_object_mut() else {
        return Err(RewriteError::BadJson {
            file: path,
            reason: "not a JSON object".into(),
        });
    };
    for key in DROPPED {
        if let Some(old) = obj.remove(key) {
            out.changes.push(Change {
                location: format!("{FC_RESTORE_METADATA}:/{key}"),
                from: old.to_string(),
                to: "(removed)".into(),
            });
        }
    }
    if let Some(backend) = obj.get_mut("snapshot_memory_backend")
        && backend.as_str() != Some("file")
    {
        out.changes.push(Change {
            location: format!("{FC_RESTORE_METADATA}:/snapshot_memory_backend"),
            from: backend.to_string(),
            to: "\"file\"".into(),
        });
        *backend = Value::String("file".into());
    }
    for o in obj
        .get("network_overrides")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let iface = o.get("iface_id").and_then(Value::as_str).unwrap_or("");
        if let Some(tap) = o.get("host_dev_name").and_then(Value::as_str) {
            out.network_overrides.push((iface.into(), tap.into()));
            out.notes.push(format!(
                "network override {iface:?} -> host TAP {tap:?}: create that TAP device before \
                 restoring, or give another in the snapshot load's network_overrides"
            ));
        }
    }
    let mut found = Vec::new();
    super::collect_json_paths(&meta, &mut Vec::new(), &mut found, 0);
    if let Some((loc, p)) = found.into_iter().find(|(_, p)| !map.contains_key(p)) {
        return Err(refused(
            &format!("{FC_RESTORE_METADATA}:{loc}"),
            &p,
            "a path in a field forkmail does not know",
        ));
    }
    out.files.push(WrittenFile {
        name: FC_RESTORE_METADATA.into(),
        bytes: to_json(&path, &meta)?,
    });
    Ok(())
}
