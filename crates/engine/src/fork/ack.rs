//! Waiting for a guest's UDP ack on a socket bound to an ephemeral port,
//! counting only datagrams from the fork's own guest.
//!
//! The address alone proves nothing on a host (every local process can send
//! from 127.0.0.1, and a second fork's guest can be handed the first fork's
//! port), so for a local VMM the *sending socket* must belong to the fork's
//! VMM process: the datagram's source port leads to a socket inode in
//! `/proc/net/udp` (or `udp6`), and that inode must be among the VMM's open
//! files. A guest on a TAP network is checked by its own address instead.
//! Whatever does not count is reported and ignored, never fatal.
//!
//! # Under a flood
//!
//! Any local process can flood the port (it is printed, and visible in
//! `/proc/net/udp`). The honest guest's ack must still be heard, so a
//! datagram costs next to nothing unless it could be the ack:
//! - the socket asks for a large receive buffer (8 MiB, `SO_RCVBUFFORCE`
//!   where allowed, else as much as `SO_RCVBUF` gives), so a burst queues
//!   instead of pushing the ack out;
//! - datagrams are read in batches (up to [`MAX_BATCH`] without waiting),
//!   and a batch's senders are judged against **one** look at who owns which
//!   socket (`/proc/net/udp` and the VMM's descriptors), taken after the
//!   batch arrived — an ack is never accepted on an older look, and never
//!   refused on a cached one;
//! - a datagram that is not an ack of this mailbox by its text is refused by
//!   its text; who sent it matters only for the report (the guest's own
//!   mistake, or someone else's noise), and that verdict is cached per
//!   source address for a second;
//! - reports are bounded: the first few datagrams one by one, then one
//!   summary a second ([`Ignored::Many`]), so stdout, the session history
//!   and the log see a line a second, not a line a datagram.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::ErrorKind as IoKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::mailbox::check_ack;
use crate::vmm::{AckSender, ProcessRecord};

/// Larger than any UDP datagram, so nothing is ever cut short.
const RECV_BUFFER: usize = 65_536;
/// The socket's receive queue asked for: room for a burst.
const SOCKET_QUEUE_BYTES: usize = 8 << 20;
/// Most datagrams read without waiting, judged against one look at the
/// socket owners.
pub const MAX_BATCH: usize = 1024;
/// Datagrams from the fork's own guest reported one by one per wait.
pub const REPORT_EACH_OWN: u64 = 32;
/// Datagrams from anyone else reported one by one per wait.
pub const REPORT_EACH_FOREIGN: u64 = 8;
/// How often the rest is reported, counted.
pub const REPORT_EVERY: Duration = Duration::from_secs(1);
/// How long "who sent from this address" is remembered for a report.
const SENDER_TTL: Duration = Duration::from_secs(1);
/// Most remembered senders (a forger cycling through sockets).
const SENDER_CACHE: usize = 4096;

impl AckSender {
    /// Whether a datagram from `from` was sent by this sender; `Err` says why not.
    pub fn verify(&self, from: SocketAddr) -> Result<(), String> {
        match self.judge_sender(from, &mut None, true) {
            Ok(()) => Ok(()),
            Err(r) => Err(r.reason),
        }
    }

    /// [`AckSender::verify`], looking at the socket owners through `owners`
    /// (taken on first need, then reused); `retry` reads `/proc/net/udp`
    /// again before concluding that no socket sent it.
    fn judge_sender(
        &self,
        from: SocketAddr,
        owners: &mut Option<Owners>,
        retry: bool,
    ) -> Result<(), Refused> {
        match self {
            AckSender::Anyone => Ok(()),
            AckSender::Address(ip) if from.ip() == *ip => Ok(()),
            AckSender::Address(ip) => Err(Refused::foreign(format!(
                "not from the guest's address {ip}"
            ))),
            AckSender::Process(p) => {
                let owners = owners.get_or_insert_with(|| Owners::of(p));
                match owners.owns(from, retry) {
                    Some(true) => Ok(()),
                    Some(false) => Err(Refused::foreign(format!(
                        "its socket does not belong to the fork's VMM (pid {})",
                        p.pid
                    ))),
                    None => Err(Refused::foreign("no local socket sent it".into())),
                }
            }
        }
    }
}

