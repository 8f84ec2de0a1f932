//! Answers: deterministic text that reads as sentences (one token per word), and tool calls
//! whose arguments satisfy the offered schema's `required` fields.

use super::faults::splitmix64;
use serde_json::{Map, Value, json};

/// FNV-1a over bytes, then mixed: a stable hash for seeding answers.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix64(h)
}

/// The text of the last user message of a request body (string content, or the text parts
/// joined by spaces).
pub fn last_user_text(body: &Value) -> String {
    use crate::message::{Content, Role};
    let messages = crate::message::messages_of(body);
    match messages.iter().rev().find(|m| m.role == Role::User) {
        Some(m) => match &m.content {
            Some(Content::Text(s)) => s.clone(),
            _ => m.texts().collect::<Vec<_>>().join(" "),
        },
        None => String::new(),
    }
}

const DET: &[&str] = &["the", "a", "each", "every", "this", "one"];
const ADJ: &[&str] = &[
    "quick", "careful", "simple", "steady", "bright", "quiet", "useful", "small", "clear",
    "patient", "modern", "gentle", "shared", "local", "daily",
];
const NOUN: &[&str] = &[
    "model", "request", "answer", "window", "account", "router", "token", "stream", "limit",
    "provider", "question", "reader", "system", "minute", "signal", "garden", "river", "library",
];
const VERB: &[&str] = &[
    "reads", "follows", "keeps", "finds", "shapes", "carries", "explains", "checks", "builds",
    "answers", "guides", "counts", "holds", "shows",
];
const PREP: &[&str] = &[
    "within", "across", "after", "before", "beside", "through", "under",
];

fn pick<'a>(list: &[&'a str], state: &mut u64) -> &'a str {
    *state = splitmix64(*state);
    list[(*state % list.len() as u64) as usize]
}

/// `n` words forming sentences, seeded by `seed`; the last word ends a sentence.
pub fn words(seed: u64, n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    let mut st = seed;
    while out.len() < n {
        st = splitmix64(st);
        let long = st.is_multiple_of(2);
        let mut s = vec![
            pick(DET, &mut st),
            pick(ADJ, &mut st),
            pick(NOUN, &mut st),
            pick(VERB, &mut st),
            pick(DET, &mut st),
            pick(NOUN, &mut st),
        ];
        if long {
            s.extend([
                pick(PREP, &mut st),
                pick(DET, &mut st),
                pick(ADJ, &mut st),
                pick(NOUN, &mut st),
            ]);
        }
        for (i, w) in s.iter().enumerate() {
            if out.len() == n {
                break;
            }
            let mut word = if i == 0 {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            } else {
                (*w).to_string()
            };
            if i == s.len() - 1 {
                word.push('.');
            }
            out.push(word);
        }
    }
    if let Some(last) = out.last_mut()
        && !last.ends_with('.')
    {
        last.push('.');
    }
    out
}

/// The answer's pieces as streamed: the first word bare, later ones with a leading space.
pub fn pieces(words: &[String]) -> Vec<String> {
    words
        .iter()
        .enumerate()
        .map(|(i, w)| if i == 0 { w.clone() } else { format!(" {w}") })
        .collect()
}

/// One tool call of an answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// Call id (`call_…`).
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as JSON text.
    pub arguments: String,
}

