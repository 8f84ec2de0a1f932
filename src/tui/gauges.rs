//! The gauge panel: one row per model of the active pool — name, a TPM bar, an RPM bar,
//! the daily window when it binds, the state (coloured) with "back in 12s", and key count.
//! Labels shorten as the width shrinks; below the narrowest layout only name and state remain.

use super::theme::Theme;
use crate::engine::{EntryState, StatusEntry, WindowStatus};
use crate::model::{Task, Window};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// Formats a count compactly: 950, 1.2k, 12k, 1.5M.
pub fn compact(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=9_999 => {
            let s = format!("{:.1}k", n as f64 / 1_000.0);
            s.replace(".0k", "k")
        }
        10_000..=99_999 => {
            let s = format!("{:.1}k", n as f64 / 1_000.0);
            s.replace(".0k", "k")
        }
        100_000..=999_999 => format!("{}k", n / 1_000),
        _ => {
            let s = format!("{:.1}M", n as f64 / 1_000_000.0);
            s.replace(".0M", "M")
        }
    }
}

/// The glyph and words for a state.
pub fn state_words(e: &StatusEntry, short: bool) -> String {
    let until = e.until_ms.map(crate::duration::short);
    match (e.state, short) {
        (EntryState::Available, _) => "ready".into(),
        (EntryState::AtCapacity, false) => match until {
            Some(u) => format!("full, frees in {u}"),
            None => "at capacity".into(),
        },
        (EntryState::AtCapacity, true) => match until {
            Some(u) => format!("full {u}"),
            None => "full".into(),
        },
        (EntryState::Cooling, false) => match until {
            Some(u) => format!("back in {u}"),
            None => "cooling".into(),
        },
        (EntryState::Cooling, true) => match until {
            Some(u) => format!("back {u}"),
            None => "cooling".into(),
        },
        (EntryState::Unavailable, _) => "unavailable".into(),
        (EntryState::Failed, _) => "failed".into(),
        (EntryState::NoKey, _) => "no key".into(),
        (EntryState::Disabled, false) => "disabled".into(),
        (EntryState::Disabled, true) => "off".into(),
    }
}

fn glyph(s: EntryState) -> &'static str {
    match s {
        EntryState::Available => "●",
        EntryState::AtCapacity => "◐",
        EntryState::Cooling => "◌",
        EntryState::Unavailable => "⊘",
        EntryState::Failed => "✗",
        EntryState::NoKey => "○",
        EntryState::Disabled => "–",
    }
}

fn ratio(w: &WindowStatus) -> Option<f64> {
    w.limit
        .filter(|l| *l > 0)
        .map(|l| (w.used as f64 / l as f64).min(1.0))
}

/// The daily window that binds: the day window with the highest used/limit, when it is at
/// least as full as every minute window (or 80% full).
pub fn binding_day(e: &StatusEntry) -> Option<(Window, f64)> {
    let day = [Window::Rpd, Window::Tpd]
        .into_iter()
        .filter_map(|w| e.windows.get(&w).and_then(ratio).map(|r| (w, r)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let minute = [Window::Rpm, Window::Tpm]
        .into_iter()
        .filter_map(|w| e.windows.get(&w).and_then(ratio))
        .fold(0.0f64, f64::max);
    (day.1 >= minute || day.1 >= 0.8).then_some(day)
}

/// How one layout tier spends the width.
struct Tier {
    bar: usize,
    labels: bool,
    numbers: bool,
    day: bool,
    short_state: bool,
    keys_long: bool,
    min_name: usize,
}

const TIERS: [Tier; 4] = [
    Tier {
        bar: 12,
        labels: true,
        numbers: true,
        day: true,
        short_state: false,
        keys_long: true,
        min_name: 30,
    },
    Tier {
        bar: 6,
        labels: true,
        numbers: false,
        day: true,
        short_state: true,
        keys_long: false,
        min_name: 16,
    },
    Tier {
        bar: 4,
        labels: false,
        numbers: false,
        day: false,
        short_state: true,
        keys_long: false,
        min_name: 10,
    },
    Tier {
        bar: 0,
        labels: false,
        numbers: false,
        day: false,
        short_state: true,
        keys_long: false,
        min_name: 1,
    },
];

fn bar(w: Option<&WindowStatus>, width: usize, fill: Style, theme: &Theme) -> Vec<Span<'static>> {
    let r = w.and_then(ratio);
    let filled = r
        .map(|r| (r * width as f64).round() as usize)
        .unwrap_or(0)
        .min(width);
    let empty_char = if r.is_some() { "░" } else { "·" };
    vec![
        Span::styled("█".repeat(filled), fill),
        Span::styled(empty_char.repeat(width - filled), theme.bar_empty),
    ]
}

fn numbers(w: Option<&WindowStatus>, long: bool) -> String {
    match w {
        None => "—".into(),
        Some(w) => match (w.limit, long) {
            (Some(l), true) => format!("{}/{}", compact(w.used), compact(l)),
            (Some(l), false) if l > 0 => format!("{:>3}%", (w.used * 100 / l).min(100)),
            (_, _) => format!("{}/?", compact(w.used)),
        },
    }
}

fn pad(s: &str, w: usize) -> String {
    let s = truncate(s, w);
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(w.saturating_sub(n)))
}

/// Cuts `s` to `w` characters, ending in `…` when cut; control characters are dropped
/// (the text may come from a provider).
pub fn truncate(s: &str, w: usize) -> String {
    let s = &super::markdown::sanitize(s);
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(w - 1).collect();
    out.push('…');
    out
}

