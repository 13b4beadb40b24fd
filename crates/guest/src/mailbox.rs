//! The Rust guest library: a mailbox your program arms, and the calls that
//! consume what the host wrote into it — the same calls as the C header
//! (`guest-libs/c/forkmail_mailbox.h`) and the Go module (`guest-libs/go`).
//!
//! ```no_run
//! use forkmail_guest::mailbox::{Mailbox, wait};
//! use forkmail_guest::wake::Waker;
//!
//! let boxes = vec![Mailbox::arm("app.config", "my-token")?];
//! let mut waker = Waker::new().listen_for_vmgenid();
//! while let Some(i) = wait(&boxes, &mut waker, None) {
//!     let payload = boxes[i].payload()?; // the host's JSON, as written
//!     println!("{}", String::from_utf8_lossy(&payload));
//!     boxes[i].reset(); // the frame is free again
//!     boxes[i].ack(&payload)?; // to the gateway, when the payload asks for one
//! }
//! # Ok::<(), forkmail_guest::mailbox::MailboxError>(())
//! ```

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use forkmail_contract::{
    MailboxKind, RESUME_NETWORK_MAX_TOKEN_LEN, ack_port_of, format_ack, name_is_valid,
    runtime_magic, token_problem,
};

use crate::MailboxPage;
use crate::wake::{Waker, Woke};

