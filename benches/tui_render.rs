//! Drawing one chat frame with 1,000 messages of history on ratatui's TestBackend.
//!
//! `warm`: the per-message line cache is filled (the normal case: a keypress or a delta);
//! `last_grows`: the newest answer grew by one delta, so only its open tail is parsed and
//! wrapped again;
//! `cold`: a resize, so every message is re-wrapped once.

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rota::model::Task;
use rota::router::events::Event;
use rota::tui::backend::sample_status;
use rota::tui::{App, Theme};
use std::hint::black_box;

fn history(n: usize) -> App {
    let mut app = App::new(Theme::default_dark(), Task::Auto);
    app.set_status(sample_status(0));
    for i in 0..n / 2 {
        app.paste(&format!(
            "question number {i}: how do I do thing {i} in rust?"
        ));
        let _ = app.handle_key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Enter,
            crossterm::event::KeyModifiers::NONE,
        ));
        app.handle_event(Event::Delta {
            text: format!(
                "Answer {i}: use an **iterator**; for example:\n\n```rust\nfn f{i}(v: &[u32]) -> u32 {{\n    v.iter().sum()\n}}\n```\n\nThat is *all* there is to it, and it reads well in a long paragraph that wraps over more than one line of the terminal."
            ),
        });
        app.stream_ended();
    }
    app
}

fn bench(c: &mut Criterion) {
    let mut app = history(1_000);
    let mut term = Terminal::new(TestBackend::new(160, 48)).expect("test backend");
    term.draw(|f| app.draw(f)).expect("draw");
    c.bench_function("tui_frame_1000_messages_warm", |b| {
        b.iter(|| {
            term.draw(|f| app.draw(f)).expect("draw");
            black_box(term.backend().buffer().area);
        })
    });
    c.bench_function("tui_frame_1000_messages_last_grows", |b| {
        b.iter(|| {
            if let Some(m) = app.chat.messages.last_mut() {
                m.text.push_str(" more");
                m.grew();
            }
            term.draw(|f| app.draw(f)).expect("draw");
        })
    });
    let mut width = 160u16;
    c.bench_function("tui_frame_1000_messages_cold_resize", |b| {
        b.iter(|| {
            width = if width == 160 { 159 } else { 160 };
            term.backend_mut().resize(width, 48);
            term.autoresize().expect("resize");
            term.draw(|f| app.draw(f)).expect("draw");
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
