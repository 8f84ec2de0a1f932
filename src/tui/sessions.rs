//! The conversations view (F4): saved conversations newest first with title, message count
//! and when they were last updated; resume one, export it to Markdown, start a new one,
//! filter by title.

use super::backend::SessionRow;
use super::gauges::truncate;
use super::keymap::{self, Act, Section};
use super::theme::Theme;
use crate::model::Millis;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::path::PathBuf;

/// What the conversations view asks the app to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionsAction {
    /// Resume this conversation in the chat.
    Open(i64),
    /// Export this conversation to a Markdown file.
    Export(i64),
    /// Start a new conversation.
    New,
    /// Leave the view.
    Close,
}

/// The conversations view's state.
#[derive(Debug, Default)]
pub struct SessionsView {
    /// The rows last read from the backend, most recently updated first.
    pub rows: Vec<SessionRow>,
    /// Why there are no rows to show (the memory backend keeps none), from the backend.
    pub unavailable: Option<String>,
    /// The conversation the chat shows (marked in the list).
    pub current: Option<i64>,
    /// The selected row, an index into [`SessionsView::visible`].
    pub selected: usize,
    /// The title filter (words, any case).
    pub filter: String,
    /// The filter has the keyboard.
    pub filtering: bool,
    /// The result of the last action: (ok, words).
    pub message: Option<(bool, String)>,
    /// When the rows were read (ms since the epoch): "3 min ago" counts from here.
    pub now: Millis,
}

impl SessionsView {
    /// Replaces the rows (or says why there are none), keeping the same conversation
    /// selected; true when anything shown changed.
    pub fn set_rows(
        &mut self,
        rows: Result<Vec<SessionRow>, String>,
        current: Option<i64>,
        now: Millis,
    ) -> bool {
        let keep = self.selected_row().map(|r| r.id);
        let (rows, unavailable) = match rows {
            Ok(r) => (r, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        // A clock that moved on alone changes nothing worth a redraw before a minute.
        let changed = rows != self.rows
            || unavailable != self.unavailable
            || current != self.current
            || now / 60_000 != self.now / 60_000;
        self.rows = rows;
        self.unavailable = unavailable;
        self.current = current;
        self.now = now;
        let visible = self.visible();
        self.selected = keep
            .and_then(|id| visible.iter().position(|r| r.id == id))
            .unwrap_or(self.selected)
            .min(visible.len().saturating_sub(1));
        changed
    }

    /// Shows the result of an action.
    pub fn set_result(&mut self, ok: bool, words: impl Into<String>) {
        self.message = Some((ok, words.into()));
    }

    /// Whether the filter has the keyboard (so `?` and letters are typed, not bindings).
    pub fn is_typing(&self) -> bool {
        self.filtering
    }

    /// The rows whose title has every word of the filter (any case).
    pub fn visible(&self) -> Vec<&SessionRow> {
        let words: Vec<String> = self
            .filter
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        self.rows
            .iter()
            .filter(|r| {
                let t = r.title.to_lowercase();
                words.iter().all(|w| t.contains(w.as_str()))
            })
            .collect()
    }

    /// The selected conversation, if any is shown.
    pub fn selected_row(&self) -> Option<&SessionRow> {
        self.visible().get(self.selected).copied()
    }

    fn move_by(&mut self, delta: isize) {
        let n = self.visible().len();
        if n == 0 {
            self.selected = 0;
            return;
        }
        self.selected = self.selected.saturating_add_signed(delta).min(n - 1);
    }

    fn open_selected(&mut self) -> Option<SessionsAction> {
        match self.selected_row() {
            Some(r) => Some(SessionsAction::Open(r.id)),
            None => {
                self.message = Some((false, "no conversation selected".into()));
                None
            }
        }
    }

    /// Handles one key.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<SessionsAction> {
        if key.modifiers.contains(KeyModifiers::CONTROL) {
            return None;
        }
        if self.filtering {
            match key.code {
                KeyCode::Esc => {
                    self.filter.clear();
                    self.filtering = false;
                    self.selected = 0;
                }
                KeyCode::Enter => {
                    self.filtering = false;
                    return self.open_selected();
                }
                KeyCode::Backspace => {
                    if self.filter.pop().is_none() {
                        self.filtering = false;
                    }
                    self.selected = 0;
                }
                KeyCode::Up => self.move_by(-1),
                KeyCode::Down => self.move_by(1),
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::ALT) => {
                    self.filter.push(c);
                    self.selected = 0;
                }
                _ => {}
            }
            return None;
        }
        let act = keymap::lookup(Section::Conversations, &key, false)
            .or_else(|| keymap::lookup(Section::Views, &key, false));
        match act {
            Some(Act::Up) => self.move_by(-1),
            Some(Act::Down) => self.move_by(1),
            Some(Act::PageUp) => self.move_by(-10),
            Some(Act::PageDown) => self.move_by(10),
            Some(Act::Top) => self.selected = 0,
            Some(Act::Bottom) => self.move_by(isize::MAX),
            Some(Act::Resume) => return self.open_selected(),
            Some(Act::Export) => match self.selected_row() {
                Some(r) => return Some(SessionsAction::Export(r.id)),
                None => self.message = Some((false, "no conversation to export".into())),
            },
            Some(Act::NewConversation) => return Some(SessionsAction::New),
            Some(Act::Filter) => {
                self.filtering = true;
                self.message = None;
            }
            // Esc clears a filter before it closes the view.
            Some(Act::Back) if !self.filter.is_empty() && key.code == KeyCode::Esc => {
                self.filter.clear();
                self.selected = 0;
            }
            Some(Act::Back) => return Some(SessionsAction::Close),
            _ => {}
        }
        None
    }