/// Why a datagram did not count, and whether it was someone else's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refused {
    reason: String,
    /// Not from the fork's own guest: noise, never held against it.
    foreign: bool,
}

impl Refused {
    fn foreign(reason: String) -> Refused {
        Refused {
            reason,
            foreign: true,
        }
    }
    fn own(reason: String) -> Refused {
        Refused {
            reason,
            foreign: false,
        }
    }
}

/// Datagrams that did not count, as the waiter reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// One datagram, reported on its own.
    One {
        /// Who sent it.
        from: SocketAddr,
        /// Why it did not count.
        reason: String,
        /// It came from someone other than the fork's own guest (another
        /// local process, another address): noise, never the guest's doing.
        foreign: bool,
    },
    /// Datagrams counted since the last report (more than are reported one
    /// by one: a flood).
    Many {
        /// How many.
        count: u64,
        /// How many of them came from someone other than the fork's guest.
        foreign: u64,
        /// The last one's sender.
        from: SocketAddr,
        /// Why the last one did not count.
        reason: String,
    },
}

/// A bound ack socket for one mailbox.
#[derive(Debug)]
pub struct AckWaiter {
    socket: UdpSocket,
    port: u16,
    /// Datagrams read with the ack, after it: the linger judges them.
    backlog: Mutex<VecDeque<(SocketAddr, Vec<u8>)>>,
}

/// How waiting ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// A valid ack arrived after this long.
    Acked(Duration),
    /// The deadline passed; `ignored` datagrams did not count, `foreign` of
    /// them from someone other than the fork's guest.
    TimedOut {
        /// Datagrams that arrived but did not count.
        ignored: u64,
        /// Of those, datagrams from someone other than the fork's guest.
        foreign: u64,
    },
    /// `should_stop` said so (cancel, another ack failed, the guest died).
    Stopped,
}

