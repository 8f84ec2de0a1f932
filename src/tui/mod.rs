//! The terminal UI: chat, task selector, pool gauges, dashboard, keys, saved conversations
//! and help.
//!
//! [`run`] is the entry point; it talks to the rest of rota only through
//! [`backend::ChatBackend`]. [`app::App`] holds all state and is drawn and driven without a
//! terminal in tests. See docs/tui.md for the user's view.

pub mod app;
pub mod backend;
pub mod chat;
pub mod dashboard;
pub mod event_loop;
pub mod gauges;
pub mod help;
pub mod input;
pub mod keymap;
pub mod keys;
pub mod markdown;
pub mod sessions;
pub mod statusline;
pub mod tasks;
pub mod theme;
pub mod toosmall;

pub use app::{Action, App, View};
pub use backend::{ChatBackend, FakeBackend, KeyCheck, KeyRow, MessageRow, SessionRow};
pub use event_loop::{TuiError, TuiOptions, restore_terminal, run};
pub use theme::Theme;
