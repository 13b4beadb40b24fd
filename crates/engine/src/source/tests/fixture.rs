//! A Hypeman-shaped data directory built from real files and from
//! Hypeman's own structs (see [`hypeman`] for what is in it and where each
//! shape comes from): Firecracker, Cloud Hypervisor, QEMU and vz standby
//! instances with the device state their VMMs write (a byte-exact model of
//! Firecracker's bincode state, Cloud Hypervisor's `config.json` and
//! `state.json`), Hypeman's standby rule (a stopped and a running
//! instance), compressed memory, central Standby (zstd, lz4) and Stopped
//! snapshots, and entries that cannot be read for reasons that hold for
//! root too (FIFOs and directories where files should be, broken JSON,
//! missing files, an id claimed twice).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::mailbox::{encode_fork_marker, encode_resume_network_marker};

/// Size of every test memory file: a few MiB, sparse, not a round number.
pub const MEM_SIZE: u64 = (4 << 20) + 3 * 4096 + 123;

/// Where markers are planted: page aligned, unaligned, across the 2 MiB
/// buffer boundary, near the end, duplicated.
pub fn planted() -> Vec<(u64, Vec<u8>)> {
    vec![
        (8192, encode_fork_marker("app.config", "tok-1")),
        (100_003, encode_fork_marker("unaligned", "tok-2")),
        ((2 << 20) - 5, encode_fork_marker("straddle", "tok-3")),
        ((2 << 20) + 4096, encode_fork_marker("dup", "a")),
        ((3 << 20) + 8192, encode_fork_marker("dup", "b")),
        ((3 << 20) + 65_536, encode_resume_network_marker("net-1")),
        (MEM_SIZE - 1000, encode_fork_marker("near.end", "t")),
        (MEM_SIZE - 50, encode_fork_marker("tail", "t")),
    ]
}

/// Write the test memory file (same bytes every time) to `path`.
pub fn write_memory(path: &Path) {
    let f = File::create(path).unwrap();
    f.set_len(MEM_SIZE).unwrap();
    let text = b"guest page cache: HYPEMAN_ appears in text too. ".repeat(4000);
    f.write_all_at(&text, 1 << 20).unwrap();
    for (at, bytes) in planted() {
        f.write_all_at(&bytes, at).unwrap();
    }
}

/// Compress `raw` into `out` with zstd (as Hypeman's compressor does).
pub fn write_zstd(raw: &Path, out: &Path) {
    zstd::stream::copy_encode(File::open(raw).unwrap(), File::create(out).unwrap(), 1).unwrap();
}

/// Compress `raw` into `out` as lz4 frames.
pub fn write_lz4(raw: &Path, out: &Path) {
    let mut enc = lz4_flex::frame::FrameEncoder::new(File::create(out).unwrap());
    std::io::copy(&mut File::open(raw).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap().flush().unwrap();
}

/// A FIFO at `path`.
pub fn mkfifo(path: &Path) {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
}

fn write_json(path: &Path, value: serde_json::Value) {
    std::fs::write(path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

fn mkdirs(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).unwrap();
    path.to_path_buf()
}

/// The built data directory and a raw reference copy of its memory.
pub struct Fixture {
    /// Keeps the files alive.
    pub _dir: tempfile::TempDir,
    /// The Hypeman data directory.
    pub root: PathBuf,
    /// The raw memory, outside the source: the reference for scans.
    pub reference: PathBuf,
    /// `system/kernel/<ver>/<arch>/vmlinux`.
    pub kernel: PathBuf,
    /// `system/initrd/<arch>/<timestamp>/initrd` (`GetInitrdPath` resolves
    /// `latest`, `lib/system/manager.go` @2537259).
    pub initrd: PathBuf,
    /// `images/<repo>/<digest>/rootfs.erofs`.
    pub rootfs: PathBuf,
}

impl Fixture {
    /// `guests/<id>`.
    pub fn guest(&self, id: &str) -> PathBuf {
        self.root.join("guests").join(id)
    }
    /// `guests/<id>/snapshots/snapshot-latest`.
    pub fn latest(&self, id: &str) -> PathBuf {
        self.guest(id).join("snapshots/snapshot-latest")
    }
}

/// Times as Hypeman writes them (`time.Time`, RFC 3339 with nanoseconds).
pub const CREATED_AT: &str = "2025-01-02T03:04:05.123456789Z";
/// `StoppedAt` of the standby instances: when the snapshot was taken.
pub const STOPPED_AT: &str = "2025-01-03T04:05:06.5Z";
/// The guest's base memory (`Size`) of the instances whose memory is
/// [`MEM_SIZE`]: `Size` + `HotplugSize` = [`MEM_SIZE`].
pub const BASE_SIZE: u64 = 4 << 20;

/// One `StoredMetadata` (`lib/instances/types.go` @146b7ce, written by
/// `saveMetadata`, `storage.go` @7eeefb7): no JSON tags, so Go field names;
/// nil pointers, maps and slices are `null`.
pub struct Meta<'a> {
    pub id: Option<&'a str>,
    pub name: &'a str,
    pub hypervisor: &'a str,
    /// `DataDir`: the instance directory as recorded.
    pub data_dir: PathBuf,
    pub size: u64,
    pub hotplug: u64,
    pub created_at: serde_json::Value,
    pub stopped_at: serde_json::Value,
    pub pending: serde_json::Value,
}

/// Hypeman's API socket name per hypervisor (`RegisterSocketName` in each
/// hypervisor package; `hypervisor.go` @b7c500b).
pub fn socket_name(hypervisor: &str) -> &'static str {
    match hypervisor {
        "cloud-hypervisor" => "ch.sock",
        "firecracker" => "fc.sock",
        "qemu" | "qemu-microvm" => "qemu.sock",
        "vz" => "vz.sock",
        _ => "vmm.sock",
    }
}

