//! A small synchronous QMP (QEMU Machine Protocol) client over a unix socket:
//! one JSON object per line, commands answered by `return` or `error`,
//! asynchronous events in between (kept, not interpreted).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Errors of a QMP conversation.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)]
pub enum QmpError {
    #[error("QMP socket {path} did not accept a connection within {waited:?}: {source}")]
    Connect {
        path: PathBuf,
        waited: Duration,
        source: std::io::Error,
    },
    #[error("QMP I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("QMP on {path}: connection closed by QEMU (did it exit?)")]
    Closed { path: PathBuf },
    #[error("QMP on {path}: unparsable message {line:?}: {source}")]
    Parse {
        path: PathBuf,
        line: String,
        source: serde_json::Error,
    },
    #[error("QMP command {command} failed: {class}: {desc}")]
    Command {
        command: String,
        class: String,
        desc: String,
    },
    #[error("QMP: migration ended with status {status:?}{}", error.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    Migration {
        status: String,
        error: Option<String>,
    },
    #[error("QMP: migration did not complete within {0:?}")]
    MigrationTimeout(Duration),
}

/// A connected, negotiated QMP session.
pub struct Qmp {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// Asynchronous events received while waiting for command replies.
    pub events: Vec<Value>,
    /// `events` capability on: migration state changes come as events.
    migration_events: bool,
    /// The read timeout for replies.
    timeout: Duration,
}

/// How long a command's reply may take (see [`Qmp::set_timeout`]).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

