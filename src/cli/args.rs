//! The command line (README.md, "Commands"), parsed by clap.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// rota: chat with LLMs from the terminal; rota keeps every provider's limits for you.
#[derive(Debug, Parser)]
#[command(name = "rota", version, about, long_about = None)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command (none: the chat TUI).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every command takes.
#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// Config file (else $ROTA_CONFIG, else the XDG config dir's rota/config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Run against the built-in simulated fleet: no keys, no network, temporary state.
    #[arg(long, global = true)]
    pub demo: bool,
    /// More detail in the log file (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the chat TUI.
    Chat {
        /// Task to start with: auto, fast, research, code, vision.
        #[arg(long)]
        task: Option<String>,
    },
    /// Ask one question; the answer streams to stdout.
    Ask(AskArgs),
    /// Run many requests from a JSONL file as fast as the limits allow.
    Batch(BatchArgs),
    /// Transcribe an audio file.
    Transcribe(TranscribeArgs),
    /// Show every pool, model and key: usage against limits, cooldowns.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Refresh in place every second.
        #[arg(long)]
        watch: bool,
    },
    /// Take back into rotation what cooldowns, backoffs and disabled keys hold out.
    Reset {
        /// PROVIDER or PROVIDER/MODEL (default: everything).
        target: Option<String>,
        /// Only the key ending with these characters (as `rota keys list` shows it).
        #[arg(long, value_name = "SUFFIX")]
        key: Option<String>,
    },
    /// Sum the request ledger per provider and model.
    Usage {
        /// How far back, e.g. 7d, 24h (default: everything kept).
        #[arg(long, value_name = "DUR")]
        since: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Estimate the prompt tokens of a chat-completions request body.
    Estimate {
        /// Model to estimate for (PROVIDER/ID); default: the body's `model`.
        #[arg(long, value_name = "PROVIDER/ID")]
        model: Option<String>,
        /// The request body (JSON); default: stdin.
        file: Option<PathBuf>,
    },
    /// Manage API keys.
    Keys {
        /// What to do.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The config file: where it is, check it, write a starter.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Serve rota as an OpenAI-compatible endpoint (/v1/chat/completions, /v1/models,
    /// /v1/audio/transcriptions, /metrics) for every other tool on the machine.
    Serve {
        /// Address to listen on (default: [serve] listen, else 127.0.0.1:8787).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Take requests without a token (loopback addresses only).
        #[arg(long)]
        no_auth: bool,
    },
    /// Serve the simulated provider fleet until interrupted.
    Sim {
        /// Address to listen on (default 127.0.0.1 with an ephemeral port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Scenario file (TOML); default: the built-in scenario.
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
    },
}

/// `rota ask`.
#[derive(Debug, Args, Clone, Default)]
pub struct AskArgs {
    /// auto, fast, research, code or vision.
    #[arg(long)]
    pub task: Option<String>,
    /// Attach an image (implies task vision); repeat for more.
    #[arg(long, value_name = "PATH")]
    pub image: Vec<PathBuf>,
    /// A system message.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Largest answer, in tokens.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,
    /// Print NDJSON events instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print a reasoning model's thinking, dimmed, on stderr (stdout keeps the answer only).
    #[arg(long)]
    pub show_reasoning: bool,
    /// The prompt; absent or `-`: read stdin.
    pub prompt: Option<String>,
}

/// `rota batch`.
#[derive(Debug, Args, Clone)]
pub struct BatchArgs {
    /// Requests in flight at once (default: enough to keep every account busy).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Task for lines that name none.
    #[arg(long)]
    pub task: Option<String>,
    /// Output JSONL (default: stdout); re-running with it skips ids already answered.
    #[arg(short = 'o', long = "output", value_name = "OUT.jsonl")]
    pub output: Option<PathBuf>,
    /// Input JSONL.
    pub input: PathBuf,
}

/// `rota transcribe`.
#[derive(Debug, Args, Clone)]
pub struct TranscribeArgs {
    /// Language of the audio (ISO-639-1, e.g. en).
    #[arg(long)]
    pub language: Option<String>,
    /// Text to guide the model (names, spelling).
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// Print NDJSON events.
    #[arg(long)]
    pub json: bool,
    /// The audio file.
    pub file: PathBuf,
}

/// `rota keys …`.
#[derive(Debug, Subcommand, Clone)]
pub enum KeysAction {
    /// Keys per provider, masked.
    List,
    /// Read one key from stdin and add it to the config file.
    Add {
        /// groq, openai, together or custom:NAME.
        provider: String,
        /// Account the key belongs to (keys of one account share its limits).
        #[arg(long)]
        account: Option<String>,
    },
    /// Remove the key ending in SUFFIX.
    Remove {
        /// The provider.
        provider: String,
        /// The last characters of the key.
        suffix: String,
    },
    /// Validate every key with GET /models.
    Check,
}

/// `rota config …`.
#[derive(Debug, Subcommand, Clone)]
pub enum ConfigAction {
    /// Print where the config file is.
    Path,
    /// Validate the config file; print every problem.
    Check,
    /// Write a commented starter config file.
    Init,
}
