//! Base URLs: checked for shape, and whether a key may be sent to them (https, or http to a
//! loopback host only).

use std::net::{IpAddr, Ipv6Addr};

/// A checked base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    /// The URL without a trailing slash.
    pub url: String,
    /// The host, without brackets.
    pub host: String,
    /// `https://`.
    pub https: bool,
}

impl BaseUrl {
    /// Whether the host is this machine for sure (see [`is_loopback_host`]).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }

    /// Whether a key may be sent to this URL: https, or http to a loopback host.
    pub fn may_carry_key(&self) -> bool {
        self.https || self.is_loopback()
    }
}

/// Whether `host` (brackets around an IPv6 address allowed) is this machine for sure,
/// without asking a resolver: an IP literal in 127.0.0.0/8, the IP literal `::1`, or the
/// name `localhost` itself (any case).
///
/// Plain http may carry a key only to such a host, so nothing here may depend on what a
/// resolver answers:
/// - `localhost` is accepted as that literal name only: RFC 6761 §6.3 reserves it for the
///   loopback address and has resolvers answer it so (and rota's HTTP client pins it to
///   127.0.0.1 and ::1, so no resolver is asked at all).
/// - Names under it (`foo.localhost`) are reserved too, but many resolvers pass them on to
///   DNS, where whoever answers decides; `localhost.` (an absolute name, which skips the
///   hosts file on some systems), `localhost.evil.com` and `127.0.0.1.nip.io` are ordinary
///   names that may resolve anywhere. None of them is loopback.
/// - IPv6 forms of an IPv4 address (`::ffff:127.0.0.1`, `[::ffff:7f00:1]`, `::127.0.0.1`)
///   are refused: whether they reach 127.0.0.1 depends on the system's dual-stack setup.
///   Write `127.0.0.1`.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match h.parse::<IpAddr>() {
        Ok(ip) => is_loopback_ip(ip),
        Err(_) => h.eq_ignore_ascii_case("localhost"),
    }
}

/// Whether `ip` is 127.0.0.0/8 or `::1` (see [`is_loopback_host`]).
pub fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

/// A base URL as a message may show it: user info, query and fragment (where people put
/// credentials) replaced by `…`, and any word that looks like an API key masked.
pub fn shown(text: &str) -> String {
    let t = text.trim();
    let (mut out, cut) = match t.find(['?', '#']) {
        Some(i) => (t[..i].to_string(), true),
        None => (t.to_string(), false),
    };
    let after_scheme = out.find("://").map_or(0, |i| i + 3);
    let authority_end = out[after_scheme..]
        .find('/')
        .map_or(out.len(), |i| after_scheme + i);
    if let Some(at) = out[after_scheme..authority_end].rfind('@') {
        out.replace_range(after_scheme..after_scheme + at, "…");
    }
    if cut {
        out.push('…');
    }
    crate::secret::mask_keys(&out)
}

/// Checks a base URL: `http://` or `https://`, a host, an optional port, an optional path,
/// no query or fragment. The error says what is wrong, never showing the URL's user info,
/// query or anything that looks like a key (see [`shown`]).
pub fn parse_base_url(text: &str) -> Result<BaseUrl, String> {
    let t = text.trim();
    let shown = shown(t);
    let (https, rest) = if let Some(r) = t.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = t.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("`{shown}` is not an http(s) URL"));
    };
    if t.contains(['?', '#', ' ']) {
        return Err(format!(
            "`{shown}` must not contain a query, fragment or space"
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "`{shown}` must not contain user info; put keys in `keys`"
        ));
    }
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        match r.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err(format!("`{shown}` has an unclosed [ in its host")),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{shown}` has no host"));
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(format!("`{shown}` has an invalid host `{host}`"));
    }
    if let Some(p) = port
        && p.parse::<u16>().is_err()
    {
        return Err(format!("`{shown}` has an invalid port `{p}`"));
    }
    Ok(BaseUrl {
        url: t.trim_end_matches('/').to_string(),
        host: host.to_string(),
        https,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let u = parse_base_url("https://api.groq.com/openai/v1/").unwrap();
        assert_eq!(u.url, "https://api.groq.com/openai/v1");
        assert!(u.may_carry_key());
        let l = parse_base_url("http://127.0.0.1:8000/v1").unwrap();
        assert!(l.is_loopback() && l.may_carry_key());
        assert!(parse_base_url("http://[::1]:9/v1").unwrap().is_loopback());
        assert!(parse_base_url("http://localhost/v1").unwrap().is_loopback());
        assert!(
            !parse_base_url("http://10.0.0.2/v1")
                .unwrap()
                .may_carry_key()
        );
        assert!(
            !parse_base_url("http://127.example.com/v1")
                .unwrap()
                .is_loopback()
        );
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("https://").is_err());
        assert!(parse_base_url("https://h:99999/").is_err());
        assert!(parse_base_url("api.groq.com").is_err());
    }

    #[test]
    fn loopback_is_an_ip_literal_or_the_name_localhost() {
        for host in [
            "127.0.0.1",
            "127.9.9.9",
            "127.255.255.254",
            "::1",
            "[::1]",
            "0:0:0:0:0:0:0:1",
            "localhost",
            "LocalHost",
        ] {
            assert!(is_loopback_host(host), "{host} is loopback");
        }
        for host in [
            // Names a resolver (or whoever answers its DNS query) maps as it likes.
            "foo.localhost",
            "a.b.localhost",
            "localhost.",
            "localhost.evil.com",
            "localhost.localdomain",
            "127.0.0.1.nip.io",
            "127.0.0.1.",
            "127.example.com",
            "evil.com",
            // IPv4 in IPv6 clothing: depends on the system's dual-stack setup.
            "::ffff:127.0.0.1",
            "[::ffff:7f00:1]",
            "::127.0.0.1",
            // Not loopback at all.
            "0.0.0.0",
            "::",
            "10.0.0.2",
            "::2",
            "[::1",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host} is not loopback");
        }
        for url in [
            "http://foo.localhost:8000/v1",
            "http://localhost.evil.com/v1",
            "http://127.0.0.1.nip.io/v1",
            "http://[::ffff:7f00:1]:8000/v1",
        ] {
            let u = parse_base_url(url).unwrap();
            assert!(!u.may_carry_key(), "{url}");
        }
        assert!(
            parse_base_url("https://foo.localhost/v1")
                .unwrap()
                .may_carry_key(),
            "https goes anywhere"
        );
    }

    #[test]
    fn errors_never_show_credentials() {
        for bad in [
            "https://user:gsk_test_0001_secret9z9z@api.groq.com/openai/v1",
            "https://api.groq.com/openai/v1?api_key=custom-secret-9z9z",
            "https://api.groq.com/openai/v1#custom-secret-9z9z",
            "gsk_test_0001_secret9z9z",
            "http://h/v1 sk-test-0001-secret9z9z",
        ] {
            let e = parse_base_url(bad).unwrap_err();
            assert!(!e.contains("secret"), "{bad} -> {e}");
        }
        assert_eq!(
            shown("https://u:p@h:1/v1?key=x"),
            "https://…@h:1/v1…",
            "the host, port and path stay"
        );
        assert_eq!(shown("not a url"), "not a url");
    }
}
