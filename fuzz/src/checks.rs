//! What each parser of outside input must survive, written once: the fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) feed these bytes from libFuzzer, and the proptest twins in
//! `tests/never_panic.rs` (which include this file) feed them generated input in the normal
//! test suite. Every check takes any bytes, never panics on its own, and asserts only what
//! the parser promises (a panic here is a finding).

// The wire readers' public paths in one place (the SSE decoder, the error-body classifier
// and the rate-limit header readers), so a move of the modules is one edit here.
use rota::engine::Headers;
use rota::model::Dialect;
use rota::providers::read::{classify, rate_readings, reset_ms, retry_after_ms};
use rota::providers::sse::SseParser;
use rota::providers::{Assembler, StreamDecoder, decode_stream};
use serde_json::{Map, Value};

/// Splits `data` into a control prefix of `n` bytes (missing bytes read as 0) and the rest.
fn split_control<const N: usize>(data: &[u8]) -> ([u8; N], &[u8]) {
    let mut ctl = [0u8; N];
    let n = data.len().min(N);
    ctl[..n].copy_from_slice(&data[..n]);
    (ctl, &data[n..])
}

/// One of the four dialects.
pub fn dialect(b: u8) -> Dialect {
    match b % 4 {
        0 => Dialect::Groq,
        1 => Dialect::OpenAi,
        2 => Dialect::Together,
        _ => Dialect::Generic,
    }
}

/// `data` cut into pieces at the positions `cuts` names (each byte is a piece length).
fn pieces<'a>(data: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    for &c in cuts.iter().cycle().take(data.len() + 1) {
        if rest.is_empty() {
            break;
        }
        let n = (c as usize % 17).min(rest.len());
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The SSE parser: the same events whether the stream comes whole or cut anywhere (even
/// inside a UTF-8 character or between CR and LF). Control: 2 bytes of cut lengths.
pub fn sse(data: &[u8]) {
    let (cuts, body) = split_control::<2>(data);
    let mut whole = SseParser::new();
    let mut a = whole.feed(body);
    a.extend(whole.finish());
    let mut cut = SseParser::new();
    let mut b = Vec::new();
    for p in pieces(body, &cuts) {
        b.extend(cut.feed(p));
    }
    b.extend(cut.finish());
    assert_eq!(a, b, "events differ when the stream is cut");
}

/// The stream decoder (SSE → chunks → events → answer): any bytes give an answer or an
/// error, the same whether the bytes come whole or cut. Control: a dialect byte and 2 bytes
/// of cut lengths.
pub fn stream(data: &[u8]) {
    let ([d, c0, c1], body) = split_control::<3>(data);
    let d = dialect(d);
    let whole = decode_stream(d, body);
    let mut dec = StreamDecoder::new(d);
    let mut events = Vec::new();
    let mut cut = Ok(());
    for p in pieces(body, &[c0, c1]) {
        cut = dec.feed(p, &mut events);
        if cut.is_err() {
            break;
        }
    }
    if cut.is_ok() {
        cut = dec.finish(&mut events);
    }
    let cut = cut.map(|()| {
        let mut asm = Assembler::new();
        events.iter().for_each(|e| asm.push(e));
        asm.finish()
    });
    match (&whole, &cut) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "answers differ when the stream is cut"),
        (Err(_), Err(_)) => {}
        _ => panic!("whole: {whole:?}, cut: {cut:?}"),
    }
    // A whole (non-streamed) body read as text.
    let mut dec = StreamDecoder::new(d);
    let _ = dec.whole(&String::from_utf8_lossy(body), &mut Vec::new());
}

/// Headers from bytes: `name: value` lines, names mostly from the ones rota reads so the
/// values get parsed (a name byte picks one, or the line's own text is the name).
pub fn headers(data: &[u8]) -> Headers {
    const NAMES: [&str; 12] = [
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-tokenlimit-limit",
        "retry-after",
        "retry-after-ms",
    ];
    let text = String::from_utf8_lossy(data);
    text.split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let pick = l.as_bytes()[0] as usize;
            match l.split_once(':') {
                Some((k, v)) if pick.is_multiple_of(4) => (k.to_string(), v.to_string()),
                _ => {
                    let v: String = l.chars().skip(1).collect();
                    (NAMES[pick % NAMES.len()].to_string(), v)
                }
            }
        })
        .collect()
}

/// The error-body classifier: any status, headers and body give a reading whose message is
/// safe for a terminal (no control characters) and short. Control: dialect, status (2),
/// now (8), headers length (1); then the headers, then the body.
pub fn error_body(data: &[u8]) {
    let (ctl, rest) = split_control::<12>(data);
    let d = dialect(ctl[0]);
    let status = u16::from_le_bytes([ctl[1], ctl[2]]);
    let mut now_bytes = [0u8; 8];
    now_bytes.copy_from_slice(&ctl[3..11]);
    let now = u64::from_le_bytes(now_bytes);
    let (h, body) = rest.split_at((ctl[11] as usize).min(rest.len()));
    let headers = headers(h);
    let body = String::from_utf8_lossy(body);
    let c = classify(d, status, &headers, &body, now);
    assert!(
        !c.message.chars().any(char::is_control),
        "a control character in {:?}",
        c.message
    );
    // 600 characters of a provider's message (or 200 of another body) plus "HTTP N: " and
    // the ellipsis.
    assert!(c.message.chars().count() <= 620, "{}", c.message.len());
}

