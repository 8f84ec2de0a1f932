//! Per-family chat templates, counted: what the provider tokenizes after applying its
//! template to the messages and tools. Special tokens count one each; text pieces are
//! counted separately (special tokens are token boundaries anyway).

use super::count::count;
use super::family::{Encoding, Family, Profile};
use super::image::ImageRule;
use super::parse::{Message, Tool};
use crate::model::Dialect;
use serde_json::Value;

/// Llama 3.x's default system header (the date is today's in production; the count is the
/// same for any date of that shape).
const LLAMA3_DATE_HEADER: &str =
    "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";

/// The instruction Llama 3.x's reference template puts before the tools (Together renders
/// this).
const LLAMA3_TOOL_PREAMBLE: &str = "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n";

/// Groq renders Llama 3.x tools into a longer instruction block than the reference
/// template. Fitted on `groq-streams-tool-call.json` (one tool: Groq 249 vs Together 194
/// prompt tokens for the same request): the extra tokens a tool block costs on Groq.
const GROQ_LLAMA_TOOL_EXTRA: u64 = 55;

/// Harmony's fixed system message (gpt-oss).
const HARMONY_SYSTEM: &str = "You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2025-08-05\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message.";

/// The Hermes-style tool block of ChatML models (Qwen).
const CHATML_TOOLS_HEAD: &str = "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n";
const CHATML_TOOLS_TAIL: &str = "</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>";

/// Unknown models: the ChatML count times this factor (per mille), plus a fixed pad.
const UNKNOWN_FACTOR_PERMILLE: u64 = 1250;
const UNKNOWN_PAD: u64 = 50;

/// Prompt tokens of `messages` and `tools` for a model of `profile`.
pub fn prompt_tokens(profile: Profile, messages: &[Message<'_>], tools: &[Tool<'_>]) -> u64 {
    let enc = profile.encoding;
    match profile.family {
        Family::OpenAi => openai(enc, messages, tools, profile.images),
        Family::GptOss => gpt_oss(enc, messages, tools, profile.images),
        Family::Llama3 => llama(enc, profile, messages, tools, true),
        Family::Llama4 => llama(enc, profile, messages, tools, false),
        Family::ChatMl => chatml(enc, messages, tools, profile.images),
        Family::Unknown => {
            let base = chatml(enc, messages, tools, profile.images);
            (base * UNKNOWN_FACTOR_PERMILLE).div_ceil(1000) + UNKNOWN_PAD
        }
    }
}

/// Sum of the text parts of a message.
fn texts(enc: Encoding, m: &Message<'_>) -> u64 {
    m.texts.iter().map(|t| count(enc, t)).sum()
}

/// OpenAI chat format: 3 tokens per message plus its role and content (+1 for a name), 3
/// to prime the reply; tools as a TypeScript namespace in the system message.
fn openai(enc: Encoding, messages: &[Message<'_>], tools: &[Tool<'_>], images: ImageRule) -> u64 {
    let mut n = 3;
    for m in messages {
        n += 3 + count(enc, m.role) + texts(enc, m);
        if let Some(name) = m.name {
            n += 1 + count(enc, name);
        }
        for (name, args) in &m.tool_calls {
            n += 7 + count(enc, name) + count(enc, args);
        }
        n += m.images.iter().map(|i| images.tokens(i)).sum::<u64>();
    }
    if !tools.is_empty() {
        n += count(enc, &typescript_namespace(tools)) + 4;
    }
    n
}

/// gpt-oss in the harmony format: fixed system message, developer instructions (the
/// request's system messages and the tools), then each message as
/// `<|start|>role<|message|>…<|end|>`.
fn gpt_oss(enc: Encoding, messages: &[Message<'_>], tools: &[Tool<'_>], images: ImageRule) -> u64 {
    let mut n = 3 + count(enc, "system") + count(enc, HARMONY_SYSTEM);
    let mut developer = String::new();
    let mut rest = 0;
    for m in messages {
        if matches!(m.role, "system" | "developer") {
            developer.push_str(&m.texts.concat());
            developer.push_str("\n\n");
            continue;
        }
        rest += 3 + count(enc, m.role) + texts(enc, m);
        for (name, args) in &m.tool_calls {
            rest += 6 + count(enc, name) + count(enc, args);
        }
        rest += m.images.iter().map(|i| images.tokens(i)).sum::<u64>();
    }
    if !developer.is_empty() || !tools.is_empty() {
        n +=
            3 + count(enc, "developer") + count(enc, "# Instructions\n\n") + count(enc, &developer);
        if !tools.is_empty() {
            n += count(
                enc,
                "\nCalls to these tools must go to the commentary channel: 'functions'.",
            );
            n += count(enc, &typescript_namespace(tools));
        }
    }
    n + rest + 1 + count(enc, "assistant")
}

