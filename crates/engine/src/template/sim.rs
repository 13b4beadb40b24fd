//! The simulator's template generator: a sparse memory file that looks like
//! a used guest (scattered data extents), with mailboxes armed at
//! page-aligned offsets exactly as a guest arms them, and a `state` file
//! telling the simulated guest what it armed.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::FileExt;
use std::path::Path;

use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

pub use super::common::generate_token;

use super::TemplateError;
use super::common::{SnapshotDraft, check_mailboxes};
use crate::guest::GuestFault;
use crate::mailbox::{
    MAILBOX_SIZE, RESUME_NETWORK_MAX_TOKEN_LEN, encode_fork_marker, encode_resume_network_marker,
};
use crate::store::{
    MEMORY_FILE, STATE_FILE, SnapshotInfo, SnapshotMeta, Store, ValidName, now_rfc3339,
    private_file, write_json_atomic,
};
use crate::vmm::VmmKind;
use crate::vmm::sim::{SimMailbox, SimResumeNetwork, SimState};

/// Most mailboxes one simulated guest arms.
pub const MAX_TEMPLATE_MAILBOXES: usize = 64;
const PAGE: u64 = 4096;

/// What to put in a simulated template.
#[derive(Debug, Clone)]
pub struct SimTemplateSpec {
    /// Snapshot name.
    pub name: String,
    /// Apparent size of the memory file.
    pub memory_size: u64,
    /// Mailboxes to arm: name and token (generated when `None`).
    pub mailboxes: Vec<(String, Option<String>)>,
    /// Arm a resume-network mailbox with this token.
    pub resume_network_token: Option<String>,
    /// Misbehaviour per mailbox name.
    pub faults: BTreeMap<String, GuestFault>,
    /// Names whose marker also appears a second time (a stray copy in RAM).
    pub stray_copies: Vec<String>,
    /// Share of pages that hold data, in percent.
    pub data_percent: f64,
    /// Seed for the layout (random when `None`).
    pub seed: Option<u64>,
    /// Default address of forks' ack sockets, kept in `snapshot.json`.
    pub ack_bind: Option<std::net::IpAddr>,
    /// What the template is for, in one line.
    pub description: Option<String>,
}

impl SimTemplateSpec {
    /// A spec with defaults: 1 GiB, 3 % data.
    pub fn new(name: &str) -> SimTemplateSpec {
        SimTemplateSpec {
            name: name.into(),
            memory_size: 1 << 30,
            mailboxes: Vec::new(),
            resume_network_token: None,
            faults: BTreeMap::new(),
            stray_copies: Vec::new(),
            data_percent: 3.0,
            seed: None,
            ack_bind: None,
            description: None,
        }
    }
}

fn check(spec: &SimTemplateSpec) -> Result<(), TemplateError> {
    let bad = |m: String| Err(TemplateError::Invalid(m));
    if spec.memory_size < 16 << 20 {
        return bad("memory must be at least 16 MiB".into());
    }
    let names: BTreeSet<&str> = spec.mailboxes.iter().map(|(n, _)| n.as_str()).collect();
    for name in spec.faults.keys().chain(spec.stray_copies.iter()) {
        if !names.contains(name.as_str()) {
            return bad(format!("{name:?} is not one of the template's mailboxes"));
        }
    }
    if let Some(t) = &spec.resume_network_token
        && (t.is_empty() || t.len() > RESUME_NETWORK_MAX_TOKEN_LEN || t.contains('\0'))
    {
        return bad(format!(
            "resume-network token must be 1..={RESUME_NETWORK_MAX_TOKEN_LEN} bytes without NUL"
        ));
    }
    if !(0.0..=50.0).contains(&spec.data_percent) {
        return bad("data share must be between 0 and 50 percent".into());
    }
    Ok(())
}

/// Create the simulated template described by `spec` in `store`. Builds in a
/// hidden directory and renames it into place, so a half-made template is
/// never listed and a failure leaves nothing behind.
pub fn create_sim_template(
    store: &Store,
    spec: &SimTemplateSpec,
) -> Result<SnapshotInfo, TemplateError> {
    ValidName::new(&spec.name)?;
    check(spec)?;
    let mut rng = match spec.seed {
        Some(s) => SmallRng::seed_from_u64(s),
        None => SmallRng::from_os_rng(),
    };
    let mailboxes = check_mailboxes(&spec.mailboxes, MAX_TEMPLATE_MAILBOXES, &mut rng)?;
    let draft = SnapshotDraft::begin(store, &spec.name)?;
    check_free_space(&store.snapshots_dir(), spec)?;
    build(draft.dir(), spec, &mailboxes, &mut rng)?;
    draft.commit(&SnapshotMeta {
        kind: "standby".into(),
        vmm: VmmKind::Sim,
        created_at: now_rfc3339(),
        memory_size: spec.memory_size,
        vmm_config: serde_json::Value::Null,
        ack_bind: spec.ack_bind,
        description: spec.description.clone(),
    })
}

