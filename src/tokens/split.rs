//! The pre-tokenizers of `cl100k_base` and `o200k_base` for ASCII text, by hand.
//!
//! tiktoken cuts text into pieces with a regular expression (lookahead included, so
//! tiktoken-rs runs it on a backtracking engine) and encodes each piece on its own. On 40 kB
//! of text that regular expression alone takes most of a millisecond. For text that is all
//! ASCII, [`pieces`] gives the same pieces by reading each expression's alternatives in
//! order (leftmost first, as the engine does) over byte classes. Text with any other byte
//! is left to tiktoken-rs whole. `tests/estimate_split.rs` checks the counts against
//! tiktoken-rs on generated and recorded text.
//!
//! The expressions, as tiktoken-rs 0.12 writes them:
//! - cl100k: `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|
//!   ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
//! - o200k: `[^\r\n\p{L}\p{N}]?[\p{Lu}…\p{M}]*[\p{Ll}…\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//!   [^\r\n\p{L}\p{N}]?[\p{Lu}…\p{M}]+[\p{Ll}…\p{M}]*(?i:…)?|\p{N}{1,3}|
//!   ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
//!
//! In ASCII, `\p{L}` is `[A-Za-z]` (upper `\p{Lu}`, lower `\p{Ll}`; no `Lt`, `Lm`, `Lo`,
//! `M`), `\p{N}` is `[0-9]` and `\s` is tab, line feed, vertical tab, form feed, carriage
//! return and space.

use super::family::Encoding;

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

fn is_crlf(b: u8) -> bool {
    matches!(b, b'\r' | b'\n')
}

/// `[^\s\p{L}\p{N}]`.
fn is_punct(b: u8) -> bool {
    !is_space(b) && !b.is_ascii_alphanumeric()
}

/// `[^\r\n\p{L}\p{N}]`: the optional character before a word.
fn is_prefix(b: u8) -> bool {
    !is_crlf(b) && !b.is_ascii_alphanumeric()
}

/// The end of the run of bytes from `i` for which `f` holds.
fn run(s: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < s.len() && f(s[i]) {
        i += 1;
    }
    i
}

/// The length of a contraction after an apostrophe at `i` (`'s`, `'t`, `'re`, `'ve`, `'m`,
/// `'ll`, `'d`, any case), or 0.
fn contraction(s: &[u8], i: usize) -> usize {
    if s.get(i) != Some(&b'\'') {
        return 0;
    }
    let lower = |k: usize| s.get(i + k).map(u8::to_ascii_lowercase);
    match lower(1) {
        Some(b's' | b't' | b'm' | b'd') => 2,
        Some(b'r') if lower(2) == Some(b'e') => 3,
        Some(b'v') if lower(2) == Some(b'e') => 3,
        Some(b'l') if lower(2) == Some(b'l') => 3,
        _ => 0,
    }
}

/// The whitespace alternatives shared in shape by both expressions, from `i` (a space):
/// `\s*[\r\n]` (to just after the run's last line break), `\s+(?!\S)` (all but the last
/// space before a non-space), else one space (cl100k) or the run (o200k). cl100k first
/// takes a run that reaches the end of the text whole (`\s++$`).
fn space_piece(s: &[u8], i: usize, enc: Encoding) -> usize {
    let r = run(s, i, is_space);
    if enc == Encoding::Cl100k && r == s.len() {
        return r;
    }
    if let Some(k) = s[i..r].iter().rposition(|&b| is_crlf(b)) {
        return i + k + 1;
    }
    if r == s.len() {
        return r;
    }
    if r - i >= 2 {
        return r - 1;
    }
    match enc {
        Encoding::Cl100k => i + 1,
        Encoding::O200k => r,
    }
}

/// The end of the cl100k piece starting at `i`.
fn cl100k_piece(s: &[u8], i: usize) -> usize {
    let b = s[i];
    // '(?i:[sdmt]|ll|ve|re)
    if b == b'\'' {
        let lower = |k: usize| s.get(i + k).map(u8::to_ascii_lowercase);
        match lower(1) {
            Some(b's' | b'd' | b'm' | b't') => return i + 2,
            Some(b'l') if lower(2) == Some(b'l') => return i + 3,
            Some(b'v' | b'r') if lower(2) == Some(b'e') => return i + 3,
            _ => {}
        }
    }
    // [^\r\n\p{L}\p{N}]?+\p{L}++
    let j = if is_prefix(b) { i + 1 } else { i };
    if s.get(j).is_some_and(u8::is_ascii_alphabetic) {
        return run(s, j, |c| c.is_ascii_alphabetic());
    }
    // \p{N}{1,3}+
    if b.is_ascii_digit() {
        return run(s, i, |c| c.is_ascii_digit()).min(i + 3);
    }
    // ' ?[^\s\p{L}\p{N}]++[\r\n]*+'
    if let Some(j) = punct_start(s, i) {
        let p = run(s, j, is_punct);
        return run(s, p, is_crlf);
    }
    space_piece(s, i, Encoding::Cl100k)
}