fn span_w(spans: &[Span<'_>]) -> usize {
    spans.iter().map(|s| s.content.chars().count()).sum()
}

/// One gauge row, at most `width` columns.
pub fn row(e: &StatusEntry, width: usize, theme: &Theme) -> Line<'static> {
    let st = theme.state(e.state);
    let name_full = format!("{}/{}", e.provider, e.model);
    // When the whole name does not fit, the id's last segment says more than its org.
    let name_short = format!(
        "{}/{}",
        e.provider,
        e.model.rsplit('/').next().unwrap_or(&e.model)
    );
    for (ti, tier) in TIERS.iter().enumerate() {
        let mut tail: Vec<Span<'static>> = Vec::new();
        if tier.bar > 0 {
            for (w, label) in [(Window::Tpm, "TPM"), (Window::Rpm, "RPM")] {
                let ws = e.windows.get(&w);
                tail.push(Span::raw(" "));
                if tier.labels {
                    tail.push(Span::styled(format!("{label} "), theme.dim));
                }
                tail.extend(bar(ws, tier.bar, st, theme));
                let num = numbers(ws, tier.numbers);
                let num_w = if tier.numbers { 11 } else { 4 };
                tail.push(Span::styled(format!(" {:>num_w$}", num), theme.text));
            }
        }
        if tier.day {
            let day = binding_day(e)
                .map(|(w, r)| format!("{} {:>3}%", w.as_str().to_uppercase(), (r * 100.0) as u64))
                .unwrap_or_default();
            tail.push(Span::styled(format!(" {:<8}", day), theme.at_capacity));
        }
        let words = state_words(e, tier.short_state);
        let sw = if tier.short_state { 9 } else { 19 };
        tail.push(Span::styled(format!(" {}", pad(&words, sw)), st));
        if ti < 3 {
            let n = e.keys.len();
            let k = if tier.keys_long {
                format!(
                    " {:<6}",
                    format!("{n} key{}", if n == 1 { "" } else { "s" })
                )
            } else {
                format!(" {n:>2}k")
            };
            tail.push(Span::styled(k, theme.dim));
        }
        let fixed = 2 + span_w(&tail);
        if fixed + tier.min_name <= width || ti == TIERS.len() - 1 {
            let name_w = width.saturating_sub(fixed).max(if ti == TIERS.len() - 1 {
                0
            } else {
                tier.min_name
            });
            // Keep the whole line inside the width even in the last tier.
            let mut spans = vec![Span::styled(format!("{} ", glyph(e.state)), st)];
            let name = if name_full.chars().count() <= name_w {
                &name_full
            } else {
                &name_short
            };
            spans.push(Span::styled(pad(name, name_w), theme.text));
            spans.extend(tail);
            let mut line = Line::from(spans);
            clip(&mut line, width);
            return line;
        }
    }
    Line::default()
}

fn clip(line: &mut Line<'static>, width: usize) {
    let mut used = 0usize;
    let mut keep = Vec::new();
    for s in line.spans.drain(..) {
        let w = s.content.chars().count();
        if used + w <= width {
            used += w;
            keep.push(s);
        } else {
            let rest: String = s.content.chars().take(width - used).collect();
            if !rest.is_empty() {
                keep.push(Span::styled(rest, s.style));
            }
            break;
        }
    }
    line.spans = keep;
}

/// Rows the panel wants for `n` models when `max_rows` are spare (plus its title row).
pub fn height(n: usize, max_rows: u16) -> u16 {
    (n.max(1) as u16).min(max_rows.max(1)) + 1
}

/// Draws the panel: a title row naming the pool, then one row per model that fits.
pub fn draw(f: &mut Frame, area: Rect, pool: Task, entries: &[StatusEntry], theme: &Theme) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let rows = area.height.saturating_sub(1) as usize;
    let hidden = entries.len().saturating_sub(rows);
    let mut title = format!(" {pool} pool ");
    if hidden > 0 {
        title.push_str(&format!("(+{hidden} more: F2) "));
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(title, theme.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    let lines: Vec<Line<'static>> = if entries.is_empty() {
        vec![Line::from(Span::styled(
            "no models in this pool: add keys (F3) or check [pools] in the config",
            theme.dim,
        ))]
    } else {
        entries
            .iter()
            .take(rows)
            .map(|e| row(e, width, theme))
            .collect()
    };
    f.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::backend::sample_status;

    fn text(l: &Line<'_>) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(950), "950");
        assert_eq!(compact(1_000), "1k");
        assert_eq!(compact(11_800), "11.8k");
        assert_eq!(compact(180_000), "180k");
        assert_eq!(compact(1_200), "1.2k");
        assert_eq!(compact(1_500_000), "1.5M");
    }

    #[test]
    fn rows_fit_every_width_and_shorten() {
        let t = Theme::default_dark();
        let s = sample_status(0);
        for e in s.pools[&Task::Code].iter() {
            for w in 0..200 {
                let l = row(e, w, &t);
                assert!(text(&l).chars().count() <= w, "w={w}: {}", text(&l));
            }
        }
        let cooling = &s.pools[&Task::Code][0];
        assert!(text(&row(cooling, 150, &t)).contains("back in 12s"));
        assert!(text(&row(cooling, 150, &t)).contains("TPM"));
        assert!(text(&row(cooling, 78, &t)).contains("back 12s"));
        assert!(text(&row(cooling, 30, &t)).contains("llama"));
    }

    #[test]
    fn day_window_shows_only_when_binding() {
        let s = sample_status(0);
        let fast = &s.pools[&Task::Fast][0];
        assert_eq!(binding_day(fast).map(|d| d.0), Some(Window::Rpd));
        let cooling = &s.pools[&Task::Code][0];
        assert_eq!(binding_day(cooling), None);
    }
}
