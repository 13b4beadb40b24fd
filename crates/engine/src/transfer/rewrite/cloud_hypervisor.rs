//! Cloud Hypervisor: `config.json` (`VmConfig`, `vmm/src/vm_config.rs` at
//! v51.1, as Hypeman fills it in `ToVMConfig`,
//! `lib/hypervisor/cloudhypervisor/config.go` @a3274ed) and `state.json`
//! (a `vm_migration::Snapshot` tree whose `snapshot_data.state` values are
//! JSON *strings*; block devices' state holds `disk_path`).
//!
//! A path's role comes from the JSON pointer it is at. `state.json` may
//! only name paths `config.json` names (a block device's `disk_path` is its
//! disk's `path`) or host random devices.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::{
    ALLOWED_HOST_DEVICES, Change, NamedPath, RewriteError, Rewritten, Role, SourceLayout,
    WrittenFile, nested_json, normalize, pointer_str, read_json, refused, to_json,
};

/// How a JSON pointer of `config.json` is treated.
enum Field {
    /// `memory/zones/N/file`.
    MemoryZoneFile(usize),
    /// A file the VMM opens.
    File,
    /// A socket the VMM binds.
    Socket,
    /// A file the VMM creates.
    Created,
    /// `rng/src`: a host random device.
    HostDevice,
    /// A field that names something that cannot live in DIR.
    Refuse(&'static str),
    /// Not a path field this module knows.
    Unknown,
}

fn field(pointer: &[String]) -> Field {
    let p: Vec<&str> = pointer.iter().map(String::as_str).collect();
    let idx = |s: &str| s.parse::<usize>().ok();
    match p.as_slice() {
        ["memory", "zones", n, "file"] => idx(n).map_or(Field::Unknown, Field::MemoryZoneFile),
        ["disks", _, "path"] | ["pmem", _, "file"] => Field::File,
        ["payload", "kernel" | "initramfs" | "firmware" | "igvm"] => Field::File,
        ["platform", "fw_cfg_config", "items", "item_list", _, "file"] => Field::File,
        ["vsock", "socket"] | ["serial", "socket"] | ["console", "socket"] => Field::Socket,
        ["serial", "file"] | ["console", "file"] | ["debug_console", "file"] => Field::Created,
        ["rng", "src"] => Field::HostDevice,
        ["disks", _, "vhost_socket"] | ["net", _, "vhost_socket"] => {
            Field::Refuse("a vhost-user backend socket belongs to a host daemon")
        }
        ["devices", ..] => Field::Refuse("a VFIO passthrough device is host hardware"),
        ["user_devices", ..] => Field::Refuse("a vfio-user device socket belongs to a host daemon"),
        ["vdpa", ..] => Field::Refuse("a vDPA device is host hardware"),
        ["fs", ..] => Field::Refuse("virtio-fs needs a running virtiofsd"),
        ["tpm", ..] => Field::Refuse("the TPM socket belongs to a running swtpm"),
        ["landlock_rules", ..] => Field::Refuse("landlock rules grant host paths"),
        ["ivshmem", ..] => Field::Refuse("ivshmem is shared host memory"),
        _ => Field::Unknown,
    }
}

/// Refusals that do not depend on a path value.
fn precheck(obj: &Map<String, Value>) -> Result<(), RewriteError> {
    let list = |key: &str| {
        obj.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for (i, disk) in list("disks").iter().enumerate() {
        let loc = format!("config.json:/disks/{i}");
        let path = disk.get("path").and_then(Value::as_str).unwrap_or("");
        if disk.get("vhost_user").and_then(Value::as_bool) == Some(true) {
            return Err(refused(
                &loc,
                path,
                "a vhost-user disk is served by a host daemon",
            ));
        }
        if disk.get("backing_files").and_then(Value::as_bool) == Some(true) {
            return Err(refused(
                &loc,
                path,
                "an image with backing files: its copy would still name the backing chain",
            ));
        }
    }
    for (i, net) in list("net").iter().enumerate() {
        if net.get("vhost_user").and_then(Value::as_bool) == Some(true) {
            return Err(refused(
                &format!("config.json:/net/{i}"),
                "",
                "a vhost-user network is served by a host daemon",
            ));
        }
    }
    if obj.get("landlock_enable").and_then(Value::as_bool) == Some(true) {
        return Err(refused(
            "config.json:/landlock_enable",
            "true",
            "landlock confines the VMM to the source's host paths",
        ));
    }
    for key in ["devices", "user_devices", "vdpa", "fs", "ivshmem", "tpm"] {
        let configured = match obj.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        };
        if configured && let Field::Refuse(why) = field(&[key.to_string()]) {
            return Err(refused(&format!("config.json:/{key}"), "", why));
        }
    }
    Ok(())
}

/// A visitor of JSON strings: given the JSON pointer and the string, the
/// replacement (if any).
type Visit<'v> = dyn FnMut(&[String], &str) -> Result<Option<String>, RewriteError> + 'v;

/// Visit every string of `value` with its JSON pointer, following JSON
/// held in strings (re-encoded only when something in it changed).
fn walk(
    value: &mut Value,
    pointer: &mut Vec<String>,
    depth: usize,
    file: &str,
    visit: &mut Visit<'_>,
) -> Result<(), RewriteError> {
    match value {
        Value::String(s) => {
            if let Some(mut inner) = nested_json(s, depth) {
                let before = inner.clone();
                pointer.push("(json)".into());
                walk(&mut inner, pointer, depth + 1, file, visit)?;
                pointer.pop();
                if inner != before {
                    *s = serde_json::to_string(&inner).map_err(|e| RewriteError::BadJson {
                        file: file.into(),
                        reason: e.to_string(),
                    })?;
                }
            } else if let Some(new) = visit(pointer, s)? {
                *s = new;
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                pointer.push(i.to_string());
                walk(item, pointer, depth, file, visit)?;
                pointer.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                pointer.push(k.clone());
                walk(item, pointer, depth, file, visit)?;
                pointer.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn names_recorded(s: &str, recorded: &[String]) -> bool {
    recorded.iter().any(|d| s.contains(d.as_str()))
}

/// Every path `config.json` and `state.json` in `state_dir` name, with
/// their roles; what cannot live in DIR is refused.
pub(super) fn classify(
    layout: &SourceLayout,
    state_dir: &Path,
) -> Result<Vec<NamedPath>, RewriteError> {
    let config_path = state_dir.join("config.json");
    let mut config = read_json(&config_path)?;
    let mut state = read_json(&state_dir.join("state.json"))?;
    let Some(obj) = config.as_object() else {
        return Err(RewriteError::BadJson {
            file: config_path,
            reason: "not a JSON object".into(),
        });
    };
    precheck(obj)?;
    let zones = obj
        .get("memory")
        .and_then(|m| m.get("zones"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let recorded = layout.recorded_strings();
    let memory = normalize(&layout.snapshot_dir.join("memory-ranges"));
    let mut named: Vec<NamedPath> = Vec::new();
    walk(
        &mut config,
        &mut Vec::new(),
        0,
        "config.json",
        &mut |ptr, s| {
            let loc = pointer_str("config.json", ptr);
            let f = field(ptr);
            if !s.starts_with('/') {
                if names_recorded(s, &recorded) {
                    return Err(refused(
                        &loc,
                        s,
                        "names the source directory inside a longer string",
                    ));
                }
                if !s.is_empty()
                    && matches!(
                        f,
                        Field::File | Field::Socket | Field::Created | Field::MemoryZoneFile(_)
                    )
                {
                    return Err(refused(
                        &loc,
                        s,
                        "a relative path: the VMM would resolve it against its working directory",
                    ));
                }
                return Ok(None);
            }
            if named.iter().any(|n| n.path == s) {
                return Ok(None);
            }
            let role = match f {
                Field::MemoryZoneFile(n) => {
                    let zone = zones.get(n);
                    if zone.and_then(|z| z.get("shared")).and_then(Value::as_bool) == Some(true) {
                        return Err(refused(
                            &loc,
                            s,
                            "a shared (MAP_SHARED) memory zone: the restored VM would write into its file",
                        ));
                    }
                    if normalize(&layout.resolve(Path::new(s))) != memory {
                        return Err(refused(
                            &loc,
                            s,
                            "the memory zone's file is not the snapshot's memory-ranges (a boot-time \
                         backing file would restore other memory than the patched one)",
                        ));
                    }
                    Role::Memory
                }
                Field::File => {
                    let from = layout.resolve(Path::new(s));
                    match std::fs::metadata(&from) {
                        Ok(md) if md.is_file() => Role::File,
                        Ok(_) => {
                            return Err(refused(
                                &loc,
                                s,
                                "not a regular file (a host device cannot be copied into DIR)",
                            ));
                        }
                        Err(e) => {
                            return Err(refused(
                                &loc,
                                s,
                                format!("cannot be carried: {}: {e}", from.display()),
                            ));
                        }
                    }
                }
                Field::Socket => Role::Socket,
                Field::Created => Role::Created,
                Field::HostDevice if ALLOWED_HOST_DEVICES.contains(&s) => return Ok(None),
                Field::HostDevice => {
                    return Err(refused(
                        &loc,
                        s,
                        "the entropy source is not a host random device",
                    ));
                }
                Field::Refuse(why) => return Err(refused(&loc, s, why)),
                Field::Unknown => {
                    return Err(refused(&loc, s, "a path in a field forkmail does not know"));
                }
            };
            named.push(NamedPath {
                path: s.to_string(),
                role,
                location: loc,
                stored: None,
            });
            Ok(None)
        },
    )?;
    walk(
        &mut state,
        &mut Vec::new(),
        0,
        "state.json",
        &mut |ptr, s| {
            let loc = pointer_str("state.json", ptr);
            if s.starts_with('/') {
                if ALLOWED_HOST_DEVICES.contains(&s) || named.iter().any(|n| n.path == s) {
                    return Ok(None);
                }
                return Err(refused(
                    &loc,
                    s,
                    "a path in the device state that config.json does not name",
                ));
            }
            if names_recorded(s, &recorded) {
                return Err(refused(
                    &loc,
                    s,
                    "names the source directory inside a longer string",
                ));
            }
            Ok(None)
        },
    )?;
    Ok(named)
}

/// Rewrite the store snapshot's `config.json` and `state.json` with `map`.
pub(super) fn rewrite(
    store_dir: &Path,
    map: &BTreeMap<String, String>,
    recorded: &[&str],
    out: &mut Rewritten,
) -> Result<(), RewriteError> {
    let recorded: Vec<String> = recorded.iter().map(|s| s.to_string()).collect();
    for name in ["config.json", "state.json"] {
        let path = store_dir.join(name);
        let mut value = read_json(&path)?;
        let mut changes = Vec::new();
        walk(&mut value, &mut Vec::new(), 0, name, &mut |ptr, s| {
            let loc = pointer_str(name, ptr);
            if s.starts_with('/') {
                if ALLOWED_HOST_DEVICES.contains(&s) {
                    return Ok(None);
                }
                let Some(new) = map.get(s) else {
                    return Err(refused(
                        &loc,
                        s,
                        "a path the import did not find (the store snapshot's device state changed)",
                    ));
                };
                changes.push(Change {
                    location: loc,
                    from: s.to_string(),
                    to: new.clone(),
                });
                return Ok(Some(new.clone()));
            }
            if names_recorded(s, &recorded) {
                return Err(refused(
                    &loc,
                    s,
                    "names the source directory inside a longer string",
                ));
            }
            Ok(None)
        })?;
        if name == "config.json" {
            notes(&value, out);
        }
        out.changes
            .extend(changes.into_iter().filter(|c| c.from != c.to));
        out.files.push(WrittenFile {
            name: name.to_string(),
            bytes: to_json(&path, &value)?,
        });
    }
    Ok(())
}

/// What the restored VM still needs from the host that is not a path.
fn notes(config: &Value, out: &mut Rewritten) {
    for net in config
        .get("net")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(tap) = net.get("tap").and_then(Value::as_str) {
            out.notes.push(format!(
                "config.json names the host TAP device {tap:?} (net[].tap): create it before \
                 restoring, or edit net[].tap/ip/mac/mask as Hypeman's own fork does"
            ));
        }
    }
    if let Some(cid) = config.get("vsock").and_then(|v| v.get("cid")) {
        out.notes.push(format!(
            "the vsock CID {cid} is kept (Hypeman keeps a Cloud Hypervisor guest's CID across \
             forks; the vsock is a Unix socket in DIR, so two VMs with one CID do not collide)"
        ));
    }
}