/// Bytes of data in the template's memory: `data_percent` (0 to 50, checked
/// by `check`) of its size.
fn data_bytes(spec: &SimTemplateSpec) -> u64 {
    // A float-to-integer `as` saturates and drops the fraction (wanted
    // here); the value is at most half of `memory_size`, itself a u64.
    #[allow(clippy::cast_possible_truncation)]
    let bytes = (spec.memory_size as f64 * spec.data_percent / 100.0) as u64;
    bytes
}

/// Refuse a template whose data would not fit on the store's filesystem
/// (with 256 MiB to spare), before writing anything.
fn check_free_space(dir: &Path, spec: &SimTemplateSpec) -> Result<(), TemplateError> {
    let need = data_bytes(spec) + (spec.mailboxes.len() as u64 + 2) * PAGE;
    if dir.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(TemplateError::Invalid(format!(
            "{} contains a NUL byte",
            dir.display()
        )));
    }
    let Ok(free) = crate::store::free_space(dir) else {
        return Ok(()); // cannot tell: let the writes report it
    };
    if need + (256 << 20) > free {
        return Err(TemplateError::Invalid(format!(
            "template {} needs {} of data ({}% of {}) but {} has only {} free",
            spec.name,
            crate::units::human_size(need),
            spec.data_percent,
            crate::units::human_size(spec.memory_size),
            dir.display(),
            crate::units::human_size(free)
        )));
    }
    Ok(())
}

fn build(
    dir: &Path,
    spec: &SimTemplateSpec,
    mailboxes: &[(String, String)],
    rng: &mut SmallRng,
) -> Result<(), TemplateError> {
    let mem_path = dir.join(MEMORY_FILE);
    let io = |source| TemplateError::Io {
        context: mem_path.display().to_string(),
        source,
    };
    let file = private_file(&mem_path).map_err(io)?;
    file.set_len(spec.memory_size).map_err(io)?;
    let pages = spec.memory_size / PAGE;

    // Scattered data extents: what a used guest's RAM looks like.
    let target = data_bytes(spec);
    let mut written = 0u64;
    let mut buf = vec![0u8; 4 << 20];
    while written < target {
        let len_pages = rng.random_range(16..=1024u64).min(pages);
        let start = rng.random_range(0..pages - len_pages) * PAGE;
        let len = len_pages * PAGE;
        // At most 1024 pages: the buffer's 4 MiB.
        let chunk = &mut buf[..crate::units::len_at_most(len, 4 << 20)];
        rng.fill_bytes(chunk);
        file.write_all_at(chunk, start).map_err(io)?;
        written += len;
    }

    // Mailboxes: page-aligned, each on its own page.
    let mut used = BTreeSet::new();
    let mut pick_page = |rng: &mut SmallRng| loop {
        let p = rng.random_range(1..pages - 1);
        if used.insert(p) {
            return p * PAGE;
        }
    };
    let mut state = SimState {
        vmm: "sim".into(),
        mailboxes: Vec::new(),
        resume_network: None,
    };
    for (name, token) in mailboxes {
        let token = token.clone();
        let offset = pick_page(rng);
        let mut page = vec![0u8; MAILBOX_SIZE];
        let marker = encode_fork_marker(name, &token);
        page[..marker.len()].copy_from_slice(&marker);
        file.write_all_at(&page, offset).map_err(io)?;
        if spec.stray_copies.contains(name) {
            // A stray copy of the marker bytes, as a memcpy'd buffer would leave.
            file.write_all_at(&page, pick_page(rng)).map_err(io)?;
        }
        state.mailboxes.push(SimMailbox {
            name: name.clone(),
            token,
            offset,
            fault: spec.faults.get(name).copied(),
        });
    }
    if let Some(token) = &spec.resume_network_token {
        let offset = pick_page(rng);
        let mut page = vec![0u8; MAILBOX_SIZE];
        let marker = encode_resume_network_marker(token);
        page[..marker.len()].copy_from_slice(&marker);
        file.write_all_at(&page, offset).map_err(io)?;
        state.resume_network = Some(SimResumeNetwork {
            token: token.clone(),
            offset,
        });
    }
    file.sync_all().map_err(io)?;
    write_json_atomic(&dir.join(STATE_FILE), &state)?;
    Ok(())
}
