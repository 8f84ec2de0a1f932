//! The chat pane: the history, the answer streaming in, scrolling.
//!
//! Each message keeps its rendered lines for the last width it was drawn at, so drawing
//! a long history only re-renders what changed (a resize re-wraps everything once), and a
//! streaming answer parses and wraps only its open tail as text comes
//! ([`markdown::Growing`]).

use super::markdown::{self, Rendered};
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Scrollbar, ScrollbarOrientation, ScrollbarState};

/// Who a message is from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A system prompt (only in a resumed conversation that has one).
    System,
    /// The user's prompt.
    User,
    /// The model's answer.
    Assistant,
    /// A rotation or wait notice from rota.
    Notice,
    /// A failed request.
    Error,
}

/// One entry of the history.
#[derive(Clone, Debug)]
pub struct Message {
    /// Who it is from.
    pub role: Role,
    /// Its text (markdown for answers).
    pub text: String,
    /// `provider/model` of an answer, once known.
    pub model: Option<String>,
    /// The answer is still streaming.
    pub streaming: bool,
    /// The user stopped the answer; the text is what came.
    pub stopped: bool,
    /// A reasoning model's thinking before (or while) it answered: shown dimmed, never sent
    /// back in the history.
    pub reasoning: String,
    /// The answer was cut at this many tokens (`finish_reason: "length"`): it can be
    /// continued (Alt+C).
    pub cut: Option<u64>,
    /// A research answer's tool calls, one line each (`searching: q · 3 results · 0.4s`):
    /// drawn with the thinking, folded with it.
    pub tools: Vec<String>,
    /// Whether the thinking is drawn whole (else one summary line once the answer starts).
    show_reasoning: bool,
    /// A notice's or error's text, parsed (width-independent): kept across resizes.
    parsed: Option<markdown::Parsed>,
    /// The markdown of a prompt or answer, parsed and wrapped as it grows: kept across
    /// resizes and appends.
    md: markdown::Growing,
    /// Wrapped lines at one width: the header's first, then the text's.
    cache: Option<(u16, Rendered)>,
    /// Lines of the header (and thinking) at the top of `cache`.
    head: usize,
    /// Text was appended since `cache` was drawn.
    grew: bool,
}

impl Message {
    /// A message with no model yet, not streaming.
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            text: text.into(),
            model: None,
            streaming: false,
            stopped: false,
            reasoning: String::new(),
            cut: None,
            tools: Vec::new(),
            show_reasoning: false,
            parsed: None,
            md: markdown::Growing::default(),
            cache: None,
            head: 0,
            grew: false,
        }
    }

    /// Forgets the rendered lines (call after changing the text or flags).
    pub fn invalidate(&mut self) {
        self.parsed = None;
        self.md.reset();
        self.cache = None;
        self.grew = false;
    }

    /// Marks text appended to [`Message::text`] (and nothing else changed): only its open
    /// tail is rendered again.
    pub fn grew(&mut self) {
        self.grew = true;
    }

    fn header(&self, theme: &Theme) -> Option<Line<'static>> {
        match self.role {
            Role::System => Some(Line::from(Span::styled("▌ system", theme.dim))),
            Role::User => Some(Line::from(Span::styled("▌ you", theme.user))),
            Role::Assistant => {
                let mut spans = vec![Span::styled("▌ ", theme.assistant)];
                spans.push(Span::styled(
                    markdown::sanitize(self.model.as_deref().unwrap_or("assistant")),
                    theme.assistant,
                ));
                if self.streaming {
                    spans.push(Span::styled("  streaming…", theme.dim));
                }
                if self.stopped {
                    spans.push(Span::styled("  (stopped)", theme.notice));
                }
                if let Some(n) = self.cut {
                    spans.push(Span::styled(
                        format!("  (cut at {n} tokens · Alt+C continues)"),
                        theme.notice,
                    ));
                }
                Some(Line::from(spans))
            }
            Role::Notice | Role::Error => None,
        }
    }

    /// Renders at `width` if not cached (header, body, one blank line after); the height.
    fn render_at(&mut self, width: u16, theme: &Theme) -> usize {
        if self.grew || self.cache.as_ref().is_none_or(|(w, _)| *w != width) {
            self.grew = false;
            let mut r = match self.cache.take() {
                // Only the text grew: the header stands and the text catches up.
                Some((w, r)) if w == width => r,
                _ => {
                    let mut lines: Vec<Line<'static>> = self.header(theme).into_iter().collect();
                    lines.extend(self.thinking_lines(width, theme));
                    self.head = lines.len();
                    self.md.forget_layout();
                    Rendered {
                        lines,
                        code_blocks: Vec::new(),
                    }
                }
            };
            match self.role {
                Role::System | Role::User | Role::Assistant => self
                    .md
                    .render_into(&self.text, width, theme, &mut r, self.head),
                Role::Notice | Role::Error => {
                    let parsed = self.parsed.get_or_insert_with(|| match self.role {
                        Role::Error => plain(&format!("✗ {}", self.text), theme.error),
                        _ => plain(&format!("↻ {}", self.text), theme.notice),
                    });
                    r.lines.truncate(self.head);
                    r.lines.extend(markdown::layout(parsed, width).lines);
                }
            }
            if !matches!(self.role, Role::Notice) {
                r.lines.push(Line::default());
            }
            self.cache = Some((width, r));
        }
        self.cache.as_ref().map_or(0, |(_, r)| r.lines.len())
    }
}

