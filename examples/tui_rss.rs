//! Feeds 1,000 messages (500 prompts, 500 markdown answers with code) into the chat UI's
//! state, draws one 160×48 frame (so every message's lines are cached) and prints the
//! process's resident memory before and after (`VmRSS`, Linux only).
//!
//! `cargo run --example tui_rss`

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rota::model::Task;
use rota::router::events::Event;
use rota::tui::backend::sample_status;
use rota::tui::{App, Theme};

fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let before = rss_kib();
    let mut app = App::new(Theme::default_dark(), Task::Auto);
    app.set_status(sample_status(0));
    for i in 0..500 {
        app.paste(&format!(
            "question number {i}: how do I do thing {i} in rust?"
        ));
        let _ = app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        app.handle_event(Event::Delta {
            text: format!(
                "Answer {i}: use an **iterator**; for example:\n\n```rust\nfn f{i}(v: &[u32]) -> u32 {{\n    v.iter().sum()\n}}\n```\n\nThat is *all* there is to it, and it reads well in a long paragraph that wraps over more than one line of the terminal."
            ),
        });
        app.stream_ended();
    }
    let Ok(mut term) = Terminal::new(TestBackend::new(160, 48));
    // Scroll to the top once so every message is wrapped and cached, then back down.
    let _ = term.draw(|f| app.draw(f));
    app.chat.scroll_up(usize::MAX / 2);
    let _ = term.draw(|f| app.draw(f));
    app.chat.offset = 0;
    let _ = term.draw(|f| app.draw(f));
    let after = rss_kib();
    println!(
        "messages: {}  VmRSS before: {} KiB  after: {} KiB",
        app.chat.messages.len(),
        before.map_or("?".into(), |v| v.to_string()),
        after.map_or("?".into(), |v| v.to_string())
    );
}