impl AckWaiter {
    /// Bind a UDP socket on 127.0.0.1 with an ephemeral port.
    pub fn bind() -> std::io::Result<AckWaiter> {
        AckWaiter::bind_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Bind a UDP socket on `addr` with an ephemeral port, with a receive
    /// queue as large as the system allows up to 8 MiB.
    pub fn bind_on(addr: IpAddr) -> std::io::Result<AckWaiter> {
        let socket = UdpSocket::bind(SocketAddr::new(addr, 0))?;
        // Beyond the system's limit only with CAP_NET_ADMIN; else the most
        // it grants. A failure here costs room, not correctness.
        if rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, SOCKET_QUEUE_BYTES)
            .is_err()
        {
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, SOCKET_QUEUE_BYTES);
        }
        let port = socket.local_addr()?.port();
        Ok(AckWaiter {
            socket,
            port,
            backlog: Mutex::new(VecDeque::new()),
        })
    }

    /// The port to inject as `ack_port`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Wait until `sender` acks `mailbox`, `timeout` passes, or
    /// `should_stop` returns true (checked every 50 ms). What does not count
    /// goes to `ignored`: the first datagrams one by one, then counted
    /// ([`Ignored`]).
    pub fn wait(
        &self,
        mailbox: &str,
        sender: &AckSender,
        timeout: Duration,
        should_stop: &dyn Fn() -> bool,
        ignored: &dyn Fn(Ignored),
    ) -> std::io::Result<AckOutcome> {
        let start = Instant::now();
        let mut tally = Tally::new(mailbox, ignored);
        let ended = self.receive(
            mailbox,
            sender,
            start + timeout,
            should_stop,
            &mut tally,
            Mode::Wait,
        );
        tally.flush();
        Ok(match ended? {
            Ended::Taken => AckOutcome::Acked(start.elapsed()),
            Ended::Deadline => AckOutcome::TimedOut {
                ignored: tally.total,
                foreign: tally.foreign_total,
            },
            Ended::Stopped => AckOutcome::Stopped,
        })
    }

    /// After the ack: keep listening for `linger` (or until `should_stop`)
    /// and report every further datagram to `ignored` — a second valid ack
    /// as a duplicate (a guest acks each mailbox once), anything else with
    /// the reason it would not count. Returns how many were reported.
    pub fn linger(
        &self,
        mailbox: &str,
        sender: &AckSender,
        linger: Duration,
        should_stop: &dyn Fn() -> bool,
        ignored: &dyn Fn(Ignored),
    ) -> std::io::Result<u64> {
        let mut tally = Tally::new(mailbox, ignored);
        let ended = self.receive(
            mailbox,
            sender,
            Instant::now() + linger,
            should_stop,
            &mut tally,
            Mode::Linger,
        );
        tally.flush();
        ended?;
        Ok(tally.total)
    }

    /// Receive until `deadline` or `should_stop` (asked before every read of
    /// at most 50 ms, so a cancel or a dead guest is noticed promptly), in
    /// batches (see the module doc). Each datagram is judged — its text as
    /// an ack of `mailbox`, then its sender — and what does not count goes
    /// to `tally`. In [`Mode::Wait`] a valid ack ends the wait (the rest of
    /// its batch is kept for the linger).
    fn receive(
        &self,
        mailbox: &str,
        sender: &AckSender,
        deadline: Instant,
        should_stop: &dyn Fn() -> bool,
        tally: &mut Tally,
        mode: Mode,
    ) -> std::io::Result<Ended> {
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut senders = SenderCache::default();
        loop {
            if should_stop() {
                return Ok(Ended::Stopped);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Ended::Deadline);
            }
            tally.tick();
            let mut batch =
                std::mem::take(&mut *self.backlog.lock().unwrap_or_else(PoisonError::into_inner));
            if batch.is_empty() {
                let slice = (deadline - now).min(Duration::from_millis(50));
                self.socket
                    .set_read_timeout(Some(slice.max(Duration::from_millis(1))))?;
                match self.socket.recv_from(&mut buf) {
                    Ok((n, from)) => batch.push_back((from, buf[..n].to_vec())),
                    Err(e)
                        if matches!(
                            e.kind(),
                            IoKind::WouldBlock | IoKind::TimedOut | IoKind::Interrupted
                        ) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                self.drain(&mut buf, &mut batch)?;
            }
            // One look at the socket owners for the whole batch, taken after
            // it arrived, and only when a datagram needs it.
            let mut owners: Option<Owners> = None;
            while let Some((from, bytes)) = batch.pop_front() {
                let content = check_ack(&bytes, mailbox).map_err(|r| r.to_string());
                let verdict = match content {
                    // It could be the ack: its sender is checked now.
                    Ok(()) => sender.judge_sender(from, &mut owners, true),
                    // Refused by its text; who sent it is for the report.
                    Err(reason) => {
                        let foreign = senders.foreign(from, sender, &mut owners);
                        Err(Refused { reason, foreign })
                    }
                };
                match (verdict, mode) {
                    (Ok(()), Mode::Wait) => {
                        let mut backlog =
                            self.backlog.lock().unwrap_or_else(PoisonError::into_inner);
                        *backlog = batch;
                        return Ok(Ended::Taken);
                    }
                    (Ok(()), Mode::Linger) => tally.add(
                        from,
                        Refused::own(format!(
                            "a duplicate ack: {mailbox} was acked already (a guest acks each mailbox once)"
                        )),
                    ),
                    (Err(r), _) => tally.add(from, r),
                }
            }
        }
    }

    /// Read what is queued on the socket without waiting, up to a batch.
    fn drain(
        &self,
        buf: &mut [u8],
        batch: &mut VecDeque<(SocketAddr, Vec<u8>)>,
    ) -> std::io::Result<()> {
        use rustix::net::RecvFlags;
        while batch.len() < MAX_BATCH {
            match rustix::net::recvfrom(&self.socket, &mut *buf, RecvFlags::DONTWAIT) {
                Ok((n, _, Some(addr))) => {
                    if let Ok(from) = SocketAddr::try_from(addr) {
                        batch.push_back((from, buf[..n.min(buf.len())].to_vec()));
                    }
                }
                Ok((_, _, None)) => {}
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// What a valid ack does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Ends the wait.
    Wait,
    /// Is a duplicate (the ack came already).
    Linger,
}

/// How [`AckWaiter::receive`] ended.
enum Ended {
    /// A valid ack.
    Taken,
    Deadline,
    Stopped,
}

/// Bounded reporting: the first datagrams one by one (fewer of someone
/// else's than of the guest's own), then one summary per
/// [`REPORT_EVERY`], and what is left at the end.
struct Tally<'a> {
    mailbox: &'a str,
    report: &'a dyn Fn(Ignored),
    each_own: u64,
    each_foreign: u64,
    /// Counted, not yet reported: (count, foreign, last sender, last reason).
    pending: Option<(u64, u64, SocketAddr, String)>,
    last_report: Instant,
    total: u64,
    foreign_total: u64,
}

impl<'a> Tally<'a> {
    fn new(mailbox: &'a str, report: &'a dyn Fn(Ignored)) -> Tally<'a> {
        Tally {
            mailbox,
            report,
            each_own: 0,
            each_foreign: 0,
            pending: None,
            last_report: Instant::now(),
            total: 0,
            foreign_total: 0,
        }
    }

    fn add(&mut self, from: SocketAddr, r: Refused) {
        self.total += 1;
        self.foreign_total += u64::from(r.foreign);
        let each = if r.foreign {
            &mut self.each_foreign
        } else {
            &mut self.each_own
        };
        let limit = if r.foreign {
            REPORT_EACH_FOREIGN
        } else {
            REPORT_EACH_OWN
        };
        if *each < limit {
            *each += 1;
            tracing::info!(mailbox = self.mailbox, %from, reason = %r.reason, foreign = r.foreign, "ignored datagram");
            (self.report)(Ignored::One {
                from,
                reason: r.reason,
                foreign: r.foreign,
            });
            return;
        }
        let p = self.pending.get_or_insert((0, 0, from, String::new()));
        p.0 += 1;
        p.1 += u64::from(r.foreign);
        p.2 = from;
        p.3 = r.reason;
        self.tick();
    }

    /// Report what was counted, once [`REPORT_EVERY`] has passed.
    fn tick(&mut self) {
        if self.pending.is_some() && self.last_report.elapsed() >= REPORT_EVERY {
            self.flush();
        }
    }

    /// Report what was counted.
    fn flush(&mut self) {
        if let Some((count, foreign, from, reason)) = self.pending.take() {
            tracing::info!(mailbox = self.mailbox, count, foreign, %from, %reason, "ignored datagrams");
            (self.report)(Ignored::Many {
                count,
                foreign,
                from,
                reason,
            });
        }
        self.last_report = Instant::now();
    }
}

