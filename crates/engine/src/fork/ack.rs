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

use std::io::ErrorKind as IoKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::mailbox::check_ack;
use crate::vmm::{AckSender, ProcessRecord};

/// Larger than any UDP datagram, so nothing is ever cut short.
const RECV_BUFFER: usize = 65_536;

impl AckSender {
    /// Whether a datagram from `from` was sent by this sender; `Err` says why not.
    pub fn verify(&self, from: SocketAddr) -> Result<(), String> {
        match self {
            AckSender::Anyone => Ok(()),
            AckSender::Address(ip) if from.ip() == *ip => Ok(()),
            AckSender::Address(ip) => Err(format!("not from the guest's address {ip}")),
            AckSender::Process(p) => match socket_owner_matches(from, p) {
                Some(true) => Ok(()),
                Some(false) => Err(format!(
                    "its socket does not belong to the fork's VMM (pid {})",
                    p.pid
                )),
                None => Err("no local socket sent it".into()),
            },
        }
    }
}

/// A bound ack socket for one mailbox.
#[derive(Debug)]
pub struct AckWaiter {
    socket: UdpSocket,
    port: u16,
}

/// How waiting ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// A valid ack arrived after this long.
    Acked(Duration),
    /// The deadline passed; `ignored` datagrams did not count.
    TimedOut {
        /// Datagrams that arrived but did not count.
        ignored: usize,
    },
    /// `should_stop` said so (cancel, another ack failed, the guest died).
    Stopped,
}

