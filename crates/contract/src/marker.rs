//! Marker encode and decode: the identity bytes at the start of a mailbox.

use super::layout::*;

/// A marker decoded from memory. `problem` is set when the bytes start with a
/// magic but the identity breaks the contract's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedMarker {
    /// Fork or resume-network.
    pub kind: MailboxKind,
    /// Mailbox name (fork markers only). Lossy UTF-8 when invalid.
    pub name: Option<String>,
    /// Token, lossy UTF-8 when invalid.
    pub token: String,
    /// Why the marker is not usable, if it is not.
    pub problem: Option<String>,
}

impl DecodedMarker {
    /// Whether name and token follow the contract.
    pub fn is_valid(&self) -> bool {
        self.problem.is_none()
    }
}

/// Whether `name` follows `^[A-Za-z0-9._:-]{1,64}$`.
pub fn name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Why a fork token breaks the rules (1..=128 bytes, not all whitespace, no NUL).
pub fn token_problem(token: &str) -> Option<String> {
    if token.trim().is_empty() {
        Some("token is blank".into())
    } else if token.len() > MAX_TOKEN_LEN {
        Some(format!(
            "token is {} bytes, at most {MAX_TOKEN_LEN} allowed",
            token.len()
        ))
    } else if token.contains('\0') {
        Some("token contains a NUL byte".into())
    } else {
        None
    }
}

/// Marker bytes of a fork mailbox: magic, name, NUL, token (no NUL after).
pub fn encode_fork_marker(name: &str, token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(FORK_MAGIC.len() + name.len() + 1 + token.len());
    out.extend_from_slice(FORK_MAGIC);
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.extend_from_slice(token.as_bytes());
    out
}

/// Marker bytes of a resume-network mailbox: magic, token zero padded to 64.
pub fn encode_resume_network_marker(token: &str) -> Vec<u8> {
    let mut out = vec![0u8; RESUME_NETWORK_IDENTITY_END];
    out[..RESUME_NETWORK_MAGIC.len()].copy_from_slice(RESUME_NETWORK_MAGIC);
    let room = RESUME_NETWORK_IDENTITY_END - RESUME_NETWORK_MAGIC.len();
    let n = token.len().min(room);
    out[RESUME_NETWORK_MAGIC.len()..RESUME_NETWORK_MAGIC.len() + n]
        .copy_from_slice(&token.as_bytes()[..n]);
    out
}

/// Decode the marker that starts at `bytes[0]`. Returns `None` when the bytes
/// do not start with either magic. `bytes` should hold the whole mailbox
/// header (256 bytes for a fork marker) but may be shorter near end of file.
pub fn decode_marker(bytes: &[u8]) -> Option<DecodedMarker> {
    if bytes.starts_with(FORK_MAGIC) {
        Some(decode_fork(&bytes[FORK_MAGIC.len()..]))
    } else if bytes.starts_with(RESUME_NETWORK_MAGIC) {
        Some(decode_resume_network(&bytes[RESUME_NETWORK_MAGIC.len()..]))
    } else {
        None
    }
}

fn decode_fork(identity: &[u8]) -> DecodedMarker {
    // Everything before seq belongs to the identity.
    let limit = (FORK_IDENTITY_END - FORK_MAGIC.len()).min(identity.len());
    let identity = &identity[..limit];
    let mut problem = None;
    let (name_bytes, rest) = match memchr::memchr(0, identity) {
        Some(i) => (&identity[..i], &identity[i + 1..]),
        None => {
            problem = Some("name is not NUL terminated".to_string());
            (&identity[..identity.len().min(MAX_NAME_LEN + 1)], &[][..])
        }
    };
    let token_bytes = match memchr::memchr(0, rest) {
        Some(i) => &rest[..i],
        None => rest,
    };
    let name = String::from_utf8_lossy(name_bytes).into_owned();
    let token = String::from_utf8_lossy(token_bytes).into_owned();
    if problem.is_none() {
        if std::str::from_utf8(name_bytes).is_err() || !name_is_valid(&name) {
            problem = Some(format!(
                "name {:?} breaks the rule ^[A-Za-z0-9._:-]{{1,64}}$",
                truncate(&name, 80)
            ));
        } else if std::str::from_utf8(token_bytes).is_err() {
            problem = Some("token is not UTF-8".into());
        } else {
            problem = token_problem(&token);
        }
    }
    DecodedMarker {
        kind: MailboxKind::Fork,
        name: Some(name),
        token,
        problem,
    }
}