/// Who sent from an address, remembered for a report (never to accept or
/// refuse an ack).
#[derive(Default)]
struct SenderCache {
    seen: HashMap<SocketAddr, (bool, Instant)>,
}

impl SenderCache {
    /// Whether `from` is someone other than the fork's guest.
    fn foreign(
        &mut self,
        from: SocketAddr,
        sender: &AckSender,
        owners: &mut Option<Owners>,
    ) -> bool {
        if let Some((foreign, at)) = self.seen.get(&from)
            && at.elapsed() < SENDER_TTL
        {
            return *foreign;
        }
        let foreign = sender.judge_sender(from, owners, false).is_err();
        if self.seen.len() >= SENDER_CACHE {
            self.seen.clear();
        }
        self.seen.insert(from, (foreign, Instant::now()));
        foreign
    }
}

/// One look at who owns which local UDP socket: the VMM's socket inodes
/// and the socket tables, read once each when first needed.
struct Owners {
    alive: bool,
    vmm_sockets: HashSet<u64>,
    v4: Option<HashMap<(String, u16), Vec<u64>>>,
    v6: Option<HashMap<(String, u16), Vec<u64>>>,
    /// Each sender's answer in this look (a flood comes from few).
    memo: HashMap<SocketAddr, Option<bool>>,
    /// Tables read again before "no socket sent it" is concluded, left in
    /// this look (a forger cycling through sockets must not make each of
    /// its datagrams cost three reads).
    rereads: u8,
}

