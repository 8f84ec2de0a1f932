//! The screen shown when the terminal is smaller than the UI needs.

use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// The smallest terminal the UI draws in: width.
pub const MIN_WIDTH: u16 = 60;
/// The smallest terminal the UI draws in: height.
pub const MIN_HEIGHT: u16 = 16;

/// Whether `area` is too small for the UI.
pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// Draws "enlarge the terminal to at least W×H (now w×h)", centred, wrapped; any size works.
pub fn draw(f: &mut Frame, area: Rect, theme: &Theme) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let msg = format!(
        "enlarge the terminal to at least {MIN_WIDTH}×{MIN_HEIGHT} (now {}×{})",
        area.width, area.height
    );
    let lines = vec![
        Line::from(Span::styled(msg, theme.error)),
        Line::from(Span::styled("Ctrl+Q quits", theme.dim)),
    ];
    let needed = if area.width >= 50 { 2 } else { 4 };
    let top = area.height.saturating_sub(needed) / 2;
    let inner = Rect {
        y: area.y + top,
        height: area.height - top,
        ..area
    };
    f.render_widget(
        Paragraph::new(lines)
            .alignment(ratatui::layout::Alignment::Center)
            .wrap(Wrap { trim: true }),
        inner,
    );
}
