//! Counting text with the tiktoken encodings. Each encoder is built once, on first use
//! (tiktoken-rs singletons), and shared by every thread.
//!
//! Long texts are remembered: a chat re-sends its whole history every turn, and BPE over
//! tens of kilobytes costs milliseconds, so counts of texts of [`CACHE_MIN_BYTES`] or more
//! are kept in a bounded map keyed by (encoding, length, 64-bit hash of the text).

use super::family::Encoding;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock};

/// Texts shorter than this are counted every time (cheaper than hashing and locking).
pub const CACHE_MIN_BYTES: usize = 512;
/// Entries kept before the cache is emptied and starts again.
const CACHE_CAP: usize = 8192;

type Key = (Encoding, usize, u64);

/// The remembered counts.
fn cache() -> &'static Mutex<HashMap<Key, u64>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, u64>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Tokens of `text` under `enc`, special-token text counted as ordinary text.
pub fn count(enc: Encoding, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    if text.len() < CACHE_MIN_BYTES {
        return count_uncached(enc, text);
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    let key = (enc, text.len(), h.finish());
    if let Ok(map) = cache().lock()
        && let Some(n) = map.get(&key)
    {
        return *n;
    }
    let n = count_uncached(enc, text);
    if let Ok(mut map) = cache().lock() {
        if map.len() >= CACHE_CAP {
            map.clear();
        }
        map.insert(key, n);
    }
    n
}

/// Runs the BPE.
fn count_uncached(enc: Encoding, text: &str) -> u64 {
    let bpe = match enc {
        Encoding::Cl100k => tiktoken_rs::cl100k_base_singleton(),
        Encoding::O200k => tiktoken_rs::o200k_base_singleton(),
    };
    bpe.count_ordinary(text) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_counts_equal_fresh_counts() {
        let long = "Rate limits differ per provider and per model. ".repeat(40);
        for enc in [Encoding::Cl100k, Encoding::O200k] {
            let fresh = count_uncached(enc, &long);
            assert_eq!(count(enc, &long), fresh);
            assert_eq!(count(enc, &long), fresh);
            let other = format!("{long}!");
            assert!(count(enc, &other) >= fresh);
        }
        assert_eq!(count(Encoding::Cl100k, ""), 0);
    }
}