impl Owners {
    fn of(owner: &ProcessRecord) -> Owners {
        let alive = owner.is_alive();
        let vmm_sockets = if alive {
            socket_inodes_of(owner.pid)
        } else {
            HashSet::new()
        };
        Owners {
            alive,
            vmm_sockets,
            v4: None,
            v6: None,
            memo: HashMap::new(),
            rereads: 3,
        }
    }

    /// Whether the socket that sent from `from` is the VMM's; `None` when
    /// no local socket has that address. With `retry`, the table is read
    /// again (up to three times per look) before concluding "none": the
    /// kernel prints it a page at a time from a live hash table, so a
    /// socket can be skipped while others come and go.
    fn owns(&mut self, from: SocketAddr, retry: bool) -> Option<bool> {
        if let Some(known) = self.memo.get(&from) {
            return *known;
        }
        let found = self.find_owner(from, retry);
        self.memo.insert(from, found);
        found
    }

    fn find_owner(&mut self, from: SocketAddr, retry: bool) -> Option<bool> {
        let mut inodes = self.inodes(from);
        while inodes.is_empty() && retry && self.rereads > 0 {
            self.rereads -= 1;
            match from.ip() {
                IpAddr::V4(_) => self.v4 = None,
                IpAddr::V6(_) => self.v6 = None,
            }
            // Answers from the older table may be stale now.
            self.memo.clear();
            inodes = self.inodes(from);
        }
        if inodes.is_empty() {
            return None;
        }
        if !self.alive {
            return Some(false);
        }
        Some(inodes.iter().any(|i| self.vmm_sockets.contains(i)))
    }

    /// Inodes of the UDP sockets bound to `from`'s port on its address or
    /// on the wildcard address (a socket bound to 0.0.0.0 sends from
    /// 127.0.0.1).
    fn inodes(&mut self, from: SocketAddr) -> Vec<u64> {
        let (table, addrs): (&mut Option<_>, Vec<String>) = match from.ip() {
            IpAddr::V4(ip) => (
                &mut self.v4,
                vec![hex_v4(ip), hex_v4(Ipv4Addr::UNSPECIFIED)],
            ),
            IpAddr::V6(ip) => (
                &mut self.v6,
                vec![
                    hex_v6(ip.octets()),
                    hex_v6([0; 16]),
                    // A v4 sender seen through a dual-stack socket.
                    ip.to_ipv4_mapped()
                        .map(|v4| hex_v6(v4.to_ipv6_mapped().octets()))
                        .unwrap_or_default(),
                ],
            ),
        };
        let path = match from.ip() {
            IpAddr::V4(_) => "/proc/net/udp",
            IpAddr::V6(_) => "/proc/net/udp6",
        };
        let table = table.get_or_insert_with(|| read_socket_table(path));
        addrs
            .iter()
            .filter_map(|a| table.get(&(a.clone(), from.port())))
            .flatten()
            .copied()
            .collect()
    }
}

/// `/proc/net/udp` (or `udp6`): (local address as printed, port) → socket
/// inodes.
fn read_socket_table(path: &str) -> HashMap<(String, u16), Vec<u64>> {
    let text =
        crate::files::read_text_bounded(std::path::Path::new(path), 64 << 20, "a socket table")
            .unwrap_or_default();
    let mut out: HashMap<(String, u16), Vec<u64>> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some((addr, port)) = f.get(1).and_then(|a| a.split_once(':')) else {
            continue;
        };
        let (Ok(port), Some(Ok(inode))) = (
            u16::from_str_radix(port, 16),
            f.get(9).map(|i| i.parse::<u64>()),
        ) else {
            continue;
        };
        out.entry((addr.to_string(), port)).or_default().push(inode);
    }
    out
}

