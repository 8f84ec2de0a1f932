//! The command-line face: parses arguments and hands each command to its module.

pub mod args;
pub mod ask;
pub mod batch;
pub mod chat;
pub mod config_cmd;
pub mod context;
pub mod demo;
pub mod error;
pub mod estimate;
pub mod keys;
pub mod logging;
pub mod reset;
pub mod serve;
pub mod signals;
pub mod sim;
pub mod status;
pub mod transcribe;
pub mod tui_backend;
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
    logging::init(cli.global.verbose);
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
        None => chat::run(&cli.global, None),
        Some(Command::Chat { task }) => chat::run(&cli.global, task.as_deref()),
        Some(Command::Ask(args)) => ask::run(&cli.global, args),
        Some(Command::Batch(args)) => batch::run(&cli.global, args),
        Some(Command::Transcribe(args)) => transcribe::run(&cli.global, args),
        Some(Command::Status { json, watch }) => status::run(&cli.global, json, watch),
        Some(Command::Reset { target, key }) => {
            reset::run(&cli.global, target.as_deref(), key.as_deref())
        }
        Some(Command::Usage { since, json }) => usage::run(since.as_deref(), json, cli.global.demo),
        Some(Command::Estimate { model, file }) => estimate::run(model.as_deref(), file.as_deref()),
        Some(Command::Keys { action }) => keys::run(action, &cli.global),
        Some(Command::Config { action }) => config_cmd::run(action, &cli.global),
        Some(Command::Sim { listen, scenario }) => sim::run(listen.as_deref(), scenario.as_deref()),
        Some(Command::Serve { listen, no_auth }) => {
            serve::run(&cli.global, listen.as_deref(), no_auth)
        }
    }
}
