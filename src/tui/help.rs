//! The help overlay (F1, or ? on an empty prompt): every key binding of [`keymap`].

use super::keymap;
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

/// Draws the overlay centred over `area`, scrolled down by `scroll` lines (clamped).
/// Sections get headings when the screen is tall enough; else it is one flat list.
pub fn draw(f: &mut Frame, area: Rect, theme: &Theme, scroll: &mut usize) {
    if area.width < 4 || area.height < 3 {
        return;
    }
    let sections = area.height as usize >= keymap::help_rows().count() + 9;
    let mut lines = Vec::new();
    let mut section = None;
    for (sec, keys, what) in keymap::help_rows() {
        if sections && Some(sec) != section {
            if section.is_some() {
                lines.push(Line::default());
            }
            lines.push(Line::from(Span::styled(sec.name(), theme.heading)));
            section = Some(sec);
        }
        lines.push(Line::from(vec![
            Span::styled(format!(" {keys:<18}"), theme.key),
            Span::styled(what.to_string(), theme.text),
        ]));
    }
    let w = area.width.min(74);
    let h = area.height.min(lines.len() as u16 + 2);
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let inner_h = h.saturating_sub(2) as usize;
    *scroll = (*scroll).min(lines.len().saturating_sub(inner_h));
    let more = lines.len() > inner_h;
    f.render_widget(Clear, rect);
    let hint = if more {
        " ↑↓ scroll · Esc closes "
    } else {
        " Esc closes "
    };
    let block = theme.view_block(" help: every key ", hint);
    let shown: Vec<Line<'static>> = lines.into_iter().skip(*scroll).collect();
    f.render_widget(Paragraph::new(shown).block(block), rect);
}
