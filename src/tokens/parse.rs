//! Reads typed messages and OpenAI-format tools into the parts a template renders.

use super::image::{self, Detail, ImageInfo};
use serde_json::Value;

/// One message, flattened.
#[derive(Debug, Default)]
pub struct Message<'a> {
    /// `system`, `developer`, `user`, `assistant`, `tool`, …
    pub role: &'a str,
    /// Text parts, in order (a string content is one part).
    pub texts: Vec<&'a str>,
    /// The optional `name`.
    pub name: Option<&'a str>,
    /// Tool calls of an assistant message: (function name, arguments JSON text).
    pub tool_calls: Vec<(&'a str, &'a str)>,
    /// Images of the message.
    pub images: Vec<ImageInfo>,
}

/// Flattens one message into what a template renders.
pub fn message(m: &crate::message::Message) -> Message<'_> {
    Message {
        role: m.role.as_str(),
        texts: m.texts().collect(),
        name: m.name.as_deref(),
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| (c.function.name.as_str(), c.function.arguments.as_str()))
            .collect(),
        images: m
            .images()
            .map(|i| ImageInfo {
                size: image::size_of_data_url(&i.url),
                detail: Detail::parse(i.detail.as_deref()),
            })
            .collect(),
    }
}

/// One tool definition, flattened from `{"type":"function","function":{…}}` (or a bare
/// function object).
#[derive(Debug)]
pub struct Tool<'a> {
    /// The function name.
    pub name: &'a str,
    /// Its description.
    pub description: &'a str,
    /// The JSON schema of its parameters (`null` when absent).
    pub parameters: &'a Value,
    /// The whole definition, for templates that paste it as JSON.
    pub raw: &'a Value,
}

/// Flattens one tool definition.
pub fn tool(v: &Value) -> Tool<'_> {
    let f = v.get("function").unwrap_or(v);
    Tool {
        name: f.get("name").and_then(Value::as_str).unwrap_or(""),
        description: f.get("description").and_then(Value::as_str).unwrap_or(""),
        parameters: f.get("parameters").unwrap_or(&Value::Null),
        raw: v,
    }
}
