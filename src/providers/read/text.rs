//! Small text readers for the words of providers' messages: windows, limits, waits, and a
//! short key-masked excerpt.

use crate::model::Window;
use crate::secret::mask_keys;

/// The window a provider message names ("tokens per min (TPM)", "requests per day", "queries
/// per minute", …), if any. `lower` is the message in lowercase.
pub fn window_named(lower: &str) -> Option<Window> {
    const PHRASES: [(&str, Window); 14] = [
        ("(tpm)", Window::Tpm),
        ("(tpd)", Window::Tpd),
        ("(rpm)", Window::Rpm),
        ("(rpd)", Window::Rpd),
        ("(ash)", Window::Ash),
        ("(asd)", Window::Asd),
        ("tokens per min", Window::Tpm),
        ("tokens per day", Window::Tpd),
        ("requests per min", Window::Rpm),
        ("requests per day", Window::Rpd),
        ("queries per min", Window::Rpm),
        ("queries per day", Window::Rpd),
        ("audio seconds per hour", Window::Ash),
        ("audio seconds per day", Window::Asd),
    ];
    PHRASES
        .iter()
        .filter_map(|(p, w)| lower.find(p).map(|at| (at, *w)))
        .min_by_key(|(at, _)| *at)
        .map(|(_, w)| w)
}

/// The number right after `marker` (digits, `,` and `_` separators allowed), at its first
/// occurrence followed by a number. `lower` and `marker` are lowercase.
pub fn number_after(lower: &str, marker: &str) -> Option<u64> {
    let mut from = 0;
    while let Some(rel) = lower[from..].find(marker) {
        let start = from + rel + marker.len();
        if let Some(n) = leading_number(&lower[start..]) {
            return Some(n);
        }
        from = start;
    }
    None
}

/// Reads an integer at the start of `s` (`30000`, `30,000`), or `None`.
fn leading_number(s: &str) -> Option<u64> {
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if (c == ',' || c == '_') && !digits.is_empty() {
            continue;
        } else {
            break;
        }
    }
    // A trailing separator ("Limit 6000, Requested") is not part of the number.
    digits.parse().ok()
}

/// The limit a rate-limit message states: "Limit 30000", "rate limit is 60 queries",
/// "limit of 100 requests".
pub fn stated_limit(lower: &str) -> Option<u64> {
    number_after(lower, "limit ")
        .or_else(|| number_after(lower, "limit is "))
        .or_else(|| number_after(lower, "limit of "))
}

/// The context window a context-length message states: "maximum context length is 8192
/// tokens" (OpenAI) or "longer than the model's context length (131072 tokens)" (Together).
pub fn stated_context(lower: &str) -> Option<u64> {
    number_after(lower, "maximum context length is ")
        .or_else(|| number_after(lower, "context length ("))
        .or_else(|| number_after(lower, "context length of "))
        .or_else(|| number_after(lower, "context window of "))
}

/// The wait a message asks for: "Please try again in 1.984999999s" / "7m12s" / "644ms" /
/// "20 seconds", in whole milliseconds (rounded).
pub fn stated_wait_ms(lower: &str) -> Option<u64> {
    for marker in ["try again in ", "retry after ", "retry in "] {
        let Some(at) = lower.find(marker) else {
            continue;
        };
        let rest = &lower[at + marker.len()..];
        let mut words = rest.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        let token = first.trim_end_matches(['.', ',', ';', ')']);
        if let Some(ms) = crate::duration::parse_ms(token) {
            return Some(ms.round() as u64);
        }
        // "20 seconds", "1.5 s", "500 milliseconds"
        if let Ok(n) = token.parse::<f64>() {
            let unit = words.next().unwrap_or("").trim_end_matches(['.', ',']);
            let scale = match unit {
                "ms" | "millisecond" | "milliseconds" => 1.0,
                "s" | "sec" | "secs" | "second" | "seconds" => 1000.0,
                "m" | "min" | "mins" | "minute" | "minutes" => 60_000.0,
                "h" | "hour" | "hours" => 3_600_000.0,
                _ => continue,
            };
            if n.is_finite() && n >= 0.0 {
                return Some((n * scale).round() as u64);
            }
        }
    }
    None
}

