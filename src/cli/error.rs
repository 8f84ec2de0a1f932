//! The one error type of the faces: a message, an optional hint, and the exit code.

use std::fmt;

/// Exit codes (README.md, "Commands").
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The request failed.
    pub const FAILED: i32 = 1;
    /// Usage error or invalid config.
    pub const USAGE: i32 = 2;
    /// No usable credentials for the task.
    pub const NO_CREDENTIALS: i32 = 3;
    /// Interrupted.
    pub const INTERRUPTED: i32 = 130;
}

/// A failure of a command, printed as `rota: error: …` plus an optional hint line.
#[derive(Debug, Clone, PartialEq)]
pub struct CliError {
    /// Exit code.
    pub code: i32,
    /// One line: what went wrong.
    pub message: String,
    /// One line: what to do next.
    pub hint: Option<String>,
}

impl CliError {
    /// A usage or input error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: exit::USAGE,
            message: message.into(),
            hint: None,
        }
    }

    /// A failed request (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            code: exit::FAILED,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rota: error: {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}
