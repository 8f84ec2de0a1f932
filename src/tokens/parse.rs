//! Reads OpenAI-format messages and tools into the parts a template renders.

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

/// Flattens one OpenAI message; non-objects read as an empty user message.
pub fn message(v: &Value) -> Message<'_> {
    let mut m = Message {
        role: v.get("role").and_then(Value::as_str).unwrap_or("user"),
        name: v.get("name").and_then(Value::as_str),
        ..Message::default()
    };
    match v.get("content") {
        Some(Value::String(s)) => m.texts.push(s),
        Some(Value::Array(parts)) => {
            for part in parts {
                if let Some(t) = part.get("text").and_then(Value::as_str) {
                    m.texts.push(t);
                } else if let Some(img) = part.get("image_url") {
                    let (url, detail) = match img {
                        Value::String(u) => (u.as_str(), None),
                        other => (
                            other.get("url").and_then(Value::as_str).unwrap_or(""),
                            other.get("detail").and_then(Value::as_str),
                        ),
                    };
                    m.images.push(ImageInfo {
                        size: image::size_of_data_url(url),
                        detail: Detail::parse(detail),
                    });
                } else if let Some(s) = part.as_str() {
                    m.texts.push(s);
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Array(calls)) = v.get("tool_calls") {
        for call in calls {
            let f = call.get("function");
            let name = f
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let args = f
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str)
                .unwrap_or("{}");
            m.tool_calls.push((name, args));
        }
    }
    m
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