/// The metadata.json of one instance.
pub fn metadata(m: &Meta<'_>) -> serde_json::Value {
    let dir = &m.data_dir;
    let vsock = if m.hypervisor == "vz" {
        "vz.vsock"
    } else {
        "vsock.sock"
    };
    let mut v = json!({
        "Name": m.name, "Image": "docker.io/library/alpine:latest",
        "ResolvedImage": "docker.io/library/alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "Platform": "linux/amd64",
        "Size": m.size, "HotplugSize": m.hotplug, "OverlaySize": 10737418240u64, "Vcpus": 2,
        "NetworkBandwidthDownload": 0, "NetworkBandwidthUpload": 0, "DiskIOBps": 0,
        "Env": {"FOO": "bar"}, "Tags": null, "NetworkEnabled": true, "NetworkEgress": null,
        "Credentials": null, "IP": "10.100.0.7", "MAC": "02:00:00:ab:cd:07", "Volumes": null,
        "CreatedAt": m.created_at, "StartedAt": "2025-01-02T03:04:06Z",
        "StoppedAt": m.stopped_at,
        "ProgramStartedAt": "2025-01-02T03:04:07Z", "GuestAgentReadyAt": null,
        "KernelVersion": "ch-6.12.8", "HypervisorType": m.hypervisor,
    });
    let more = json!({
        "HypervisorVersion": "v1.14.2", "HypervisorPID": null,
        "HypervisorStartTime": 0, "HypervisorBootID": "",
        "FirecrackerSnapshotCacheKey": "", "FirecrackerUseUFFDOnNextRestore": false,
        "FirecrackerUFFDSessionID": "", "FirecrackerUFFDPagerVersion": "",
        "SocketPath": dir.join(socket_name(m.hypervisor)), "DataDir": dir,
        "VsockCID": 5, "VsockSocket": dir.join(vsock),
        "Devices": null, "GPUProfile": "", "GPUMdevUUID": "",
        "Entrypoint": null, "Cmd": null, "SkipKernelHeaders": false, "SkipGuestAgent": false,
    });
    let rest = json!({
        "EnableRosetta": false, "SnapshotPolicy": null,
        "PendingStandbyCompression": m.pending,
        "AutoStandby": null, "HealthCheck": null, "RestartPolicy": null,
        "RestartStatus": {}, "StopTimeout": 0, "ExitCode": null, "ExitMessage": "",
        // Keys Hypeman does not have (yet): ignored.
        "FutureField": {"nested": [1, 2]}
    });
    for part in [more, rest] {
        if let (Some(to), serde_json::Value::Object(from)) = (v.as_object_mut(), part) {
            to.extend(from);
        }
    }
    if let Some(id) = m.id {
        v["Id"] = json!(id);
    }
    v
}

/// Instance files every hypervisor has (`lib/paths/paths.go` @7eeefb7):
/// the writable overlay and the config disk, sparse.
fn instance_files(dir: &Path) {
    sparse(&dir.join("overlay.raw"), 8 << 20, b"overlay");
    sparse(&dir.join("config.ext4"), 1 << 20, b"config");
}

/// A sparse file of `len` bytes with `tag` at 1 KiB.
pub fn sparse(path: &Path, len: u64, tag: &[u8]) {
    mkdirs(path.parent().unwrap());
    let f = File::create(path).unwrap();
    f.set_len(len).unwrap();
    f.write_all_at(tag, 1024).unwrap();
}

/// Deterministic filler that never holds `/` (so it never looks like a path).
pub fn filler(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005) | 1;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let b = x.to_be_bytes()[0];
            if b == b'/' { b'.' } else { b }
        })
        .collect()
}

/// A socket file left behind by a listener (Hypeman's state rule only
/// stats the API socket).
pub fn socket_file(path: &Path) {
    drop(std::os::unix::net::UnixListener::bind(path).unwrap());
}

// ------------------------------------------------------------------ Firecracker state

/// CRC-64 as Firecracker appends it, bit by bit (as Hypeman's
/// `firecrackerSnapshotCRC64` computes it): independent of the engine's
/// table-driven one, so the tests check one against the other.
pub fn fc_crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Firecracker's x86_64 snapshot magic.
pub const FC_MAGIC: u64 = 0x0710_1984_8664_0000;
const KVM_LEN: usize = 3000;
const BLOCK_TAIL: usize = 64;
const NET_TAIL: usize = 56;
const VSOCK_TAIL: usize = 40;