/// The rate-limit header readers: any headers and any `now` give readings or nothing.
/// Control: dialect and now (8 bytes).
pub fn rate_headers(data: &[u8]) {
    let (ctl, rest) = split_control::<9>(data);
    let d = dialect(ctl[0]);
    let mut now_bytes = [0u8; 8];
    now_bytes.copy_from_slice(&ctl[1..9]);
    let now = u64::from_le_bytes(now_bytes);
    let headers = headers(rest);
    let readings = rate_readings(d, &headers);
    assert!(readings.len() <= 2, "{readings:?}");
    let _ = retry_after_ms(&headers, now);
    for (_, v) in &headers {
        let _ = reset_ms(v);
    }
}

/// Durations (config values, provider resets): any text parses or is refused, and what
/// parses formats to text that parses again.
pub fn duration(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let ms = rota::duration::parse_ms(&text);
    if let Some(ms) = ms {
        assert!(ms.is_finite() && ms >= 0.0, "{text:?} → {ms}");
    }
    if let Ok(d) = rota::duration::parse(&text) {
        let shown = rota::duration::format(d);
        assert!(
            rota::duration::parse(&shown).is_ok(),
            "{text:?} formats as {shown:?}, which does not parse"
        );
    }
}

/// The config loader: any text is a config or errors that say where; nothing is read from
/// the environment.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Err(errors) = rota::config::parse(&text, "fuzz.toml", &|_| None) {
        assert!(!errors.to_string().is_empty());
    }
}

/// A batch input line and an output file: any line is a request or a refusal with an id;
/// any output bytes give the ids they settle. Control: a task byte.
pub fn batch(data: &[u8]) {
    let ([t], rest) = split_control::<1>(data);
    let task = match t % 3 {
        0 => None,
        1 => Some(rota::model::Task::Code),
        _ => Some(rota::model::Task::Auto),
    };
    let text = String::from_utf8_lossy(rest);
    for (n, line) in text.lines().enumerate() {
        let (key, parsed) = rota::cli::batch::parse_line(line, n + 1, task);
        assert!(!key.is_empty(), "{line:?}");
        if let Ok(req) = parsed {
            assert!(!req.messages.is_empty(), "{line:?}");
        }
    }
    let _ = rota::cli::batch::settled_keys(rest);
}

/// A JSON value built from bytes, so the fuzzer reaches every shape (most byte strings are
/// not JSON text): each byte picks a kind, strings and keys come from the bytes after it.
pub fn json_from_bytes(data: &[u8]) -> Value {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        return v;
    }
    let mut at = 0;
    build(data, &mut at, 0)
}

fn build(data: &[u8], at: &mut usize, depth: usize) -> Value {
    const KEYS: [&str; 12] = [
        "role",
        "content",
        "name",
        "tool_calls",
        "tool_call_id",
        "type",
        "text",
        "image_url",
        "url",
        "function",
        "arguments",
        "id",
    ];
    let Some(&b) = data.get(*at) else {
        return Value::Null;
    };
    *at += 1;
    match (b % 8, depth) {
        (0, _) => Value::Null,
        (1, _) => Value::Bool(b & 0x80 != 0),
        (2, _) => Value::from(i64::from(b as i8) * 1_000_003),
        (3, _) => {
            let k = KEYS[(b as usize >> 3) % KEYS.len()];
            let roles = ["system", "user", "assistant", "tool", "developer", "text"];
            if b & 0x80 != 0 {
                Value::from(roles[(b as usize >> 3) % roles.len()])
            } else {
                Value::from(k)
            }
        }
        (4, _) => Value::String(text(data, at)),
        (5, d) if d < 6 => {
            let n = (b >> 3) as usize % 5;
            Value::Array((0..n).map(|_| build(data, at, depth + 1)).collect())
        }
        (_, d) if d < 6 => {
            let n = (b >> 3) as usize % 6;
            let mut m = Map::new();
            for _ in 0..n {
                let kb = data.get(*at).copied().unwrap_or(0);
                *at += 1;
                let key = if kb % 3 == 0 {
                    text(data, at)
                } else {
                    KEYS[kb as usize % KEYS.len()].to_string()
                };
                let v = build(data, at, depth + 1);
                m.insert(key, v);
            }
            Value::Object(m)
        }
        _ => Value::Null,
    }
}

/// A short string from the bytes at `at` (its first byte is the length).
fn text(data: &[u8], at: &mut usize) -> String {
    let n = (data.get(*at).copied().unwrap_or(0) % 12) as usize;
    *at += 1;
    let start = (*at).min(data.len());
    let end = (start + n).min(data.len());
    *at = end;
    String::from_utf8_lossy(&data[start..end]).into_owned()
}

/// The typed message reader: any JSON value is a message, and a message written back to
/// JSON reads as itself (nothing is lost or changed by one more trip).
pub fn message_value(v: &Value) {
    use rota::message::Message;
    let m = Message::from(v);
    let written = serde_json::to_value(&m).unwrap_or_else(|e| panic!("{m:?} → {e}"));
    let again = Message::from(&written);
    assert_eq!(m, again, "{v} → {written}");
}

/// [`message_value`] on a value built from bytes.
pub fn message(data: &[u8]) {
    message_value(&json_from_bytes(data));
    // And every element of an array, as a batch's `messages` are read.
    if let Value::Array(items) = json_from_bytes(data) {
        items.iter().for_each(message_value);
    }
}
