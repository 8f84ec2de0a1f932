//! The router: one request's life, estimate → select → reserve → call → classify → rotate
//! or wait, told as [`events::Event`]s. Every face (ask, batch, the TUI) consumes it.

pub mod events;

use crate::model::Task;

/// One chat request as a face hands it to the router.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// OpenAI-format messages (`{"role", "content"}`; content may hold image parts).
    pub messages: Vec<serde_json::Value>,
    /// The task, or `Task::Auto` to pick from the prompt.
    pub task: Option<Task>,
    /// Largest answer; `None` reserves the task's default.
    pub max_tokens: Option<u64>,
    /// OpenAI-format tool definitions, passed through.
    pub tools: Vec<serde_json::Value>,
}
