//! `FakeVmm`: a test double of a VMM driver, so the engine's every branch
//! runs without QEMU. Its "VM" is a real child process (`sleep`), so
//! process identity, liveness and stopping are the real code paths; its
//! "guest" is a thread that reads the frames the engine wrote and sends real
//! UDP acks. What it does is scripted per test.

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::mailbox::{MailboxKind, MemoryAt, ack_port_of, format_ack};
use crate::scan::{ScanOptions, decode_mailbox, scan_file};
use crate::vmm::{
    AckSender, BootRequest, PausedVm, Prestarted, ProcessRecord, RestoreRequest, Vmm, VmmError,
    VmmKind,
};

/// What the fake guest does once resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guest {
    /// Ack these mailboxes (by name) right away.
    Acks(Vec<String>),
    /// Ack these mailboxes twice each (a guest that breaks "acks once").
    AcksTwice(Vec<String>),
    /// Never ack.
    Silent,
    /// Exit at once (its VMM dies).
    Dies,
}

/// The script of one test.
#[derive(Debug)]
pub struct Script {
    /// `start_paused` fails.
    pub fail_start: bool,
    /// `resume` fails.
    pub fail_resume: bool,
    /// Writes into the paused guest's memory fail (zero-copy).
    pub fail_memory_write: bool,
    /// `resume` panics (a bug in a driver).
    pub panic_on_resume: bool,
    /// The guest.
    pub guest: Guest,
    /// Calls seen: "start", "resume", "abort".
    pub calls: Mutex<Vec<&'static str>>,
    /// The VM processes started (to check none is left running).
    pub processes: Mutex<Vec<ProcessRecord>>,
    /// Where the guest sends its acks (the host address it can reach).
    pub ack_to: std::net::IpAddr,
    /// Who the driver says may ack (default: anyone).
    pub sender: AckSender,
}

impl Script {
    /// A script whose guest acks `names`.
    pub fn acking(names: &[&str]) -> Arc<Script> {
        Arc::new(Script {
            guest: Guest::Acks(names.iter().map(|s| s.to_string()).collect()),
            ..Script::default()
        })
    }
    /// Whether every VM process this script started is gone.
    pub fn nothing_running(&self) -> bool {
        self.processes
            .lock()
            .map(|p| p.iter().all(|r| !r.is_alive()))
            .unwrap_or(false)
    }
    fn call(&self, c: &'static str) {
        if let Ok(mut v) = self.calls.lock() {
            v.push(c);
        }
    }
}

impl Default for Script {
    fn default() -> Self {
        Script {
            fail_start: false,
            fail_resume: false,
            fail_memory_write: false,
            panic_on_resume: false,
            guest: Guest::Silent,
            calls: Mutex::new(Vec::new()),
            processes: Mutex::new(Vec::new()),
            ack_to: Ipv4Addr::LOCALHOST.into(),
            sender: AckSender::Anyone,
        }
    }
}

/// The test double.
pub struct FakeVmm(pub Arc<Script>);

impl Vmm for FakeVmm {
    fn kind(&self) -> VmmKind {
        VmmKind::Sim
    }
    fn supports_zero_copy(&self) -> bool {
        true
    }
    /// The fake guest is a thread of the test process: the script says who
    /// may ack, by default anyone (authentication by process has its own
    /// tests with real processes; by address, the `ack_bind` tests).
    fn ack_sender(&self, _process: &ProcessRecord) -> AckSender {
        self.0.sender.clone()
    }
    /// Like QEMU: a process started early, whose memory file (copy mode) it
    /// creates, waiting for its state.
    fn prestart(&self, req: &BootRequest) -> Result<Option<Box<dyn Prestarted>>, VmmError> {
        self.0.call("prestart");
        // Like QEMU, it keeps its memory file open: the fork's directory is
        // renamed under it, so it reads the file through its descriptor.
        let file = if req.zero_copy {
            None
        } else {
            let template =
                std::fs::metadata(req.snapshot_dir.join("memory")).map_err(|source| {
                    VmmError::Io {
                        context: "fake VMM stats the template".into(),
                        source,
                    }
                })?;
            let f = std::fs::File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(req.memory)
                .and_then(|f| f.set_len(template.len()).map(|()| f))
                .map_err(|source| VmmError::Io {
                    context: "fake VMM creates its memory file".into(),
                    source,
                })?;
            Some(f)
        };
        let memory = match &file {
            Some(f) => {
                use std::os::fd::AsRawFd;
                PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))
            }
            None => req.memory.to_path_buf(),
        };
        let (child, record) = self.spawn()?;
        Ok(Some(Box::new(FakeBooted {
            vmm: FakeVmm(Arc::clone(&self.0)),
            child,
            record,
            memory,
            zero_copy: req.zero_copy,
            file,
        })))
    }

    fn start_paused(&self, req: &RestoreRequest) -> Result<Box<dyn PausedVm>, VmmError> {
        self.0.call("start");
        if self.0.fail_start {
            return Err(VmmError::NotReady {
                what: "fake VMM".into(),
                reason: "scripted start failure".into(),
            });
        }
        let (child, record) = self.spawn()?;
        self.paused(child, record, req.memory, req.zero_copy, None)
    }
}