/// The path-bearing parts of Firecracker v1.14.2's `MicrovmState` in field
/// order, bincode fixint little endian (`src/vmm/src/persist.rs`
/// `MicrovmState`/`VmInfo`, `vmm_config/boot_source.rs`,
/// `devices/virtio/block/virtio/persist.rs` `VirtioBlockState`,
/// `devices/virtio/net/persist.rs` `NetState`,
/// `devices/virtio/vsock/persist.rs`). KVM and virtio queue state are
/// stood in for by filler of fixed length: the strings' encoding and order
/// are Firecracker's, the rest is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcState {
    pub version: String,
    pub mem_size_mib: u64,
    pub kernel_image_path: String,
    pub initrd_path: Option<String>,
    pub boot_args: Option<String>,
    pub kvm: Vec<u8>,
    pub blocks: Vec<FcBlock>,
    pub nets: Vec<FcNet>,
    pub vsock: Option<FcVsock>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcBlock {
    pub id: String,
    pub partuuid: Option<String>,
    pub root_device: bool,
    pub disk_path: String,
    pub tail: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcNet {
    pub id: String,
    pub tap_if_name: String,
    pub tail: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcVsock {
    pub uds_path: String,
    pub cid: u64,
    pub tail: Vec<u8>,
}

struct Enc(Vec<u8>);
impl Enc {
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt(&mut self, s: &Option<String>) {
        match s {
            None => self.0.push(0),
            Some(s) => {
                self.0.push(1);
                self.str(s);
            }
        }
    }
}

struct Dec<'a>(&'a [u8], usize);
impl Dec<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.0[self.1..self.1 + n];
        self.1 += n;
        s
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn bool(&mut self) -> bool {
        match self.take(1)[0] {
            0 => false,
            1 => true,
            b => panic!("bad bool {b}"),
        }
    }
    fn str(&mut self) -> String {
        let n = usize::try_from(self.u64()).unwrap();
        String::from_utf8(self.take(n).to_vec()).unwrap()
    }
    fn opt(&mut self) -> Option<String> {
        match self.take(1)[0] {
            0 => None,
            1 => Some(self.str()),
            b => panic!("bad option tag {b}"),
        }
    }
}

