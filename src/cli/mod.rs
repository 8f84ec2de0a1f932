//! The command-line face: parses arguments and hands each command to its module.

pub mod args;
pub mod error;
pub mod usage;

use args::{Cli, Command};
use clap::Parser;
pub use error::{CliError, exit};

/// Runs rota with the process arguments and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            e.code
        }
    }
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        None | Some(Command::Chat { .. }) => Err(CliError::not_built("chat")),
        Some(Command::Ask(_)) => Err(CliError::not_built("ask")),
        Some(Command::Batch(_)) => Err(CliError::not_built("batch")),
        Some(Command::Transcribe(_)) => Err(CliError::not_built("transcribe")),
        Some(Command::Status { .. }) => Err(CliError::not_built("status")),
        Some(Command::Usage { since, json }) => usage::run(since.as_deref(), json, cli.global.demo),
        Some(Command::Estimate { .. }) => Err(CliError::not_built("estimate")),
        Some(Command::Keys { .. }) => Err(CliError::not_built("keys")),
        Some(Command::Config { .. }) => Err(CliError::not_built("config")),
        Some(Command::Sim { .. }) => Err(CliError::not_built("sim")),
    }
}