fn decode_resume_network(identity: &[u8]) -> DecodedMarker {
    let room = RESUME_NETWORK_IDENTITY_END - RESUME_NETWORK_MAGIC.len();
    let identity = &identity[..room.min(identity.len())];
    let end = memchr::memchr(0, identity).unwrap_or(identity.len());
    let token_bytes = &identity[..end];
    let token = String::from_utf8_lossy(token_bytes).into_owned();
    let problem = if token_bytes.is_empty() {
        Some("token is empty".into())
    } else if identity[end..].iter().any(|&b| b != 0) {
        Some("bytes after the token are not zero padding".into())
    } else if std::str::from_utf8(token_bytes).is_err() {
        Some("token is not UTF-8".into())
    } else {
        None
    };
    DecodedMarker {
        kind: MailboxKind::ResumeNetwork,
        name: None,
        token,
        problem,
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_with(marker: &[u8]) -> Vec<u8> {
        let mut page = vec![0u8; MAILBOX_SIZE];
        page[..marker.len()].copy_from_slice(marker);
        page
    }

    #[test]
    fn fork_magic_is_24_bytes_nul_included() {
        assert_eq!(FORK_MAGIC.len(), 24);
        assert_eq!(FORK_MAGIC[23], 0);
    }

    #[test]
    fn resume_network_magic_is_34_bytes_nul_included() {
        assert_eq!(RESUME_NETWORK_MAGIC.len(), 34);
        assert_eq!(RESUME_NETWORK_MAGIC[33], 0);
    }

    #[test]
    fn fork_identity_is_name_nul_token_without_trailing_nul() {
        let m = encode_fork_marker("app.config", "tok");
        assert_eq!(&m[24..], b"app.config\0tok");
        let d = decode_marker(&page_with(&m)).unwrap();
        assert_eq!(d.name.as_deref(), Some("app.config"));
        assert_eq!(d.token, "tok");
        assert!(d.is_valid());
    }

    #[test]
    fn resume_network_token_is_zero_padded_to_64() {
        let m = encode_resume_network_marker("net-token");
        assert_eq!(m.len(), 64);
        assert!(m[34 + 9..].iter().all(|&b| b == 0));
        let d = decode_marker(&page_with(&m)).unwrap();
        assert_eq!(d.kind, MailboxKind::ResumeNetwork);
        assert_eq!(d.token, "net-token");
        assert!(d.is_valid());
    }

    #[test]
    fn resume_network_token_is_1_to_30_bytes() {
        let ok = "x".repeat(30);
        assert!(
            decode_marker(&page_with(&encode_resume_network_marker(&ok)))
                .unwrap()
                .is_valid()
        );
        assert_eq!(
            RESUME_NETWORK_IDENTITY_END - RESUME_NETWORK_MAGIC.len(),
            RESUME_NETWORK_MAX_TOKEN_LEN
        );
        let mut garbage = encode_resume_network_marker("abc");
        garbage[40] = b'z';
        assert!(!decode_marker(&page_with(&garbage)).unwrap().is_valid());
        let empty = encode_resume_network_marker("");
        assert!(!decode_marker(&page_with(&empty)).unwrap().is_valid());
    }

    #[test]
    fn longest_marker_is_217_bytes_and_fits_before_seq() {
        assert_eq!(MAX_MARKER_LEN, 217);
        let m = encode_fork_marker(&"n".repeat(64), &"t".repeat(128));
        assert_eq!(m.len(), 217);
        assert!(m.len() < FORK_IDENTITY_END);
        assert!(decode_marker(&page_with(&m)).unwrap().is_valid());
    }

    #[test]
    fn name_rule_allows_only_the_contract_charset() {
        for good in ["a", "app.config", "A-b_c:d.9", &"x".repeat(64)] {
            assert!(name_is_valid(good), "{good}");
        }
        for bad in ["", "has space", "slash/", "ü", &"x".repeat(65), " trim"] {
            assert!(!name_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn name_is_compared_exactly_never_trimmed() {
        let d = decode_marker(&page_with(&encode_fork_marker(" app", "t"))).unwrap();
        assert!(
            !d.is_valid(),
            "a leading space is part of the name and breaks the rule"
        );
    }

    #[test]
    fn invalid_marker_is_reported_not_dropped() {
        let d = decode_marker(&page_with(&encode_fork_marker("bad name", "t"))).unwrap();
        assert_eq!(d.name.as_deref(), Some("bad name"));
        assert!(d.problem.unwrap().contains("breaks the rule"));
        let blank = decode_marker(&page_with(&encode_fork_marker("ok", "   "))).unwrap();
        assert_eq!(blank.problem.as_deref(), Some("token is blank"));
    }

    #[test]
    fn unknown_magic_is_not_a_marker() {
        assert!(decode_marker(b"HYPEMAN_SOMETHING_ELSE\0").is_none());
    }

    #[test]
    fn runtime_magic_equals_the_magic() {
        assert_eq!(runtime_magic(MailboxKind::Fork), FORK_MAGIC);
        assert_eq!(
            runtime_magic(MailboxKind::ResumeNetwork),
            RESUME_NETWORK_MAGIC
        );
    }
}
