//! `rota estimate [--model PROVIDER/ID] [FILE]`: prints the prompt tokens a provider will
//! count for a chat-completions body and what rota reserves for it.

use super::CliError;
use crate::tokens::estimate_request;
use std::io::Read;
use std::path::Path;

/// Reads the body from `file` (or stdin), estimates it, prints
/// `{"prompt_tokens":N,"reserve_tokens":M}` and returns exit code 0.
pub fn run(model: Option<&str>, file: Option<&Path>) -> Result<i32, CliError> {
    let text = read_body(file)?;
    let line = estimate_line(&text, model)?;
    println!("{line}");
    Ok(super::exit::OK)
}

/// The output line for a body text, or a usage error saying what is wrong with it.
pub fn estimate_line(text: &str, model: Option<&str>) -> Result<String, CliError> {
    if let Some(m) = model
        && let Err(e) = m.parse::<crate::model::ModelRef>()
    {
        return Err(CliError::usage(e.to_string()));
    }
    let body: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        CliError::usage(format!("the request body is not valid JSON: {e}"))
            .hint("pass an OpenAI chat-completions body, e.g. {\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
    })?;
    let has_messages = body
        .get("messages")
        .and_then(|m| m.as_array())
        .is_some_and(|m| !m.is_empty());
    if !has_messages {
        return Err(CliError::usage("the request body has no `messages`")
            .hint("add a non-empty \"messages\" array of {\"role\", \"content\"} objects"));
    }
    if model.is_none() && body.get("model").and_then(|m| m.as_str()).is_none() {
        tracing::info!("estimate: no model given; using the conservative default");
    }
    let est = estimate_request(&body, model);
    serde_json::to_string(&est)
        .map_err(|e| CliError::failed(format!("cannot print the estimate: {e}")))
}

/// The body text from a file or stdin.
fn read_body(file: Option<&Path>) -> Result<String, CliError> {
    match file {
        Some(path) if path.as_os_str() != "-" => std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!("cannot read {}: {e}", path.display()))
                .hint("give the path of a JSON request body, or pipe the body to stdin")
        }),
        _ => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                CliError::usage(format!("cannot read the request body from stdin: {e}"))
                    .hint("pipe a JSON request body, e.g. rota estimate < body.json")
            })?;
            Ok(s)
        }
    }
}
