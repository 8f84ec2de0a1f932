//! Config problems: each names a place (`FILE:LINE:COL`), says what is wrong and what to
//! write instead. Loading collects every problem before reporting.

use std::fmt;
use std::ops::Range;

/// One problem in the config file or the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `environment` / `$VAR` for problems that come from the environment).
    pub file: String,
    /// 1-based line; 0 when the problem has no place in a file.
    pub line: usize,
    /// 1-based column (in characters); 0 when the problem has no place in a file.
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )?;
        } else {
            write!(f, "{}: {}", self.file, self.message)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Every problem found, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl ConfigErrors {
    /// A single problem with no place in a file (e.g. the file cannot be read).
    pub fn single(
        file: impl Into<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Self(vec![ConfigError {
            file: file.into(),
            line: 0,
            col: 0,
            message: message.into(),
            hint,
        }])
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut start = offset;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Collects problems against one text.
pub(crate) struct Sink<'a> {
    /// The text the spans point into.
    pub text: &'a str,
    /// The label printed before `:LINE:COL`.
    pub file: String,
    /// Problems so far.
    pub errors: Vec<ConfigError>,
}

impl<'a> Sink<'a> {
    /// A sink for `text`, labelled `file`.
    pub fn new(text: &'a str, file: &str) -> Self {
        Self {
            text,
            file: file.to_string(),
            errors: Vec::new(),
        }
    }

    /// Records a problem at `span` (the start of the file when unknown).
    pub fn at(
        &mut self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: impl Into<Hint>,
    ) {
        let (line, col) = line_col(self.text, span.map(|s| s.start).unwrap_or(0));
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
            hint: hint.into().0,
        });
    }

    /// Records a problem that comes from the environment variable `var`.
    pub fn env(&mut self, var: &str, message: impl Into<String>, hint: impl Into<Hint>) {
        self.errors.push(ConfigError {
            file: format!("${var}"),
            line: 0,
            col: 0,
            message: message.into(),
            hint: hint.into().0,
        });
    }
}

/// An optional hint, built from `&str`, `String`, or `()` for none.
pub(crate) struct Hint(pub Option<String>);

impl From<&str> for Hint {
    fn from(s: &str) -> Self {
        Hint(Some(s.to_string()))
    }
}
impl From<String> for Hint {
    fn from(s: String) -> Self {
        Hint(Some(s))
    }
}
impl From<()> for Hint {
    fn from(_: ()) -> Self {
        Hint(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 9), (2, 3));
    }
}
