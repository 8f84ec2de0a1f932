//! rota's ASCII pre-tokenizer (`rota::tokens::split`) against the expressions tiktoken-rs
//! runs: the same pieces on generated text and on every ASCII text file of this repository,
//! and every piece is cut the same when encoded alone (what the piece-count cache relies on).

use fancy_regex::Regex;
use proptest::prelude::*;
use rota::tokens::Encoding;
use rota::tokens::split::pieces;
use std::path::{Path, PathBuf};

/// cl100k_base's expression as tiktoken-rs 0.12 builds it.
const CL100K: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";

fn regex(enc: Encoding) -> Regex {
    let pat = match enc {
        Encoding::Cl100k => CL100K,
        Encoding::O200k => tiktoken_rs::O200K_BASE_PAT_STR,
    };
    Regex::new(pat).unwrap()
}

fn regex_pieces<'a>(re: &Regex, text: &'a str) -> Vec<&'a str> {
    re.find_iter(text).map(|m| m.unwrap().as_str()).collect()
}

fn ours(enc: Encoding, text: &str) -> Vec<&str> {
    pieces(enc, text).expect("ASCII text").collect()
}

/// Pieces that are hard for the expressions: contractions, case changes, digit runs,
/// every kind of ASCII space, slashes after punctuation, control bytes.
fn fragment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "Z", "e", "s", "t", "re", "ve", "ll", "d", "m", "S", "LL", "Re", "HTTP", "Error", "x",
        "'", "'s", "'T", "'ll", "'VE", "'d", "0", "7", "12", "1234", " ", "  ", "\t", "\n", "\r",
        "\r\n", "\x0B", "\x0C", ".", "/", "//", ":", "_", "(", ")", "-", "\"", "#", "\x00", "\x1F",
        "\x7F", "{", "}", ";", ",", "!", "?", "@", "~",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn generated_text_is_cut_like_tiktoken(parts in prop::collection::vec(fragment(), 0..40)) {
        let text: String = parts.concat();
        for enc in [Encoding::Cl100k, Encoding::O200k] {
            let re = regex(enc);
            prop_assert_eq!(ours(enc, &text), regex_pieces(&re, &text), "{:?} {:?}", enc, text);
        }
    }
}

/// Every text file under `dir` (recursively), skipping build output.
fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            text_files(&p, out);
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("rs" | "md" | "toml" | "json" | "py" | "snap")
        ) {
            out.push(p);
        }
    }
}

#[test]
fn repository_text_is_cut_like_tiktoken() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    text_files(&root, &mut files);
    assert!(files.len() > 50, "found only {files:?}");
    let mut checked = 0usize;
    for enc in [Encoding::Cl100k, Encoding::O200k] {
        let re = regex(enc);
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            // Files with other characters: their ASCII lines, joined.
            let text: String = if text.is_ascii() {
                text
            } else {
                text.split_inclusive('\n')
                    .filter(|l| l.is_ascii())
                    .collect()
            };
            let got = ours(enc, &text);
            assert_eq!(got, regex_pieces(&re, &text), "{enc:?} {}", f.display());
            for p in got {
                assert_eq!(
                    regex_pieces(&re, p),
                    [p],
                    "{enc:?}: a piece of {} recut",
                    f.display()
                );
            }
            checked += text.len();
        }
    }
    assert!(checked > 500_000, "only {checked} bytes checked");
}
