//! API keys that cannot leak: Debug and Display print `…` and the last four characters.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// An API key. The only way to read it whole is [`ApiKey::expose`], called where the
/// `Authorization` header is built and where the config file is written.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    /// Wraps a key (surrounding white space is dropped).
    pub fn new(key: impl AsRef<str>) -> Self {
        Self(SecretString::from(key.as_ref().trim().to_string()))
    }

    /// The whole key, for the Authorization header and nothing else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The last four characters, e.g. `a1b2` (fewer when the key is shorter).
    pub fn suffix(&self) -> String {
        let chars: Vec<char> = self.expose().chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    }

    /// The masked form used everywhere a key is shown: `…a1b2`.
    pub fn masked(&self) -> String {
        format!("…{}", self.suffix())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for ApiKey {}

/// Masks any occurrence of the given keys in a text (for provider error messages that echo
/// a key back, e.g. "Incorrect API key provided: sk-…").
pub fn redact(text: &str, keys: &[&ApiKey]) -> String {
    let mut out = text.to_string();
    for k in keys {
        let whole = k.expose();
        if whole.len() >= 4 && out.contains(whole) {
            out = out.replace(whole, &k.masked());
        }
    }
    out
}

/// Masks anything that looks like an API key (`sk-…`, `gsk_…`, `tgp_…`, or a long run of
/// key characters) to `…` and its last four characters.
pub fn mask_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_like_key(word) {
            let chars: Vec<char> = word.chars().collect();
            out.push('…');
            out.extend(&chars[chars.len().saturating_sub(4)..]);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Whether a word looks like a key: a known key prefix with a body, or 40+ key characters
/// mixing letters and digits (Together's older hex keys).
fn looks_like_key(word: &str) -> bool {
    const PREFIXES: [&str; 5] = ["sk-", "gsk_", "tgp_", "xai-", "sk_"];
    if PREFIXES
        .iter()
        .any(|p| word.starts_with(p) && word.len() >= p.len() + 8)
    {
        return true;
    }
    word.len() >= 40
        && word.chars().any(|c| c.is_ascii_digit())
        && word.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_mask_to_last_four() {
        let k = ApiKey::new("gsk_test_0001_abcd");
        assert_eq!(format!("{k}"), "…abcd");
        assert_eq!(format!("{k:?}"), "ApiKey(…abcd)");
        assert!(!format!("{k:?}{k}").contains("gsk_test"));
        assert_eq!(k.expose(), "gsk_test_0001_abcd");
    }

    #[test]
    fn short_keys_do_not_panic() {
        assert_eq!(ApiKey::new("ab").masked(), "…ab");
        assert_eq!(ApiKey::new("").masked(), "…");
    }

    #[test]
    fn redact_replaces_whole_keys() {
        let k = ApiKey::new("sk-test-secret-9z9z");
        let msg = "Incorrect API key provided: sk-test-secret-9z9z.";
        assert_eq!(redact(msg, &[&k]), "Incorrect API key provided: …9z9z.");
    }
}
