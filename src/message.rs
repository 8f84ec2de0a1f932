//! Chat messages as rota reads them: roles, text and image parts, tool calls and tool
//! results, typed. JSON exists only at the wire (the provider core serializes these) and at
//! the faces' edges (batch lines, `rota estimate`, the sim), where [`Message`] is read from
//! any JSON value without failing: what rota does not read (a part type it does not know,
//! a field it does not use) is kept as it was and sent on unchanged.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// Who speaks a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// Instructions for the whole conversation.
    System,
    /// OpenAI's newer name for system instructions.
    Developer,
    /// The person asking.
    #[default]
    User,
    /// The model.
    Assistant,
    /// The result of a tool call, answering the call with its `tool_call_id`.
    Tool,
    /// A role rota does not know, kept as written.
    Other(String),
}

impl Role {
    /// The role's wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Other(s) => s,
        }
    }

    /// The role of a wire name.
    pub fn parse(s: &str) -> Role {
        match s {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => Role::Other(other.to_string()),
        }
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A message's content: one string, or parts.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text and image parts (and parts rota passes through unread).
    Parts(Vec<ContentPart>),
}

/// One part of a message's content.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(into = "Value")]
pub enum ContentPart {
    /// `{"type": "text", "text": …}`.
    Text(String),
    /// `{"type": "image_url", "image_url": {"url": …, "detail": …}}`.
    Image(ImageUrl),
    /// Any other part (audio, files, …), kept as written.
    Other(Value),
}

/// An image part's target: a `data:` URL or a remote one, and the detail asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageUrl {
    /// The URL.
    pub url: String,
    /// `low`, `high` or `auto`, when given.
    pub detail: Option<String>,
}

impl ImageUrl {
    /// The decoded size in bytes of a base64 `data:` URL's payload (0 for a remote URL).
    pub fn data_bytes(&self) -> u64 {
        match self.url.split_once(";base64,") {
            Some((_, b64)) => b64.len() as u64 * 3 / 4,
            None => 0,
        }
    }
}

/// A tool call an assistant message asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ToolCall {
    /// The id its tool result answers with.
    pub id: String,
    /// Always `function` today.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCall,
}

impl ToolCall {
    /// Folds one streamed piece of a tool call (call `index` of the answer: its id and
    /// name where the piece starts it, and more of its arguments) into the calls so far.
    pub fn fold_piece(
        calls: &mut Vec<ToolCall>,
        index: usize,
        id: Option<String>,
        name: Option<&str>,
        arguments: &str,
    ) {
        while calls.len() <= index {
            calls.push(ToolCall {
                kind: "function".into(),
                ..ToolCall::default()
            });
        }
        let c = &mut calls[index];
        if let Some(id) = id {
            c.id = id;
        }
        if let Some(name) = name {
            c.function.name.push_str(name);
        }
        c.function.arguments.push_str(arguments);
    }
}

/// The function a tool call names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FunctionCall {
    /// The function's name.
    pub name: String,
    /// Its arguments as JSON text (as the model wrote them).
    pub arguments: String,
}

