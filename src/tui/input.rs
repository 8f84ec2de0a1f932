//! The prompt input: a multi-line editor (ratatui-textarea) with prompt history.
//!
//! Enter sends; Alt+Enter and Ctrl+J insert a newline; Up on an empty input recalls the
//! previous prompt (again for older ones), Down walks forward (the keys: [`keymap`]).

use super::keymap::{self, Act, Section};
use super::theme::Theme;
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::widgets::{Block, Borders};
use ratatui_textarea::TextArea;

/// What a key did to the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputOutcome {
    /// Enter with text: the prompt to send (the input is now empty).
    Submit(String),
    /// The text or cursor changed.
    Changed,
    /// The key means nothing here.
    Ignored,
}

/// The prompt editor and its history.
#[derive(Debug)]
pub struct InputBox {
    area: TextArea<'static>,
    history: Vec<String>,
    /// Position in `history` while recalling.
    recall: Option<usize>,
}

impl Default for InputBox {
    fn default() -> Self {
        Self::new()
    }
}

impl InputBox {
    /// Most lines the box grows to before scrolling inside.
    pub const MAX_LINES: u16 = 6;

    /// An empty input.
    pub fn new() -> Self {
        let mut area = TextArea::default();
        area.set_placeholder_text(
            "Ask anything · Enter sends · Alt+Enter newline · /transcribe PATH",
        );
        area.set_cursor_line_style(ratatui::style::Style::default());
        Self {
            area,
            history: Vec::new(),
            recall: None,
        }
    }

    /// The text as typed, lines joined with `\n`.
    pub fn text(&self) -> String {
        self.area.lines().join("\n")
    }

    /// Whether nothing is typed.
    pub fn is_empty(&self) -> bool {
        self.area.is_empty()
    }

    /// Replaces the text, cursor at the end.
    pub fn set_text(&mut self, text: &str) {
        let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        self.area = {
            let mut a = TextArea::new(lines);
            a.set_placeholder_text(self.area.placeholder_text().to_string());
            a.set_cursor_line_style(ratatui::style::Style::default());
            a
        };
        self.area.move_cursor(ratatui_textarea::CursorMove::Bottom);
        self.area.move_cursor(ratatui_textarea::CursorMove::End);
    }

    /// Inserts pasted text at the cursor (bracketed paste; newlines kept).
    pub fn paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        self.area.insert_str(text);
        self.recall = None;
    }

    /// The prompts sent, oldest first.
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// Rows the box wants: its lines (1..=MAX_LINES) plus the border.
    pub fn height(&self) -> u16 {
        (self.area.lines().len() as u16).clamp(1, Self::MAX_LINES) + 2
    }

    /// Handles one key.
    pub fn handle_key(&mut self, key: KeyEvent) -> InputOutcome {
        match keymap::lookup(Section::Chat, &key, false) {
            Some(Act::NewLine) => {
                self.area.insert_newline();
                InputOutcome::Changed
            }
            Some(Act::Send) => {
                let text = self.text();
                if text.trim().is_empty() {
                    return InputOutcome::Ignored;
                }
                if self.history.last() != Some(&text) {
                    self.history.push(text.clone());
                }
                self.recall = None;
                self.set_text("");
                InputOutcome::Submit(text)
            }
            Some(Act::RecallOlder) if self.recalling_or_empty() => {
                let next = match self.recall {
                    None => self.history.len().checked_sub(1),
                    Some(i) => Some(i.saturating_sub(1)),
                };
                match next {
                    Some(i) => {
                        self.recall = Some(i);
                        let t = self.history[i].clone();
                        self.set_text(&t);
                        InputOutcome::Changed
                    }
                    None => InputOutcome::Ignored,
                }
            }
            Some(Act::RecallNewer) if self.recall.is_some() && self.recalling_or_empty() => {
                let i = self.recall.unwrap_or(0) + 1;
                if i < self.history.len() {
                    self.recall = Some(i);
                    let t = self.history[i].clone();
                    self.set_text(&t);
                } else {
                    self.recall = None;
                    self.set_text("");
                }
                InputOutcome::Changed
            }
            _ => {
                if self.area.input(key) {
                    self.recall = None;
                    InputOutcome::Changed
                } else {
                    // Cursor moves change nothing in the text but still need a redraw.
                    InputOutcome::Changed
                }
            }
        }
    }

    fn recalling_or_empty(&self) -> bool {
        self.is_empty()
            || self
                .recall
                .and_then(|i| self.history.get(i))
                .is_some_and(|h| *h == self.text())
    }

    /// Draws the box with a border titled `title`.
    pub fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme, title: &str, focused: bool) {
        let border = if focused {
            theme.border_focus
        } else {
            theme.border
        };
        self.area.set_block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(border)
                .title(ratatui::text::Span::styled(
                    format!(" {title} "),
                    theme.title,
                )),
        );
        self.area.set_style(theme.text);
        self.area.set_placeholder_style(theme.dim);
        self.area
            .set_cursor_style(theme.text.add_modifier(Modifier::REVERSED));
        f.render_widget(&self.area, area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn type_str(i: &mut InputBox, s: &str) {
        for c in s.chars() {
            i.handle_key(k(KeyCode::Char(c)));
        }
    }

    #[test]
    fn enter_submits_and_clears() {
        let mut i = InputBox::new();
        assert_eq!(i.handle_key(k(KeyCode::Enter)), InputOutcome::Ignored);
        type_str(&mut i, "hello");
        assert_eq!(
            i.handle_key(k(KeyCode::Enter)),
            InputOutcome::Submit("hello".into())
        );
        assert!(i.is_empty());
    }

    #[test]
    fn alt_enter_and_ctrl_j_insert_newlines() {
        let mut i = InputBox::new();
        type_str(&mut i, "a");
        i.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
        type_str(&mut i, "b");
        i.handle_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::CONTROL));
        type_str(&mut i, "c");
        assert_eq!(i.text(), "a\nb\nc");
        assert_eq!(i.height(), 5);
    }

    #[test]
    fn up_recalls_history_and_down_returns() {
        let mut i = InputBox::new();
        type_str(&mut i, "first");
        i.handle_key(k(KeyCode::Enter));
        type_str(&mut i, "second");
        i.handle_key(k(KeyCode::Enter));
        i.handle_key(k(KeyCode::Up));
        assert_eq!(i.text(), "second");
        i.handle_key(k(KeyCode::Up));
        assert_eq!(i.text(), "first");
        i.handle_key(k(KeyCode::Down));
        assert_eq!(i.text(), "second");
        i.handle_key(k(KeyCode::Down));
        assert_eq!(i.text(), "");
        // Up with text typed moves the cursor, it does not recall.
        type_str(&mut i, "draft");
        i.handle_key(k(KeyCode::Up));
        assert_eq!(i.text(), "draft");
    }

    #[test]
    fn paste_keeps_newlines() {
        let mut i = InputBox::new();
        i.paste("one\r\ntwo");
        assert_eq!(i.text(), "one\ntwo");
    }
}