/// Llama 3.x (`date_header`) and Llama 4: header tokens around each role, `<|eot_id|>`
/// after each message; Llama 3.x adds its default system header; tools go into an
/// instruction block before the first user message.
fn llama(
    enc: Encoding,
    profile: Profile,
    messages: &[Message<'_>],
    tools: &[Tool<'_>],
    date_header: bool,
) -> u64 {
    let header = |role: &str| 2 + count(enc, role) + count(enc, "\n\n");
    let mut n = 1; // <|begin_of_text|>
    let mut rest = messages;
    let first_is_system = messages.first().is_some_and(|m| m.role == "system");
    if date_header || first_is_system {
        n += header("system") + 1; // + <|eot_id|>
        if date_header {
            n += count(enc, LLAMA3_DATE_HEADER);
        }
        if first_is_system {
            n += texts(enc, &messages[0]);
            rest = &messages[1..];
        }
    }
    if !tools.is_empty() {
        n += count(enc, LLAMA3_TOOL_PREAMBLE);
        for t in tools {
            n += count(enc, &pretty_json(t.raw)) + count(enc, "\n\n");
        }
        if matches!(profile.dialect, Dialect::Groq | Dialect::Generic) {
            n += GROQ_LLAMA_TOOL_EXTRA;
        }
    }
    for m in rest {
        let role = if m.role == "tool" { "ipython" } else { m.role };
        n += header(role) + 1 + texts(enc, m);
        for (name, args) in &m.tool_calls {
            n += count(enc, "{\"name\": \"") + count(enc, name);
            n += count(enc, "\", \"parameters\": ") + count(enc, args) + 1;
        }
        n += m
            .images
            .iter()
            .map(|i| profile.images.tokens(i))
            .sum::<u64>();
    }
    n + header("assistant")
}

/// ChatML: `<|im_start|>role\n…<|im_end|>\n` per message, tools in a Hermes block in the
/// system message, `<|im_start|>assistant\n` to prime the reply.
fn chatml(enc: Encoding, messages: &[Message<'_>], tools: &[Tool<'_>], images: ImageRule) -> u64 {
    let mut n = 0;
    for m in messages {
        n += 2 + count(enc, m.role) + 2 + texts(enc, m);
        for (name, args) in &m.tool_calls {
            n += count(
                enc,
                "<tool_call>\n{\"name\": \"\", \"arguments\": }\n</tool_call>",
            );
            n += count(enc, name) + count(enc, args);
        }
        n += m.images.iter().map(|i| images.tokens(i)).sum::<u64>();
    }
    if !tools.is_empty() {
        if messages.first().is_none_or(|m| m.role != "system") {
            n += 4 + count(enc, "system");
        }
        n += count(enc, CHATML_TOOLS_HEAD) + count(enc, CHATML_TOOLS_TAIL);
        for t in tools {
            n += count(enc, &t.raw.to_string()) + 1;
        }
    }
    n + 2 + count(enc, "assistant")
}

/// JSON with 4-space indents, as Jinja's `tojson(indent=4)` writes it.
fn pretty_json(v: &Value) -> String {
    use serde::Serialize;
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    match v.serialize(&mut ser) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => v.to_string(),
    }
}

/// OpenAI's rendering of function tools: a TypeScript namespace with comments.
fn typescript_namespace(tools: &[Tool<'_>]) -> String {
    let mut s = String::from("# Tools\n\n## functions\n\nnamespace functions {\n\n");
    for t in tools {
        if !t.description.is_empty() {
            s.push_str(&format!("// {}\n", t.description));
        }
        s.push_str(&format!("type {} = (_: {{\n", t.name));
        let props = t.parameters.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = t
            .parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (key, schema) in props.into_iter().flatten() {
            if let Some(d) = schema.get("description").and_then(Value::as_str) {
                s.push_str(&format!("// {d}\n"));
            }
            let opt = if required.contains(&key.as_str()) {
                ""
            } else {
                "?"
            };
            s.push_str(&format!("{key}{opt}: {},\n", ts_type(schema)));
        }
        s.push_str("}) => any;\n\n");
    }
    s.push_str("} // namespace functions");
    s
}

/// A JSON schema as a TypeScript type (enums as unions, objects as their JSON).
fn ts_type(schema: &Value) -> String {
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => "string".into(),
        Some("integer") | Some("number") => "number".into(),
        Some("boolean") => "boolean".into(),
        Some("array") => format!(
            "{}[]",
            schema
                .get("items")
                .map(ts_type)
                .unwrap_or_else(|| "any".into())
        ),
        Some("object") => schema
            .get("properties")
            .map(Value::to_string)
            .unwrap_or_else(|| "object".into()),
        _ => "any".into(),
    }
}