impl Message {
    /// The thinking as drawn above the answer: whole and dimmed while nothing else came yet
    /// or when shown (Alt+R), else one summary line.
    fn thinking_lines(&self, width: u16, theme: &Theme) -> Vec<Line<'static>> {
        if self.role != Role::Assistant {
            return Vec::new();
        }
        let mut lines = self.tool_lines(theme);
        if self.reasoning.trim().is_empty() {
            return lines;
        }
        let thinking_now = self.streaming && self.text.is_empty();
        if self.show_reasoning || thinking_now {
            let label = if thinking_now {
                "thinking…"
            } else {
                "thought"
            };
            lines.push(Line::from(Span::styled(
                format!("  ▾ {label} (Alt+R hides)"),
                theme.dim,
            )));
            let body = markdown::layout(&plain(self.reasoning.trim(), theme.dim), width);
            lines.extend(body.lines);
            return lines;
        }
        let words = self.reasoning.split_whitespace().count();
        lines.push(Line::from(Span::styled(
            format!("  ▸ thought ({words} words · Alt+R shows)"),
            theme.dim,
        )));
        lines
    }

    /// A research answer's tool calls: each on its line while the research runs or when
    /// shown (Alt+R), else one summary line.
    fn tool_lines(&self, theme: &Theme) -> Vec<Line<'static>> {
        if self.tools.is_empty() {
            return Vec::new();
        }
        let researching = self.streaming && self.text.is_empty();
        if self.show_reasoning || researching {
            let mut lines = vec![Line::from(Span::styled(
                "  ▾ research (Alt+R hides)".to_string(),
                theme.dim,
            ))];
            lines.extend(self.tools.iter().map(|t| {
                Line::from(Span::styled(
                    format!("    {}", markdown::sanitize(t)),
                    theme.notice,
                ))
            }));
            return lines;
        }
        let n = self.tools.len();
        let calls = if n == 1 { "call" } else { "calls" };
        vec![Line::from(Span::styled(
            format!("  ▸ research: {n} tool {calls} (Alt+R shows)"),
            theme.dim,
        ))]
    }
}

/// Plain text (line breaks kept) in one style.
fn plain(text: &str, style: ratatui::style::Style) -> markdown::Parsed {
    markdown::parse(&text.replace('\n', "  \n"), &Theme::no_color()).restyle(style)
}

/// The chat history and its viewport.
#[derive(Debug, Default)]
pub struct ChatPane {
    /// Every message, oldest first.
    pub messages: Vec<Message>,
    /// Lines scrolled up from the bottom (0 follows the newest text).
    pub offset: usize,
    last_height: u16,
    /// Width and total lines of the last draw, to keep a scrolled view still as text grows.
    last_layout: (u16, usize),
    /// The code block nearest the bottom of the view: (message, block).
    visible_code: Option<(usize, usize)>,
    /// Thinking is drawn whole (Alt+R).
    show_reasoning: bool,
}

