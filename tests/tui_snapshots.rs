//! Snapshot tests of every screen on ratatui's TestBackend, plus drawing at many sizes.
//! Snapshots hold the text only (styles are checked by the explicit style tests below),
//! rendered with a fixed theme and a fixed status, so they depend on no clock or terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use rota::model::Task;
use rota::router::events::Event;
use rota::tui::backend::{ChatBackend, FakeBackend, sample_keys, sample_script, sample_status};
use rota::tui::{Action, App, SessionRow, Theme, View};

const AT: u64 = 1_790_000_000_000;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn app_with(theme: Theme) -> App {
    let mut app = App::new(theme, Task::Auto);
    app.set_status(sample_status(AT));
    app.set_keys(sample_keys());
    app
}

fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        app.handle_key(key(KeyCode::Char(c)));
    }
}

/// Sends a prompt through a FakeBackend and feeds the first `n` events (all when None).
fn ask(app: &mut App, backend: &FakeBackend, prompt: &str, n: Option<usize>) {
    type_str(app, prompt);
    let Some(Action::Send(req)) = app.handle_key(key(KeyCode::Enter)) else {
        panic!("Enter did not send");
    };
    let mut rx = backend.ask(req);
    let mut fed = 0;
    while let Ok(ev) = rx.try_recv() {
        if n.is_some_and(|n| fed >= n) {
            return;
        }
        app.handle_event(ev);
        fed += 1;
    }
    app.stream_ended();
}

fn screen(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    t
}

fn chat_app() -> App {
    let mut app = app_with(Theme::default_dark());
    let b = FakeBackend::new();
    b.set_script(vec![
        Event::TaskSelected {
            task: Task::Fast,
            auto: true,
        },
        Event::Delta {
            text: "Hello! Ask me anything.".into(),
        },
        Event::Done {
            provider: "groq".into(),
            model: "llama-3.1-8b-instant".into(),
            usage: rota::model::Usage {
                prompt_tokens: 9,
                completion_tokens: 7,
            },
            estimated_prompt_tokens: 10,
            cost_usd: 0.000_001,
            latency_ms: 200,
            first_token_ms: 80,
            attempts: 1,
            finish_reason: Some("stop".into()),
            max_tokens: 1024,
            sources: Vec::new(),
        },
    ]);
    ask(&mut app, &b, "hi", None);
    b.set_script(sample_script());
    ask(&mut app, &b, "how do I reverse a string in rust?", None);
    app
}

#[test]
fn chat_80x24_done() {
    let mut app = chat_app();
    insta::assert_snapshot!(screen(&mut app, 80, 24).backend());
}

#[test]
fn chat_80x24_streaming() {
    let mut app = app_with(Theme::default_dark());
    let b = FakeBackend::new();
    // task, model, rotation, model, then some deltas: stops inside the code block.
    ask(&mut app, &b, "how do I reverse a string in rust?", Some(10));
    assert!(app.streaming);
    insta::assert_snapshot!(screen(&mut app, 80, 24).backend());
}

#[test]
fn chat_160x48_done() {
    let mut app = chat_app();
    insta::assert_snapshot!(screen(&mut app, 160, 48).backend());
}

#[test]
fn chat_160x48_stopped_with_esc() {
    let mut app = app_with(Theme::default_dark());
    let b = FakeBackend::new();
    ask(&mut app, &b, "how do I reverse a string in rust?", Some(12));
    assert_eq!(app.handle_key(key(KeyCode::Esc)), Some(Action::Cancel));
    insta::assert_snapshot!(screen(&mut app, 160, 48).backend());
}

#[test]
fn dashboard_100x40() {
    let mut app = app_with(Theme::default_dark());
    app.handle_key(key(KeyCode::F(2)));
    assert_eq!(app.view, View::Dashboard);
    insta::assert_snapshot!(screen(&mut app, 100, 40).backend());
}

#[test]
fn dashboard_80x24_scrolled() {
    let mut app = app_with(Theme::default_dark());
    app.handle_key(key(KeyCode::F(2)));
    // Draw once so the dashboard knows its page height.
    screen(&mut app, 80, 24);
    app.handle_key(key(KeyCode::PageDown));
    insta::assert_snapshot!(screen(&mut app, 80, 24).backend());
}