/// One chat message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Value")]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What it says; `None` for an assistant message that only calls tools.
    pub content: Option<Content>,
    /// The optional participant name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tools an assistant message calls.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a tool result answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Fields rota does not read, sent on as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message of `role` with text content.
    pub fn text_of(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(Content::Text(text.into())),
            ..Self::default()
        }
    }

    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::text_of(Role::System, text)
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::text_of(Role::User, text)
    }

    /// An assistant message.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text_of(Role::Assistant, text)
    }

    /// A user message of parts (text and images).
    pub fn user_parts(parts: Vec<ContentPart>) -> Self {
        Self {
            role: Role::User,
            content: Some(Content::Parts(parts)),
            ..Self::default()
        }
    }

    /// A tool result answering the call `id`.
    pub fn tool_result(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(id.into()),
            ..Self::text_of(Role::Tool, text)
        }
    }

    /// The text parts, in order (a string content is one part).
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        let (one, parts): (Option<&str>, &[ContentPart]) = match &self.content {
            Some(Content::Text(s)) => (Some(s), &[]),
            Some(Content::Parts(p)) => (None, p),
            None => (None, &[]),
        };
        one.into_iter().chain(parts.iter().filter_map(|p| match p {
            ContentPart::Text(t) => Some(t.as_str()),
            _ => None,
        }))
    }

    /// The content when it is one string (not parts).
    pub fn as_text(&self) -> Option<&str> {
        match &self.content {
            Some(Content::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// The text parts joined by newlines.
    pub fn text(&self) -> String {
        self.texts().collect::<Vec<_>>().join("\n")
    }

    /// The image parts, in order.
    pub fn images(&self) -> impl Iterator<Item = &ImageUrl> {
        let parts: &[ContentPart] = match &self.content {
            Some(Content::Parts(p)) => p,
            _ => &[],
        };
        parts.iter().filter_map(|p| match p {
            ContentPart::Image(i) => Some(i),
            _ => None,
        })
    }

    /// Whether the content holds anything but text (images, parts rota does not read).
    pub fn has_non_text(&self) -> bool {
        matches!(&self.content, Some(Content::Parts(p)) if p.iter().any(|p| !matches!(p, ContentPart::Text(_))))
    }
}

/// Text as a terminal may show it: control characters (an answer's own `ESC`, `BEL`, …)
/// become their visible pictures (`␛`, `␇`, …), so a model cannot move the cursor, retitle
/// the window or clear the screen. Line breaks and tabs stay.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let harmful = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(harmful) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\n' | '\t' => c,
                '\u{7f}' => '\u{2421}',
                c if (c as u32) < 0x20 => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
                c if c.is_control() => '\u{fffd}',
                c => c,
            })
            .collect(),
    )
}

/// The text of the last user message (text parts joined by newlines); empty when none.
pub fn last_user_text(messages: &[Message]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(Message::text)
        .unwrap_or_default()
}

/// Image parts in the messages: how many, and the largest `data:` payload in bytes.
pub fn count_images(messages: &[Message]) -> (usize, u64) {
    messages
        .iter()
        .flat_map(Message::images)
        .fold((0, 0), |(n, largest), i| {
            (n + 1, largest.max(i.data_bytes()))
        })
}

/// Reads the `messages` array of a chat-completions body (empty when there is none).
pub fn messages_of(body: &Value) -> Vec<Message> {
    body.get("messages")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(Message::from).collect())
        .unwrap_or_default()
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

impl From<Value> for Message {
    fn from(v: Value) -> Self {
        Message::from(&v)
    }
}

impl From<&Value> for Message {
    /// Reads any JSON value: a non-object is an empty user message; a missing role is
    /// `user`; unknown fields are kept in `extra`.
    fn from(v: &Value) -> Self {
        let Some(obj) = v.as_object() else {
            return Message::default();
        };
        let mut m = Message {
            role: obj
                .get("role")
                .and_then(Value::as_str)
                .map_or(Role::User, Role::parse),
            name: string(obj.get("name")),
            tool_call_id: string(obj.get("tool_call_id")),
            ..Message::default()
        };
        m.content = match obj.get("content") {
            Some(Value::String(s)) => Some(Content::Text(s.clone())),
            Some(Value::Array(parts)) => Some(Content::Parts(
                parts.iter().cloned().map(ContentPart::from).collect(),
            )),
            _ => None,
        };
        if let Some(Value::Array(calls)) = obj.get("tool_calls") {
            m.tool_calls = calls.iter().map(ToolCall::from).collect();
        }
        for (k, val) in obj {
            if !matches!(
                k.as_str(),
                "role" | "content" | "name" | "tool_calls" | "tool_call_id"
            ) {
                m.extra.insert(k.clone(), val.clone());
            }
        }
        m
    }
}

impl From<&Value> for ToolCall {
    /// Reads a tool call; arguments given as an object (some dialects) become JSON text.
    fn from(v: &Value) -> Self {
        let f = v.get("function");
        let arguments = match f.and_then(|f| f.get("arguments")) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => "{}".to_string(),
            Some(other) => other.to_string(),
        };
        ToolCall {
            id: string(v.get("id")).unwrap_or_default(),
            kind: string(v.get("type")).unwrap_or_else(|| "function".to_string()),
            function: FunctionCall {
                name: string(f.and_then(|f| f.get("name"))).unwrap_or_default(),
                arguments,
            },
        }
    }
}

