//! Benchmark inputs: raw memory files built from a fixed seed, kept under
//! `target/tmp/forkmail-bench/` and rebuilt only when their description
//! changes. Sparse files are `set_len` plus scattered 1 MiB writes, so even
//! the 64 GiB one takes seconds to build and 1 GiB of disk.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use forkmail::mailbox::{MAILBOX_SIZE, encode_fork_marker};

const MIB: u64 = 1 << 20;
const SEED: u64 = 0x666f_726b_6d61_696c;

/// What a memory file looks like.
#[derive(Clone, Copy)]
pub struct Spec {
    /// File name and label, e.g. `sparse-4g`.
    pub name: &'static str,
    /// Apparent size.
    pub size: u64,
    /// Bytes of random data, in distinct 1 MiB blocks at random 1 MiB slots
    /// (equal to `size` for a dense file).
    pub data: u64,
    /// Fork markers planted inside the data, page aligned.
    pub markers: usize,
}

/// 4 GiB sparse, 200 MiB of data.
pub const SPARSE_4G: Spec = Spec {
    name: "sparse-4g",
    size: 4 << 30,
    data: 200 * MIB,
    markers: 17,
};
/// 2 GiB, all data.
pub const DENSE_2G: Spec = Spec {
    name: "dense-2g",
    size: 2 << 30,
    data: 2 << 30,
    markers: 17,
};
/// 64 GiB sparse, 1 GiB of data.
pub const SPARSE_64G: Spec = Spec {
    name: "sparse-64g",
    size: 64 << 30,
    data: 1 << 30,
    markers: 17,
};

/// A built input.
#[derive(Clone)]
pub struct Input {
    /// The memory file.
    pub path: PathBuf,
    /// Its description.
    pub spec: Spec,
    /// Mailbox names of the planted markers (token `token`), in file order.
    pub names: Vec<String>,
    /// Offsets of the planted markers, in file order.
    pub offsets: Vec<u64>,
}

/// SplitMix64: tiny, fast and the same in every version of every crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

impl Spec {
    fn describe(&self) -> String {
        format!(
            "v1 seed={SEED:#x} size={} data={} markers={}",
            self.size, self.data, self.markers
        )
    }

    /// Start offsets of the data blocks, ascending.
    fn blocks(&self, rng: &mut Rng) -> Vec<u64> {
        let slots = self.size / MIB;
        let want = self.data / MIB;
        if want >= slots {
            return (0..slots).map(|s| s * MIB).collect();
        }
        let mut taken = std::collections::BTreeSet::new();
        while (taken.len() as u64) < want {
            taken.insert(rng.next() % slots);
        }
        taken.into_iter().map(|s| s * MIB).collect()
    }
}

/// Build `spec` under `dir` unless an identical build is already there.
pub fn ensure(spec: &Spec, dir: &Path) -> io::Result<Input> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.memory", spec.name));
    let stamp = dir.join(format!("{}.stamp", spec.name));
    let mut rng = Rng(SEED ^ spec.size ^ spec.data);
    let blocks = spec.blocks(&mut rng);
    let names: Vec<String> = (0..spec.markers).map(|i| format!("mailbox.{i}")).collect();
    // Marker i sits in block i·n/markers, on a page that varies with i, so
    // markers are spread over the file and never share a page.
    let offsets: Vec<u64> = (0..spec.markers)
        .map(|i| {
            let block = blocks[i * blocks.len() / spec.markers];
            block + (i as u64 * 37 % (MIB / MAILBOX_SIZE as u64)) * MAILBOX_SIZE as u64
        })
        .collect();
    let input = Input {
        path: path.clone(),
        spec: *spec,
        names,
        offsets,
    };
    let fresh = std::fs::read_to_string(&stamp).is_ok_and(|s| s == spec.describe())
        && std::fs::metadata(&path).is_ok_and(|m| m.len() == spec.size);
    if fresh {
        return Ok(input);
    }
    eprintln!(
        "building {} ({} GiB, {} MiB data) in {}",
        spec.name,
        spec.size >> 30,
        spec.data / MIB,
        dir.display()
    );
    let _ = std::fs::remove_file(&stamp);
    let f = File::create(&path)?;
    f.set_len(spec.size)?;
    let mut buf = vec![0u8; usize::try_from(MIB).expect("1 MiB fits")];
    for &at in &blocks {
        rng.fill(&mut buf);
        f.write_all_at(&buf, at)?;
    }
    let mut page = vec![0u8; MAILBOX_SIZE];
    for (name, &at) in input.names.iter().zip(&input.offsets) {
        page.fill(0);
        let m = encode_fork_marker(name, "token");
        page[..m.len()].copy_from_slice(&m);
        f.write_all_at(&page, at)?;
    }
    f.sync_all()?;
    std::fs::write(&stamp, spec.describe())?;
    Ok(input)
}