impl Qmp {
    /// Connects (retrying until `timeout` while the socket does not exist yet), reads the
    /// greeting and negotiates capabilities. `alive` is polled between retries so a QEMU that
    /// died during start-up is reported at once.
    pub fn connect(
        path: &Path,
        timeout: Duration,
        mut alive: impl FnMut() -> bool,
    ) -> Result<Self, QmpError> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) => {
                    if start.elapsed() >= timeout || !alive() {
                        return Err(QmpError::Connect {
                            path: path.to_owned(),
                            waited: start.elapsed(),
                            source: e,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        };
        let io = |source| QmpError::Io {
            path: path.to_owned(),
            source,
        };
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(io)?;
        let writer = stream.try_clone().map_err(io)?;
        let mut q = Qmp {
            path: path.to_owned(),
            reader: BufReader::new(stream),
            writer,
            events: Vec::new(),
            migration_events: false,
            timeout: REPLY_TIMEOUT,
        };
        let greeting = q.read_msg()?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Command {
                command: "greeting".into(),
                class: "Protocol".into(),
                desc: format!("unexpected greeting {greeting}"),
            });
        }
        q.execute("qmp_capabilities", None)?;
        Ok(q)
    }

    fn read_msg(&mut self) -> Result<Value, QmpError> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|source| QmpError::Io {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Err(QmpError::Closed {
                path: self.path.clone(),
            });
        }
        serde_json::from_str(&line).map_err(|source| QmpError::Parse {
            path: self.path.clone(),
            line: line.trim_end().to_owned(),
            source,
        })
    }

    /// Runs one command and returns its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(b'\n');
        self.writer
            .write_all(&bytes)
            .map_err(|source| QmpError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.reply(command)
    }

    /// Reads up to `command`'s reply, keeping events that come first.
    fn reply(&mut self, command: &str) -> Result<Value, QmpError> {
        loop {
            let m = self.read_msg()?;
            if let Some(r) = m.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = m.get("error") {
                return Err(QmpError::Command {
                    command: command.to_owned(),
                    class: e
                        .get("class")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned(),
                    desc: e
                        .get("desc")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned(),
                });
            }
            self.events.push(m);
        }
    }

    /// Read timeout for replies (default 30 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        let _ = self.reader.get_ref().set_read_timeout(Some(timeout));
    }

    /// `migrate-set-capabilities`: `x-ignore-shared` (RAM in a shared
    /// memory-backend-file is left out of, and not expected in, the
    /// stream) and `events` (QEMU announces every migration state change,
    /// so [`Qmp::wait_migration`] waits on an event instead of polling).
    pub fn set_ignore_shared(&mut self) -> Result<(), QmpError> {
        self.execute(
            "migrate-set-capabilities",
            Some(json!({"capabilities": [
                {"capability": "x-ignore-shared", "state": true},
                {"capability": "events", "state": true},
            ]})),
        )?;
        self.migration_events = true;
        Ok(())
    }

    /// Hand QEMU an open file under `name` (`getfd`, the descriptor sent
    /// with the command as `SCM_RIGHTS`): a migration URI `fd:NAME` then
    /// reads it, with no shell and no `cat` started.
    pub fn send_fd(&mut self, name: &str, fd: std::os::fd::BorrowedFd<'_>) -> Result<(), QmpError> {
        let mut bytes = json!({"execute": "getfd", "arguments": {"fdname": name}})
            .to_string()
            .into_bytes();
        bytes.push(b'\n');
        send_with_fd(&self.writer, &bytes, fd).map_err(|source| QmpError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.reply("getfd").map(|_| ())
    }

    /// Waits until the migration completed: on its `MIGRATION` event when
    /// [`Qmp::set_ignore_shared`] turned events on, else by polling
    /// `query-migrate`.
    pub fn wait_migration(&mut self, timeout: Duration) -> Result<(), QmpError> {
        if !self.migration_events {
            return self.poll_migration(timeout);
        }
        let start = Instant::now();
        let mut seen = std::mem::take(&mut self.events).into_iter();
        loop {
            let m = match seen.next() {
                Some(m) => m,
                None => {
                    let left = timeout.saturating_sub(start.elapsed());
                    if left.is_zero() {
                        return Err(QmpError::MigrationTimeout(timeout));
                    }
                    let _ = self.reader.get_ref().set_read_timeout(Some(left));
                    let m = self.read_msg();
                    let _ = self.reader.get_ref().set_read_timeout(Some(self.timeout));
                    match m {
                        Err(QmpError::Io { source, .. })
                            if matches!(
                                source.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            return Err(QmpError::MigrationTimeout(timeout));
                        }
                        other => other?,
                    }
                }
            };
            if m.get("event").and_then(Value::as_str) != Some("MIGRATION") {
                self.events.push(m);
                continue;
            }
            let status = m
                .pointer("/data/status")
                .and_then(Value::as_str)
                .unwrap_or("");
            match status {
                "completed" => {
                    self.events.extend(seen);
                    return Ok(());
                }
                "failed" | "cancelled" => {
                    self.events.extend(seen);
                    // The event carries no reason; query-migrate may.
                    let error = self.execute("query-migrate", None).ok().and_then(|r| {
                        r.get("error-desc")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    });
                    return Err(QmpError::Migration {
                        status: status.to_owned(),
                        error,
                    });
                }
                _ => {}
            }
        }
    }

    /// Polls `query-migrate` until `completed`.
    fn poll_migration(&mut self, timeout: Duration) -> Result<(), QmpError> {
        let start = Instant::now();
        loop {
            let r = self.execute("query-migrate", None)?;
            let status = r.get("status").and_then(Value::as_str).unwrap_or("");
            match status {
                "completed" => return Ok(()),
                "failed" | "cancelled" => {
                    return Err(QmpError::Migration {
                        status: status.to_owned(),
                        error: r
                            .get("error-desc")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    });
                }
                _ => {}
            }
            if start.elapsed() > timeout {
                return Err(QmpError::MigrationTimeout(timeout));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}

/// Write `bytes` to the socket with `fd` attached (`SCM_RIGHTS`).
fn send_with_fd(
    socket: &UnixStream,
    bytes: &[u8],
    fd: std::os::fd::BorrowedFd<'_>,
) -> std::io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other(
            "no room for the descriptor in the control message",
        ));
    }
    let n = rustix::net::sendmsg(
        socket,
        &[std::io::IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    if n < bytes.len() {
        // The descriptor went with the first byte; the rest is plain data.
        let mut w = socket;
        w.write_all(&bytes[n..])?;
    }
    Ok(())
}

impl crate::error::Kinded for QmpError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::VmmFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixListener;

    /// A QMP server on a real socket: greets, accepts capabilities, then
    /// runs `rest` on the connection.
    fn server(
        rest: impl FnOnce(&mut BufReader<UnixStream>, &mut UnixStream) + Send + 'static,
    ) -> (tempfile::TempDir, PathBuf, std::thread::JoinHandle<()>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            w.write_all(b"{\"QMP\": {\"version\": {}}}\n").unwrap();
            assert_eq!(command(&mut r)["execute"], "qmp_capabilities");
            w.write_all(b"{\"return\": {}}\n").unwrap();
            rest(&mut r, &mut w);
        });
        (dir, path, t)
    }

    fn command(r: &mut BufReader<UnixStream>) -> Value {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }

    fn event(status: &str) -> String {
        format!("{{\"event\": \"MIGRATION\", \"data\": {{\"status\": \"{status}\"}}}}\n")
    }

    #[test]
    fn the_migration_is_awaited_on_its_events_without_polling() {
        let (_d, path, t) = server(|r, w| {
            let caps = command(r);
            let names: Vec<&str> = caps["arguments"]["capabilities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["capability"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["x-ignore-shared", "events"]);
            w.write_all(b"{\"return\": {}}\n").unwrap();
            assert_eq!(command(r)["execute"], "migrate-incoming");
            // An event before the reply, others after it, one unrelated.
            w.write_all(event("setup").as_bytes()).unwrap();
            w.write_all(b"{\"return\": {}}\n").unwrap();
            w.write_all(b"{\"event\": \"STOP\"}\n").unwrap();
            w.write_all(event("active").as_bytes()).unwrap();
            w.write_all(event("completed").as_bytes()).unwrap();
            // Nothing else is asked (no query-migrate) before cont.
            assert_eq!(command(r)["execute"], "cont");
            w.write_all(b"{\"return\": {}}\n").unwrap();
        });
        let mut q = Qmp::connect(&path, Duration::from_secs(5), || true).unwrap();
        q.set_ignore_shared().unwrap();
        q.execute("migrate-incoming", Some(json!({"uri": "fd:state"})))
            .unwrap();
        q.wait_migration(Duration::from_secs(10)).unwrap();
        assert!(
            q.events.iter().any(|e| e["event"] == "STOP"),
            "other events are kept: {:?}",
            q.events
        );
        q.execute("cont", None).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn a_failed_migration_reports_why_and_a_silent_one_times_out() {
        let (_d, path, t) = server(|r, w| {
            command(r);
            w.write_all(b"{\"return\": {}}\n").unwrap();
            w.write_all(event("failed").as_bytes()).unwrap();
            assert_eq!(command(r)["execute"], "query-migrate");
            w.write_all(
                b"{\"return\": {\"status\": \"failed\", \"error-desc\": \"bad section\"}}\n",
            )
            .unwrap();
            // Then silence until the client gives up and hangs up.
            let mut rest = String::new();
            let _ = r.read_line(&mut rest);
        });
        let mut q = Qmp::connect(&path, Duration::from_secs(5), || true).unwrap();
        q.set_ignore_shared().unwrap();
        match q.wait_migration(Duration::from_secs(10)) {
            Err(QmpError::Migration { status, error }) => {
                assert_eq!(status, "failed");
                assert_eq!(error.as_deref(), Some("bad section"));
            }
            other => panic!("expected a failed migration, got {other:?}"),
        }
        assert!(matches!(
            q.wait_migration(Duration::from_millis(50)),
            Err(QmpError::MigrationTimeout(_))
        ));
        drop(q);
        t.join().unwrap();
    }

    #[test]
    fn a_file_is_handed_over_with_getfd() {
        let (_d, path, t) = server(|r, w| {
            // The command arrives with the descriptor attached.
            use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
            let mut buf = [0u8; 256];
            let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let got = rustix::net::recvmsg(
                r.get_ref(),
                &mut [std::io::IoSliceMut::new(&mut buf)],
                &mut control,
                RecvFlags::empty(),
            )
            .unwrap();
            assert!(got.bytes > 0);
            let cmd: Value = serde_json::from_slice(&buf[..got.bytes]).unwrap();
            assert_eq!(cmd["execute"], "getfd");
            assert_eq!(cmd["arguments"]["fdname"], "state");
            let mut fds: Vec<OwnedFd> = control
                .drain()
                .flat_map(|m| match m {
                    RecvAncillaryMessage::ScmRights(fds) => fds.collect(),
                    _ => Vec::new(),
                })
                .collect();
            assert_eq!(fds.len(), 1, "one descriptor, in an SCM_RIGHTS message");
            let fd = fds.remove(0);
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text).unwrap();
            assert_eq!(text, "device state");
            w.write_all(b"{\"return\": {}}\n").unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state");
        std::fs::write(&file, "device state").unwrap();
        let f = std::fs::File::open(&file).unwrap();
        let mut q = Qmp::connect(&path, Duration::from_secs(5), || true).unwrap();
        q.send_fd("state", std::os::fd::AsFd::as_fd(&f)).unwrap();
        t.join().unwrap();
    }
}
