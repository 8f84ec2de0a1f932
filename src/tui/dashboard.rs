//! The pool dashboard (F2): every pool, model and key with windows used/limit, learned
//! limits (marked `*`), cooldowns and the last error — `rota status`, live.

use super::gauges::{compact, state_words, truncate};
use super::keymap::{self, Act, Section};
use super::theme::Theme;
use crate::engine::{EntryState, Status, StatusEntry};
use crate::model::Task;
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The dashboard's scroll position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dashboard {
    /// Lines scrolled down from the top.
    pub scroll: usize,
    last_height: u16,
}

fn entry_lines(e: &StatusEntry, theme: &Theme, width: usize, out: &mut Vec<Line<'static>>) {
    let st = theme.state(e.state);
    let name = format!("{}/{}", e.provider, e.model);
    let mut spans = vec![
        Span::styled(format!("  {:<9}", state_label(e.state)), st),
        Span::styled(truncate(&name, 44), theme.text),
    ];
    if let Some(ms) = e.until_ms {
        spans.push(Span::styled(format!("  ({})", state_words(e, false)), st));
        let _ = ms;
    }
    out.push(Line::from(spans));
    if !e.windows.is_empty() {
        let mut w = vec![Span::raw("           ")];
        for (win, ws) in &e.windows {
            let limit = ws.limit.map(compact).unwrap_or_else(|| "?".into());
            let mark = if ws.learned { "*" } else { "" };
            w.push(Span::styled(format!("{} ", win.as_str()), theme.dim));
            w.push(Span::styled(
                format!("{}/{limit}{mark}", compact(ws.used)),
                theme.text,
            ));
            w.push(Span::raw("  "));
        }
        out.push(Line::from(w));
    }
    if let Some(t) = &e.transcription {
        out.push(Line::from(Span::styled(
            format!(
                "           {} requests · {} audio s · {} failed · {} uploaded",
                t.requests,
                t.audio_secs,
                t.failures,
                compact(t.bytes)
            ),
            theme.dim,
        )));
    }
    for k in &e.keys {
        let mut s = vec![
            Span::styled("           key ", theme.dim),
            Span::styled(format!("{:<7}", k.key), theme.text),
            Span::styled(format!(" {:<12}", truncate(&k.account, 12)), theme.dim),
            Span::styled(state_label(k.state).to_string(), theme.state(k.state)),
        ];
        if let Some(ms) = k.until_ms {
            s.push(Span::styled(
                format!(" {}", crate::duration::short(ms)),
                theme.state(k.state),
            ));
        }
        out.push(Line::from(s));
    }
    if let Some(err) = &e.last_error {
        let room = width.saturating_sub(23).max(10);
        out.push(Line::from(vec![
            Span::styled("           last error ", theme.dim),
            Span::styled(truncate(err, room), theme.error),
        ]));
    }
}

fn state_label(s: EntryState) -> &'static str {
    match s {
        EntryState::Available => "ready",
        EntryState::AtCapacity => "full",
        EntryState::Cooling => "cooling",
        EntryState::Unavailable => "unavailable",
        EntryState::Failed => "failed",
        EntryState::NoKey => "no key",
        EntryState::Disabled => "disabled",
    }
}

/// Every line of the dashboard for a status.
pub fn lines(status: &Status, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let mut out = vec![Line::from(Span::styled(
        "windows: used/limit · * limit learned from a provider's reply · ? unknown",
        theme.dim,
    ))];
    for task in Task::POOLS {
        out.push(Line::default());
        out.push(Line::from(Span::styled(format!("■ {task}"), theme.heading)));
        match status.pools.get(&task) {
            Some(es) if !es.is_empty() => es
                .iter()
                .for_each(|e| entry_lines(e, theme, width, &mut out)),
            _ => out.push(Line::from(Span::styled("  (no models)", theme.dim))),
        }
    }
    out.push(Line::default());
    out.push(Line::from(Span::styled("■ transcription", theme.heading)));
    if status.transcription.is_empty() {
        out.push(Line::from(Span::styled("  (no models)", theme.dim)));
    }
    for e in &status.transcription {
        entry_lines(e, theme, width, &mut out);
    }
    out
}

impl Dashboard {
    /// Scrolls with Up/Down/PageUp/PageDown/Home/End; true when the key was used.
    pub fn handle_key(&mut self, key: KeyEvent) -> bool {
        let page = (self.last_height as usize).saturating_sub(1).max(1);
        match keymap::lookup(Section::Pools, &key, false) {
            Some(Act::Up) => self.scroll = self.scroll.saturating_sub(1),
            Some(Act::Down) => self.scroll += 1,
            Some(Act::PageUp) => self.scroll = self.scroll.saturating_sub(page),
            Some(Act::PageDown) => self.scroll += page,
            Some(Act::Top) => self.scroll = 0,
            Some(Act::Bottom) => self.scroll = usize::MAX / 2,
            _ => return false,
        }
        true
    }

    /// Draws the dashboard full screen.
    pub fn draw(&mut self, f: &mut Frame, area: Rect, status: &Status, theme: &Theme) {
        let block = theme.view_block(" pools (live) ", " ↑↓ PgUp PgDn scroll · Esc back ");
        let inner = block.inner(area);
        f.render_widget(block, area);
        self.last_height = inner.height;
        let all = lines(status, theme, inner.width as usize);
        let max = all.len().saturating_sub(inner.height as usize);
        self.scroll = self.scroll.min(max);
        let shown: Vec<Line<'static>> = all
            .into_iter()
            .skip(self.scroll)
            .take(inner.height as usize)
            .collect();
        f.render_widget(Paragraph::new(shown), inner);
    }
}