impl FcState {
    /// The state file's bytes: header, state, CRC.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc(Vec::new());
        e.u64(FC_MAGIC);
        e.str(&self.version);
        e.u64(self.mem_size_mib);
        e.bool(false); // smt
        e.u32(0); // cpu_template: StaticCpuTemplate::None
        e.str(&self.kernel_image_path);
        e.opt(&self.initrd_path);
        e.opt(&self.boot_args);
        e.u32(0); // huge_pages: HugePageConfig::None
        e.0.extend_from_slice(&self.kvm);
        e.u64(self.blocks.len() as u64);
        for b in &self.blocks {
            e.str(&b.id);
            e.opt(&b.partuuid);
            e.u32(0); // cache_type: Unsafe
            e.bool(b.root_device);
            e.str(&b.disk_path);
            e.0.extend_from_slice(&b.tail);
        }
        e.u64(self.nets.len() as u64);
        for n in &self.nets {
            e.str(&n.id);
            e.str(&n.tap_if_name);
            e.0.extend_from_slice(&n.tail);
        }
        match &self.vsock {
            None => e.0.push(0),
            Some(v) => {
                e.0.push(1);
                e.u32(0); // VsockBackendState::Uds
                e.str(&v.uds_path);
                e.u64(v.cid);
                e.0.extend_from_slice(&v.tail);
            }
        }
        let crc = fc_crc64(&e.0);
        e.u64(crc);
        e.0
    }

    /// Parse a state file back (its CRC checked), every byte accounted for.
    pub fn decode(data: &[u8]) -> FcState {
        assert_eq!(fc_crc64(data), 0, "CRC");
        let mut d = Dec(&data[..data.len() - 8], 0);
        assert_eq!(d.u64(), FC_MAGIC);
        let version = d.str();
        let mem_size_mib = d.u64();
        assert!(!d.bool());
        assert_eq!(d.u32(), 0);
        let kernel_image_path = d.str();
        let initrd_path = d.opt();
        let boot_args = d.opt();
        assert_eq!(d.u32(), 0);
        let kvm = d.take(KVM_LEN).to_vec();
        let blocks = (0..d.u64())
            .map(|_| {
                let id = d.str();
                let partuuid = d.opt();
                assert_eq!(d.u32(), 0);
                let root_device = d.bool();
                let disk_path = d.str();
                let tail = d.take(BLOCK_TAIL).to_vec();
                FcBlock {
                    id,
                    partuuid,
                    root_device,
                    disk_path,
                    tail,
                }
            })
            .collect();
        let nets = (0..d.u64())
            .map(|_| FcNet {
                id: d.str(),
                tap_if_name: d.str(),
                tail: d.take(NET_TAIL).to_vec(),
            })
            .collect();
        let vsock = match d.take(1)[0] {
            0 => None,
            _ => {
                assert_eq!(d.u32(), 0);
                Some(FcVsock {
                    uds_path: d.str(),
                    cid: d.u64(),
                    tail: d.take(VSOCK_TAIL).to_vec(),
                })
            }
        };
        assert_eq!(d.1, data.len() - 8, "trailing bytes");
        FcState {
            version,
            mem_size_mib,
            kernel_image_path,
            initrd_path,
            boot_args,
            kvm,
            blocks,
            nets,
            vsock,
        }
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The state Firecracker v1.14.2 writes for a Hypeman instance recorded at
/// `data_dir` (`toDriveConfigs`: `rootfs`, `disk1`, …; `toVsockConfig`;
/// `toBootSource`, `lib/hypervisor/firecracker/config.go` @6458cf3).
pub fn fc_state(fx: &Fixture, data_dir: &Path) -> FcState {
    FcState {
        version: "8.0.0".into(),
        mem_size_mib: MEM_SIZE >> 20,
        kernel_image_path: s(&fx.kernel),
        initrd_path: Some(s(&fx.initrd)),
        boot_args: Some("console=ttyS0 reboot=k panic=1 init=/init".into()),
        kvm: filler(KVM_LEN, 7),
        blocks: vec![
            FcBlock {
                id: "rootfs".into(),
                partuuid: None,
                root_device: true,
                disk_path: s(&fx.rootfs),
                tail: filler(BLOCK_TAIL, 1),
            },
            FcBlock {
                id: "disk1".into(),
                partuuid: None,
                root_device: false,
                disk_path: s(&data_dir.join("overlay.raw")),
                tail: filler(BLOCK_TAIL, 2),
            },
            FcBlock {
                id: "disk2".into(),
                partuuid: None,
                root_device: false,
                disk_path: s(&data_dir.join("config.ext4")),
                tail: filler(BLOCK_TAIL, 3),
            },
        ],
        nets: vec![FcNet {
            id: "eth0".into(),
            tap_if_name: "hype-9d1e22".into(),
            tail: filler(NET_TAIL, 4),
        }],
        vsock: Some(FcVsock {
            uds_path: s(&data_dir.join("vsock.sock")),
            cid: 5,
            tail: filler(VSOCK_TAIL, 5),
        }),
    }
}

/// A plain Firecracker snapshot directory (no Hypeman): `mem` + `vmstate`
/// whose state names a kernel and a root disk beside them.
pub fn plain_firecracker(fx: &Fixture, dir: &Path) {
    write_memory(&dir.join("mem"));
    std::fs::write(dir.join("vmlinux"), filler(4096, 31)).unwrap();
    sparse(&dir.join("rootfs.ext4"), 4 << 20, b"plain rootfs");
    let mut state = fc_state(fx, dir);
    state.kernel_image_path = s(&dir.join("vmlinux"));
    state.initrd_path = None;
    state.blocks.truncate(1);
    state.blocks[0].disk_path = s(&dir.join("rootfs.ext4"));
    state.vsock = None;
    std::fs::write(dir.join("vmstate"), state.encode()).unwrap();
}

// ------------------------------------------------------------------ Cloud Hypervisor

/// Cloud Hypervisor's memory zone id for Hypeman's kernel-paging VMs.
/// `kernelPagingMemoryZoneID` is used by kernel/hypeman
/// `lib/hypervisor/cloudhypervisor/kernel_paging.go` @55956c4, whose
/// defining file is in no stored version: this value stands in for it
/// (nothing here depends on it).
pub const KERNEL_PAGING_ZONE_ID: &str = "hypeman-memory";

/// Cloud Hypervisor v51.1 `VmConfig` as serde writes it
/// (`vmm/src/vm_config.rs`), filled the way Hypeman's `ToVMConfig`
/// (`lib/hypervisor/cloudhypervisor/config.go` @a3274ed) fills it: kernel +
/// initramfs, raw disks (rootfs read-only, overlay, config disk read-only),
/// serial in Socket mode at `<instance>/serial.sock`, console off, vsock at
/// `<instance>/vsock.sock`, one TAP.
pub fn ch_config(fx: &Fixture, data_dir: &Path, memory: serde_json::Value) -> serde_json::Value {
    let disk = |path: &Path, ro: bool, id: &str| {
        json!({"path": s(path), "readonly": ro, "direct": false, "iommu": false, "num_queues": 1,
               "queue_size": 128, "vhost_user": false, "vhost_socket": null, "rate_limit_group": null,
               "rate_limiter_config": null, "id": id, "disable_io_uring": false, "disable_aio": false,
               "pci_segment": 0, "serial": null, "queue_affinity": null, "backing_files": false,
               "sparse": true, "image_type": "Raw"})
    };
    json!({
        "cpus": {"boot_vcpus": 2, "max_vcpus": 2, "topology": null, "kvm_hyperv": false,
                 "max_phys_bits": 46, "affinity": null, "features": {}, "nested": true},
        "memory": memory,
        "payload": {"firmware": null, "kernel": s(&fx.kernel),
                    "cmdline": "console=ttyS0 root=/dev/vda ro init=/init", "initramfs": s(&fx.initrd),
                    "igvm": null, "host_data": null},
        "rate_limit_groups": null,
        "disks": [disk(&fx.rootfs, true, "_disk0"), disk(&data_dir.join("overlay.raw"), false, "_disk1"),
                  disk(&data_dir.join("config.ext4"), true, "_disk2")],
        "net": [{"tap": "hype-3f2a9c", "ip": "10.100.0.1", "mask": "255.255.255.0",
                 "mac": "02:00:00:ab:cd:03", "host_mac": null, "mtu": null, "iommu": false,
                 "num_queues": 2, "queue_size": 256, "vhost_user": false, "vhost_socket": null,
                 "vhost_mode": "Client", "id": "_net3", "fds": null, "rate_limiter_config": null,
                 "pci_segment": 0, "offload_tso": true, "offload_ufo": true, "offload_csum": true}],
        "rng": {"src": "/dev/urandom", "iommu": false},
        "balloon": null, "fs": null, "pmem": null,
        "serial": {"file": null, "mode": "Socket", "iommu": false, "socket": s(&data_dir.join("serial.sock"))},
        "console": {"file": null, "mode": "Off", "iommu": false, "socket": null},
        "debug_console": {"file": null, "mode": "Off", "iobase": 233},
        "devices": null, "user_devices": null, "vdpa": null,
        "vsock": {"cid": 3, "socket": s(&data_dir.join("vsock.sock")), "iommu": false, "id": "_vsock4", "pci_segment": 0},
        "pvpanic": false, "iommu": false, "numa": null, "watchdog": false, "pci_segments": null,
        "platform": null, "tpm": null, "landlock_enable": false, "landlock_rules": null
    })
}

/// Memory as `ToVMConfig` configures it (main @7a99231: no zones).
pub fn ch_memory_plain() -> serde_json::Value {
    json!({"size": MEM_SIZE, "mergeable": false, "hotplug_method": "Acpi", "hotplug_size": null,
           "hotplugged_size": null, "shared": false, "hugepages": false, "hugepage_size": null,
           "prefault": false, "zones": null, "thp": true})
}

/// After `prepareSnapshotForKernelPaging` (`kernel_paging.go` @55956c4):
/// size 0, one private zone whose `file` is `<snapshot dir>/memory-ranges`
/// (absolute, as recorded).
pub fn ch_memory_paging(memory_file: &Path) -> serde_json::Value {
    json!({"size": 0, "mergeable": false, "hotplug_method": "Acpi", "hotplug_size": null,
           "hotplugged_size": null, "shared": false, "hugepages": false, "hugepage_size": null,
           "prefault": false, "thp": true,
           "zones": [{"id": KERNEL_PAGING_ZONE_ID, "size": MEM_SIZE, "file": s(memory_file),
                      "shared": false, "hugepages": false, "hugepage_size": null, "host_numa_node": null,
                      "hotplug_size": null, "hotplugged_size": null, "prefault": false}]})
}

fn snap(state: &serde_json::Value, children: serde_json::Value) -> serde_json::Value {
    json!({"snapshots": children, "snapshot_data": {"state": state.to_string()}})
}

/// Cloud Hypervisor `state.json`: a `vm_migration::Snapshot` tree whose
/// `snapshot_data.state` values are JSON *strings*; block devices carry
/// `disk_path` (`virtio-devices/src/block.rs` `BlockState` at v51.1).
/// Kernel paging empties `memory_ranges` (the zone file is the memory).
pub fn ch_state(fx: &Fixture, data_dir: &Path, paging: bool) -> serde_json::Value {
    let zone = if paging {
        KERNEL_PAGING_ZONE_ID
    } else {
        "mem0"
    };
    let ranges = if paging {
        json!([])
    } else {
        json!([{"gpa": 0, "length": MEM_SIZE}])
    };
    let mm = json!({
        "memory_ranges": {"data": ranges},
        "guest_ram_mappings": [{"slot": 0, "gpa": 0, "size": MEM_SIZE, "zone_id": zone,
                                "virtio_mem": false, "file_offset": 0}],
        "start_of_device_area": 4294967296u64, "boot_ram": MEM_SIZE, "current_ram": MEM_SIZE,
        "arch_mem_regions": [{"base": 0, "size": u64::MAX, "r_type": "Ram"}],
        "hotplug_slots": [], "next_memory_slot": 1, "selected_slot": 0, "next_hotplug_slot": 0
    });
    let block = |p: &Path| {
        json!({"disk_path": s(p), "disk_nsectors": 2048, "avail_features": 1u64 << 32,
               "acked_features": 1u64 << 32, "config": {"capacity": 2048}})
    };
    let devices = json!({
        "_disk0": snap(&block(&fx.rootfs), json!({})),
        "_disk1": snap(&block(&data_dir.join("overlay.raw")), json!({})),
        "_disk2": snap(&block(&data_dir.join("config.ext4")), json!({})),
        "_vsock4": snap(&json!({"avail_features": 0, "acked_features": 0}), json!({})),
    });
    json!({
        "snapshots": {
            "cpu-manager": snap(&json!({}), json!({"0": snap(&json!({"regs": [1, 2, 3]}), json!({}))})),
            "memory-manager": snap(&mm, json!({})),
            "device-manager": snap(&json!({"device_tree": {}}), devices),
        },
        "snapshot_data": {"state": json!({"version": "v51.1"}).to_string()}
    })
}

// ------------------------------------------------------------------ the data directory

/// Build the Hypeman data directory. Every standby instance and central
/// snapshot is built from Hypeman's structs (kernel/hypeman `main` as
/// mirrored by mpuig/hypeman 7a99231, files and commits named at each):
///
/// | id | what |
/// |---|---|
/// | `fc-web` ("web") | Firecracker standby, raw `memory` + `state`, `firecracker-config.json` |
/// | `fc-pending` ("pending") | Firecracker standby with `PendingStandbyCompression` |
/// | `ch-api` ("api") | Cloud Hypervisor standby, raw `memory-ranges` |
/// | `ch-packed` ("packed") | Cloud Hypervisor standby prepared for kernel paging, `memory-ranges.zst` |
/// | `qemu-vm` | QEMU standby, a migration stream, no `Id` key |
/// | `qemu-packed` | QEMU standby, the stream in `memory.zst` |
/// | `vz-mac` ("mac") | vz standby: `machine-state.vzm` + `config.json` |
/// | `stopped` | an empty `snapshot-latest/`: Stopped, not a snapshot |
/// | `live-ch` | `snapshot-latest/` and the VMM socket: running, not a snapshot |
/// | `aaa-impostor` | metadata claiming `fc-web`'s `Id` |
/// | `running` | no `snapshot-latest/` |
/// | `snap-lz4` ("nightly") | central Firecracker Standby of a deleted instance, `memory.lz4` |
/// | `snap-zst` ("api") | central Cloud Hypervisor Standby, `memory-ranges.zst` |
/// | `snap-stopped` ("cold") | central Stopped |
///
/// and entries that cannot be read for reasons that hold for root too.
pub fn hypeman() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(dir.path()).unwrap();
    let root = mkdirs(&base.join("hypeman"));
    let reference = base.join("reference-memory");
    write_memory(&reference);
    // System files (`paths.go`: SystemKernel, SystemInitrd*, ImageDigestPath).
    let kernel = root.join("system/kernel/ch-6.12.8/x86_64/vmlinux");
    mkdirs(kernel.parent().unwrap());
    std::fs::write(&kernel, filler(4096, 11)).unwrap();
    let initrd_dir = mkdirs(&root.join("system/initrd/x86_64/1735787045"));
    std::fs::write(initrd_dir.join("initrd"), filler(2048, 12)).unwrap();
    std::os::unix::fs::symlink("1735787045", root.join("system/initrd/x86_64/latest")).unwrap();
    let rootfs = root.join(
        "images/docker.io/library/alpine/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/rootfs.erofs",
    );
    mkdirs(rootfs.parent().unwrap());
    std::fs::write(&rootfs, filler(8192, 13)).unwrap();
    let fx = Fixture {
        _dir: dir,
        root: root.clone(),
        reference: reference.clone(),
        kernel,
        initrd: initrd_dir.join("initrd"),
        rootfs,
    };
    let latest = |id: &str| mkdirs(&fx.latest(id));
    let meta = |id: &str, value: serde_json::Value| {
        write_json(&fx.guest(id).join("metadata.json"), value);
    };
    let standby = |id: &'static str, name: &'static str, hypervisor: &'static str| Meta {
        id: Some(id),
        name,
        hypervisor,
        data_dir: fx.guest(id),
        size: BASE_SIZE,
        hotplug: MEM_SIZE - BASE_SIZE,
        created_at: json!(CREATED_AT),
        stopped_at: json!(STOPPED_AT),
        pending: serde_json::Value::Null,
    };
    let fc_config = |id: &str, tap: &str| {
        // restoreMetadata (lib/hypervisor/firecracker/config.go @6458cf3).
        write_json(
            &fx.guest(id).join("firecracker-config.json"),
            json!({"network_overrides": [{"iface_id": "eth0", "host_dev_name": tap}]}),
        );
    };

    // Firecracker standby: memory + state + firecracker-config.json.
    for (id, name, pending) in [
        ("fc-web", "web", serde_json::Value::Null),
        (
            "fc-pending",
            "pending",
            // PendingStandbyCompression (types.go): no tags; Policy is
            // snapshot.SnapshotCompressionConfig (tags enabled/algorithm/level).
            json!({"Policy": {"enabled": true, "algorithm": "zstd", "level": 3},
                   "NotBefore": "2025-01-03T04:10:06.5Z"}),
        ),
    ] {
        let l = latest(id);
        instance_files(&fx.guest(id));
        write_memory(&l.join("memory"));
        std::fs::write(l.join("state"), fc_state(&fx, &fx.guest(id)).encode()).unwrap();
        fc_config(id, "hype-9d1e22");
        let mut m = standby(id, name, "firecracker");
        m.pending = pending;
        meta(id, metadata(&m));
    }
    // Cloud Hypervisor standby: memory-ranges + config.json + state.json.
    let l = latest("ch-api");
    instance_files(&fx.guest("ch-api"));
    write_memory(&l.join("memory-ranges"));
    let g = fx.guest("ch-api");
    write_json(
        &l.join("config.json"),
        ch_config(&fx, &g, ch_memory_plain()),
    );
    write_json(&l.join("state.json"), ch_state(&fx, &g, false));
    meta(
        "ch-api",
        metadata(&standby("ch-api", "api", "cloud-hypervisor")),
    );
    // Cloud Hypervisor standby prepared for kernel paging, then compressed
    // by Hypeman (zstd): the zone's file names a memory-ranges that is gone.
    let l = latest("ch-packed");
    let g = fx.guest("ch-packed");
    instance_files(&g);
    write_zstd(&reference, &l.join("memory-ranges.zst"));
    write_json(
        &l.join("config.json"),
        ch_config(&fx, &g, ch_memory_paging(&l.join("memory-ranges"))),
    );
    write_json(&l.join("state.json"), ch_state(&fx, &g, true));
    let mut m = standby("ch-packed", "packed", "cloud-hypervisor");
    m.created_at = json!(12345);
    m.stopped_at = json!(12345);
    meta("ch-packed", metadata(&m));
    // QEMU standby: a migration stream (`migrate "exec:cat > <dir>/memory"`,
    // lib/hypervisor/qemu/qemu.go @b7c500b), no Id key; and one compressed.
    let l = latest("qemu-vm");
    std::fs::write(l.join("memory"), b"QEVM\x00\x00\x00\x03 migration stream").unwrap();
    let mut m = standby("qemu-vm", "qemu-vm", "qemu");
    m.id = None;
    meta("qemu-vm", metadata(&m));
    let l = latest("qemu-packed");
    let stream = l.join("stream.tmp");
    std::fs::write(&stream, b"QEVM\x00\x00\x00\x03 compressed migration stream").unwrap();
    write_zstd(&stream, &l.join("memory.zst"));
    std::fs::remove_file(&stream).unwrap();
    meta(
        "qemu-packed",
        metadata(&standby("qemu-packed", "qemu-packed", "qemu")),
    );
    // vz standby: machine-state.vzm (Apple's opaque format) + config.json
    // (SnapshotManifest, lib/hypervisor/vz/shimconfig/config.go @8331138).
    let l = latest("vz-mac");
    let g = fx.guest("vz-mac");
    instance_files(&g);
    std::fs::write(l.join("machine-state.vzm"), filler(16384, 21)).unwrap();
    std::fs::write(
        l.join("config.json"),
        serde_json::to_vec(&json!({
            "hypervisor": "vz", "machine_state_file": "machine-state.vzm",
            "shim_config": {"vcpus": 2, "memory_bytes": MEM_SIZE,
                "disks": [{"path": fx.rootfs, "readonly": true}, {"path": g.join("overlay.raw"), "readonly": false}],
                "networks": [{"mac": "02:00:00:ab:cd:0a"}], "serial_log_path": g.join("logs/app.log"),
                "kernel_path": fx.kernel, "initrd_path": fx.initrd, "kernel_args": "console=hvc0",
                "control_socket": g.join("vz.sock"), "vsock_socket": g.join("vz.vsock"),
                "log_path": g.join("logs/vmm.log")}}))
        .unwrap(),
    )
    .unwrap();
    meta("vz-mac", metadata(&standby("vz-mac", "mac", "vz")));
    // Stopped: snapshot-latest/ exists but is empty (hasSnapshot needs an
    // entry, lib/instances/query.go @c2e2295).
    latest("stopped");
    meta(
        "stopped",
        metadata(&standby("stopped", "stopped", "cloud-hypervisor")),
    );
    // snapshot-latest/ and the VMM's socket: Hypeman asks the VMM (Running,
    // Paused or Unknown), so it is no standby snapshot.
    let l = latest("live-ch");
    write_memory(&l.join("memory-ranges"));
    std::fs::write(l.join("config.json"), b"{}").unwrap();
    std::fs::write(l.join("state.json"), b"{}").unwrap();
    socket_file(&fx.guest("live-ch").join("ch.sock"));
    let mut m = standby("live-ch", "live", "cloud-hypervisor");
    m.stopped_at = serde_json::Value::Null;
    meta("live-ch", metadata(&m));
    // A directory whose metadata claims another instance's Id (and sorts
    // before it): Hypeman addresses instances by directory.
    let l = latest("aaa-impostor");
    write_memory(&l.join("memory"));
    std::fs::write(
        l.join("state"),
        fc_state(&fx, &fx.guest("aaa-impostor")).encode(),
    )
    .unwrap();
    let mut m = standby("aaa-impostor", "impostor", "firecracker");
    m.id = Some("fc-web");
    meta("aaa-impostor", metadata(&m));
    // Running, no snapshot-latest: not a snapshot.
    mkdirs(&fx.guest("running"));
    meta(
        "running",
        metadata(&standby("running", "running", "firecracker")),
    );

    // Unreadable entries, for reasons that hold for root.
    let l = latest("broken-meta");
    write_memory(&l.join("memory"));
    std::fs::write(
        fx.guest("broken-meta").join("metadata.json"),
        b"{\"Id\": \"broken",
    )
    .unwrap();
    let l = latest("fifo-memory");
    mkfifo(&l.join("memory"));
    std::fs::write(l.join("state"), b"x").unwrap();
    meta("fifo-memory", json!({"HypervisorType": "firecracker"}));
    let l = latest("dir-memory");
    mkdirs(&l.join("memory-ranges"));
    meta("dir-memory", json!({"HypervisorType": "cloud-hypervisor"}));
    let l = latest("fifo-meta");
    write_memory(&l.join("memory"));
    mkfifo(&fx.guest("fifo-meta").join("metadata.json"));
    let l = latest("no-meta");
    write_memory(&l.join("memory"));
    let l = latest("no-memory");
    std::fs::write(l.join("state"), b"x").unwrap();
    meta("no-memory", json!({"HypervisorType": "firecracker"}));
    let l = latest("huge-meta");
    write_memory(&l.join("memory"));
    let huge = File::create(fx.guest("huge-meta").join("metadata.json")).unwrap();
    huge.set_len(crate::files::MAX_METADATA_BYTES + 1).unwrap();

    // Central snapshots (`snapshot.Record`, lib/snapshot/store.go @7eeefb7:
    // {"snapshot", "stored_metadata"}; `snapshot.Snapshot` tags,
    // lib/snapshot/types.go @e43d9a2; SourceHypervisor has no tag).
    // `guest/` is `CopyGuestDirectory(guests/<src>)`: the device state in it
    // still names guests/<src>/ (lib/instances/snapshot.go @7eeefb7).
    let central = |id: &str, value: serde_json::Value| -> PathBuf {
        let d = mkdirs(&root.join("snapshots").join(id));
        write_json(&d.join("snapshot.json"), value);
        d
    };
    // Firecracker Standby of an instance deleted since (and itself a fork
    // whose state Hypeman could not rewrite in place: an alias source).
    let gone = fx.guest("fc-old");
    let d = root.join("snapshots/snap-lz4");
    let guest = d.join("guest");
    instance_files(&guest);
    let l = mkdirs(&guest.join("snapshots/snapshot-latest"));
    write_lz4(&reference, &l.join("memory.lz4"));
    std::fs::write(l.join("state"), fc_state(&fx, &gone).encode()).unwrap();
    write_json(
        &guest.join("firecracker-config.json"),
        json!({"network_overrides": [{"iface_id": "eth0", "host_dev_name": "hype-0ld7ap"}],
               "snapshot_source_data_dir": fx.guest("fc-older"),
               "retain_snapshot_source_data_dir_alias": true}),
    );
    let mut m = standby("snap-lz4", "old", "firecracker");
    m.id = Some("fc-old");
    m.data_dir = gone.clone();
    let stored = metadata(&m);
    write_json(&guest.join("metadata.json"), stored.clone());
    central(
        "snap-lz4",
        json!({"snapshot": {"id": "snap-lz4", "name": "nightly", "kind": "Standby",
                "source_instance_id": "fc-old", "source_instance_name": "old",
                "SourceHypervisor": "firecracker", "created_at": "2025-02-03T04:05:06Z",
                "size_bytes": 777, "compression_state": "compressed",
                "compression": {"enabled": true, "algorithm": "lz4"},
                "compressed_size_bytes": 555, "uncompressed_size_bytes": MEM_SIZE},
               "stored_metadata": stored}),
    );
    // Cloud Hypervisor Standby, zstd; hypervisor only in stored_metadata,
    // no uncompressed size, and a name shared with a standby instance.
    let d = root.join("snapshots/snap-zst");
    let guest = d.join("guest");
    let src = fx.guest("ch-api");
    instance_files(&guest);
    let l = mkdirs(&guest.join("snapshots/snapshot-latest"));
    write_zstd(&reference, &l.join("memory-ranges.zst"));
    write_json(
        &l.join("config.json"),
        ch_config(&fx, &src, ch_memory_plain()),
    );
    write_json(&l.join("state.json"), ch_state(&fx, &src, false));
    central(
        "snap-zst",
        json!({"snapshot": {"id": "snap-zst", "name": "api", "kind": "Standby",
                "created_at": "2025-02-03T04:05:07Z", "compression_state": "compressed",
                "compression": {"enabled": true, "algorithm": "zstd", "level": 1}},
               "stored_metadata": {"HypervisorType": "cloud-hypervisor", "DataDir": src}}),
    );
    let d = central(
        "snap-stopped",
        json!({"snapshot": {"id": "snap-stopped", "name": "cold", "kind": "Stopped",
                "SourceHypervisor": "cloud-hypervisor", "size_bytes": 4096,
                "compression_state": "none"}, "stored_metadata": {}}),
    );
    std::fs::write(mkdirs(&d.join("guest")).join("overlay.raw"), [0u8; 4096]).unwrap();
    mkdirs(&root.join("snapshots/snap-creating/guest"));
    central("snap-array", json!([1, 2, 3]));
    central(
        "snap-paused",
        json!({"snapshot": {"id": "snap-paused", "kind": "Paused"}}),
    );
    let d = central(
        "snap-liar",
        json!({"snapshot": {"id": "snap-liar", "kind": "Standby",
                "SourceHypervisor": "firecracker"}}),
    );
    let l = mkdirs(&d.join("guest/snapshots/snapshot-latest"));
    write_memory(&l.join("memory.zst"));
    fx
}

