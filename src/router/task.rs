//! `auto` task detection: images → vision; code → code; research words → research; else fast.

use crate::model::Task;

/// Words that mark a research question.
const RESEARCH_WORDS: &[&str] = &[
    "search",
    "research",
    "find",
    "compare",
    "comparison",
    "sources",
    "investigate",
    "survey",
    "literature",
];

/// Words and symbols that mark a programming question.
const CODE_WORDS: &[&str] = &[
    "code",
    "function",
    "compile",
    "compiler",
    "bug",
    "debug",
    "stack trace",
    "refactor",
    "regex",
    "rust",
    "python",
    "javascript",
    "typescript",
    "golang",
    "java",
    "c++",
    "sql",
    "bash",
    "script",
    "api",
    "class",
    "method",
    "variable",
    "syntax",
    "traceback",
    "exception",
    "segfault",
    "unit test",
    "git ",
];

/// Picks a task for a prompt: `images` > 0 → vision; fenced code or code words → code;
/// research words → research; else fast.
pub fn detect(prompt: &str, images: usize) -> Task {
    if images > 0 {
        return Task::Vision;
    }
    let lower = prompt.to_lowercase();
    if lower.contains("```") || looks_like_code(&lower) {
        return Task::Code;
    }
    if RESEARCH_WORDS.iter().any(|w| has_word(&lower, w)) {
        return Task::Research;
    }
    Task::Fast
}

fn looks_like_code(lower: &str) -> bool {
    if CODE_WORDS.iter().any(|w| has_word(lower, w.trim())) {
        return true;
    }
    // Code-shaped text: several lines ending in ; or { or containing `fn `/`def `/`=>`.
    let markers = [
        "fn ", "def ", "=>", "();", "#include", "import ", "let ", "const ",
    ];
    markers.iter().filter(|m| lower.contains(*m)).count() >= 2
}

/// Whether `word` occurs in `text` with no letter or digit right before or after it.
fn has_word(text: &str, word: &str) -> bool {
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_content() {
        assert_eq!(detect("what is this?", 1), Task::Vision);
        assert_eq!(detect("fix this:\n```\nlet x = 1\n```", 0), Task::Code);
        assert_eq!(
            detect("Why does my Python function return None?", 0),
            Task::Code
        );
        assert_eq!(
            detect("compare postgres and mysql for analytics", 0),
            Task::Research
        );
        assert_eq!(detect("research the history of tea", 0), Task::Research);
        assert_eq!(detect("hello there", 0), Task::Fast);
    }

    #[test]
    fn words_match_whole() {
        // "findings" is not "find"; "apiary" is not "api"; "barcode" is not "code".
        assert_eq!(
            detect("tell me about apiary findings on barcode", 0),
            Task::Fast
        );
    }
}
