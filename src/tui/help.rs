//! The help overlay (F1, or ? on an empty prompt): every key binding.

use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

/// Every binding: (section, keys, what it does).
pub const BINDINGS: &[(&str, &str, &str)] = &[
    ("chat", "Enter", "send the prompt"),
    ("chat", "Alt+Enter, Ctrl+J", "new line in the prompt"),
    (
        "chat",
        "Up / Down",
        "recall earlier prompts (on an empty prompt)",
    ),
    ("chat", "Tab, Shift+Tab", "next / previous task"),
    (
        "chat",
        "Alt+1..5",
        "task auto, fast, research, code, vision",
    ),
    ("chat", "Esc", "stop the answer (keeps what came)"),
    (
        "chat",
        "PgUp / PgDn",
        "scroll the chat (PgDn to the end follows)",
    ),
    ("chat", "Ctrl+E", "edit the prompt in $EDITOR"),
    ("chat", "Ctrl+Y", "copy the last answer (OSC 52)"),
    ("chat", "Alt+Y", "copy the code block in view (OSC 52)"),
    ("chat", "Alt+R", "show or hide a reasoning model's thinking"),
    ("chat", "Alt+C", "continue an answer cut at max_tokens"),
    (
        "chat",
        "/transcribe PATH",
        "transcribe audio into the prompt",
    ),
    ("chat", "Ctrl+T", "start a /transcribe command"),
    ("views", "F2, Ctrl+D", "pool dashboard"),
    ("views", "F3, Ctrl+K", "keys"),
    (
        "views",
        "F4, Ctrl+O",
        "saved conversations: resume, export, new",
    ),
    ("views", "F1, ?", "this help (? on an empty prompt)"),
    ("views", "Esc", "back to the chat"),
    ("keys", "a", "add a key (typed masked)"),
    ("keys", "d, Delete", "remove the selected key"),
    ("keys", "c", "check every key"),
    ("keys", "Up / Down", "select a key"),
    (
        "conversations",
        "Enter",
        "resume the selected one in the chat",
    ),
    (
        "conversations",
        "e",
        "export it to Markdown (current directory)",
    ),
    ("conversations", "n", "start a new conversation"),
    ("conversations", "/", "filter by title (Esc clears)"),
    ("conversations", "Up / Down", "select a conversation"),
    (
        "any",
        "Ctrl+C",
        "stop the answer, or quit when none streams",
    ),
    ("any", "Ctrl+Q", "quit"),
];

/// Draws the overlay centred over `area`, scrolled down by `scroll` lines (clamped).
/// Sections get headings when the screen is tall enough; else it is one flat list.
pub fn draw(f: &mut Frame, area: Rect, theme: &Theme, scroll: &mut usize) {
    if area.width < 4 || area.height < 3 {
        return;
    }
    let sections = area.height as usize >= BINDINGS.len() + 9;
    let mut lines = Vec::new();
    let mut section = "";
    for (sec, keys, what) in BINDINGS {
        if sections && *sec != section {
            if !section.is_empty() {
                lines.push(Line::default());
            }
            lines.push(Line::from(Span::styled(sec.to_string(), theme.heading)));
            section = sec;
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
