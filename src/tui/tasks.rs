//! The task selector: auto, fast, research, code, vision.
//!
//! Tab cycles (Shift+Tab backwards), Alt+1..5 picks directly. In `auto` it shows what
//! auto picked for the last prompt (from the `task_selected` event).

use super::theme::Theme;
use crate::model::Task;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The tasks in selector order.
pub const ORDER: [Task; 5] = [
    Task::Auto,
    Task::Fast,
    Task::Research,
    Task::Code,
    Task::Vision,
];

/// The selected task and what auto picked last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskSelector {
    /// The task new prompts are sent with.
    pub selected: Task,
    /// What `auto` picked for the last prompt.
    pub picked: Option<Task>,
}

impl Default for TaskSelector {
    fn default() -> Self {
        Self::new(Task::Auto)
    }
}

impl TaskSelector {
    /// Starts at `task`.
    pub fn new(task: Task) -> Self {
        Self {
            selected: task,
            picked: None,
        }
    }

    fn index(&self) -> usize {
        ORDER.iter().position(|t| *t == self.selected).unwrap_or(0)
    }

    /// The next task (Tab), or the previous one (Shift+Tab).
    pub fn cycle(&mut self, back: bool) {
        let n = ORDER.len();
        let i = if back {
            (self.index() + n - 1) % n
        } else {
            (self.index() + 1) % n
        };
        self.selected = ORDER[i];
    }

    /// Picks the n-th task (1-based, Alt+1..5); false when out of range.
    pub fn pick(&mut self, n: usize) -> bool {
        match n.checked_sub(1).and_then(|i| ORDER.get(i)) {
            Some(t) => {
                self.selected = *t;
                true
            }
            None => false,
        }
    }

    /// The pool the gauges show: the selected task, or what auto picked (fast before any).
    pub fn pool(&self) -> Task {
        match self.selected {
            Task::Auto => self.picked.unwrap_or(Task::Fast),
            t => t,
        }
    }

    /// Draws one line: `task  auto→code  fast  research  code  vision`.
    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let mut spans = vec![Span::styled(" task ", theme.dim)];
        let narrow = area.width < 60;
        for (i, t) in ORDER.iter().enumerate() {
            let mut label = t.as_str().to_string();
            if *t == Task::Auto
                && let Some(p) = self.picked
            {
                label = format!("auto→{p}");
            }
            if narrow && *t != self.selected {
                label = label
                    .chars()
                    .take(if *t == Task::Auto { 4 } else { 3 })
                    .collect();
            }
            let st = if *t == self.selected {
                theme.selected
            } else {
                theme.text
            };
            spans.push(Span::styled(format!(" {label} "), st));
            if i + 1 < ORDER.len() {
                spans.push(Span::raw(" "));
            }
        }
        if !narrow {
            spans.push(Span::styled("  Tab/Alt+1-5", theme.dim));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_cycles_through_all_and_wraps() {
        let mut s = TaskSelector::default();
        let mut seen = vec![s.selected];
        for _ in 0..5 {
            s.cycle(false);
            seen.push(s.selected);
        }
        assert_eq!(
            seen,
            vec![
                Task::Auto,
                Task::Fast,
                Task::Research,
                Task::Code,
                Task::Vision,
                Task::Auto
            ]
        );
        s.cycle(true);
        assert_eq!(s.selected, Task::Vision);
    }

    #[test]
    fn pick_and_pool() {
        let mut s = TaskSelector::default();
        assert_eq!(s.pool(), Task::Fast);
        s.picked = Some(Task::Code);
        assert_eq!(s.pool(), Task::Code);
        assert!(s.pick(3));
        assert_eq!(s.selected, Task::Research);
        assert_eq!(s.pool(), Task::Research);
        assert!(!s.pick(6));
        assert!(!s.pick(0));
    }
}
