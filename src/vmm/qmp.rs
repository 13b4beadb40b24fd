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
}

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
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io)?;
        let writer = stream.try_clone().map_err(io)?;
        let mut q = Qmp {
            path: path.to_owned(),
            reader: BufReader::new(stream),
            writer,
            events: Vec::new(),
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
        let _ = self.reader.get_ref().set_read_timeout(Some(timeout));
    }

    /// `migrate-set-capabilities x-ignore-shared=true`: RAM in a shared
    /// memory-backend-file is left out of (and not expected in) the stream.
    pub fn set_ignore_shared(&mut self) -> Result<(), QmpError> {
        self.execute(
            "migrate-set-capabilities",
            Some(json!({"capabilities": [{"capability": "x-ignore-shared", "state": true}]})),
        )?;
        Ok(())
    }

    /// Polls `query-migrate` until `completed`.
    pub fn wait_migration(&mut self, timeout: Duration) -> Result<(), QmpError> {
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
