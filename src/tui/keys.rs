//! The keys view (F3): keys per provider, masked, with account and last check; add a key
//! (typed masked), remove one, check them all.

use super::backend::{KeyCheck, KeyRow};
use super::gauges::truncate;
use super::keymap::{self, Act, Section};
use super::theme::Theme;
use crate::secret::ApiKey;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::TextArea;

/// What the keys view asks the app to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeysAction {
    /// Add a key.
    Add {
        /// Provider name.
        provider: String,
        /// The key.
        key: ApiKey,
        /// Account, if given.
        account: Option<String>,
    },
    /// Remove the key of `provider` ending in `suffix`.
    Remove {
        /// Provider name.
        provider: String,
        /// Last characters of the key.
        suffix: String,
    },
    /// Check every key.
    Check,
    /// Leave the view.
    Close,
}

/// The add-a-key form.
#[derive(Debug)]
pub struct AddForm {
    fields: [TextArea<'static>; 3],
    focus: usize,
}

const FIELD_NAMES: [&str; 3] = ["provider", "key", "account (optional)"];

impl AddForm {
    fn new() -> Self {
        let mut fields = [
            TextArea::default(),
            TextArea::default(),
            TextArea::default(),
        ];
        fields[0].set_placeholder_text("groq, openai, together or custom:NAME");
        fields[1].set_mask_char('•');
        fields[1].set_placeholder_text("paste the key; it is never shown");
        fields[2].set_placeholder_text("keys of one account share its limits");
        for f in &mut fields {
            f.set_cursor_line_style(ratatui::style::Style::default());
        }
        Self { fields, focus: 0 }
    }

    fn value(&self, i: usize) -> String {
        self.fields[i].lines().join("").trim().to_string()
    }
}

/// The keys view's state.
#[derive(Debug, Default)]
pub struct KeysView {
    /// The rows last read from the backend.
    pub rows: Vec<KeyRow>,
    /// The selected row.
    pub selected: usize,
    /// The add form, while open.
    pub adding: Option<AddForm>,
    /// A removal waiting for y/n: the row index.
    pub confirm_remove: Option<usize>,
    /// The result of the last action: (ok, words).
    pub message: Option<(bool, String)>,
}

impl KeysView {
    /// Replaces the rows (keeping the selection in range).
    pub fn set_rows(&mut self, rows: Vec<KeyRow>) {
        self.rows = rows;
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }

    /// Shows the result of an action.
    pub fn set_result(&mut self, ok: bool, words: impl Into<String>) {
        self.message = Some((ok, words.into()));
    }

    /// Whether a text field has the keyboard (so `?` and letters are typed, not bindings).
    pub fn is_typing(&self) -> bool {
        self.adding.is_some()
    }

    /// Handles one key.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<KeysAction> {
        if let Some(form) = self.adding.as_mut() {
            match key.code {
                KeyCode::Esc => self.adding = None,
                KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1) % 3,
                KeyCode::BackTab | KeyCode::Up => form.focus = (form.focus + 2) % 3,
                KeyCode::Enter => {
                    if form.focus == 0 {
                        form.focus = 1;
                        return None;
                    }
                    let provider = form.value(0);
                    let key_text = form.value(1);
                    if provider.is_empty() || key_text.is_empty() {
                        self.message = Some((false, "type a provider and a key first".into()));
                        form.focus = if provider.is_empty() { 0 } else { 1 };
                        return None;
                    }
                    let account = Some(form.value(2)).filter(|a| !a.is_empty());
                    self.adding = None;
                    return Some(KeysAction::Add {
                        provider,
                        key: ApiKey::new(key_text),
                        account,
                    });
                }
                _ => {
                    let i = form.focus;
                    form.fields[i].input(key);
                }
            }
            return None;
        }
        if let Some(i) = self.confirm_remove {
            self.confirm_remove = None;
            if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                let row = self.rows.get(i)?;
                return Some(KeysAction::Remove {
                    provider: row.provider.clone(),
                    suffix: row.masked.trim_start_matches('…').to_string(),
                });
            }
            self.message = Some((true, "kept the key".into()));
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) {
            return None;
        }
        let act = keymap::lookup(Section::Keys, &key, false)
            .or_else(|| keymap::lookup(Section::Views, &key, false));
        match act {
            Some(Act::Up) => self.selected = self.selected.saturating_sub(1),
            Some(Act::Down) => {
                self.selected = (self.selected + 1).min(self.rows.len().saturating_sub(1))
            }
            Some(Act::AddKey) => {
                self.adding = Some(AddForm::new());
                self.message = None;
            }
            Some(Act::RemoveKey) if !self.rows.is_empty() => {
                self.confirm_remove = Some(self.selected);
            }
            Some(Act::CheckKeys) => {
                self.message = Some((true, "checking every key…".into()));
                return Some(KeysAction::Check);
            }
            Some(Act::Back) => return Some(KeysAction::Close),
            _ => {}
        }
        None
    }

    /// Draws the view full screen.
    pub fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme) {
        let block = theme.view_block(
            " keys ",
            " a add · d remove · c check · ↑↓ select · Esc back ",
        );
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [list_area, msg_area] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);
        let w = list_area.width as usize;
        let mut lines = Vec::new();
        let mut provider = "";
        let mut selected_line = 0usize;
        for (i, r) in self.rows.iter().enumerate() {
            if r.provider != provider {
                if !provider.is_empty() {
                    lines.push(Line::default());
                }
                lines.push(Line::from(Span::styled(r.provider.clone(), theme.heading)));
                provider = &r.provider;
            }
            let check_style = match r.check {
                KeyCheck::Valid => theme.available,
                KeyCheck::Invalid(_) => theme.failed,
                KeyCheck::Unreachable(_) => theme.at_capacity,
                KeyCheck::Unchecked | KeyCheck::Checking => theme.dim,
            };
            let mark = if i == self.selected { "▶ " } else { "  " };
            let row_style = if i == self.selected {
                theme.selected
            } else {
                theme.text
            };
            let head = format!("{mark}{:<8}{:<14}", r.masked, truncate(&r.account, 13));
            let room = w.saturating_sub(head.chars().count());
            if i == self.selected {
                selected_line = lines.len();
            }
            lines.push(Line::from(vec![
                Span::styled(head, row_style),
                Span::styled(truncate(&r.check.label(), room), check_style),
            ]));
        }
        if self.rows.is_empty() {
            lines.push(Line::from(Span::styled(
                "no keys yet: press a to add one, or set GROQ_API_KEY / OPENAI_API_KEY / TOGETHER_API_KEY",
                theme.dim,
            )));
        }
        let h = list_area.height as usize;
        let skip = (selected_line + 1).saturating_sub(h);
        f.render_widget(
            Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()),
            list_area,
        );
        let msg = if let Some(i) = self.confirm_remove {
            let r = self.rows.get(i);
            Line::from(Span::styled(
                format!(
                    "remove {} key {}? y removes, any other key keeps it",
                    r.map(|r| r.provider.as_str()).unwrap_or(""),
                    r.map(|r| r.masked.as_str()).unwrap_or("")
                ),
                theme.notice,
            ))
        } else {
            match &self.message {
                Some((ok, m)) => Line::from(Span::styled(
                    m.clone(),
                    if *ok { theme.notice } else { theme.error },
                )),
                None => Line::default(),
            }
        };
        f.render_widget(Paragraph::new(msg), msg_area);
        if let Some(form) = self.adding.as_mut() {
            draw_form(f, inner, form, theme);
        }
    }
}