#[test]
fn keys_80x24() {
    let mut app = app_with(Theme::default_dark());
    app.handle_key(key(KeyCode::F(3)));
    app.handle_key(key(KeyCode::Down));
    let t = screen(&mut app, 80, 24);
    let text = t.backend().to_string();
    assert!(!text.contains("gsk_"), "a whole key is on screen");
    insta::assert_snapshot!(t.backend());
}

#[test]
fn keys_add_form_masks_the_key() {
    let mut app = app_with(Theme::default_dark());
    app.handle_key(key(KeyCode::F(3)));
    app.handle_key(key(KeyCode::Char('a')));
    type_str(&mut app, "groq");
    app.handle_key(key(KeyCode::Tab));
    type_str(&mut app, "gsk_test_0001");
    let t = screen(&mut app, 80, 24);
    let text = t.backend().to_string();
    assert!(!text.contains("gsk_test"), "the key is shown while typed");
    assert!(text.contains("•••••••••••••"));
    insta::assert_snapshot!(t.backend());
}

/// Saved conversations a few minutes to a few months before `AT`.
fn sample_sessions() -> Vec<SessionRow> {
    let row = |id: i64, title: &str, messages: u64, ago_ms: u64| SessionRow {
        id,
        title: title.into(),
        created_ms: AT - ago_ms - 600_000,
        updated_ms: AT - ago_ms,
        messages,
    };
    vec![
        row(6, "how do I reverse a string in rust?", 4, 3 * 60_000),
        row(5, "hi", 2, 2 * 3_600_000),
        row(
            4,
            "Compare the rate limits of Groq, OpenAI and Together for a team of five people",
            12,
            30 * 3_600_000,
        ),
        row(3, "Résumé en français, s'il vous plaît", 6, 5 * 86_400_000),
        row(2, "sort a Vec<T> by key", 1, 40 * 86_400_000),
        row(1, "first try", 8, 400 * 86_400_000),
    ]
}

fn sessions_app(rows: Result<Vec<SessionRow>, String>, current: Option<i64>) -> App {
    let mut app = app_with(Theme::default_dark());
    assert_eq!(
        app.handle_key(key(KeyCode::F(4))),
        Some(Action::RefreshSessions)
    );
    assert_eq!(app.view, View::Sessions);
    app.set_sessions(rows, current, AT);
    app
}

#[test]
fn sessions_80x24() {
    let mut app = sessions_app(Ok(sample_sessions()), Some(5));
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Down));
    let t = screen(&mut app, 80, 24);
    let text = t.backend().to_string();
    assert!(text.contains("▶ Compare the rate limits"), "{text}");
    assert!(text.contains("· in chat"), "{text}");
    insta::assert_snapshot!(t.backend());
}

#[test]
fn sessions_120x30_filtered_and_exported() {
    let mut app = sessions_app(Ok(sample_sessions()), None);
    app.handle_key(key(KeyCode::Char('/')));
    type_str(&mut app, "ST");
    app.handle_key(key(KeyCode::Down));
    app.session_exported(Ok("/home/me/rota-1-first-try.md".into()));
    let t = screen(&mut app, 120, 30);
    let text = t.backend().to_string();
    assert!(text.contains("2 of 6"), "{text}");
    assert!(text.contains("▶ first try"), "{text}");
    assert!(!text.contains("sort a Vec"), "{text}");
    assert!(
        text.contains("2026-09-21 14:10"),
        "absolute time when wide: {text}"
    );
    insta::assert_snapshot!(t.backend());
}

#[test]
fn sessions_empty_and_unavailable_80x24() {
    let mut app = sessions_app(Ok(Vec::new()), None);
    let empty = screen(&mut app, 80, 24).backend().to_string();
    assert!(empty.contains("no saved conversations yet"), "{empty}");
    app.set_sessions(
        Err(rota::tui::backend::NO_SAVED_CONVERSATIONS.into()),
        None,
        AT,
    );
    let t = screen(&mut app, 80, 24);
    let text = t.backend().to_string();
    assert!(text.contains("need the local backend"), "{text}");
    assert!(!text.contains("no saved conversations yet"), "{text}");
    insta::assert_snapshot!(t.backend());
}

