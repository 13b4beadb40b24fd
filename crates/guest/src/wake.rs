//! The wake-up rule: when a guest looks at its mailboxes
//! (`docs/mailbox-contract.md`, "Waking up").
//!
//! The host writes a payload only while the fork is paused, before it
//! resumes. So a guest has to look hard only right after it arms (a
//! template is snapshotted shortly after its guest arms, and every fork
//! resumes at that point of the guest's time: the guest's clocks stop while
//! the VM is stopped) and right after a resume it can detect:
//!
//! - **fast**: every [`FAST_POLL`] for [`FAST_WINDOW`] after arming or a
//!   detected resume — ended early once every armed mailbox has been
//!   consumed (nothing more can be published until the next resume);
//! - **slow**: otherwise every [`SLOW_POLL`], or at once when a resume
//!   signal arrives.
//!
//! Resume signals: a `NEW_VMGENID=1` kernel uevent (Linux's vmgenid driver,
//! when the VMM offers a VM generation ID), a step of `CLOCK_REALTIME`
//! against `CLOCK_MONOTONIC` of more than [`CLOCK_STEP`] (a host or NTP that
//! corrects the clock after a restore), and whatever the caller knows (the
//! simulator's `run` line: [`Waker::resumed`]).
//!
//! Cost: in the slow phase an idle guest wakes once a second. Latency: a
//! fork of a template taken inside the fast window sees its payload within
//! [`FAST_POLL`] of resuming; otherwise within [`SLOW_POLL`], or at once on a
//! resume signal.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SocketFlags, SocketType};

/// How often seq is looked at in the fast phase.
pub const FAST_POLL: Duration = Duration::from_millis(1);
/// How long the fast phase lasts after arming or a resume.
pub const FAST_WINDOW: Duration = Duration::from_secs(10);
/// How often seq is looked at in the slow phase.
pub const SLOW_POLL: Duration = Duration::from_secs(1);
/// A step of the wall clock against the monotonic clock larger than this
/// means the guest was restored (or its clock corrected): look again.
pub const CLOCK_STEP: Duration = Duration::from_secs(1);

/// Why [`Waker::sleep`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woke {
    /// The poll interval passed.
    Tick,
    /// A resume signal: a fast window began.
    Resumed,
    /// The interrupt descriptor became readable (a signal asked to stop).
    Interrupted,
}