/// One file's identity in [`tree_state`].
#[derive(Debug, PartialEq, Eq)]
pub struct FileState {
    kind: &'static str,
    len: u64,
    mode: u32,
    mtime_ns: i128,
    ctime_ns: i128,
    sha256: Option<Vec<u8>>,
}

/// Every path under `root` with its type, size, mode, mtime, ctime and the
/// hash of its content (regular files; FIFOs are never opened).
pub fn tree_state(root: &Path) -> BTreeMap<PathBuf, FileState> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_file() {
            "file"
        } else if ft.is_symlink() {
            "symlink"
        } else {
            "special"
        };
        let sha256 = ft
            .is_file()
            .then(|| Sha256::digest(std::fs::read(&p).unwrap()).to_vec());
        if ft.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
        out.insert(
            p,
            FileState {
                kind,
                len: md.len(),
                mode: md.mode(),
                mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
                ctime_ns: md.ctime() as i128 * 1_000_000_000 + md.ctime_nsec() as i128,
                sha256,
            },
        );
    }
    out
}

/// Walk `root` setting every mode to `f(mode)`.
pub fn chmod_tree(root: &Path, f: &dyn Fn(u32) -> u32) {
    let md = std::fs::symlink_metadata(root).unwrap();
    if md.is_dir() {
        for e in std::fs::read_dir(root).unwrap() {
            chmod_tree(&e.unwrap().path(), f);
        }
    }
    let mode = f(md.permissions().mode());
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every descriptor of this process open on a path under `root`, with its
/// access mode from `/proc/self/fdinfo` (0 = read-only).
pub fn open_under(root: &Path) -> Vec<(std::path::PathBuf, i32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        if !target.starts_with(root) {
            continue;
        }
        let info = std::fs::read_to_string(Path::new("/proc/self/fdinfo").join(e.file_name()));
        let Ok(info) = info else { continue };
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| i32::from_str_radix(f.trim(), 8).unwrap())
            .unwrap();
        out.push((target, flags & libc::O_ACCMODE));
    }
    out
}