/// The inodes of the sockets process `pid` has open.
fn socket_inodes_of(pid: u32) -> HashSet<u64> {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|t| {
            t.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// Whether the local UDP socket that sent from `from` is open in the
/// recorded process. `None` when no local socket has that address.
#[cfg(test)]
fn socket_owner_matches(from: SocketAddr, owner: &ProcessRecord) -> Option<bool> {
    Owners::of(owner).owns(from, true)
}

/// `/proc/net/udp`'s form of an IPv4 address: the 32-bit value in host
/// (little-endian) order, as hex.
fn hex_v4(ip: Ipv4Addr) -> String {
    format!("{:08X}", u32::from_ne_bytes(ip.octets()))
}

/// `/proc/net/udp6`'s form: four 32-bit words, each in host order.
fn hex_v6(o: [u8; 16]) -> String {
    o.chunks(4)
        .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn send_from(socket: &UdpSocket, to: u16, text: &str) {
        socket
            .send_to(text.as_bytes(), (Ipv4Addr::LOCALHOST, to))
            .unwrap();
    }

    /// The reason of each datagram reported (one by one or, for a count,
    /// the last one's).
    fn reason(i: Ignored) -> String {
        match i {
            Ignored::One { reason, .. } | Ignored::Many { reason, .. } => reason,
        }
    }

    fn wait(w: &AckWaiter, sender: &AckSender, ms: u64) -> (AckOutcome, Vec<String>) {
        let seen = Mutex::new(Vec::new());
        let out = w
            .wait("a", sender, Duration::from_millis(ms), &|| false, &|i| {
                seen.lock().unwrap().push(reason(i))
            })
            .unwrap();
        (out, seen.into_inner().unwrap())
    }

    #[test]
    fn a_second_ack_within_the_linger_is_reported_as_a_duplicate() {
        let w = AckWaiter::bind().unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        send_from(&s, w.port(), "stage=applied mailbox=a\n");
        send_from(&s, w.port(), "stage=applied mailbox=a\n");
        let (out, _) = wait(&w, &AckSender::Anyone, 5000);
        assert!(matches!(out, AckOutcome::Acked(_)));
        // The second datagram is already queued: the linger ends on its
        // deadline having seen it.
        let seen = std::sync::Mutex::new(Vec::new());
        let n = w
            .linger(
                "a",
                &AckSender::Anyone,
                Duration::from_millis(300),
                &|| false,
                &|i| seen.lock().unwrap().push(reason(i)),
            )
            .unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(n, 1, "{seen:?}");
        assert!(seen[0].contains("duplicate ack"), "{seen:?}");
        // One ack only: the linger sees nothing.
        let w = AckWaiter::bind().unwrap();
        send_from(&s, w.port(), "stage=applied mailbox=a");
        assert!(matches!(
            wait(&w, &AckSender::Anyone, 5000).0,
            AckOutcome::Acked(_)
        ));
        let n = w
            .linger(
                "a",
                &AckSender::Anyone,
                Duration::from_millis(100),
                &|| false,
                &|_| {},
            )
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn a_socket_of_this_process_is_found_by_its_source_port() {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        let me = ProcessRecord::capture(std::process::id()).unwrap();
        let from = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            s.local_addr().unwrap().port(),
        );
        assert_eq!(socket_owner_matches(from, &me), Some(true));
    }

    #[test]
    fn an_ack_from_the_vmm_process_counts() {
        let w = AckWaiter::bind().unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        send_from(&s, w.port(), "stage=applied mailbox=a\n");
        let me = ProcessRecord::capture(std::process::id()).unwrap();
        let (out, _) = wait(&w, &AckSender::Process(me), 5000);
        assert!(matches!(out, AckOutcome::Acked(_)));
    }

    #[test]
    fn a_forged_ack_from_another_process_is_ignored_and_reported() {
        let w = AckWaiter::bind().unwrap();
        // Another process sends a perfect ack from 127.0.0.1 and keeps its
        // socket open, as a forger reading /proc/net/udp would.
        let forger = std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'stage=applied mailbox=a', ('127.0.0.1', {})); time.sleep(3)",
                w.port()
            ))
            .spawn();
        let mut forger = match forger {
            Ok(c) => Some(c),
            Err(_) => {
                // No python: a socket of this process, checked against
                // another process's record, is just as foreign.
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                send_from(&s, w.port(), "stage=applied mailbox=a");
                std::mem::forget(s);
                None
            }
        };
        let mut other = ProcessRecord::capture(std::process::id()).unwrap();
        other.pid = 1;
        let (out, why) = wait(&w, &AckSender::Process(other), 2000);
        if let Some(f) = forger.as_mut() {
            let _ = f.kill();
            let _ = f.wait();
        }
        assert_eq!(
            out,
            AckOutcome::TimedOut {
                ignored: 1,
                foreign: 1
            }
        );
        assert!(why[0].contains("does not belong"), "{why:?}");
    }

    #[test]
    fn ack_from_wrong_address_or_for_another_mailbox_is_ignored() {
        let w = AckWaiter::bind().unwrap();
        let s2 = UdpSocket::bind("127.0.0.2:0").unwrap();
        send_from(&s2, w.port(), "stage=applied mailbox=a");
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        send_from(&s, w.port(), "stage=applied mailbox=a.b");
        let (out, why) = wait(
            &w,
            &AckSender::Address(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            300,
        );
        // The first is someone else's (another address); the second is
        // from the guest's address, just not an ack of this mailbox.
        assert_eq!(
            out,
            AckOutcome::TimedOut {
                ignored: 2,
                foreign: 1
            }
        );
        assert!(why[0].contains("address"), "{why:?}");
        assert_eq!(why[1], "not for this mailbox");
    }

    #[test]
    fn a_datagram_larger_than_2_kib_is_judged_whole() {
        let w = AckWaiter::bind().unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Valid in its first 2048 bytes, invalid as a whole.
        let text = format!(
            "stage=applied mailbox=a x={}\n{}",
            "y".repeat(2020),
            "z".repeat(100)
        );
        assert!(text.len() > 2048);
        send_from(&s, w.port(), &text);
        let (out, why) = wait(&w, &AckSender::Anyone, 300);
        assert_eq!(
            out,
            AckOutcome::TimedOut {
                ignored: 1,
                foreign: 0
            },
            "{why:?}"
        );
    }

    #[test]
    fn stop_ends_the_wait() {
        let w = AckWaiter::bind().unwrap();
        let out = w
            .wait(
                "a",
                &AckSender::Anyone,
                Duration::from_secs(30),
                &|| true,
                &|_| {},
            )
            .unwrap();
        assert_eq!(out, AckOutcome::Stopped);
    }

    #[test]
    fn a_flood_is_reported_one_by_one_at_first_then_counted() {
        let w = AckWaiter::bind().unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..100 {
            send_from(&s, w.port(), "junk");
        }
        let seen = Mutex::new(Vec::new());
        let out = w
            .wait(
                "a",
                &AckSender::Anyone,
                Duration::from_millis(300),
                &|| false,
                &|i| seen.lock().unwrap().push(i),
            )
            .unwrap();
        assert_eq!(
            out,
            AckOutcome::TimedOut {
                ignored: 100,
                foreign: 0
            }
        );
        let seen = seen.into_inner().unwrap();
        let ones = seen
            .iter()
            .filter(|i| matches!(i, Ignored::One { .. }))
            .count();
        let counted: u64 = seen
            .iter()
            .map(|i| match i {
                Ignored::Many { count, .. } => *count,
                Ignored::One { .. } => 0,
            })
            .sum();
        assert_eq!(ones as u64, REPORT_EACH_OWN);
        assert_eq!(counted, 100 - REPORT_EACH_OWN);
        assert!(seen.len() < 40, "{} reports for 100 datagrams", seen.len());
    }
}