    /// Draws the view full screen.
    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let block = theme.view_block(
            " conversations ",
            " Enter resume · e export · n new · / filter · ↑↓ select · Esc back ",
        );
        let inner = block.inner(area);
        f.render_widget(block, area);
        let show_filter = self.filtering || !self.filter.is_empty();
        let [filter_area, list_area, msg_area] = Layout::vertical([
            Constraint::Length(u16::from(show_filter)),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(inner);
        let w = list_area.width as usize;
        let visible = self.visible();
        if show_filter {
            let mut spans = vec![
                Span::styled("/ ", theme.key),
                Span::styled(truncate(&self.filter, w.saturating_sub(24)), theme.text),
            ];
            if self.filtering {
                spans.push(Span::styled("▏", theme.accent));
            }
            spans.push(Span::styled(
                format!("  {} of {}", visible.len(), self.rows.len()),
                theme.dim,
            ));
            f.render_widget(Paragraph::new(Line::from(spans)), filter_area);
        }
        let words = if let Some(why) = &self.unavailable {
            Some((why.clone(), theme.notice))
        } else if self.rows.is_empty() {
            Some((
                "no saved conversations yet: every message you send is saved, and comes back \
                 here to resume or export (n or Esc starts chatting)"
                    .to_string(),
                theme.dim,
            ))
        } else if visible.is_empty() {
            Some((
                format!(
                    "no title has “{}”: Backspace or Esc clears the filter",
                    self.filter
                ),
                theme.dim,
            ))
        } else {
            None
        };
        match words {
            Some((text, style)) => f.render_widget(
                Paragraph::new(Line::from(Span::styled(text, style)))
                    .wrap(ratatui::widgets::Wrap { trim: false }),
                list_area,
            ),
            None => self.draw_rows(f, list_area, &visible, theme),
        }
        if let Some((ok, m)) = &self.message {
            let style = if *ok { theme.notice } else { theme.error };
            f.render_widget(
                Paragraph::new(Span::styled(truncate(m, msg_area.width as usize), style)),
                msg_area,
            );
        }
    }
}

impl SessionsView {
    /// The table: title | messages | how long ago | when (UTC, on wide screens), under a
    /// header that stays put while the rows scroll to keep the selection in view.
    fn draw_rows(&self, f: &mut Frame, area: Rect, visible: &[&SessionRow], theme: &Theme) {
        let w = area.width as usize;
        let counts: Vec<String> = visible.iter().map(|r| count_words(r.messages)).collect();
        let agos: Vec<String> = visible
            .iter()
            .map(|r| ago(self.now, r.updated_ms))
            .collect();
        let width_of = |v: &[String], head: &str| {
            v.iter()
                .map(|s| s.chars().count())
                .chain([head.chars().count()])
                .max()
                .unwrap_or(0)
        };
        let (count_w, ago_w) = (width_of(&counts, "messages"), width_of(&agos, "updated"));
        // The absolute time only when the title keeps at least 40 columns.
        let base_w = 2 + 2 + count_w + 2 + ago_w;
        let wide = w >= base_w + 19 + 40;
        let right_w = base_w - 2 + if wide { 19 } else { 0 };
        let title_w = w.saturating_sub(2 + right_w);
        let mut head = format!(
            "  {:<title_w$}  {:>count_w$}  {:>ago_w$}",
            "title", "messages", "updated"
        );
        if wide {
            head.push_str("   updated (UTC)");
        }
        let [head_area, rows_area] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        f.render_widget(
            Paragraph::new(Span::styled(truncate(&head, w), theme.dim)),
            head_area,
        );
        let h = rows_area.height as usize;
        let skip = (self.selected + 1).saturating_sub(h);
        let mut lines = Vec::new();
        for (i, r) in visible.iter().enumerate().skip(skip).take(h) {
            let sel = i == self.selected;
            let style = if sel { theme.selected } else { theme.text };
            let mark = if sel { "▶ " } else { "  " };
            let tag = if self.current == Some(r.id) {
                " · in chat"
            } else {
                ""
            };
            let tag_w = tag.chars().count();
            let title = truncate(&r.title, title_w.saturating_sub(tag_w));
            let pad = title_w.saturating_sub(title.chars().count() + tag_w);
            let mut right = format!("  {:>count_w$}  {:>ago_w$}", counts[i], agos[i]);
            if wide {
                right.push_str(&format!("   {:<16}", utc_minute(r.updated_ms)));
            }
            let mut spans = vec![Span::styled(format!("{mark}{title}"), style)];
            if !tag.is_empty() {
                spans.push(Span::styled(tag, theme.accent));
            }
            spans.push(Span::styled(" ".repeat(pad), style));
            spans.push(Span::styled(right, if sel { style } else { theme.dim }));
            lines.push(Line::from(spans));
        }
        f.render_widget(Paragraph::new(lines), rows_area);
    }
}

/// `1 message`, `12 messages`.
fn count_words(n: u64) -> String {
    if n == 1 {
        "1 message".into()
    } else {
        format!("{n} messages")
    }
}

/// How long before `now` a time was: `just now`, `5 min ago`, `3 h ago`, `yesterday`,
/// `4 d ago`, `3 wk ago`, `5 mo ago`, `2 yr ago`.
pub fn ago(now: Millis, then: Millis) -> String {
    let s = now.saturating_sub(then) / 1_000;
    let (m, h, d) = (s / 60, s / 3_600, s / 86_400);
    match () {
        _ if s < 60 => "just now".into(),
        _ if m < 60 => format!("{m} min ago"),
        _ if h < 24 => format!("{h} h ago"),
        _ if d == 1 => "yesterday".into(),
        _ if d < 14 => format!("{d} d ago"),
        _ if d < 60 => format!("{} wk ago", d / 7),
        _ if d < 730 => format!("{} mo ago", d / 30),
        _ => format!("{} yr ago", d / 365),
    }
}

/// `2026-11-27 01:20` (UTC).
pub fn utc_minute(ms: Millis) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// A file-name-safe form of a title: lowercase letters and digits joined by `-`, at most
/// 40 characters; `conversation` when nothing is left.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.chars().count() >= 40 {
            break;
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "conversation".into()
    } else {
        out.to_string()
    }
}

