//! Counting text with the tiktoken encodings. Each encoder is built once, on first use
//! (tiktoken-rs singletons), and shared by every thread.

use super::family::Encoding;

/// Tokens of `text` under `enc`, special-token text counted as ordinary text.
pub fn count(enc: Encoding, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let bpe = match enc {
        Encoding::Cl100k => tiktoken_rs::cl100k_base_singleton(),
        Encoding::O200k => tiktoken_rs::o200k_base_singleton(),
    };
    bpe.count_ordinary(text) as u64
}
