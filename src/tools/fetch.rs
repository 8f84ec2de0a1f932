//! `fetch_url`: one web page as plain text. Only http(s); the host is resolved once and
//! every address it resolves to must be public (no loopback, private, link-local or
//! shared ranges) unless `[tools] allow_private_urls` says otherwise, and the request goes
//! to the address that was checked (no second lookup to rebind). Redirects are followed by
//! hand, each checked the same way; the body is read up to a bound and cut to an extract.

use super::{Source, ToolOutput};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The longest one page may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of a body read.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// The most of a page's text the model reads.
pub const MAX_TEXT_BYTES: usize = 20_000;
/// Redirects followed at most.
const MAX_REDIRECTS: usize = 3;

/// Reads `url` as text.
pub async fn fetch(url: &str, allow_private: bool) -> ToolOutput {
    let mut url = url.trim().to_string();
    for _ in 0..=MAX_REDIRECTS {
        let parsed = match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            Ok(u) => {
                return ToolOutput::failed(format!(
                    "fetch_url reads http and https pages only, not {}:",
                    u.scheme()
                ));
            }
            Err(e) => return ToolOutput::failed(format!("`{url}` is not a URL ({e})")),
        };
        let Some(host) = parsed.host_str().map(str::to_string) else {
            return ToolOutput::failed(format!("`{url}` names no host"));
        };
        let port = parsed.port_or_known_default().unwrap_or(443);
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let addrs: Vec<SocketAddr> = match tokio::time::timeout(
            FETCH_TIMEOUT,
            tokio::net::lookup_host((bare.as_str(), port)),
        )
        .await
        {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => return ToolOutput::failed(format!("cannot resolve {host} ({e})")),
            Err(_) => return ToolOutput::failed(format!("resolving {host} timed out")),
        };
        let Some(first) = addrs.first().copied() else {
            return ToolOutput::failed(format!("{host} resolves to no address"));
        };
        if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return ToolOutput::failed(format!(
                "{host} is a private or local address ({}): fetch_url reads public pages only",
                bad.ip()
            ));
        }
        // Pinned to the address just checked.
        let client = match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&bare, first)
            .timeout(FETCH_TIMEOUT)
            .build()
        {
            Ok(c) => c,
            Err(e) => return ToolOutput::failed(format!("cannot build the request ({e})")),
        };
        let resp = match client
            .get(parsed.clone())
            .header("accept", "text/html, text/plain;q=0.9, */*;q=0.5")
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return ToolOutput::failed(format!("{host} did not answer in time"));
            }
            Err(e) => {
                return ToolOutput::failed(format!("cannot read {host} ({})", e.without_url()));
            }
        };
        let status = resp.status();
        if status.is_redirection() {
            let next = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| parsed.join(l).ok());
            match next {
                Some(n) => {
                    url = n.to_string();
                    continue;
                }
                None => {
                    return ToolOutput::failed(format!("{host} redirected ({status}) nowhere"));
                }
            }
        }
        if !status.is_success() {
            return ToolOutput::failed(format!("{host} answered {status}"));
        }
        let body = match read_capped(resp).await {
            Ok(b) => b,
            Err(e) => return ToolOutput::failed(format!("reading {host} failed ({e})")),
        };
        let raw = String::from_utf8_lossy(&body);
        let (title, text) = page_text(&raw);
        let mut text = text;
        if text.len() > MAX_TEXT_BYTES {
            let mut cut = MAX_TEXT_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" …");
        }
        return ToolOutput {
            ok: true,
            content: format!("{title}\n{url}\n\n{text}"),
            sources: vec![Source { title, url }],
            error: None,
        };
    }
    ToolOutput::failed(format!("more than {MAX_REDIRECTS} redirects"))
}

/// The body, at most [`MAX_BODY_BYTES`] of it.
async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = MAX_BODY_BYTES - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_BODY_BYTES {
            break;
        }
    }
    Ok(out)
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (18..20).contains(&o[1])))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// A page's title and readable text: HTML without its scripts, styles and tags, entities
/// decoded, white space folded. Plain text comes back as it is (folded).
pub fn page_text(raw: &str) -> (String, String) {
    let lower = raw.to_ascii_lowercase();
    if !lower.contains('<') {
        return (String::new(), fold(raw));
    }
    let title = lower
        .find("<title")
        .and_then(|i| lower[i..].find('>').map(|j| i + j + 1))
        .and_then(|start| {
            lower[start..]
                .find("</title")
                .map(|end| (start, start + end))
        })
        .map(|(a, b)| fold(&decode(&raw[a..b])))
        .unwrap_or_default();
    let mut text = String::new();
    let mut i = 0;
    while i < raw.len() {
        let Some(lt) = raw[i..].find('<').map(|j| i + j) else {
            text.push_str(&raw[i..]);
            break;
        };
        text.push_str(&raw[i..lt]);
        let rest = &lower[lt..];
        let skip_to = ["script", "style", "noscript", "head"]
            .iter()
            .find(|t| rest[1..].starts_with(**t))
            .and_then(|t| rest.find(&format!("</{t}")).map(|e| lt + e));
        let from = skip_to.unwrap_or(lt);
        match raw[from..].find('>') {
            Some(gt) => {
                text.push(' ');
                i = from + gt + 1;
            }
            None => break,
        }
    }
    (title, fold(&decode(&text)))
}

fn decode(s: &str) -> String {
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn fold(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn pages_become_text_without_scripts_or_styles() {
        let html = "<html><head><title>Rate &amp; limits</title><style>p{}</style></head>\
            <body><script>var x = '<p>';</script><p>Groq counts</p><p>per&nbsp;day.</p></body></html>";
        let (title, text) = page_text(html);
        assert_eq!(title, "Rate & limits");
        assert_eq!(text, "Groq counts per day.");
        assert_eq!(page_text("plain\n\ntext").1, "plain text");
    }

    #[tokio::test]
    async fn local_addresses_are_refused_unless_allowed() {
        let out = fetch("http://127.0.0.1:9/x", false).await;
        assert!(
            !out.ok && out.content.contains("private or local"),
            "{out:?}"
        );
        let out = fetch("file:///etc/passwd", true).await;
        assert!(!out.ok && out.content.contains("http and https"), "{out:?}");
    }
}
