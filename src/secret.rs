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

    /// A stable identity of the whole key that does not reveal it: the first 16 hex digits
    /// of HMAC-SHA256 of the key under rota's own constant key. Two keys that end in the
    /// same four characters get different identities; one key gets the same identity in
    /// every process and on every machine (a shared state's records must agree), and the
    /// constant key keeps it from matching a plain SHA-256 of the key found elsewhere.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.expose().as_bytes())
    }
}

/// The key of rota's key fingerprints (see [`ApiKey::fingerprint`]).
const FINGERPRINT_KEY: &[u8] = b"rota key identity v1";

/// HMAC-SHA256 of `message` under [`FINGERPRINT_KEY`], its first 8 bytes in hex.
fn fingerprint(message: &[u8]) -> String {
    hmac_sha256(FINGERPRINT_KEY, message)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// HMAC-SHA256 (RFC 2104) for a key of at most one block (64 bytes).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    block[..key.len().min(64)].copy_from_slice(&key[..key.len().min(64)]);
    let pad = |byte: u8| block.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
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
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn fingerprints_tell_keys_with_one_suffix_apart_and_hide_them() {
        let a = ApiKey::new("gsk_first_secret_abcd");
        let b = ApiKey::new("gsk_other_secret_abcd");
        assert_eq!(a.masked(), b.masked());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            a.fingerprint(),
            ApiKey::new("gsk_first_secret_abcd").fingerprint()
        );
        assert_eq!(a.fingerprint().len(), 16);
        assert!(!a.fingerprint().contains("abcd"));
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
