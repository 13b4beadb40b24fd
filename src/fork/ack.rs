//! Waiting for a guest's UDP ack on a socket bound to an ephemeral port.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::mailbox::is_ack_for;

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
        /// Datagrams that arrived but were not a valid ack.
        ignored: usize,
    },
    /// The session was cancelled.
    Cancelled,
}

impl AckWaiter {
    /// Bind a UDP socket on 127.0.0.1 with an ephemeral port.
    pub fn bind() -> std::io::Result<AckWaiter> {
        let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))?;
        let port = socket.local_addr()?.port();
        Ok(AckWaiter { socket, port })
    }

    /// The port to inject as `ack_port`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Wait until a datagram from `sender` acks `mailbox`, `timeout` passes,
    /// or `should_stop` returns true. Datagrams from other addresses, and ones that do
    /// not parse as a valid ack for this mailbox, are ignored.
    pub fn wait(
        &self,
        mailbox: &str,
        sender: IpAddr,
        timeout: Duration,
        should_stop: &dyn Fn() -> bool,
    ) -> std::io::Result<AckOutcome> {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut buf = [0u8; 2048];
        let mut ignored = 0;
        loop {
            if should_stop() {
                return Ok(AckOutcome::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(AckOutcome::TimedOut { ignored });
            }
            // Short slices so a cancel is noticed promptly.
            let slice = (deadline - now).min(Duration::from_millis(50));
            self.socket
                .set_read_timeout(Some(slice.max(Duration::from_millis(1))))?;
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if from.ip() == sender && is_ack_for(&buf[..n], mailbox) {
                        return Ok(AckOutcome::Acked(start.elapsed()));
                    }
                    ignored += 1;
                    tracing::debug!(mailbox, %from, "ignored datagram");
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(to: u16, from: IpAddr, text: &str) {
        let s = UdpSocket::bind(SocketAddr::new(from, 0)).unwrap();
        s.send_to(text.as_bytes(), (Ipv4Addr::LOCALHOST, to))
            .unwrap();
    }

    #[test]
    fn valid_ack_from_expected_sender_counts() {
        let w = AckWaiter::bind().unwrap();
        send(
            w.port(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "stage=applied mailbox=a\n",
        );
        let out = w
            .wait(
                "a",
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                Duration::from_secs(5),
                &|| false,
            )
            .unwrap();
        assert!(matches!(out, AckOutcome::Acked(_)));
    }

    #[test]
    fn ack_from_wrong_sender_is_ignored() {
        let w = AckWaiter::bind().unwrap();
        // 127.0.0.2 is loopback too, but not the expected sender.
        send(
            w.port(),
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            "stage=applied mailbox=a",
        );
        send(
            w.port(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "stage=applied mailbox=a.b",
        );
        let out = w
            .wait(
                "a",
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                Duration::from_millis(300),
                &|| false,
            )
            .unwrap();
        assert_eq!(out, AckOutcome::TimedOut { ignored: 2 });
    }

    #[test]
    fn cancel_ends_the_wait() {
        let w = AckWaiter::bind().unwrap();
        let out = w
            .wait(
                "a",
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                Duration::from_secs(30),
                &|| true,
            )
            .unwrap();
        assert_eq!(out, AckOutcome::Cancelled);
    }
}
