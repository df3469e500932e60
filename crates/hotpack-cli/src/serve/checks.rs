//! The two checks `serve` makes on header bytes a client wrote, before any route runs: the
//! `Host` header (and an absolute-form target's authority) against the names this server
//! answers to, and the bearer token. Pure functions of bytes, on std alone, so the fuzz target
//! `fuzz/fuzz_targets/http_checks.rs` compiles this file in as it is (docs/FUZZING.md).

use std::net::IpAddr;

/// Why a request's `Host` was refused (the words of the 421 are `http.rs`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostRefusal {
    /// Not exactly one `Host` header: this many.
    Count(usize),
    /// The one `Host` value is not `uri-host [ ":" port ]` as [`host_name`] reads it.
    Malformed,
    /// An absolute-form request target names another authority than `Host`.
    TargetDisagrees,
    /// Well formed, but not a name this server answers to.
    NotAllowed,
}

/// The names a server answers to: its bound address, `localhost`, and `--allow-host` names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Names<'a> {
    pub(crate) bound: IpAddr,
    pub(crate) allow_hosts: &'a [String],
}

/// Exactly one `Host` header (`hosts` holds every one the request has), well formed (`name`,
/// `name:port`, `[v6]` or `[v6]:port`, and nothing else: no user info, no path, no second
/// port), naming the bound address, `localhost`, or an allowed name; an absolute-form target
/// (`POST http://a/b`, whose authority is `target`) must name the same authority.
pub(crate) fn check_host(hosts: &[&[u8]], target: Option<&str>, names: Names<'_>) -> Result<(), HostRefusal> {
    let [host] = hosts else { return Err(HostRefusal::Count(hosts.len())) };
    let (name, port) = host_name(host).ok_or(HostRefusal::Malformed)?;
    // RFC 9112 3.2.2: the target's authority wins over Host; they must agree here: the same
    // name and the same port, a missing port being http's 80 (this server speaks plain HTTP),
    // so `http://localhost/` with `Host: localhost:80` agrees.
    if let Some(authority) = target {
        let agrees = host_name(authority.as_bytes())
            .is_some_and(|(n, p)| n.eq_ignore_ascii_case(name) && p.unwrap_or(80) == port.unwrap_or(80));
        if !agrees {
            return Err(HostRefusal::TargetDisagrees);
        }
    }
    let allowed = name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip == names.bound)
        || names.allow_hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(name));
    if allowed { Ok(()) } else { Err(HostRefusal::NotAllowed) }
}

/// The name and port of a well-formed `Host` value (RFC 9110 7.2: `uri-host [ ":" port ]`), or `None`.
/// A name is a bracketed IPv6 address, or letters, digits, `-` and `.` (a DNS name or IPv4);
/// a port is 1 to 5 digits, at most 65535.
pub(crate) fn host_name(value: &[u8]) -> Option<(&str, Option<u16>)> {
    let value = std::str::from_utf8(value).ok()?;
    let (name, port) = match value.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']')?;
            v6.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?),
            };
            (v6, port)
        }
        None => match value.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (value, None),
        },
    };
    // A port is a number a socket can have: 1 to 5 digits, at most 65535 (`80800` is not a
    // port; the http crate reads such an authority as having none).
    let port = match port {
        None => None,
        Some(p) if (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse::<u16>().ok()?),
        Some(_) => return None,
    };
    let name_ok = value.starts_with('[')
        || (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    name_ok.then_some((name, port))
}

/// Whether an `Authorization` header value (`None`: no header) carries exactly the token
/// `expected`: `Bearer ` then the token, surrounding ASCII whitespace ignored.
pub(crate) fn bearer_matches(header: Option<&[u8]>, expected: &[u8]) -> bool {
    header
        .and_then(|v| v.strip_prefix(b"Bearer "))
        .map(<[u8]>::trim_ascii)
        .is_some_and(|given| constant_time_eq(given, expected))
}

/// Compares without an early exit, so the time taken does not tell how much of a guess was
/// right (the length is not secret).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(hosts: &[&str], target: Option<&str>) -> Result<(), HostRefusal> {
        let allow = ["plugins.example".to_owned()];
        let names = Names { bound: IpAddr::from([127, 0, 0, 1]), allow_hosts: &allow };
        let hosts: Vec<&[u8]> = hosts.iter().map(|h| h.as_bytes()).collect();
        check_host(&hosts, target, names)
    }

    #[test]
    fn the_host_check_takes_exactly_the_names_it_answers_to() {
        for ok in ["127.0.0.1", "127.0.0.1:8080", "localhost:65535", "localhost", "LOCALHOST:1", "plugins.example:443"]
        {
            assert_eq!(check(&[ok], None), Ok(()), "{ok}");
        }
        assert_eq!(check(&["127.0.0.1:80"], Some("127.0.0.1:80")), Ok(()));
        assert_eq!(check(&[], None), Err(HostRefusal::Count(0)));
        assert_eq!(check(&["localhost", "localhost"], None), Err(HostRefusal::Count(2)));
        for bad in [
            "127.0.0.1:8080@evil.example",
            "localhost:80:80",
            "localhost/x",
            "",
            ":80",
            "localhost:",
            "[::1",
            "a b",
            "localhost:80800",
            "localhost:65536",
        ] {
            assert_eq!(check(&[bad], None), Err(HostRefusal::Malformed), "{bad}");
        }
        assert_eq!(check(&["localhost"], Some("evil.example")), Err(HostRefusal::TargetDisagrees));
        // A missing port is http's 80, on either side; any other port must be the same.
        assert_eq!(check(&["localhost:80"], Some("localhost")), Ok(()));
        assert_eq!(check(&["LOCALHOST"], Some("localhost:80")), Ok(()));
        assert_eq!(check(&["localhost:8080"], Some("localhost")), Err(HostRefusal::TargetDisagrees));
        assert_eq!(check(&["localhost:8080"], Some("localhost:8081")), Err(HostRefusal::TargetDisagrees));
        assert_eq!(check(&["localhost"], Some("user@localhost")), Err(HostRefusal::TargetDisagrees));
        assert_eq!(check(&["evil.example"], None), Err(HostRefusal::NotAllowed));
        assert_eq!(check(&["[::1]:80"], None), Err(HostRefusal::NotAllowed), "bound to 127.0.0.1, not ::1");
    }

    #[test]
    fn a_token_matches_only_itself_after_bearer() {
        let token = b"0123456789abcdef0123456789abcdef";
        assert!(bearer_matches(Some(b"Bearer 0123456789abcdef0123456789abcdef"), token));
        assert!(bearer_matches(Some(b"Bearer  0123456789abcdef0123456789abcdef \t"), token));
        assert!(!bearer_matches(None, token));
        assert!(!bearer_matches(Some(b"bearer 0123456789abcdef0123456789abcdef"), token));
        assert!(!bearer_matches(Some(b"Bearer 0123456789abcdef0123456789abcdeF"), token));
        assert!(!bearer_matches(Some(b"Bearer 0123456789abcdef0123456789abcde"), token));
    }
}