/// A short, printable excerpt of an unexpected body: control characters dropped, keys masked,
/// at most `max` characters.
pub fn excerpt(body: &str, max: usize) -> String {
    let clean: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let squeezed = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    let masked = mask_keys(&squeezed);
    if masked.chars().count() > max {
        let cut: String = masked.chars().take(max).collect();
        format!("{cut}…")
    } else {
        masked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_from_every_phrasing() {
        assert_eq!(
            window_named("on tokens per min (tpm): limit"),
            Some(Window::Tpm)
        );
        assert_eq!(
            window_named("on tokens per minute (tpm)"),
            Some(Window::Tpm)
        );
        assert_eq!(window_named("on tokens per day (tpd)"), Some(Window::Tpd));
        assert_eq!(window_named("on requests per day (rpd)"), Some(Window::Rpd));
        assert_eq!(window_named("on requests per minute"), Some(Window::Rpm));
        assert_eq!(
            window_named("your rate limit is 60 queries per minute"),
            Some(Window::Rpm)
        );
        assert_eq!(
            window_named("audio seconds per hour (ash)"),
            Some(Window::Ash)
        );
        assert_eq!(window_named("you exceeded your quota"), None);
    }

    #[test]
    fn limits_and_context() {
        assert_eq!(
            stated_limit("rate limit reached for gpt-4o on tpm: limit 30000, used 1"),
            Some(30000)
        );
        assert_eq!(
            stated_limit("your rate limit is 60 queries per minute"),
            Some(60)
        );
        assert_eq!(stated_limit("limit 30,000, used 5"), Some(30000));
        assert_eq!(stated_limit("rate limit reached"), None);
        assert_eq!(
            stated_limit("exceeded the rate limit of 100 requests per minute"),
            Some(100)
        );
        assert_eq!(
            stated_context("maximum context length is 8192 tokens. however"),
            Some(8192)
        );
        assert_eq!(
            stated_context(
                "the input (170071 tokens) is longer than the model's context length (131072 tokens)."
            ),
            Some(131072)
        );
        assert_eq!(
            stated_context("please reduce the length of the messages"),
            None
        );
    }

    #[test]
    fn waits_in_every_form() {
        assert_eq!(
            stated_wait_ms("please try again in 1.984999999s. need"),
            Some(1985)
        );
        assert_eq!(stated_wait_ms("please try again in 7m12s."), Some(432_000));
        assert_eq!(stated_wait_ms("please try again in 644ms."), Some(644));
        assert_eq!(
            stated_wait_ms("please try again in 20 seconds."),
            Some(20_000)
        );
        assert_eq!(stated_wait_ms("please try again later."), None);
        assert_eq!(stated_wait_ms("no wait here"), None);
    }

    #[test]
    fn keys_are_masked_to_last_four() {
        let m = mask_keys("Incorrect API key provided: sk-proj-abcdefgh12345678WXYZ. See docs");
        assert_eq!(m, "Incorrect API key provided: …WXYZ. See docs");
        let g = mask_keys("key gsk_test_0001_secretsecret9876 is invalid");
        assert!(!g.contains("gsk_"));
        assert!(g.contains("…9876"));
        let hex = "a".repeat(30) + &"1".repeat(30);
        assert_eq!(mask_keys(&hex), "…1111");
        // Ordinary words, org ids and model names stay.
        let plain =
            "model `llama-3.3-70b-versatile` in organization `org_01kes94v04f9ramd2n1vj4gjnc`";
        assert_eq!(mask_keys(plain), plain);
    }

    #[test]
    fn excerpt_is_short_and_clean() {
        let e = excerpt(
            "<html>\n<body>Bad gateway sk-abcdefghijklmnop1234</body></html>",
            40,
        );
        assert!(!e.contains('\n'));
        assert!(!e.contains("sk-abc"));
        assert!(e.chars().count() <= 41);
    }
}