/// Where ` ?[^\s\p{L}\p{N}]+` starts its class run, when it matches at `i`.
fn punct_start(s: &[u8], i: usize) -> Option<usize> {
    let j = if s[i] == b' ' && s.get(i + 1).is_some_and(|&c| is_punct(c)) {
        i + 1
    } else {
        i
    };
    is_punct(s[j]).then_some(j)
}

/// The end of the o200k piece starting at `i`.
fn o200k_piece(s: &[u8], i: usize) -> usize {
    let b = s[i];
    // [^\r\n\p{L}\p{N}]? Upper* Lower+ contraction? | [^\r\n\p{L}\p{N}]? Upper+ Lower* contraction?
    let j = if is_prefix(b) { i + 1 } else { i };
    let k = run(s, j, |c| c.is_ascii_uppercase());
    let m = run(s, k, |c| c.is_ascii_lowercase());
    if m > k || k > j {
        return m + contraction(s, m);
    }
    // \p{N}{1,3}
    if b.is_ascii_digit() {
        return run(s, i, |c| c.is_ascii_digit()).min(i + 3);
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n/]*'
    if let Some(j) = punct_start(s, i) {
        let p = run(s, j, is_punct);
        return run(s, p, |c| is_crlf(c) || c == b'/');
    }
    space_piece(s, i, Encoding::O200k)
}

/// The pieces tiktoken's expression for `enc` cuts ASCII `text` into, in order; `None`
/// when the text has a byte outside ASCII (those go to tiktoken-rs whole).
pub fn pieces(enc: Encoding, text: &str) -> Option<impl Iterator<Item = &str>> {
    if !text.is_ascii() {
        return None;
    }
    let s = text.as_bytes();
    let mut i = 0;
    Some(std::iter::from_fn(move || {
        if i >= s.len() {
            return None;
        }
        let end = match enc {
            Encoding::Cl100k => cl100k_piece(s, i),
            Encoding::O200k => o200k_piece(s, i),
        };
        // Every alternative takes at least one byte; never loop.
        let end = end.max(i + 1);
        let piece = &text[i..end];
        i = end;
        Some(piece)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(enc: Encoding, t: &str) -> Vec<&str> {
        pieces(enc, t).map(|p| p.collect()).unwrap_or_default()
    }

    #[test]
    fn words_contractions_numbers_and_spaces() {
        let t = "He's DON'T do it:  12345 apples\n\n  x  ";
        assert_eq!(
            cut(Encoding::Cl100k, t),
            [
                "He", "'s", " DON", "'T", " do", " it", ":", " ", " ", "123", "45", " apples",
                "\n\n", " ", " x", "  "
            ]
        );
        assert_eq!(
            cut(Encoding::O200k, t),
            [
                "He's", " DON'T", " do", " it", ":", " ", " ", "123", "45", " apples", "\n\n", " ",
                " x", "  "
            ]
        );
    }

    #[test]
    fn the_two_expressions_differ_where_tiktoken_does() {
        // cl100k keeps trailing whitespace whole; o200k cuts after the last line break.
        assert_eq!(cut(Encoding::Cl100k, "a \n "), ["a", " \n "]);
        assert_eq!(cut(Encoding::O200k, "a \n "), ["a", " \n", " "]);
        // o200k lets slashes and line breaks trail punctuation.
        assert_eq!(cut(Encoding::O200k, "x.\n//y"), ["x", ".\n//", "y"]);
        assert_eq!(cut(Encoding::Cl100k, "x.\n//y"), ["x", ".\n", "//", "y"]);
        // Camel case: o200k cuts before each capital that starts a lowercase run.
        assert_eq!(
            cut(Encoding::O200k, "rateLimitHTTPError"),
            ["rate", "Limit", "HTTPError"]
        );
        assert_eq!(
            cut(Encoding::Cl100k, "rateLimitHTTPError"),
            ["rateLimitHTTPError"]
        );
    }

    #[test]
    fn text_beyond_ascii_is_left_to_tiktoken() {
        assert!(pieces(Encoding::O200k, "café").is_none());
        assert_eq!(cut(Encoding::O200k, ""), Vec::<&str>::new());
    }
}