/// The state of the wake-up rule for one guest program.
#[derive(Debug)]
pub struct Waker {
    fast_until: Instant,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC` at the last look, in ns.
    wall_offset: i128,
    /// A `NETLINK_KOBJECT_UEVENT` socket, when the guest listens for VM
    /// generation ID changes.
    uevents: Option<OwnedFd>,
    /// Readable when the program should stop (a signal's self-pipe).
    interrupt: Option<RawFd>,
}

impl Waker {
    /// A waker in its fast phase (call it right after arming).
    pub fn new() -> Waker {
        Waker {
            fast_until: Instant::now() + FAST_WINDOW,
            wall_offset: wall_offset(),
            uevents: None,
            interrupt: None,
        }
    }

    /// Also wake on a VM generation ID change (Linux: a `NEW_VMGENID=1`
    /// kernel uevent). Where the socket cannot be opened (no netlink, no
    /// permission), the clock and the slow poll remain.
    pub fn listen_for_vmgenid(mut self) -> Waker {
        self.uevents = open_uevent_socket();
        self
    }

    /// Return from [`Waker::sleep`] as soon as `fd` is readable (the read
    /// end of a self-pipe a signal handler writes to). The caller keeps it
    /// open for as long as it uses this waker.
    pub fn interrupted_by(mut self, fd: RawFd) -> Waker {
        self.interrupt = Some(fd);
        self
    }

    /// Whether the fast phase is on.
    pub fn is_fast(&self) -> bool {
        Instant::now() < self.fast_until
    }

    /// A resume the caller learnt of: begin a fast window.
    pub fn resumed(&mut self) {
        self.fast_until = Instant::now() + FAST_WINDOW;
    }

    /// Every armed mailbox has been consumed: nothing more can arrive
    /// before the next resume, so the fast phase ends now.
    pub fn all_consumed(&mut self) {
        self.fast_until = Instant::now();
    }

    /// Wait as the rule says: [`FAST_POLL`] in the fast phase; in the slow
    /// phase up to [`SLOW_POLL`], returning early on a resume signal.
    pub fn sleep(&mut self) -> Woke {
        let timeout = if self.is_fast() { FAST_POLL } else { SLOW_POLL };
        let woke = self.wait_fds(timeout);
        if woke == Woke::Interrupted {
            return woke;
        }
        let now = wall_offset();
        let stepped = (now - self.wall_offset).unsigned_abs() > CLOCK_STEP.as_nanos();
        self.wall_offset = now;
        if woke == Woke::Resumed || stepped {
            self.resumed();
            return Woke::Resumed;
        }
        Woke::Tick
    }

    /// Wait `duration` unless interrupted first; whether it was.
    pub fn pause(&mut self, duration: Duration) -> bool {
        let Some(fd) = self.interrupt else {
            std::thread::sleep(duration);
            return false;
        };
        // SAFETY: the caller of `interrupted_by` keeps the descriptor open
        // for as long as it uses this waker (documented there).
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
        let ts = Timespec {
            tv_sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(duration.subsec_nanos()),
        };
        matches!(rustix::event::poll(&mut fds, Some(&ts)), Ok(n) if n > 0)
    }

    /// Block on the uevent socket and the interrupt descriptor for at most
    /// `timeout` (a plain sleep when there are neither).
    fn wait_fds(&mut self, timeout: Duration) -> Woke {
        // SAFETY: the caller of `interrupted_by` keeps the descriptor open
        // for as long as it uses this waker (documented there).
        let interrupt = self
            .interrupt
            .map(|fd| unsafe { BorrowedFd::borrow_raw(fd) });
        let uevents = self.uevents.as_ref().map(|f| f.as_fd());
        let mut fds: Vec<PollFd<'_>> = [interrupt, uevents]
            .into_iter()
            .flatten()
            .map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN))
            .collect();
        if fds.is_empty() {
            std::thread::sleep(timeout);
            return Woke::Tick;
        }
        let ts = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        if !matches!(rustix::event::poll(&mut fds, Some(&ts)), Ok(n) if n > 0) {
            return Woke::Tick;
        }
        let interrupted = interrupt.is_some() && !fds[0].revents().is_empty();
        let signalled = uevents.is_some() && !fds[fds.len() - 1].revents().is_empty();
        drop(fds);
        if interrupted {
            return Woke::Interrupted;
        }
        if signalled && self.drain_uevents() {
            return Woke::Resumed;
        }
        Woke::Tick
    }

    /// Read every pending uevent; whether one was the kernel's
    /// `NEW_VMGENID=1`.
    fn drain_uevents(&mut self) -> bool {
        let Some(sock) = &self.uevents else {
            return false;
        };
        let mut found = false;
        let mut buf = [0u8; 4096];
        while let Ok((n, _, from)) = rustix::net::recvfrom(sock, &mut buf, RecvFlags::DONTWAIT) {
            // Only the kernel (port id 0) speaks for the hardware.
            let from_kernel = from
                .and_then(|a| SocketAddrNetlink::try_from(a).ok())
                .is_some_and(|a| a.pid() == 0);
            if from_kernel && is_vmgenid_uevent(buf.get(..n).unwrap_or_default()) {
                found = true;
            }
        }
        found
    }
}

impl Default for Waker {
    fn default() -> Waker {
        Waker::new()
    }
}

/// Whether a kernel uevent message announces a new VM generation ID.
pub fn is_vmgenid_uevent(msg: &[u8]) -> bool {
    msg.split(|b| *b == 0)
        .any(|field| field == b"NEW_VMGENID=1")
}

/// `CLOCK_REALTIME - CLOCK_MONOTONIC`, in nanoseconds.
fn wall_offset() -> i128 {
    use rustix::time::{ClockId, clock_gettime};
    let ns = |t: Timespec| i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec);
    ns(clock_gettime(ClockId::Realtime)) - ns(clock_gettime(ClockId::Monotonic))
}

/// A socket on the kernel's uevent multicast group, or `None`.
fn open_uevent_socket() -> Option<OwnedFd> {
    let sock = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        Some(netlink::KOBJECT_UEVENT),
    )
    .ok()?;
    // Group 1: where the kernel multicasts uevents.
    rustix::net::bind(&sock, &SocketAddrNetlink::new(0, 1)).ok()?;
    Some(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waker_starts_fast_and_all_consumed_ends_the_fast_phase() {
        let mut w = Waker::new();
        assert!(w.is_fast());
        w.all_consumed();
        assert!(!w.is_fast());
        w.resumed();
        assert!(w.is_fast());
    }

    #[test]
    fn only_new_vmgenid_counts() {
        let msg = b"change@/devices/LNXSYSTM:00/VMGENID\0ACTION=change\0NEW_VMGENID=1\0";
        assert!(is_vmgenid_uevent(msg));
        assert!(!is_vmgenid_uevent(
            b"add@/devices/x\0ACTION=add\0NEW_VMGENID=10\0"
        ));
        assert!(!is_vmgenid_uevent(b"NEW_VMGENID=0\0"));
    }

    #[test]
    fn an_interrupt_wakes_a_slow_sleep_at_once() {
        let (r, w) = std::os::unix::net::UnixStream::pair().expect("pair");
        let mut waker = Waker::new().interrupted_by(std::os::fd::AsRawFd::as_raw_fd(&r));
        waker.all_consumed();
        use std::io::Write;
        (&w).write_all(b"x").expect("write");
        assert_eq!(waker.sleep(), Woke::Interrupted);
    }

    #[test]
    fn a_pause_ends_at_an_interrupt() {
        let (r, w) = std::os::unix::net::UnixStream::pair().expect("pair");
        let mut waker = Waker::new().interrupted_by(std::os::fd::AsRawFd::as_raw_fd(&r));
        assert!(!waker.pause(Duration::from_millis(1)));
        use std::io::Write;
        (&w).write_all(b"x").expect("write");
        assert!(waker.pause(Duration::from_secs(60)));
    }

    #[test]
    fn a_clock_step_counts_as_a_resume() {
        let mut w = Waker::new();
        // As if the wall clock had been 5 s behind at the last look.
        w.wall_offset -= 5_000_000_000;
        assert_eq!(w.sleep(), Woke::Resumed);
        assert!(w.is_fast());
        assert_eq!(w.sleep(), Woke::Tick);
    }
}
