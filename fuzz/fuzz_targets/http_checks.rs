//! `hotpack serve`'s checks of header bytes a client wrote (`Host`, an absolute-form target's
//! authority, `Authorization: Bearer`): `crates/hotpack-cli/src/serve/checks.rs`, compiled in
//! as it is (the CLI itself pulls tokio, hyper and clap).
//!
//! Input: one flag byte (bit 0: the request has an absolute-form target; bits 1-3: how many
//! `Host` headers; bit 4: an `Authorization` header), then `\n`-separated fields in that order,
//! then the server's token. Beyond "no panic" it asserts that what is accepted is one `Host`
//! value that the `http` crate (hyper's) reads as an authority with the same host, carrying no
//! user info, naming localhost, the bound address or an allowed name, and equal to the
//! target's authority when there is one; that a token is accepted only when it is exactly the
//! server's; and that the constant-time comparison is equality.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/hotpack-cli/src/serve/checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};

const ALLOWED: &str = "Hotpack.Example";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut fields = rest.split(|&b| b == b'\n');
    let target = if flags & 1 != 0 { fields.next() } else { None };
    let hosts: Vec<&[u8]> = (0..(flags >> 1) & 7).map_while(|_| fields.next()).collect();
    let authorization = if flags & 16 != 0 { fields.next() } else { None };
    let token = fields.next().unwrap_or(b"a-token-of-thirty-two-characters");

    let allow = [ALLOWED.to_owned()];
    let bound = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let names = checks::Names { bound, allow_hosts: &allow };
    // hyper hands over a target's authority as text; one that is not UTF-8 never reaches us.
    let target = target.and_then(|t| std::str::from_utf8(t).ok());
    let verdict = checks::check_host(&hosts, target, names);
    if hosts.len() != 1 {
        assert_eq!(verdict, Err(checks::HostRefusal::Count(hosts.len())));
    }
    if verdict.is_ok() {
        let host = std::str::from_utf8(hosts[0]).expect("an accepted Host is UTF-8");
        let (name, _) = checks::host_name(hosts[0]).expect("an accepted Host has a name");
        assert!(!host.contains(['@', '/', '?', '#', ' ', '\t', '\r', '\\']), "accepted {host:?}");
        let authority: http::uri::Authority = host.parse().unwrap_or_else(|e| panic!("http refuses accepted Host {host:?}: {e}"));
        assert_eq!(authority.host().trim_start_matches('[').trim_end_matches(']'), name, "Host {host:?}");
        let port = host.strip_prefix(&format!("[{name}]")).or_else(|| host.strip_prefix(name)).expect("Host starts with its name");
        assert_eq!(port.strip_prefix(':').map(str::to_owned), authority.port().map(|p| p.as_str().to_owned()), "Host {host:?}");
        assert!(
            name.eq_ignore_ascii_case("localhost")
                || name.eq_ignore_ascii_case(ALLOWED)
                || name.parse::<IpAddr>().is_ok_and(|ip| ip == bound),
            "accepted a name this server does not answer to: {host:?}"
        );
        if let Some(target) = target {
            // The same name and port, a missing port being 80.
            let t: http::uri::Authority =
                target.parse().unwrap_or_else(|e| panic!("http refuses accepted target {target:?}: {e}"));
            assert!(t.host().eq_ignore_ascii_case(authority.host()), "target {target:?} vs Host {host:?}");
            assert_eq!(t.port_u16().unwrap_or(80), authority.port_u16().unwrap_or(80), "target {target:?} vs Host {host:?}");
        }
    }

    let matched = checks::bearer_matches(authorization, token);
    let expected = authorization.and_then(|a| a.strip_prefix(b"Bearer ")).map(<[u8]>::trim_ascii) == Some(token);
    assert_eq!(matched, expected);
    if let Some(a) = authorization {
        assert_eq!(checks::constant_time_eq(a, token), a == token);
    }
});
