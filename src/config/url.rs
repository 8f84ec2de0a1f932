//! Base URLs: checked for shape, and whether a key may be sent to them (https, or http to a
//! loopback host only).

use std::net::{Ipv4Addr, Ipv6Addr};

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
    /// Whether the host is 127.0.0.0/8, ::1 or localhost.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }

    /// Whether a key may be sent to this URL: https, or http to a loopback host.
    pub fn may_carry_key(&self) -> bool {
        self.https || self.is_loopback()
    }
}

/// Whether `host` (no brackets) is 127.0.0.0/8, ::1 or localhost.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") {
        return true;
    }
    if let Ok(v4) = h.parse::<Ipv4Addr>() {
        return v4.is_loopback();
    }
    if let Ok(v6) = h.parse::<Ipv6Addr>() {
        return v6.is_loopback();
    }
    false
}

/// Checks a base URL: `http://` or `https://`, a host, an optional port, an optional path,
/// no query or fragment. The error says what is wrong.
pub fn parse_base_url(text: &str) -> Result<BaseUrl, String> {
    let t = text.trim();
    let (https, rest) = if let Some(r) = t.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = t.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("`{t}` is not an http(s) URL"));
    };
    if t.contains(['?', '#', ' ']) {
        return Err(format!("`{t}` must not contain a query, fragment or space"));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "`{t}` must not contain user info; put keys in `keys`"
        ));
    }
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        match r.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err(format!("`{t}` has an unclosed [ in its host")),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{t}` has no host"));
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(format!("`{t}` has an invalid host `{host}`"));
    }
    if let Some(p) = port
        && p.parse::<u16>().is_err()
    {
        return Err(format!("`{t}` has an invalid port `{p}`"));
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
}