impl ChatPane {
    /// Appends a message.
    pub fn push(&mut self, m: Message) {
        self.messages.push(m);
    }

    /// Replaces the whole history (a resumed or a new conversation), following its end.
    pub fn replace(&mut self, messages: Vec<Message>) {
        *self = Self {
            messages,
            last_height: self.last_height,
            ..Self::default()
        };
    }

    /// The answer being streamed, if the last message is one.
    pub fn streaming_mut(&mut self) -> Option<&mut Message> {
        self.messages
            .iter_mut()
            .rev()
            .find(|m| m.role == Role::Assistant && m.streaming)
    }

    /// Adds streamed text to the current answer, starting one if needed.
    pub fn append_delta(&mut self, text: &str, model: Option<&str>) {
        if let Some(m) = self.streaming_mut() {
            // The first text turns thinking shown whole into its summary line: all anew.
            let first = m.text.is_empty();
            m.text.push_str(text);
            if first {
                m.invalidate();
            } else {
                m.grew();
            }
            return;
        }
        let mut m = Message::new(Role::Assistant, text);
        m.model = model.map(str::to_string);
        m.streaming = true;
        m.show_reasoning = self.show_reasoning;
        self.push(m);
    }

    /// Adds streamed thinking to the current answer, starting one if needed.
    pub fn append_reasoning(&mut self, text: &str, model: Option<&str>) {
        if self.streaming_mut().is_none() {
            self.append_delta("", model);
        }
        if let Some(m) = self.streaming_mut() {
            m.reasoning.push_str(text);
            m.invalidate();
        }
    }

    /// Adds a research tool call's line to the current answer (starting one if needed);
    /// returns the line's place for [`ChatPane::set_tool_line`].
    pub fn push_tool_line(&mut self, line: String, model: Option<&str>) -> Option<(usize, usize)> {
        if self.streaming_mut().is_none() {
            self.append_delta("", model);
        }
        let i = self
            .messages
            .iter()
            .rposition(|m| m.role == Role::Assistant && m.streaming)?;
        let m = &mut self.messages[i];
        m.tools.push(line);
        m.invalidate();
        Some((i, m.tools.len() - 1))
    }

    /// Rewrites a tool call's line (its result came).
    pub fn set_tool_line(&mut self, at: (usize, usize), line: String) {
        if let Some(m) = self.messages.get_mut(at.0)
            && let Some(t) = m.tools.get_mut(at.1)
        {
            *t = line;
            m.invalidate();
        }
    }

    /// Shows or hides every answer's thinking and research (Alt+R); returns whether they
    /// are now shown.
    pub fn toggle_reasoning(&mut self) -> bool {
        self.show_reasoning = !self.show_reasoning;
        for m in &mut self.messages {
            if !m.reasoning.is_empty() || !m.tools.is_empty() {
                m.show_reasoning = self.show_reasoning;
                m.invalidate();
            }
        }
        self.show_reasoning
    }

    /// The newest answer, if it was cut at `max_tokens` and can be continued.
    pub fn cut_answer_mut(&mut self) -> Option<&mut Message> {
        self.messages
            .iter_mut()
            .rev()
            .find(|m| m.role == Role::Assistant)
            .filter(|m| m.cut.is_some() && !m.streaming)
    }

    /// Marks the streaming answer finished (`stopped` when the user cut it).
    pub fn finish(&mut self, model: Option<String>, stopped: bool) {
        if let Some(m) = self.streaming_mut() {
            m.streaming = false;
            m.stopped = stopped;
            if model.is_some() {
                m.model = model;
            }
            m.invalidate();
        }
    }

