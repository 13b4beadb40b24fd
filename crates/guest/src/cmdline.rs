//! How a real VM learns its mailboxes: kernel command line parameters
//! `forkmail.mailbox=NAME:TOKEN`, one per mailbox. Names are already
//! command-line safe (`[A-Za-z0-9._:-]`); the token is percent-encoded
//! (everything but `[A-Za-z0-9._~-]`), so it never holds a space or a `:`
//! and the split is at the last `:`.

use std::net::Ipv4Addr;

/// The kernel parameter.
pub const MAILBOX_PARAM: &str = "forkmail.mailbox";

/// `forkmail.mailbox=NAME:TOKEN` for the kernel command line.
pub fn encode_mailbox_param(name: &str, token: &str) -> String {
    let mut out = format!("{MAILBOX_PARAM}={name}:");
    for b in token.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("truncated %-escape in {text:?}"))?;
            // Two hex digits, nothing else (`from_str_radix` alone takes a
            // sign: `%+F`); and no NUL, which would end the token early.
            let b = hex
                .bytes()
                .all(|c| c.is_ascii_hexdigit())
                .then(|| u8::from_str_radix(hex, 16).ok())
                .flatten()
                .filter(|b| *b != 0)
                .ok_or_else(|| format!("bad %-escape %{hex} in {text:?}"))?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("token in {text:?} is not UTF-8"))
}

/// Every `(name, token)` named on a kernel command line, in order.
pub fn parse_mailbox_params(cmdline: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for word in cmdline.split_ascii_whitespace() {
        let Some(value) = word
            .strip_prefix(MAILBOX_PARAM)
            .and_then(|r| r.strip_prefix('='))
        else {
            continue;
        };
        let (name, token) = value
            .rsplit_once(':')
            .ok_or_else(|| format!("{word:?}: expected {MAILBOX_PARAM}=NAME:TOKEN"))?;
        let token = percent_decode(token)?;
        // Lengths are refused here, as the C and Go libraries do; the other
        // rules when arming (`Mailbox::arm` says which).
        if name.len() > forkmail_contract::MAX_NAME_LEN {
            return Err(format!(
                "{word:?}: the name is longer than {} bytes",
                forkmail_contract::MAX_NAME_LEN
            ));
        }
        if token.len() > forkmail_contract::MAX_TOKEN_LEN {
            return Err(format!(
                "{word:?}: the token is longer than {} bytes",
                forkmail_contract::MAX_TOKEN_LEN
            ));
        }
        out.push((name.to_owned(), token));
    }
    Ok(out)
}

/// The default IPv4 gateway in `/proc/net/route` text.
pub fn default_gateway(route: &str) -> Option<Ipv4Addr> {
    for line in route.lines().skip(1) {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() > 2 && f[1] == "00000000" {
            let g = u32::from_str_radix(f[2], 16).ok()?;
            // A default route with no gateway (`00000000`): nobody to ack to.
            if g == 0 {
                return None;
            }
            // The kernel prints the address in host (little-endian) order.
            return Some(Ipv4Addr::from(g.to_le_bytes()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip_awkward_names_and_tokens() {
        let cases = [
            ("app", "tok1"),
            ("a:b.c", "with space:and%colon\"quote"),
            ("x", "ünïcode"),
        ];
        let line: Vec<String> = cases
            .iter()
            .map(|(n, t)| encode_mailbox_param(n, t))
            .collect();
        let cmdline = format!("console=ttyS0 quiet {} other.param=1", line.join(" "));
        assert!(!line.iter().any(|w| w.contains(' ')));
        let got = parse_mailbox_params(&cmdline).unwrap();
        let want: Vec<(String, String)> = cases
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        assert_eq!(got, want);
        assert!(parse_mailbox_params("forkmail.mailbox=nocolon").is_err());
        assert!(parse_mailbox_params("forkmail.mailbox=a:%4").is_err());
        // The same refusals as the C and Go libraries.
        assert!(parse_mailbox_params("forkmail.mailbox=a:%+F").is_err());
        assert!(parse_mailbox_params("forkmail.mailbox=a:x%00y").is_err());
        let long = format!("forkmail.mailbox={}:t", "n".repeat(65));
        assert!(parse_mailbox_params(&long).is_err());
    }

    #[test]
    fn gateway_is_read_from_proc_net_route() {
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(default_gateway(route), Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(default_gateway("Iface\n"), None);
        let direct = "Iface\tDestination\tGateway\n eth0\t00000000\t00000000\t0001\n";
        assert_eq!(default_gateway(direct), None);
    }
}