impl FakeVmm {
    /// The "VM": a real child process.
    fn spawn(&self) -> Result<(Child, ProcessRecord), VmmError> {
        let child = Command::new("sleep")
            .arg("60")
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| VmmError::Start {
                what: "fake VMM".into(),
                reason: e.to_string(),
            })?;
        let record = ProcessRecord::capture(child.id()).map_err(|e| VmmError::Start {
            what: "fake VMM".into(),
            reason: e.to_string(),
        })?;
        if let Ok(mut p) = self.0.processes.lock() {
            p.push(record.clone());
        }
        Ok((child, record))
    }

    fn paused(
        &self,
        child: Child,
        record: ProcessRecord,
        memory: &std::path::Path,
        zero_copy: bool,
        keep: Option<std::fs::File>,
    ) -> Result<Box<dyn PausedVm>, VmmError> {
        let overlay = if zero_copy {
            Some(Overlay {
                bytes: std::fs::read(memory).map_err(|source| VmmError::Io {
                    context: "fake VMM reads the template".into(),
                    source,
                })?,
                fail: self.0.fail_memory_write,
            })
        } else {
            None
        };
        Ok(Box::new(FakePaused {
            script: Arc::clone(&self.0),
            child,
            record,
            memory: memory.to_path_buf(),
            overlay,
            _keep: keep,
        }))
    }
}

/// A fake VM started ahead of time.
struct FakeBooted {
    vmm: FakeVmm,
    child: Child,
    record: ProcessRecord,
    memory: PathBuf,
    zero_copy: bool,
    file: Option<std::fs::File>,
}

impl Prestarted for FakeBooted {
    fn process(&self) -> ProcessRecord {
        self.record.clone()
    }
    fn load(self: Box<Self>, _state: &std::path::Path) -> Result<Box<dyn PausedVm>, VmmError> {
        self.vmm.0.call("load");
        let FakeBooted {
            vmm,
            child,
            record,
            memory,
            zero_copy,
            file,
        } = *self;
        // Kept open for as long as the VM reads through it.
        vmm.paused(child, record, &memory, zero_copy, file)
    }
    fn abort(mut self: Box<Self>) {
        self.vmm.0.call("abort");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Overlay {
    bytes: Vec<u8>,
    fail: bool,
}

impl MemoryAt for Overlay {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let at =
            usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let src = self
            .bytes
            .get(at..at + buf.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.fail {
            return Err(io::Error::other("scripted write failure"));
        }
        let at =
            usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        self.bytes
            .get_mut(at..at + buf.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?
            .copy_from_slice(buf);
        Ok(())
    }
}

struct FakePaused {
    script: Arc<Script>,
    child: Child,
    record: ProcessRecord,
    memory: PathBuf,
    overlay: Option<Overlay>,
    /// The memory file a prestarted VM reads through its descriptor.
    _keep: Option<std::fs::File>,
}

impl PausedVm for FakePaused {
    fn process(&self) -> Option<ProcessRecord> {
        Some(self.record.clone())
    }
    fn memory(&mut self) -> Option<&mut dyn MemoryAt> {
        self.overlay.as_mut().map(|o| o as &mut dyn MemoryAt)
    }
    fn resume(mut self: Box<Self>) -> Result<ProcessRecord, VmmError> {
        self.script.call("resume");
        if self.script.panic_on_resume {
            // Unwinding drops this paused VM: its process is killed like an abort would.
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("scripted panic in resume");
        }
        if self.script.fail_resume {
            let _ = self.child.kill();
            let _ = self.child.wait();
            return Err(VmmError::NotReady {
                what: "fake VMM".into(),
                reason: "scripted resume failure".into(),
            });
        }
        let frames = self.published_frames();
        match &self.script.guest {
            Guest::Silent => {}
            Guest::Dies => {
                let _ = self.child.kill();
                // Adopted below and left for the engine to reap: it reports
                // the exit status.
            }
            Guest::Acks(names) | Guest::AcksTwice(names) => {
                let times = if matches!(self.script.guest, Guest::AcksTwice(_)) {
                    2
                } else {
                    1
                };
                let socket = UdpSocket::bind("127.0.0.1:0").map_err(|source| VmmError::Io {
                    context: "fake guest socket".into(),
                    source,
                })?;
                for (name, payload) in frames {
                    if names.contains(&name)
                        && let Some(port) = ack_port_of(payload.as_bytes())
                    {
                        for _ in 0..times {
                            let _ = socket
                                .send_to(format_ack(&name).as_bytes(), (self.script.ack_to, port));
                        }
                    }
                }
            }
        }
        // Runs on like a real VMM: the engine reaps it and reports its exit.
        let FakePaused { child, record, .. } = *self;
        crate::vmm::process::adopt(&record, child);
        Ok(record)
    }
    fn abort(mut self: Box<Self>) {
        self.script.call("abort");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FakePaused {
    /// (name, payload) of every frame with seq set, as the guest sees memory.
    fn published_frames(&self) -> Vec<(String, String)> {
        let markers = match &self.overlay {
            Some(o) => {
                let size = o.bytes.len() as u64;
                memchr::memmem::find_iter(&o.bytes, b"HYPEMAN_")
                    .filter_map(|at| {
                        let end = (at + 4096).min(o.bytes.len());
                        decode_mailbox(&o.bytes[at..end], at as u64, size)
                    })
                    .collect()
            }
            None => scan_file(&self.memory, &ScanOptions::default())
                .map(|r| r.markers)
                .unwrap_or_default(),
        };
        markers
            .into_iter()
            .filter(|m| m.kind == MailboxKind::Fork && m.seq != 0)
            .filter_map(|m| Some((m.name?, m.payload?)))
            .collect()
    }
}
