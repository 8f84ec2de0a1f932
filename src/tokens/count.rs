//! Counting text with the tiktoken encodings. Each encoder is built once, on first use
//! (tiktoken-rs singletons), and shared by every thread. ASCII text is cut into pieces by
//! rota's own pre-tokenizer ([`super::split`], the same pieces as tiktoken's expression,
//! several times faster) and each short piece's count is remembered.
//!
//! Long texts are remembered: a chat re-sends its whole history every turn, and BPE over
//! tens of kilobytes costs milliseconds, so counts of texts of [`CACHE_MIN_BYTES`] or more
//! are kept in a bounded map keyed by (encoding, length, 64-bit hash of the text).

use super::family::Encoding;
use super::split;
use rustc_hash::FxHashMap;
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

/// Pieces longer than this are encoded every time, not remembered.
const PIECE_MAX_BYTES: usize = 48;
/// Pieces remembered per encoding before that map is emptied and starts again.
const PIECE_CAP: usize = 1 << 16;

/// Fx, not SipHash: pieces are short, hashed on every count, and cannot hurt rota.
type PieceMap = FxHashMap<Box<str>, u32>;

/// The token count of every short piece met so far, per encoding: most pieces of new text
/// are words and symbols seen before.
fn pieces_seen(enc: Encoding) -> &'static Mutex<PieceMap> {
    static CL100K: OnceLock<Mutex<PieceMap>> = OnceLock::new();
    static O200K: OnceLock<Mutex<PieceMap>> = OnceLock::new();
    match enc {
        Encoding::Cl100k => &CL100K,
        Encoding::O200k => &O200K,
    }
    .get_or_init(|| Mutex::new(PieceMap::default()))
}

/// The encoder (built on first use, shared by every thread).
fn bpe(enc: Encoding) -> &'static tiktoken_rs::CoreBPE {
    match enc {
        Encoding::Cl100k => tiktoken_rs::cl100k_base_singleton(),
        Encoding::O200k => tiktoken_rs::o200k_base_singleton(),
    }
}

/// Counts without the text cache. Text outside ASCII is cut into segments at line starts
/// where tiktoken's expressions always cut too (see [`segments`]): ASCII segments go through
/// rota's own pre-tokenizer ([`super::split`]), the others through tiktoken-rs.
fn count_uncached(enc: Encoding, text: &str) -> u64 {
    if text.is_ascii() {
        return count_ascii(enc, text);
    }
    segments(text)
        .map(|seg| {
            if seg.is_ascii() {
                count_ascii(enc, seg)
            } else {
                bpe(enc).count_ordinary(seg) as u64
            }
        })
        .sum()
}

/// `text` cut before every ASCII letter or digit that starts a line. Both expressions end a
/// piece there (a line break ends a piece unless more line breaks, spaces or, for o200k, a
/// slash follow) and match onward without looking back, and a segment's last piece (its
/// line break) is cut the same whether the text ends there or not; so the pieces of the
/// whole are the pieces of the segments.
fn segments(text: &str) -> impl Iterator<Item = &str> {
    let b = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        if start >= b.len() {
            return None;
        }
        i = i.max(start + 1);
        while i < b.len() && !(b[i - 1] == b'\n' && b[i].is_ascii_alphanumeric()) {
            i += 1;
        }
        let seg = &text[start..i];
        start = i;
        Some(seg)
    })
}

/// Counts ASCII text: rota's pre-tokenizer and the remembered piece counts.
fn count_ascii(enc: Encoding, text: &str) -> u64 {
    let Some(pieces) = split::pieces(enc, text) else {
        return bpe(enc).count_ordinary(text) as u64;
    };
    let mut seen = pieces_seen(enc)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut n = 0u64;
    for p in pieces {
        if p.len() > PIECE_MAX_BYTES {
            n += bpe(enc).count_ordinary(p) as u64;
            continue;
        }
        n += u64::from(match seen.get(p) {
            Some(&c) => c,
            None => {
                // A piece is cut the same when encoded alone, so this is its count in place.
                let c = u32::try_from(bpe(enc).count_ordinary(p)).unwrap_or(u32::MAX);
                if seen.len() >= PIECE_CAP {
                    seen.clear();
                }
                seen.insert(p.into(), c);
                c
            }
        });
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cut_before_alphanumeric_line_starts_only() {
        let t = "a\nb\n\nc\n d\n-e\n1é\n";
        let segs: Vec<&str> = segments(t).collect();
        assert_eq!(segs, ["a\n", "b\n\n", "c\n d\n-e\n", "1é\n"]);
        assert_eq!(segs.concat(), t);
        assert_eq!(segments("").count(), 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Text mixing ASCII lines with accents, curly quotes, dashes, CJK and emoji counts
        /// exactly what tiktoken-rs counts.
        #[test]
        fn mixed_text_counts_like_tiktoken(parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "word", " The", "don't", "'s", "42", "12345", " ", "  ", "\t", "\n", "\r\n",
                "\n\n", ".", "/", "//", "(", "é", "café", " —", "’s", "“quoted”", "日本語",
                "🙂", "\u{00A0}", "\u{2028}", "Ω", "x", "Z",
            ]),
            0..60,
        )) {
            let text: String = parts.concat();
            for enc in [Encoding::Cl100k, Encoding::O200k] {
                proptest::prop_assert_eq!(
                    count_uncached(enc, &text),
                    bpe(enc).count_ordinary(&text) as u64,
                    "{:?} {:?}", enc, text
                );
            }
        }
    }

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