/// The `n`th (from 1) name for an export of conversation `id`: `rota-ID-SLUG.md`, then
/// `rota-ID-SLUG-2.md`, `-3`, … for when the earlier names are taken.
pub fn export_name(id: i64, title: &str, n: u32) -> String {
    let s = slug(title);
    if n <= 1 {
        format!("rota-{id}-{s}.md")
    } else {
        format!("rota-{id}-{s}-{n}.md")
    }
}

/// Writes `text` to the first free export name in `dir` (never over an existing file) and
/// returns its path.
pub fn write_export(
    dir: &std::path::Path,
    id: i64,
    title: &str,
    text: &str,
) -> Result<PathBuf, String> {
    use std::io::Write as _;
    for n in 1..=1_000 {
        let path = dir.join(export_name(id, title, n));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                return f
                    .write_all(text.as_bytes())
                    .and_then(|()| f.flush())
                    .map(|()| path.clone())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(format!(
                    "cannot export to {}: {e}; run rota from a directory you can write to",
                    dir.display()
                ));
            }
        }
    }
    Err(format!(
        "{} already holds 1000 exports of conversation {id}: move some away",
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn row(id: i64, title: &str, messages: u64, updated_ms: Millis) -> SessionRow {
        SessionRow {
            id,
            title: title.into(),
            created_ms: updated_ms.saturating_sub(60_000),
            updated_ms,
            messages,
        }
    }

    fn view() -> SessionsView {
        let mut v = SessionsView::default();
        v.set_rows(
            Ok(vec![
                row(3, "Rust lifetimes", 4, 3_000_000),
                row(2, "Sorting a Vec in Rust", 2, 2_000_000),
                row(1, "Groq rate limits", 6, 1_000_000),
            ]),
            Some(2),
            3_600_000,
        );
        v
    }

    #[test]
    fn moves_resumes_exports_and_starts_new() {
        let mut v = view();
        assert_eq!(
            v.handle_key(k(KeyCode::Enter)),
            Some(SessionsAction::Open(3))
        );
        v.handle_key(k(KeyCode::Down));
        v.handle_key(k(KeyCode::Char('j')));
        v.handle_key(k(KeyCode::Down)); // stays on the last
        assert_eq!(v.selected_row().map(|r| r.id), Some(1));
        assert_eq!(
            v.handle_key(k(KeyCode::Char('e'))),
            Some(SessionsAction::Export(1))
        );
        v.handle_key(k(KeyCode::Char('k')));
        assert_eq!(
            v.handle_key(k(KeyCode::Enter)),
            Some(SessionsAction::Open(2))
        );
        v.handle_key(k(KeyCode::Up));
        v.handle_key(k(KeyCode::Up));
        assert_eq!(v.selected, 0);
        v.handle_key(k(KeyCode::End));
        assert_eq!(v.selected, 2);
        v.handle_key(k(KeyCode::Home));
        assert_eq!(v.selected, 0);
        assert_eq!(
            v.handle_key(k(KeyCode::Char('n'))),
            Some(SessionsAction::New)
        );
        assert_eq!(
            v.handle_key(k(KeyCode::Char('q'))),
            Some(SessionsAction::Close)
        );
        assert_eq!(v.handle_key(k(KeyCode::Esc)), Some(SessionsAction::Close));
        // Ctrl keys are the app's.
        assert_eq!(
            v.handle_key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL)),
            None
        );
    }

    #[test]
    fn slash_filters_by_title_words_then_enter_resumes() {
        let mut v = view();
        assert_eq!(v.handle_key(k(KeyCode::Char('/'))), None);
        assert!(v.is_typing());
        // Letters that are bindings elsewhere are typed.
        for c in "RUST q".chars() {
            assert_eq!(v.handle_key(k(KeyCode::Char(c))), None);
        }
        assert!(v.visible().is_empty());
        v.handle_key(k(KeyCode::Backspace));
        v.handle_key(k(KeyCode::Backspace));
        let titles: Vec<&str> = v.visible().iter().map(|r| r.title.as_str()).collect();
        assert_eq!(titles, ["Rust lifetimes", "Sorting a Vec in Rust"]);
        for c in " vec".chars() {
            v.handle_key(k(KeyCode::Char(c)));
        }
        assert_eq!(v.visible().len(), 1);
        assert_eq!(
            v.handle_key(k(KeyCode::Enter)),
            Some(SessionsAction::Open(2))
        );
        assert!(!v.is_typing());
        assert_eq!(v.filter, "RUST vec");
        // Esc clears a kept filter before it closes the view.
        assert_eq!(v.handle_key(k(KeyCode::Esc)), None);
        assert!(v.filter.is_empty());
        assert_eq!(v.visible().len(), 3);
        // Esc while typing clears too; Backspace on an empty filter stops typing.
        v.handle_key(k(KeyCode::Char('/')));
        v.handle_key(k(KeyCode::Char('x')));
        v.handle_key(k(KeyCode::Esc));
        assert!(!v.is_typing() && v.filter.is_empty());
        v.handle_key(k(KeyCode::Char('/')));
        v.handle_key(k(KeyCode::Backspace));
        assert!(!v.is_typing());
    }

    #[test]
    fn refresh_keeps_the_selected_conversation() {
        let mut v = view();
        v.handle_key(k(KeyCode::Down));
        assert_eq!(v.selected_row().map(|r| r.id), Some(2));
        // A new conversation comes first; the selection follows id 2.
        let mut rows = v.rows.clone();
        rows.insert(0, row(4, "New one", 2, 3_500_000));
        assert!(v.set_rows(Ok(rows.clone()), Some(4), 3_600_000));
        assert_eq!(v.selected_row().map(|r| r.id), Some(2));
        assert!(!v.set_rows(Ok(rows), Some(4), 3_600_500));
        // No rows, and why.
        assert!(v.set_rows(Err("needs the local backend".into()), None, 3_600_500));
        assert_eq!(v.selected_row(), None);
        assert_eq!(v.handle_key(k(KeyCode::Enter)), None);
        assert_eq!(v.handle_key(k(KeyCode::Char('e'))), None);
        assert!(v.message.as_ref().is_some_and(|(ok, _)| !ok));
    }

    #[test]
    fn times_and_names_read_well() {
        let now = 100 * 86_400_000;
        assert_eq!(ago(now, now - 5_000), "just now");
        assert_eq!(ago(now, now + 5_000), "just now");
        assert_eq!(ago(now, now - 5 * 60_000), "5 min ago");
        assert_eq!(ago(now, now - 3 * 3_600_000), "3 h ago");
        assert_eq!(ago(now, now - 30 * 3_600_000), "yesterday");
        assert_eq!(ago(now, now - 4 * 86_400_000), "4 d ago");
        assert_eq!(ago(now, now - 21 * 86_400_000), "3 wk ago");
        assert_eq!(ago(now, now - 95 * 86_400_000), "3 mo ago");
        assert_eq!(ago(800 * 86_400_000, 0), "2 yr ago");
        assert_eq!(utc_minute(1_790_000_000_000), "2026-09-21 14:13");
        assert_eq!(slug("How do I sort a Vec<T>?"), "how-do-i-sort-a-vec-t");
        assert_eq!(slug("  ¿Qué?  "), "qué");
        assert_eq!(slug("!!!"), "conversation");
        assert!(slug(&"word ".repeat(30)).chars().count() <= 40);
        assert!(!slug(&"word ".repeat(30)).ends_with('-'));
        assert_eq!(export_name(7, "Rust", 1), "rota-7-rust.md");
        assert_eq!(export_name(7, "Rust", 3), "rota-7-rust-3.md");
    }

    #[test]
    fn exports_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_export(dir.path(), 7, "Rust", "first").unwrap();
        let b = write_export(dir.path(), 7, "Rust", "second").unwrap();
        assert_eq!(a, dir.path().join("rota-7-rust.md"));
        assert_eq!(b, dir.path().join("rota-7-rust-2.md"));
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "first");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "second");
        let e = write_export(&dir.path().join("missing"), 7, "Rust", "x").unwrap_err();
        assert!(e.contains("cannot export"), "{e}");
    }
}