fn draw_form(f: &mut Frame, area: Rect, form: &mut AddForm, theme: &Theme) {
    let w = area.width.min(64);
    let h = area.height.min(11);
    if w < 10 || h < 5 {
        return;
    }
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border_focus)
        .title(Span::styled(" add a key ", theme.title))
        .title_bottom(Span::styled(
            " Tab next · Enter add · Esc cancel ",
            theme.footer,
        ));
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let rows = Layout::vertical([Constraint::Length(3); 3]).split(inner);
    for (i, field) in form.fields.iter_mut().enumerate() {
        let Some(r) = rows.get(i) else { continue };
        let focused = i == form.focus;
        field.set_block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(if focused {
                    theme.border_focus
                } else {
                    theme.border
                })
                .title(Span::styled(FIELD_NAMES[i], theme.dim)),
        );
        field.set_style(theme.text);
        field.set_placeholder_style(theme.dim);
        field.set_cursor_style(if focused {
            theme.text.add_modifier(ratatui::style::Modifier::REVERSED)
        } else {
            theme.text
        });
        f.render_widget(&*field, *r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::backend::sample_keys;

    fn k(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn add_form_collects_masked_key() {
        let mut v = KeysView::default();
        v.set_rows(sample_keys());
        assert_eq!(v.handle_key(k(KeyCode::Char('a'))), None);
        for c in "groq".chars() {
            v.handle_key(k(KeyCode::Char(c)));
        }
        v.handle_key(k(KeyCode::Tab));
        for c in "gsk_test_0001".chars() {
            v.handle_key(k(KeyCode::Char(c)));
        }
        v.handle_key(k(KeyCode::Tab));
        for c in "team".chars() {
            v.handle_key(k(KeyCode::Char(c)));
        }
        let act = v.handle_key(k(KeyCode::Enter));
        match act {
            Some(KeysAction::Add {
                provider,
                key,
                account,
            }) => {
                assert_eq!(provider, "groq");
                assert_eq!(key.expose(), "gsk_test_0001");
                assert_eq!(account.as_deref(), Some("team"));
            }
            other => panic!("{other:?}"),
        }
        assert!(v.adding.is_none());
    }

    #[test]
    fn remove_needs_confirmation() {
        let mut v = KeysView::default();
        v.set_rows(sample_keys());
        v.handle_key(k(KeyCode::Down));
        assert_eq!(v.handle_key(k(KeyCode::Char('d'))), None);
        assert_eq!(
            v.handle_key(k(KeyCode::Char('y'))),
            Some(KeysAction::Remove {
                provider: "groq".into(),
                suffix: "e5f6".into()
            })
        );
        v.handle_key(k(KeyCode::Char('d')));
        assert_eq!(v.handle_key(k(KeyCode::Char('n'))), None);
        assert_eq!(v.handle_key(k(KeyCode::Char('c'))), Some(KeysAction::Check));
        assert_eq!(v.handle_key(k(KeyCode::Esc)), Some(KeysAction::Close));
    }
}