impl From<Value> for ContentPart {
    /// A part with `text` is text; one with `image_url` (an object or a bare URL string)
    /// is an image; a bare string is text; anything else is kept as written.
    fn from(v: Value) -> Self {
        if let Some(t) = v.get("text").and_then(Value::as_str) {
            return ContentPart::Text(t.to_string());
        }
        if let Some(img) = v.get("image_url") {
            return ContentPart::Image(match img {
                Value::String(u) => ImageUrl {
                    url: u.clone(),
                    detail: None,
                },
                other => ImageUrl {
                    url: string(other.get("url")).unwrap_or_default(),
                    detail: string(other.get("detail")),
                },
            });
        }
        match v {
            Value::String(s) => ContentPart::Text(s),
            other => ContentPart::Other(other),
        }
    }
}

impl From<ContentPart> for Value {
    fn from(p: ContentPart) -> Value {
        match p {
            ContentPart::Text(text) => serde_json::json!({"type": "text", "text": text}),
            ContentPart::Image(i) => {
                let mut image = serde_json::json!({"url": i.url});
                if let Some(d) = i.detail {
                    image["detail"] = d.into();
                }
                serde_json::json!({"type": "image_url", "image_url": image})
            }
            ContentPart::Other(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shape_reads_and_writes_back_as_it_came() {
        let wire = json!([
            {"role": "system", "content": "be brief"},
            {"role": "user", "name": "ana", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "web_search", "arguments": "{\"query\":\"x\"}"}}
            ], "refusal": null},
            {"role": "tool", "tool_call_id": "call_1", "content": "3 results"}
        ]);
        let messages: Vec<Message> = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(messages[1].role, Role::User);
        assert_eq!(messages[1].text(), "what is this?");
        assert_eq!(count_images(&messages), (1, 3));
        assert!(messages[1].has_non_text());
        assert_eq!(messages[2].tool_calls[0].function.name, "web_search");
        assert_eq!(messages[3].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(serde_json::to_value(&messages).unwrap(), wire);
    }

    #[test]
    fn anything_reads_without_failing() {
        for v in [
            json!(7),
            json!(null),
            json!({}),
            json!({"role": 3, "content": {"x": 1}}),
        ] {
            let m = Message::from(&v);
            assert_eq!(m.role, Role::User, "{v}");
            assert_eq!(m.text(), "");
        }
        let odd = Message::from(&json!({"role": "critic", "content": "hm"}));
        assert_eq!(odd.role, Role::Other("critic".into()));
        assert_eq!(serde_json::to_value(&odd).unwrap()["role"], "critic");
        // Arguments written as an object become JSON text.
        let call =
            ToolCall::from(&json!({"id": "a", "function": {"name": "f", "arguments": {"q": 1}}}));
        assert_eq!(call.function.arguments, r#"{"q":1}"#);
        assert_eq!(call.kind, "function");
    }

    #[test]
    fn control_characters_become_visible_pictures() {
        assert_eq!(printable("plain\ntext\tok"), "plain\ntext\tok");
        assert_eq!(
            printable("\u{1b}]0;pwned\u{7}\u{1b}[2Jx\r\u{9b}\u{7f}"),
            "␛]0;pwned␇␛[2Jx␍\u{fffd}␡"
        );
    }

    #[test]
    fn the_last_user_text_joins_its_text_parts() {
        let messages = vec![
            Message::user("first"),
            Message::assistant("answer"),
            Message::user_parts(vec![
                ContentPart::Text("a".into()),
                ContentPart::Image(ImageUrl::default()),
                ContentPart::Text("b".into()),
            ]),
            Message::tool_result("x", "result"),
        ];
        assert_eq!(last_user_text(&messages), "a\nb");
        assert_eq!(last_user_text(&[]), "");
    }
}