impl AckWaiter {
    /// Bind a UDP socket on 127.0.0.1 with an ephemeral port.
    pub fn bind() -> std::io::Result<AckWaiter> {
        AckWaiter::bind_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Bind a UDP socket on `addr` with an ephemeral port.
    pub fn bind_on(addr: IpAddr) -> std::io::Result<AckWaiter> {
        let socket = UdpSocket::bind(SocketAddr::new(addr, 0))?;
        let port = socket.local_addr()?.port();
        Ok(AckWaiter { socket, port })
    }

    /// The port to inject as `ack_port`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Wait until `sender` acks `mailbox`, `timeout` passes, or
    /// `should_stop` returns true (checked every 50 ms). Every datagram that
    /// does not count goes to `ignored` with its source and the reason.
    pub fn wait(
        &self,
        mailbox: &str,
        sender: &AckSender,
        timeout: Duration,
        should_stop: &dyn Fn() -> bool,
        ignored: &dyn Fn(SocketAddr, String),
    ) -> std::io::Result<AckOutcome> {
        let start = Instant::now();
        let mut ignored_count = 0;
        let ended = self.receive(
            mailbox,
            sender,
            start + timeout,
            should_stop,
            &mut |from, verdict| match verdict {
                Ok(()) => true,
                Err(reason) => {
                    ignored_count += 1;
                    tracing::info!(mailbox, %from, %reason, "ignored datagram");
                    ignored(from, reason);
                    false
                }
            },
        )?;
        Ok(match ended {
            Ended::Taken => AckOutcome::Acked(start.elapsed()),
            Ended::Deadline => AckOutcome::TimedOut {
                ignored: ignored_count,
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
        ignored: &dyn Fn(SocketAddr, String),
    ) -> std::io::Result<usize> {
        let mut seen = 0;
        self.receive(
            mailbox,
            sender,
            Instant::now() + linger,
            should_stop,
            &mut |from, verdict| {
                let reason = match verdict {
                    Ok(()) => format!(
                        "a duplicate ack: {mailbox} was acked already (a guest acks each mailbox once)"
                    ),
                    Err(reason) => reason,
                };
                seen += 1;
                tracing::info!(mailbox, %from, %reason, "datagram after the ack");
                ignored(from, reason);
                false
            },
        )?;
        Ok(seen)
    }

    /// Receive until `deadline` or `should_stop` (asked before every read of
    /// at most 50 ms, so a cancel or a dead guest is noticed promptly). Each
    /// datagram is judged — its sender, then its text as an ack of
    /// `mailbox` — and handed to `each`, which ends the wait by returning
    /// true.
    fn receive(
        &self,
        mailbox: &str,
        sender: &AckSender,
        deadline: Instant,
        should_stop: &dyn Fn() -> bool,
        each: &mut dyn FnMut(SocketAddr, Result<(), String>) -> bool,
    ) -> std::io::Result<Ended> {
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            if should_stop() {
                return Ok(Ended::Stopped);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Ended::Deadline);
            }
            let slice = (deadline - now).min(Duration::from_millis(50));
            self.socket
                .set_read_timeout(Some(slice.max(Duration::from_millis(1))))?;
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let verdict = sender
                        .verify(from)
                        .and_then(|()| check_ack(&buf[..n], mailbox).map_err(|r| r.to_string()));
                    if each(from, verdict) {
                        return Ok(Ended::Taken);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        IoKind::WouldBlock | IoKind::TimedOut | IoKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// How [`AckWaiter::receive`] ended.
enum Ended {
    /// The caller took a datagram.
    Taken,
    Deadline,
    Stopped,
}

/// Whether the local UDP socket that sent from `from` is open in the
/// recorded process. `None` when no local socket has that address.
fn socket_owner_matches(from: SocketAddr, owner: &ProcessRecord) -> Option<bool> {
    // The kernel prints /proc/net/udp a page at a time from a live hash
    // table: a socket can be skipped while others come and go (a fan-out
    // opens and closes many). Reading again before concluding "no such
    // socket" keeps a real ack from being ignored.
    let mut inodes = udp_socket_inodes(from);
    for _ in 0..3 {
        if !inodes.is_empty() {
            break;
        }
        inodes = udp_socket_inodes(from);
    }
    if inodes.is_empty() {
        return None;
    }
    if !owner.is_alive() {
        return Some(false);
    }
    let Ok(rd) = std::fs::read_dir(format!("/proc/{}/fd", owner.pid)) else {
        return Some(false);
    };
    let owned = rd.filter_map(|e| e.ok()).any(|e| {
        std::fs::read_link(e.path()).is_ok_and(|target| {
            let t = target.to_string_lossy();
            inodes.iter().any(|i| t == format!("socket:[{i}]"))
        })
    });
    Some(owned)
}

/// Inodes of the UDP sockets bound to `from`'s port on its address or on
/// the wildcard address (a socket bound to 0.0.0.0 sends from 127.0.0.1).
fn udp_socket_inodes(from: SocketAddr) -> Vec<u64> {
    let (table, addrs): (&str, Vec<String>) = match from.ip() {
        IpAddr::V4(ip) => (
            "/proc/net/udp",
            vec![hex_v4(ip), hex_v4(Ipv4Addr::UNSPECIFIED)],
        ),
        IpAddr::V6(ip) => (
            "/proc/net/udp6",
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
    let text =
        crate::files::read_text_bounded(std::path::Path::new(table), 64 << 20, "a socket table")
            .unwrap_or_default();
    let port = format!("{:04X}", from.port());
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (addr, p) = f.get(1)?.split_once(':')?;
            if p != port || !addrs.iter().any(|a| a == addr) {
                return None;
            }
            f.get(9)?.parse().ok()
        })
        .collect()
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

    fn wait(w: &AckWaiter, sender: &AckSender, ms: u64) -> (AckOutcome, Vec<String>) {
        let seen = Mutex::new(Vec::new());
        let out = w
            .wait(
                "a",
                sender,
                Duration::from_millis(ms),
                &|| false,
                &|_, r| seen.lock().unwrap().push(r),
            )
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
                &|_, r| seen.lock().unwrap().push(r),
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
                &|_, _| {},
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
        assert_eq!(out, AckOutcome::TimedOut { ignored: 1 });
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
        assert_eq!(out, AckOutcome::TimedOut { ignored: 2 });
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
        assert_eq!(out, AckOutcome::TimedOut { ignored: 1 }, "{why:?}");
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
                &|_, _| {},
            )
            .unwrap();
        assert_eq!(out, AckOutcome::Stopped);
    }
}