#[test]
fn resumed_conversation_80x24() {
    let b = FakeBackend::new();
    let mut app = app_with(Theme::default_dark());
    b.set_script(sample_script());
    ask(&mut app, &b, "how do I reverse a string in rust?", None);
    // A fresh UI resumes what the first one saved.
    let mut app = sessions_app(b.sessions(), b.current_session());
    let Some(Action::OpenSession(id)) = app.handle_key(key(KeyCode::Enter)) else {
        panic!("Enter did not open");
    };
    app.session_opened(id, b.open_session(id));
    assert_eq!(app.view, View::Chat);
    let t = screen(&mut app, 80, 24);
    let text = t.backend().to_string();
    assert!(text.contains("resumed “how do I reverse"), "{text}");
    assert!(
        text.contains("together/Qwen/Qwen2.5-Coder-32B-Instruct"),
        "{text}"
    );
    insta::assert_snapshot!(t.backend());
}

#[test]
fn help_80x24() {
    let mut app = app_with(Theme::default_dark());
    app.handle_key(key(KeyCode::Char('?')));
    assert!(app.help);
    insta::assert_snapshot!(screen(&mut app, 80, 24).backend());
}

#[test]
fn help_160x48() {
    let mut app = chat_app();
    app.handle_key(key(KeyCode::F(1)));
    insta::assert_snapshot!(screen(&mut app, 160, 48).backend());
}

#[test]
fn too_small_50x12() {
    let mut app = chat_app();
    let t = screen(&mut app, 50, 12);
    assert!(t.backend().to_string().contains("60×16 (now 50×12)"));
    insta::assert_snapshot!(t.backend());
}

#[test]
fn gauges_show_each_state_in_its_colour() {
    let theme = Theme::default_dark();
    let mut app = chat_app();
    app.tasks.selected = Task::Code;
    let t = screen(&mut app, 160, 48);
    let buf = t.backend().buffer().clone();
    let text = t.backend().to_string();
    let lines: Vec<&str> = text.lines().collect();
    for (needle, style) in [
        ("llama-3.3-70b-versatile", theme.cooling),
        ("Qwen2.5-Coder-32B", theme.available),
        ("gpt-4.1-mini", theme.at_capacity),
        ("qwen-qwq-32b", theme.failed),
        ("custom:local", theme.no_key),
        ("DeepSeek-V3", theme.disabled),
    ] {
        let y = lines
            .iter()
            .position(|l| {
                l.contains(needle) && "\"●◐◌✗○–".contains(l.chars().nth(1).unwrap_or(' '))
            })
            .unwrap_or_else(|| panic!("{needle} not on screen"));
        // The state glyph is the first character of the row.
        let cell = &buf[(0, y as u16)];
        assert_eq!(cell.fg, style.fg.unwrap(), "{needle}: {:?}", cell.symbol());
    }
    assert!(text.contains("back in 12s"));
    assert!(text.contains("full, frees in 31s"));
}

#[test]
fn no_color_draws_no_colours() {
    let mut app = app_with(Theme::no_color());
    let b = FakeBackend::new();
    ask(&mut app, &b, "reverse a string", None);
    for next in [
        None,
        Some(KeyCode::F(2)),
        Some(KeyCode::F(3)),
        Some(KeyCode::F(4)),
        Some(KeyCode::F(1)),
    ] {
        if let Some(k) = next {
            app.handle_key(key(k));
        }
        if app.view == View::Sessions {
            app.set_sessions(Ok(sample_sessions()), Some(5), AT);
        }
        let t = screen(&mut app, 100, 30);
        for cell in t.backend().buffer().content() {
            assert!(
                matches!(cell.fg, Color::Reset) && matches!(cell.bg, Color::Reset),
                "coloured cell {cell:?}"
            );
        }
    }
}

#[test]
fn code_is_highlighted_with_256_colours_only() {
    let mut app = chat_app();
    let t = screen(&mut app, 80, 24);
    let buf = t.backend().buffer();
    assert!(
        buf.content()
            .iter()
            .all(|c| !matches!(c.fg, Color::Rgb(..)) && !matches!(c.bg, Color::Rgb(..))),
        "default-dark must not use truecolour"
    );
    let text = t.backend().to_string();
    let y = text
        .lines()
        .position(|l| l.contains("fn reverse"))
        .expect("code on screen") as u16;
    let fgs: std::collections::HashSet<Color> = (0..80).map(|x| buf[(x, y)].fg).collect();
    assert!(fgs.len() >= 3, "code line not highlighted: {fgs:?}");
}