/// Why a mailbox call failed.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// The name breaks the contract's rule.
    #[error("mailbox name {0:?} breaks the rule ^[A-Za-z0-9._:-]{{1,64}}$")]
    BadName(String),
    /// The token breaks the contract's rule.
    #[error("mailbox {name}: {why}")]
    BadToken {
        /// The mailbox.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// The page could not be allocated or locked (`mlock`: RLIMIT_MEMLOCK).
    #[error("mailbox {name}: cannot allocate and lock its page: {source}")]
    Lock {
        /// The mailbox.
        name: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// The host wrote a frame that breaks the contract.
    #[error("mailbox {name}: bad frame: {why}")]
    BadFrame {
        /// The mailbox.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// The ack could not be sent.
    #[error("mailbox {name}: ack to {to}: {source}")]
    Ack {
        /// The mailbox.
        name: String,
        /// Where it was going.
        to: SocketAddr,
        /// The system's error.
        source: std::io::Error,
    },
}

/// A mailbox this program armed (or, for the simulator, one mapped from a
/// memory file): a 4 KiB page that begins with its marker.
pub struct Mailbox {
    kind: MailboxKind,
    name: String,
    page: MailboxPage,
    /// Consumed since the last resume (the wake-up rule's early end).
    consumed: Cell<bool>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("address", &self.page.address())
            .finish()
    }
}

impl Mailbox {
    /// Allocate a page-aligned 4 KiB buffer, lock it in memory and write the
    /// fork mailbox marker for `name` and `token` into it, piece by piece
    /// (the whole marker never exists anywhere else in memory, so the host
    /// finds exactly one). Call it before the VM is put into standby.
    pub fn arm(name: &str, token: &str) -> Result<Mailbox, MailboxError> {
        if !name_is_valid(name) {
            return Err(MailboxError::BadName(name.into()));
        }
        if let Some(why) = token_problem(token) {
            return Err(MailboxError::BadToken {
                name: name.into(),
                why,
            });
        }
        let page = MailboxPage::allocate_locked().map_err(|source| MailboxError::Lock {
            name: name.into(),
            source,
        })?;
        write_fork_marker(&page, name, token);
        Ok(Mailbox::on_page(MailboxKind::Fork, name, page))
    }

    /// The same for Hypeman's resume-network mailbox (a token of 1..=30
    /// bytes, no name).
    pub fn arm_resume_network(token: &str) -> Result<Mailbox, MailboxError> {
        if token.is_empty() || token.len() > RESUME_NETWORK_MAX_TOKEN_LEN || token.contains('\0') {
            return Err(MailboxError::BadToken {
                name: token.into(),
                why: format!("a resume-network token is 1..={RESUME_NETWORK_MAX_TOKEN_LEN} bytes"),
            });
        }
        let page = MailboxPage::allocate_locked().map_err(|source| MailboxError::Lock {
            name: token.into(),
            source,
        })?;
        let magic = runtime_magic(MailboxKind::ResumeNetwork);
        page.write(0, &magic);
        page.write(magic.len(), token.as_bytes());
        page.clear_seq(MailboxKind::ResumeNetwork);
        Ok(Mailbox::on_page(MailboxKind::ResumeNetwork, token, page))
    }

    /// A mailbox on a page armed elsewhere (the simulator maps the one the
    /// template armed from the fork's memory file).
    pub fn on_page(kind: MailboxKind, name: &str, page: MailboxPage) -> Mailbox {
        Mailbox {
            kind,
            name: name.into(),
            page,
            consumed: Cell::new(false),
        }
    }

    /// The name (the token, for a resume-network mailbox).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Fork or resume-network.
    pub fn kind(&self) -> MailboxKind {
        self.kind
    }

    /// The page's address in this process (for logs).
    pub fn address(&self) -> usize {
        self.page.address()
    }

    /// Whether the host has published a payload (seq is not 0). Never blocks.
    pub fn poll(&self) -> bool {
        self.page.seq(self.kind) != 0
    }

    /// The published payload's bytes, checked against the contract (the
    /// length fits the frame, no NUL, UTF-8). Call after [`Mailbox::poll`].
    pub fn payload(&self) -> Result<Vec<u8>, MailboxError> {
        let bad = |why: String| MailboxError::BadFrame {
            name: self.name.clone(),
            why,
        };
        let len = usize::try_from(self.page.read_u32(self.kind.len_offset())).unwrap_or(usize::MAX);
        if len > self.kind.max_payload() {
            return Err(bad(format!(
                "length {len} exceeds {}",
                self.kind.max_payload()
            )));
        }
        let at = usize::try_from(self.kind.payload_offset()).unwrap_or(usize::MAX);
        let mut buf = vec![0u8; len];
        self.page.read(at, &mut buf);
        if buf.contains(&0) {
            return Err(bad("the payload holds a NUL byte".into()));
        }
        if std::str::from_utf8(&buf).is_err() {
            return Err(bad("the payload is not UTF-8".into()));
        }
        Ok(buf)
    }

    /// Mark the payload consumed: seq back to 0, published after every read
    /// of the frame (a release store), so the frame is free again.
    pub fn reset(&self) {
        self.page.clear_seq(self.kind);
        self.consumed.set(true);
    }

    /// Ack `payload` to the default gateway (where the host listens, from
    /// `/proc/net/route`; 10.0.2.2 when there is none) on its `ack_port`.
    /// `Ok(None)`: the payload has no `ack_port`, the host asked for no ack.
    pub fn ack(&self, payload: &[u8]) -> Result<Option<SocketAddr>, MailboxError> {
        self.ack_to(gateway(), payload)
    }

    /// Ack `payload` to `host` on its `ack_port` with the contract's line
    /// (`stage=applied mailbox=<name>`). `Ok(None)`: no ack was asked for.
    pub fn ack_to(&self, host: IpAddr, payload: &[u8]) -> Result<Option<SocketAddr>, MailboxError> {
        let Some(port) = ack_port_of(payload) else {
            return Ok(None);
        };
        let to = SocketAddr::new(host, port);
        let err = |source| MailboxError::Ack {
            name: self.name.clone(),
            to,
            source,
        };
        let socket = UdpSocket::bind(match host {
            IpAddr::V4(_) => "0.0.0.0:0",
            IpAddr::V6(_) => "[::]:0",
        })
        .map_err(err)?;
        socket
            .send_to(format_ack(&self.name).as_bytes(), to)
            .map_err(err)?;
        Ok(Some(to))
    }

    /// Unlock, clear and free the page (dropping the mailbox does the same).
    pub fn disarm(self) {
        self.page.write(0, &[0u8; forkmail_contract::MAILBOX_SIZE]);
    }
}

impl AsRef<Mailbox> for Mailbox {
    fn as_ref(&self) -> &Mailbox {
        self
    }
}

/// Write the marker for `name`/`token` into `page`, building the magic at run
/// time so the full marker bytes exist only in the mailbox page: the pieces
/// are written straight into the page (magic, name, NUL, token).
pub fn write_fork_marker(page: &MailboxPage, name: &str, token: &str) {
    let magic = runtime_magic(MailboxKind::Fork);
    page.write(0, &magic);
    page.write(magic.len(), name.as_bytes());
    page.write(magic.len() + name.len(), &[0]);
    page.write(magic.len() + name.len() + 1, token.as_bytes());
    page.clear_seq(MailboxKind::Fork);
}

/// The default IPv4 gateway from `/proc/net/route`, else 10.0.2.2 (QEMU's
/// user network).
pub fn gateway() -> IpAddr {
    let route = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    IpAddr::V4(crate::default_gateway(&route).unwrap_or(Ipv4Addr::new(10, 0, 2, 2)))
}

/// Wait, with the wake-up rule ([`crate::wake`]), until one of `mailboxes`
/// holds a payload; its index. `None` when `timeout` passed or the waker
/// was interrupted. Every mailbox consumed since the last resume ends the
/// fast phase early; a detected resume starts it again.
pub fn wait<M: AsRef<Mailbox>>(
    mailboxes: &[M],
    waker: &mut Waker,
    timeout: Option<Duration>,
) -> Option<usize> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if let Some(i) = mailboxes.iter().position(|m| m.as_ref().poll()) {
            return Some(i);
        }
        if !mailboxes.is_empty() && mailboxes.iter().all(|m| m.as_ref().consumed.get()) {
            waker.all_consumed();
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        match waker.sleep() {
            Woke::Interrupted => return None,
            Woke::Resumed => mailboxes
                .iter()
                .for_each(|m| m.as_ref().consumed.set(false)),
            Woke::Tick => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forkmail_contract::{FORK_MAX_PAYLOAD, decode_marker, write_frame};

    /// A page as the host sees it: the mailbox's bytes.
    fn bytes(mb: &Mailbox) -> Vec<u8> {
        let mut b = vec![0u8; forkmail_contract::MAILBOX_SIZE];
        mb.page.read(0, &mut b);
        b
    }

    /// Write a frame into the mailbox as the host does (payload, length,
    /// seq last), through a copy of its bytes.
    fn publish(mb: &Mailbox, payload: &[u8]) {
        let mut page = bytes(mb);
        write_frame(&mut page, MailboxKind::Fork, 0, payload).expect("frame");
        mb.page.write(0, &page);
    }

    #[test]
    fn an_armed_page_holds_exactly_the_marker_the_host_decodes() {
        let mb = Mailbox::arm("app.config", "tok-1").expect("arm");
        let page = bytes(&mb);
        let m = decode_marker(&page).expect("a marker");
        assert_eq!(m.name.as_deref(), Some("app.config"));
        assert_eq!(m.token, "tok-1");
        assert!(!mb.poll());
        assert!(matches!(
            Mailbox::arm("bad name", "t"),
            Err(MailboxError::BadName(_))
        ));
        assert!(matches!(
            Mailbox::arm("a", " "),
            Err(MailboxError::BadToken { .. })
        ));
    }

    #[test]
    fn a_published_payload_is_read_reset_and_acked_to_its_port() {
        let mb = Mailbox::arm("app", "t").expect("arm");
        let host = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = host.local_addr().expect("addr").port();
        let payload = format!(r#"{{"db":"x","ack_port":{port}}}"#);
        publish(&mb, payload.as_bytes());
        assert!(mb.poll());
        let got = mb.payload().expect("payload");
        assert_eq!(got, payload.as_bytes());
        mb.reset();
        assert!(!mb.poll());
        let to = mb
            .ack_to(IpAddr::V4(Ipv4Addr::LOCALHOST), &got)
            .expect("ack");
        assert_eq!(to.map(|a| a.port()), Some(port));
        let mut buf = [0u8; 128];
        let (n, _) = host.recv_from(&mut buf).expect("recv");
        assert_eq!(&buf[..n], format_ack("app").as_bytes());
        assert!(
            mb.ack_to(IpAddr::V4(Ipv4Addr::LOCALHOST), b"{}")
                .expect("no ack")
                .is_none()
        );
    }

    #[test]
    fn frames_that_break_the_contract_are_refused() {
        let mb = Mailbox::arm("app", "t").expect("arm");
        let lk = usize::try_from(MailboxKind::Fork.len_offset()).unwrap_or(0);
        let too_long = u32::try_from(FORK_MAX_PAYLOAD + 1).unwrap_or(u32::MAX);
        mb.page.write(lk, &too_long.to_le_bytes());
        assert!(matches!(mb.payload(), Err(MailboxError::BadFrame { .. })));
        publish(&mb, b"{\"a\":\"\0\"}");
        assert!(matches!(mb.payload(), Err(MailboxError::BadFrame { .. })));
    }

    #[test]
    fn wait_finds_the_published_mailbox_and_times_out_otherwise() {
        let boxes = vec![
            Mailbox::arm("a", "t").expect("arm"),
            Mailbox::arm("b", "t").expect("arm"),
        ];
        let mut waker = Waker::new();
        assert_eq!(
            wait(&boxes, &mut waker, Some(Duration::from_millis(5))),
            None
        );
        publish(&boxes[1], b"{}");
        assert_eq!(wait(&boxes, &mut waker, None), Some(1));
        boxes[1].reset();
        boxes[0].reset();
        assert_eq!(wait(&boxes, &mut waker, Some(Duration::ZERO)), None);
        assert!(
            !waker.is_fast(),
            "every mailbox consumed: the fast phase ends"
        );
    }
}
