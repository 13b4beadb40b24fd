//! What an export says about itself: `restore.json` (for programs) and
//! `RESTORE.md` (for people), both naming only paths in DIR.

use std::path::Path;

use serde_json::{Value, json};

use super::Rewritten;
use crate::vmm::VmmKind;

/// The machine-readable restore description.
pub const RESTORE_JSON: &str = "restore.json";
/// The human-readable one.
pub const RESTORE_MD: &str = "RESTORE.md";
/// `restore.json`'s `format`.
pub const FORMAT: &str = "forkmail-export/1";

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// The API socket a restoring VMM is told to listen on.
fn api_socket(vmm: VmmKind) -> &'static str {
    match vmm {
        VmmKind::CloudHypervisor => "ch.sock",
        _ => "fc.sock",
    }
}

/// `restore.json` for an export of `vmm` in `dir` (absolute). `rewritten`
/// is `None` when the device state was exported unchanged
/// (`--keep-source-paths`).
pub fn restore_json(
    vmm: VmmKind,
    dir: &Path,
    memory: &str,
    device_state: &[String],
    rewritten: Option<&Rewritten>,
) -> Value {
    let files: Vec<String> = rewritten
        .map(|r| r.copies.iter().map(|(_, name)| p(dir, name)).collect())
        .unwrap_or_default();
    let sockets: Vec<String> = rewritten.map(|r| r.sockets.clone()).unwrap_or_default();
    let notes: Vec<String> = rewritten.map(|r| r.notes.clone()).unwrap_or_default();
    let api = p(dir, api_socket(vmm));
    let how = match vmm {
        VmmKind::Firecracker => {
            let overrides: Vec<Value> = rewritten
                .map(|r| {
                    r.network_overrides
                        .iter()
                        .map(|(iface, tap)| json!({"iface_id": iface, "host_dev_name": tap}))
                        .collect()
                })
                .unwrap_or_default();
            let mut load = json!({
                "snapshot_path": p(dir, "state"),
                "mem_backend": {"backend_type": "File", "backend_path": p(dir, memory)},
                "resume_vm": true,
            });
            if !overrides.is_empty() {
                load["network_overrides"] = Value::Array(overrides);
            }
            json!({"api_socket": api, "snapshot_load": load})
        }
        _ => json!({
            "api_socket": api,
            "restore": {"source_url": format!("file://{}", dir.to_string_lossy())},
        }),
    };
    json!({
        "format": FORMAT,
        "vmm": vmm.label(),
        "dir": dir.to_string_lossy(),
        "memory": p(dir, memory),
        "device_state": device_state.iter().map(|n| p(dir, n)).collect::<Vec<_>>(),
        "files": files,
        "sockets": sockets,
        "source_paths_kept": rewritten.is_none(),
        vmm.label(): how,
        "notes": notes,
    })
}

/// `RESTORE.md`: what DIR holds and how the VMM restores it.
pub fn restore_md(vmm: VmmKind, dir: &Path, doc: &Value) -> String {
    let d = dir.to_string_lossy();
    let mut s = String::new();
    s.push_str("# Restoring this fork\n\n");
    let memory = doc["memory"]
        .as_str()
        .and_then(|m| Path::new(m).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    s.push_str(&format!(
        "Exported by forkmail: a patched fork of a {} snapshot. `{memory}` is the fork's guest \
         memory with its mailbox payloads written; `restore.json` says the same as this file \
         for programs.\n\n",
        vmm.label()
    ));
    let kept = doc["source_paths_kept"].as_bool().unwrap_or(false);
    if kept {
        s.push_str(
            "**The device state was exported unchanged (`--keep-source-paths`)**: it names the \
             source's disks, sockets and files. Restoring it opens the source instance's \
             writable disks; do that only if the source will never run again.\n\n",
        );
    } else {
        s.push_str(
            "Every path in the device state points into this directory: the disks are private \
             copies in `files/` (sparse), the sockets are created here when the VMM restores, \
             and nothing of the source is opened.\n\n",
        );
    }
    s.push_str("## Restore\n\n```sh\n");
    match vmm {
        VmmKind::Firecracker => {
            let load = serde_json::to_string_pretty(&doc["firecracker"]["snapshot_load"])
                .unwrap_or_default();
            s.push_str(&format!(
                "firecracker --api-sock {d}/fc.sock &\n\
                 curl --unix-socket {d}/fc.sock -X PUT http://localhost/snapshot/load \\\n  \
                 -H 'Content-Type: application/json' -d @- <<'EOF'\n{load}\nEOF\n"
            ));
        }
        _ => {
            s.push_str(&format!(
                "cloud-hypervisor --api-socket path={d}/ch.sock --restore source_url=file://{d}\n\
                 ch-remote --api-socket {d}/ch.sock resume\n"
            ));
        }
    }
    s.push_str("```\n");
    if let Some(notes) = doc["notes"].as_array().filter(|n| !n.is_empty()) {
        s.push_str("\n## Before you restore\n\n");
        for n in notes.iter().filter_map(Value::as_str) {
            s.push_str(&format!("- {n}\n"));
        }
    }
    s
}