#[test]
fn draws_at_every_small_size_without_panicking() {
    let mut sizes: Vec<(u16, u16)> = Vec::new();
    for w in 0..=24 {
        for h in 0..=20 {
            sizes.push((w, h));
        }
    }
    for w in [30, 45, 59, 60, 61, 70, 79, 80, 81, 120, 200] {
        for h in [1, 2, 5, 15, 16, 17, 20, 24, 48] {
            sizes.push((w, h));
        }
    }
    let mut app = chat_app();
    let views = [
        None,
        Some(KeyCode::F(2)),
        Some(KeyCode::F(3)),
        Some(KeyCode::F(4)),
        Some(KeyCode::F(1)),
    ];
    for v in views {
        if let Some(k) = v {
            app.handle_key(key(k));
        }
        if app.view == View::Sessions {
            app.set_sessions(Ok(sample_sessions()), Some(4), AT);
        }
        let mut t = Terminal::new(TestBackend::new(1, 1)).unwrap();
        for (w, h) in &sizes {
            t.backend_mut().resize(*w, *h);
            t.autoresize().unwrap();
            t.draw(|f| app.draw(f)).unwrap();
        }
    }
    // The add-key form too.
    app.help = false;
    app.view = View::Keys;
    app.handle_key(key(KeyCode::Char('a')));
    let mut t = Terminal::new(TestBackend::new(1, 1)).unwrap();
    for (w, h) in &sizes {
        t.backend_mut().resize(*w, *h);
        t.autoresize().unwrap();
        t.draw(|f| app.draw(f)).unwrap();
    }
}

/// A research answer: its tool calls are listed while it researches, then fold into one
/// line once the answer comes (Alt+R shows them again).
#[test]
fn research_80x24_running_then_folded() {
    let mut app = app_with(Theme::default_dark());
    let b = FakeBackend::new();
    b.set_script(vec![
        Event::TaskSelected {
            task: Task::Research,
            auto: false,
        },
        Event::ToolCall {
            id: "call_1".into(),
            name: "web_search".into(),
            arguments: serde_json::json!({"query": "groq free tier limits"}),
        },
        Event::ToolCall {
            id: "call_2".into(),
            name: "web_search".into(),
            arguments: serde_json::json!({"query": "groq rate limit headers"}),
        },
        Event::ToolResult {
            id: "call_1".into(),
            name: "web_search".into(),
            ok: true,
            bytes: 900,
            latency_ms: 412,
            error: None,
            results: 3,
        },
        Event::ToolResult {
            id: "call_2".into(),
            name: "web_search".into(),
            ok: false,
            bytes: 40,
            latency_ms: 20_000,
            error: Some("web search timed out after 20s".into()),
            results: 0,
        },
        Event::Delta {
            text: "Groq's free tier allows 30 requests a minute.\n\nSources:\n1. https://console.groq.com/docs/rate-limits\n".into(),
        },
    ]);
    ask(&mut app, &b, "what are groq's free tier limits?", Some(5));
    insta::assert_snapshot!("research_running", screen(&mut app, 80, 24).backend());
    let mut app = app_with(Theme::default_dark());
    ask(&mut app, &b, "what are groq's free tier limits?", None);
    insta::assert_snapshot!("research_folded", screen(&mut app, 80, 24).backend());
}

/// An answer's own escape sequences are drawn as text without their control characters:
/// nothing the model writes reaches the terminal as a command.
#[test]
fn an_answers_escape_sequences_never_reach_the_screen() {
    let mut app = app_with(Theme::default_dark());
    let b = FakeBackend::new();
    b.set_script(vec![Event::Delta {
        text: "ok\u{1b}]0;pwned\u{7}\u{1b}[2J".into(),
    }]);
    ask(&mut app, &b, "hi", None);
    let t = screen(&mut app, 80, 24);
    let cells: String = t
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(!cells.chars().any(char::is_control), "{cells:?}");
    assert!(cells.contains("ok]0;pwned[2J"), "{cells:?}");
}
