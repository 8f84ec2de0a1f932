//! The status line: the last answer's model, tokens and cost, the session's cost, the last
//! rotation event, and short-lived notes ("copied 312 characters").

use super::gauges::truncate;
use super::theme::Theme;
use crate::model::{Reason, Usage, Window};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// What the status line shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusLine {
    /// `provider/model` of the last answer, or of the model now answering.
    pub model: Option<String>,
    /// Tokens of the last answer.
    pub usage: Option<Usage>,
    /// Cost of the last answer (USD).
    pub cost: Option<f64>,
    /// Cost of every answer this session (USD).
    pub session_cost: f64,
    /// The last rotation, as words.
    pub rotation: Option<String>,
    /// A note that replaces the rotation until the next key.
    pub note: Option<String>,
    /// A request is running.
    pub busy: bool,
}

/// Words for a rotation: `groq/a → together/b rate limited (TPM), back in 7s`.
pub fn rotation_words(
    from: &str,
    to: Option<&str>,
    reason: Reason,
    window: Option<Window>,
    retry_after_ms: Option<u64>,
) -> String {
    let mut s = format!("{from} → {}", to.unwrap_or("waiting"));
    s.push(' ');
    s.push_str(&reason.as_str().replace('_', " "));
    if let Some(w) = window {
        s.push_str(&format!(" ({})", w.as_str().to_uppercase()));
    }
    if let Some(ms) = retry_after_ms {
        s.push_str(&format!(", back in {}", crate::duration::short(ms)));
    }
    s
}

/// Formats USD with enough digits for tiny costs.
pub fn usd(v: f64) -> String {
    if v == 0.0 {
        "$0".into()
    } else if v < 0.01 {
        format!("${v:.4}")
    } else {
        format!("${v:.2}")
    }
}

impl StatusLine {
    /// Draws one line, cut to the width.
    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let w = area.width as usize;
        let mut rest = String::new();
        if let Some(u) = self.usage {
            rest.push_str(&format!(
                " · {}+{} tok",
                u.prompt_tokens, u.completion_tokens
            ));
        }
        if let Some(c) = self.cost {
            rest.push_str(&format!(" · {}", usd(c)));
        }
        rest.push_str(&format!(" · session {} ", usd(self.session_cost)));
        let mut left = String::from(if self.busy { " ⋯ " } else { " " });
        let model = self.model.as_deref().unwrap_or("no answer yet");
        // The model name gives way first, so the costs stay readable.
        let room = w
            .saturating_sub(left.chars().count() + rest.chars().count())
            .max(12);
        left.push_str(&truncate(model, room));
        left.push_str(&rest);
        let mut right = self.rotation.as_ref().map(|r| format!(" ↻ {r} "));
        // A note (copied, stopped, an editor error) matters most right now: it goes first.
        if let Some(n) = &self.note {
            right = Some(format!(" {}", left.trim_start()));
            left = format!(" {n} ·");
        }
        let mut spans = Vec::new();
        let left_w = left.chars().count();
        if left_w >= w {
            spans.push(Span::styled(truncate(&left, w), theme.status));
        } else {
            spans.push(Span::styled(left, theme.status));
            let room = w - left_w;
            let r = right.map(|r| truncate(&r, room)).unwrap_or_default();
            let fill = room - r.chars().count();
            spans.push(Span::styled(r, theme.status.patch(theme.notice)));
            spans.push(Span::styled(" ".repeat(fill), theme.status));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_words_read_well() {
        assert_eq!(
            rotation_words(
                "groq/a",
                Some("together/b"),
                Reason::RateLimited,
                Some(Window::Tpm),
                Some(7_000)
            ),
            "groq/a → together/b rate limited (TPM), back in 7s"
        );
        assert_eq!(
            rotation_words("groq/a", None, Reason::Auth, None, None),
            "groq/a → waiting auth"
        );
        assert_eq!(usd(0.000_701), "$0.0007");
        assert_eq!(usd(1.5), "$1.50");
    }
}
