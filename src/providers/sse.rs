//! An incremental Server-Sent Events parser (the WHATWG event-stream format).
//!
//! Bytes go in as they arrive, split anywhere (even inside a UTF-8 character); complete
//! events come out. Lines end in LF, CRLF or CR; `:` lines are comments (keep-alives);
//! several `data:` lines join with `\n`; `event:` and `id:` are kept on the event, `retry:`
//! and unknown fields are ignored. At the end of the stream, [`SseParser::finish`] also
//! delivers an event that lacked its closing blank line.

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any (`None` means the default `message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen in the stream, if any.
    pub id: Option<String>,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous byte ended a line with CR: a following LF belongs to it.
    after_cr: bool,
    /// Whether the stream's first bytes (and a possible BOM) were seen.
    started: bool,
    /// `data` of the event being built (each line followed by `\n`).
    data: String,
    /// Whether any `data` line was seen for the event being built.
    has_data: bool,
    /// `event` of the event being built.
    event: Option<String>,
    /// The last event id.
    last_id: Option<String>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The most bytes one unfinished event (its current line plus its `data` so far) may hold.
/// A peer that sends more without ending the event is broken or hostile: callers check
/// [`SseParser::buffered`] against it and give up instead of growing without bound.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes; returns the events they complete, in order.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.started {
            // Hold back until we know whether the stream starts with a BOM.
            self.line.extend_from_slice(bytes);
            if self.line.len() < BOM.len() && BOM.starts_with(&self.line) {
                return out;
            }
            self.started = true;
            let held = std::mem::take(&mut self.line);
            let rest = held.strip_prefix(BOM).unwrap_or(&held);
            self.scan(rest, &mut out);
            return out;
        }
        // An empty chunk says nothing about whether an LF follows the CR.
        if self.after_cr && !bytes.is_empty() {
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
            self.after_cr = false;
        }
        self.scan(bytes, &mut out);
        out
    }

    /// Bytes held for the unfinished line and event (compare with [`MAX_EVENT_BYTES`]).
    pub fn buffered(&self) -> usize {
        self.line.len() + self.data.len()
    }

    /// Ends the stream: a last line without its line end is processed and an event that
    /// lacked its closing blank line is delivered.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let held = std::mem::take(&mut self.line);
            let rest = held.strip_prefix(BOM).unwrap_or(&held).to_vec();
            self.line = rest;
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out);
        }
        self.dispatch(&mut out);
        out
    }

    /// Splits `bytes` into lines, processing each complete one.
    fn scan(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) {
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = bytes.split_at(pos);
            if self.line.is_empty() {
                self.process_line(head, out);
            } else {
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, out);
            }
            if tail[0] == b'\r' {
                match tail.get(1) {
                    Some(b'\n') => bytes = &tail[2..],
                    Some(_) => bytes = &tail[1..],
                    None => {
                        self.after_cr = true;
                        bytes = &[];
                    }
                }
            } else {
                bytes = &tail[1..];
            }
        }
        self.line.extend_from_slice(bytes);
    }

    /// Handles one complete line (without its line end).
    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned())
            }
            _ => {}
        }
    }

    /// Ends the event being built (a blank line): delivers it if it has data.
    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if !self.has_data {
            self.data.clear();
            return;
        }
        self.has_data = false;
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        out.push(SseEvent {
            event,
            data,
            id: self.last_id.clone(),
        });
    }
}