/// The function tools a request offers: (name, parameters schema).
pub fn offered_tools(body: &Value) -> Vec<(String, Value)> {
    body.get("tools")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| {
                    let f = t.get("function")?;
                    let name = f.get("name")?.as_str()?.to_string();
                    Some((name, f.get("parameters").cloned().unwrap_or(json!({}))))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the request wants an answer with tool calls now: tools offered, `tool_choice`
/// not `none`, and the conversation does not end with a tool result.
pub fn wants_tools(body: &Value) -> bool {
    wants_tools_until(body, 0)
}

/// [`wants_tools`], but a model that has read fewer than `results` tool results asks for
/// more (one call per turn when it takes one at a time): how a researcher that wants
/// several sources behaves.
pub fn wants_tools_until(body: &Value, results: u32) -> bool {
    let read = body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(0, |m| {
            m.iter()
                .filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
                .count()
        });
    if (read as u64) < u64::from(results) && !offered_tools(body).is_empty() {
        return body.get("tool_choice").and_then(Value::as_str) != Some("none");
    }
    if offered_tools(body).is_empty() {
        return false;
    }
    if body.get("tool_choice").and_then(Value::as_str) == Some("none") {
        return false;
    }
    let last_role = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str);
    last_role != Some("tool")
}

/// Up to `count` tool calls (one when `parallel_tool_calls` is false or `tool_choice` names
/// a function), cycling through the offered tools.
pub fn tool_calls(body: &Value, count: u32, seed: u64) -> Vec<ToolCall> {
    let tools = offered_tools(body);
    let forced = body
        .get("tool_choice")
        .and_then(|c| c.get("function"))
        .and_then(|f| f.get("name"))
        .and_then(Value::as_str);
    let parallel = body
        .get("parallel_tool_calls")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let chosen: Vec<&(String, Value)> = match forced {
        Some(name) => tools.iter().filter(|(n, _)| n == name).take(1).collect(),
        None => {
            let n = if parallel { count.max(1) as usize } else { 1 };
            // A researcher searches first: every call a search, when search is offered.
            let search: Vec<&(String, Value)> =
                tools.iter().filter(|(n, _)| n == "web_search").collect();
            let pick = if search.is_empty() {
                tools.iter().collect()
            } else {
                search
            };
            pick.into_iter()
                .cycle()
                .take(n.min(tools.len() * 4))
                .collect()
        }
    };
    let topic = last_user_text(body);
    chosen
        .into_iter()
        .enumerate()
        .map(|(i, (name, schema))| {
            let h = splitmix64(seed ^ (i as u64 + 1));
            ToolCall {
                id: format!("call_{:024x}", u128::from(h) << 32 | u128::from(h >> 32)),
                name: name.clone(),
                arguments: arguments(schema, &topic, i).to_string(),
            }
        })
        .collect()
}

/// Arguments that satisfy `required`: strings from the prompt, sensible numbers, `true`.
pub fn arguments(schema: &Value, topic: &str, variant: usize) -> Value {
    let mut out = Map::new();
    let props = schema.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for name in required {
        let prop = props
            .and_then(|p| p.get(name))
            .cloned()
            .unwrap_or(json!({}));
        out.insert(name.to_string(), value_for(name, &prop, topic, variant));
    }
    Value::Object(out)
}

fn value_for(name: &str, prop: &Value, topic: &str, variant: usize) -> Value {
    if let Some(first) = prop
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    let ty = match prop.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string"),
        _ => "string",
    };
    match ty {
        "integer" => json!(
            prop.get("minimum")
                .and_then(Value::as_i64)
                .unwrap_or(1)
                .max(1)
        ),
        "number" => json!(prop.get("minimum").and_then(Value::as_f64).unwrap_or(1.0)),
        "boolean" => json!(true),
        "array" => json!([]),
        "object" => arguments(prop, topic, variant),
        _ => {
            let words: Vec<&str> = topic.split_whitespace().take(8).collect();
            let base = if words.is_empty() {
                format!("example {name}")
            } else {
                words.join(" ")
            };
            if variant == 0 {
                json!(base)
            } else {
                json!(format!("{base} ({})", variant + 1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_deterministic_sentences() {
        let a = words(42, 23);
        assert_eq!(a, words(42, 23));
        assert_eq!(a.len(), 23);
        assert!(a[0].chars().next().unwrap().is_uppercase());
        assert!(a.last().unwrap().ends_with('.'));
        assert_ne!(a, words(43, 23));
    }

    #[test]
    fn tool_arguments_fill_required_fields() {
        let body = json!({
            "messages": [{"role": "user", "content": "weather in Paris please"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                               "metric": {"type": "boolean"}, "unit": {"enum": ["c", "f"]}},
                "required": ["city", "days", "metric", "unit"]}}}]
        });
        assert!(wants_tools(&body));
        let calls = tool_calls(&body, 2, 9);
        assert_eq!(calls.len(), 2);
        let args: Value = serde_json::from_str(&calls[0].arguments).unwrap();
        assert_eq!(args["city"], "weather in Paris please");
        assert_eq!(args["days"], 1);
        assert_eq!(args["metric"], true);
        assert_eq!(args["unit"], "c");
        assert_ne!(calls[0].id, calls[1].id);
    }
}