    /// The text of the newest answer.
    pub fn last_answer(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::Assistant && !m.text.is_empty())
            .map(|m| m.text.as_str())
    }

    /// The code block nearest the bottom of what was last drawn, if one is in view.
    pub fn code_in_view(&self) -> Option<String> {
        if let Some((mi, bi)) = self.visible_code {
            let m = self.messages.get(mi)?;
            return m
                .cache
                .as_ref()
                .and_then(|(_, r)| r.code_blocks.get(bi))
                .map(|c| c.text.clone());
        }
        None
    }

    /// Scrolls up by `n` lines.
    pub fn scroll_up(&mut self, n: usize) {
        self.offset = self.offset.saturating_add(n);
    }

    /// Scrolls down by `n` lines (0 offset follows the newest text again).
    pub fn scroll_down(&mut self, n: usize) {
        self.offset = self.offset.saturating_sub(n);
    }

    /// A page: the height last drawn, less one line of overlap.
    pub fn page(&self) -> usize {
        (self.last_height as usize).saturating_sub(1).max(1)
    }

    /// Draws the visible part of the history into `area`.
    pub fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme) {
        self.last_height = area.height;
        if area.width < 3 || area.height == 0 {
            return;
        }
        if self.messages.is_empty() {
            let hint = Paragraph::new(vec![
                Line::from(Span::styled("Type a prompt and press Enter.", theme.dim)),
                Line::from(Span::styled(
                    "Tab picks the task · F1 or ? (empty prompt) lists every key",
                    theme.dim,
                )),
                Line::from(Span::styled(
                    "F4 lists saved conversations to resume or export",
                    theme.dim,
                )),
            ])
            .wrap(ratatui::widgets::Wrap { trim: true });
            f.render_widget(
                hint,
                Rect {
                    x: area.x + 1,
                    width: area.width - 1,
                    ..area
                },
            );
            return;
        }
        // One column of padding on the left, one for the scroll bar.
        let width = area.width - 2;
        let heights: Vec<usize> = self
            .messages
            .iter_mut()
            .map(|m| m.render_at(width, theme))
            .collect();
        let total: usize = heights.iter().sum();
        // Scrolled up while the answer grows: keep the same lines in view.
        let (last_w, last_total) = self.last_layout;
        if self.offset > 0 && last_w == width && total > last_total {
            self.offset += total - last_total;
        }
        self.last_layout = (width, total);
        let h = area.height as usize;
        let max_offset = total.saturating_sub(h);
        self.offset = self.offset.min(max_offset);
        let top = total.saturating_sub(h + self.offset);
        let bottom = top + h;

        let mut lines: Vec<Line<'static>> = Vec::with_capacity(h);
        let mut at = 0usize;
        self.visible_code = None;
        for (i, m) in self.messages.iter().enumerate() {
            let mh = heights[i];
            if at + mh > top
                && at < bottom
                && let Some((_, r)) = &m.cache
            {
                let from = top.saturating_sub(at);
                let to = (bottom - at).min(mh);
                lines.extend(r.lines[from..to].iter().cloned());
                for (bi, cb) in r.code_blocks.iter().enumerate() {
                    if at + cb.first < bottom && at + cb.end > top {
                        self.visible_code = Some((i, bi));
                    }
                }
            }
            at += mh;
            if at >= bottom {
                break;
            }
        }
        let text_area = Rect {
            x: area.x + 1,
            width,
            ..area
        };
        f.render_widget(Paragraph::new(lines).style(theme.text), text_area);
        if self.offset > 0 && area.width > 24 {
            let hint = " ↓ more below · PgDn ";
            let w = hint.chars().count() as u16;
            let r = Rect {
                x: area.x + area.width - w - 1,
                y: area.y + area.height - 1,
                width: w,
                height: 1,
            };
            f.render_widget(Paragraph::new(Span::styled(hint, theme.selected)), r);
        }
        if total > h {
            let mut sb = ScrollbarState::new(max_offset).position(top);
            f.render_stateful_widget(
                Scrollbar::new(ScrollbarOrientation::VerticalRight)
                    .begin_symbol(None)
                    .end_symbol(None)
                    .track_symbol(Some("│"))
                    .thumb_symbol("┃")
                    .style(theme.border),
                area,
                &mut sb,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    #[test]
    fn delta_starts_then_extends_one_answer() {
        let mut c = ChatPane::default();
        c.push(Message::new(Role::User, "hi"));
        c.append_delta("Hel", Some("groq/x"));
        c.append_delta("lo", None);
        assert_eq!(c.messages.len(), 2);
        assert_eq!(c.last_answer(), Some("Hello"));
        c.finish(None, true);
        assert!(c.messages[1].stopped && !c.messages[1].streaming);
        assert_eq!(c.messages[1].model.as_deref(), Some("groq/x"));
    }

    #[test]
    fn growing_last_message_rerenders_only_it() {
        let theme = Theme::default_dark();
        let mut t = Terminal::new(TestBackend::new(40, 10)).unwrap();
        let mut c = ChatPane::default();
        for i in 0..5 {
            c.push(Message::new(Role::User, format!("q{i}")));
        }
        c.append_delta("a", None);
        t.draw(|f| c.draw(f, f.area(), &theme)).unwrap();
        assert!(c.messages.iter().all(|m| m.cache.is_some()));
        c.append_delta("b", None);
        assert!(c.messages[..5].iter().all(|m| !m.grew));
        assert!(c.messages[5].grew);
        t.draw(|f| c.draw(f, f.area(), &theme)).unwrap();
        let passes: Vec<u64> = c.messages.iter().map(|m| m.md.passes()).collect();
        assert_eq!(passes, [1, 1, 1, 1, 1, 2]);
        // A resize re-renders at the new width…
        t.backend_mut().resize(30, 10);
        t.draw(|f| c.draw(f, f.area(), &theme)).unwrap();
        assert!(c.messages.iter().all(|m| m.cache.as_ref().unwrap().0 == 28));
        // …without parsing again.
        let again: Vec<u64> = c.messages.iter().map(|m| m.md.passes()).collect();
        assert_eq!(again, passes);
    }

    #[test]
    fn scrolling_clamps_and_finds_code_in_view() {
        let theme = Theme::default_dark();
        let mut t = Terminal::new(TestBackend::new(40, 6)).unwrap();
        let mut c = ChatPane::default();
        c.append_delta("```\ncode one\n```\n\n", None);
        c.finish(None, false);
        for i in 0..10 {
            c.push(Message::new(Role::User, format!("line {i}")));
        }
        t.draw(|f| c.draw(f, f.area(), &theme)).unwrap();
        assert_eq!(c.code_in_view(), None);
        c.scroll_up(10_000);
        t.draw(|f| c.draw(f, f.area(), &theme)).unwrap();
        assert!(c.offset < 10_000);
        assert_eq!(c.code_in_view().as_deref(), Some("code one\n"));
        c.scroll_down(10_000);
        assert_eq!(c.offset, 0);
    }

    #[test]
    fn a_scrolled_view_stays_put_while_the_answer_grows() {
        let theme = Theme::no_color();
        let mut t = Terminal::new(TestBackend::new(40, 6)).unwrap();
        let mut c = ChatPane::default();
        for i in 0..10 {
            c.push(Message::new(Role::User, format!("line {i}")));
        }
        c.append_delta("first", None);
        t.draw(|f| c.draw(f, f.area(), &theme)).unwrap();
        c.scroll_up(8);
        t.draw(|f| c.draw(f, f.area(), &theme)).unwrap();
        // The text, without the scroll bar column (its thumb moves as the total grows).
        let text = |t: &Terminal<TestBackend>| -> Vec<String> {
            let b = t.backend().buffer();
            (0..b.area.height)
                .map(|y| (0..b.area.width - 1).map(|x| b[(x, y)].symbol()).collect())
                .collect()
        };
        let before = text(&t);
        assert!(before.concat().contains("more below"));
        c.append_delta("\n\nsecond paragraph\n\nthird", None);
        t.draw(|f| c.draw(f, f.area(), &theme)).unwrap();
        assert_eq!(text(&t), before);
        // Following (offset 0) shows the newest text.
        c.scroll_down(usize::MAX);
        t.draw(|f| c.draw(f, f.area(), &theme)).unwrap();
        assert!(t.backend().to_string().contains("third"));
    }
}
