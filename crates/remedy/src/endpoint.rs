//! Where Autonomic connects to, checked when the configuration is: a `host:port` target or
//! a URL (a scrape or probe target, a webhook) must name a host that can exist and a port
//! from 1 to 65535, so that `check` refuses what `run` could only fail on, over and over.
//! URLs are parsed by the `url` crate (reqwest's, the one that sends the requests).

use std::net::{Ipv4Addr, Ipv6Addr};

use model::excerpt;
use reqwest::Url;

/// The longest host name DNS allows, in bytes (RFC 1035, without the final dot).
pub const MAX_HOST_NAME: usize = 253;

/// The longest label of a host name DNS allows, in bytes.
pub const MAX_HOST_LABEL: usize = 63;

/// Checks a URL: it parses, names a valid host (a DNS name or an IP address) and, when it
/// has one, a port from 1 to 65535. The scheme is the caller's to check.
pub fn check_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a valid URL: {e}"))?;
    match url.host_str() {
        None | Some("") => return Err("the URL names no host".into()),
        // IPv6 addresses come back in brackets; IPv4 ones are already checked by the parser.
        Some(host) if host.starts_with('[') || host.parse::<Ipv4Addr>().is_ok() => {}
        Some(name) => check_host_name(name)?,
    }
    if url.port() == Some(0) {
        return Err("port 0 is not a port to connect to; ports are 1 to 65535".into());
    }
    Ok(url)
}

/// Checks a `host:port` target: a DNS name, an IPv4 address or an IPv6 address in
/// brackets, then a port from 1 to 65535.
pub fn check_host_port(text: &str) -> Result<(), String> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err("expected host:port".into());
    };
    match port.parse::<u16>() {
        Ok(0) => return Err("port 0 is not a port to connect to; ports are 1 to 65535".into()),
        Ok(_) => {}
        Err(_) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(format!("port {} is out of range; ports are 1 to 65535", excerpt(port)));
        }
        Err(_) => return Err(format!("expected host:port with a port from 1 to 65535, got port {:?}", excerpt(port))),
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("{:?} is not an IPv6 address", excerpt(inner)));
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if host.contains(':') {
        return Err("an IPv6 address goes in brackets: [::1]:9090".into());
    }
    check_host_name(host)
}

/// Checks a DNS host name: labels of letters, digits, `-` and `_`, each 1 to 63 bytes, at
/// most 253 bytes in all (a final dot aside).
pub fn check_host_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err("the host name is empty".into());
    }
    if bare.len() > MAX_HOST_NAME {
        return Err(format!("a host name has at most {MAX_HOST_NAME} bytes, this one {}", bare.len()));
    }
    for label in bare.split('.') {
        if label.is_empty() || label.len() > MAX_HOST_LABEL {
            return Err(format!(
                "host name {:?}: each dot-separated part has 1 to {MAX_HOST_LABEL} characters",
                excerpt(name)
            ));
        }
        if let Some(bad) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            return Err(format!(
                "host name {:?} has the character {bad:?}; expected letters, digits, '-', '_' and '.', \
                 or an IP address",
                excerpt(name)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_need_a_real_host_and_a_port_in_range() {
        for good in ["127.0.0.1:80", "10.0.0.7:8080", "db.internal:5432", "[::1]:9090", "my_host:1", "a:65535"] {
            assert_eq!(check_host_port(good), Ok(()), "{good}");
        }
        let cases = [
            ("127.0.0.1:70000", "out of range"),
            ("127.0.0.1:0", "port 0"),
            ("127.0.0.1", "expected host:port"),
            ("127.0.0.1:http", "expected host:port with a port"),
            ("my host:80", "has the character ' '"),
            (":80", "empty"),
            ("::1:80", "in brackets"),
            ("[nope]:80", "not an IPv6 address"),
            ("a..b:80", "1 to 63"),
        ];
        for (bad, why) in cases {
            let err = check_host_port(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
        let long = format!("{}:80", vec!["a".repeat(60); 5].join("."));
        assert!(check_host_port(&long).expect_err("too long").contains("at most 253 bytes"));
    }

    #[test]
    fn urls_need_a_real_host_and_a_port_in_range() {
        for good in ["http://127.0.0.1:9/hook", "https://pager.example.com/x?y=1", "tcp://127.0.0.1:5", "http://[::1]/"]
        {
            assert!(check_url(good).is_ok(), "{good}: {:?}", check_url(good));
        }
        let cases = [
            ("http://127.0.0.1:70000/", "invalid port"),
            ("http://127.0.0.1:0/", "port 0"),
            ("http://my host/", "not a valid URL"),
            ("tcp://my host:5", "not a valid URL"),
            ("http://:80/", "empty host"),
            ("tcp:/no-authority", "no host"),
            ("nonsense", "not a valid URL"),
        ];
        for (bad, why) in cases {
            let err = check_url(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_huge_value_is_quoted_as_an_excerpt() {
        let err = check_host_port(&format!("{}:80", "h ".repeat(1 << 19))).expect_err("spaces");
        assert!(err.len() < 300, "{} bytes", err.len());
    }
}
