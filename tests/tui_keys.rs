//! Key handling of the whole App, without a terminal: what each key does to the state and
//! which Action it asks the event loop for.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use rota::model::Task;
use rota::router::events::Event;
use rota::tui::backend::{ChatBackend, FakeBackend, sample_status};
use rota::tui::{Action, App, Theme, View};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn alt(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::ALT)
}

fn app() -> App {
    let mut a = App::new(Theme::no_color(), Task::Auto);
    a.set_status(sample_status(0));
    a
}

fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        assert_eq!(app.handle_key(key(KeyCode::Char(c))), None);
    }
}

fn send(app: &mut App, prompt: &str) -> rota::router::ChatRequest {
    type_str(app, prompt);
    match app.handle_key(key(KeyCode::Enter)) {
        Some(Action::Send(req)) => req,
        other => panic!("Enter gave {other:?}"),
    }
}

#[test]
fn enter_sends_the_conversation_with_the_selected_task() {
    let mut a = app();
    a.handle_key(key(KeyCode::Tab)); // auto → fast
    a.handle_key(key(KeyCode::Tab)); // → research
    let req = send(&mut a, "compare rust and go");
    assert_eq!(req.task, Some(Task::Research));
    assert_eq!(
        req.messages,
        vec![rota::message::Message::user("compare rust and go")]
    );
    assert!(a.streaming);
    a.handle_event(Event::Delta {
        text: "Both are fine.".into(),
    });
    a.stream_ended();
    assert!(!a.streaming);
    // The next request carries the history.
    a.handle_key(alt(KeyCode::Char('4')));
    let req = send(&mut a, "and zig?");
    assert_eq!(req.task, Some(Task::Code));
    assert_eq!(req.messages.len(), 3);
    assert_eq!(req.messages[1].role.as_str(), "assistant");
    assert_eq!(req.messages[1].as_text().unwrap(), "Both are fine.");
}

#[test]
fn auto_shows_what_it_picked() {
    let mut a = app();
    let req = send(&mut a, "fix this function");
    assert_eq!(req.task, Some(Task::Auto));
    a.handle_event(Event::TaskSelected {
        task: Task::Code,
        auto: true,
    });
    assert_eq!(a.tasks.picked, Some(Task::Code));
    assert_eq!(a.tasks.pool(), Task::Code);
}

#[test]
fn esc_stops_the_stream_and_keeps_the_text() {
    let mut a = app();
    send(&mut a, "tell me a story");
    a.handle_event(Event::Delta {
        text: "Once upon".into(),
    });
    assert_eq!(a.handle_key(key(KeyCode::Esc)), Some(Action::Cancel));
    assert!(!a.streaming);
    assert_eq!(a.chat.last_answer(), Some("Once upon"));
    assert!(a.chat.messages.last().is_some_and(|m| m.stopped));
    // A late delta of the cancelled stream is ignored.
    a.handle_event(Event::Delta {
        text: " a time".into(),
    });
    assert_eq!(a.chat.last_answer(), Some("Once upon"));
    // Esc with nothing streaming does nothing.
    assert_eq!(a.handle_key(key(KeyCode::Esc)), None);
    assert!(!a.quit);
}

#[test]
fn ctrl_c_stops_a_stream_then_quits_when_idle() {
    let mut a = app();
    send(&mut a, "hello");
    assert_eq!(a.handle_key(ctrl('c')), Some(Action::Cancel));
    assert!(!a.quit);
    assert_eq!(a.handle_key(ctrl('c')), Some(Action::Quit));
    assert!(a.quit);
}

#[test]
fn ctrl_q_always_quits() {
    let mut a = app();
    send(&mut a, "hello");
    assert_eq!(a.handle_key(ctrl('q')), Some(Action::Quit));
    let mut b = app();
    b.handle_key(key(KeyCode::F(3)));
    b.handle_key(key(KeyCode::Char('a')));
    assert_eq!(b.handle_key(ctrl('q')), Some(Action::Quit));
}

#[test]
fn up_on_empty_input_recalls_the_last_prompt() {
    let mut a = app();
    send(&mut a, "first question");
    a.stream_ended();
    assert!(a.input.is_empty());
    a.handle_key(key(KeyCode::Up));
    assert_eq!(a.input.text(), "first question");
    // Sending the recalled prompt works.
    let req = send(&mut a, "");
    assert_eq!(
        req.messages.last().unwrap().as_text().unwrap(),
        "first question"
    );
}

#[test]
fn tab_cycles_tasks_and_alt_digits_pick() {
    let mut a = app();
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(a.tasks.selected);
        a.handle_key(key(KeyCode::Tab));
    }
    assert_eq!(
        seen,
        vec![
            Task::Auto,
            Task::Fast,
            Task::Research,
            Task::Code,
            Task::Vision
        ]
    );
    assert_eq!(a.tasks.selected, Task::Auto);
    a.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(a.tasks.selected, Task::Vision);
    a.handle_key(alt(KeyCode::Char('2')));
    assert_eq!(a.tasks.selected, Task::Fast);
    // Tab never lands in the input.
    assert!(a.input.is_empty());
}

#[test]
fn a_second_prompt_waits_while_streaming() {
    let mut a = app();
    send(&mut a, "one");
    type_str(&mut a, "two");
    assert_eq!(a.handle_key(key(KeyCode::Enter)), None);
    assert_eq!(a.input.text(), "two");
}

#[test]
fn transcribe_command_asks_backend_and_fills_the_input() {
    let mut a = app();
    type_str(&mut a, "/transcribe /tmp/note.wav");
    let Some(Action::Transcribe(path)) = a.handle_key(key(KeyCode::Enter)) else {
        panic!("no transcribe action");
    };
    assert_eq!(path, std::path::PathBuf::from("/tmp/note.wav"));
    assert!(a.transcribing);
    let b = FakeBackend::new();
    let mut rx = b.transcribe(path);
    while let Ok(ev) = rx.try_recv() {
        a.handle_transcription_event(ev);
    }
    a.transcription_ended();
    assert_eq!(a.input.text(), "transcript of /tmp/note.wav");
    assert!(!a.transcribing);
    // Nothing was sent as a chat message.
    assert!(a.chat.messages.is_empty());
}

#[test]
fn copy_keys_ask_for_osc52() {
    let mut a = app();
    assert_eq!(a.handle_key(ctrl('y')), None);
    send(&mut a, "code please");
    a.handle_event(Event::Delta {
        text: "Here:\n\n```sh\necho hi\n```\n".into(),
    });
    a.stream_ended();
    assert_eq!(
        a.handle_key(ctrl('y')),
        Some(Action::Copy("Here:\n\n```sh\necho hi\n```\n".into()))
    );
    // The code block must have been drawn to be "in view".
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
    t.draw(|f| a.draw(f)).unwrap();
    assert_eq!(
        a.handle_key(alt(KeyCode::Char('y'))),
        Some(Action::Copy("echo hi\n".into()))
    );
}

#[test]
fn views_toggle_and_help_opens_only_on_empty_prompt() {
    let mut a = app();
    assert_eq!(a.handle_key(key(KeyCode::F(2))), None);
    assert_eq!(a.view, View::Dashboard);
    a.handle_key(key(KeyCode::Esc));
    assert_eq!(a.view, View::Chat);
    assert_eq!(a.handle_key(ctrl('k')), Some(Action::RefreshKeys));
    assert_eq!(a.view, View::Keys);
    a.handle_key(ctrl('d'));
    assert_eq!(a.view, View::Dashboard);
    a.handle_key(ctrl('d'));
    assert_eq!(a.view, View::Chat);
    type_str(&mut a, "why?");
    assert!(!a.help);
    assert_eq!(a.input.text(), "why?");
    a.handle_key(key(KeyCode::F(1)));
    assert!(a.help);
    a.handle_key(key(KeyCode::Esc));
    assert!(!a.help);
}

#[test]
fn keys_view_adds_and_removes_through_actions() {
    let mut a = app();
    a.handle_key(key(KeyCode::F(3)));
    a.set_keys(rota::tui::backend::sample_keys());
    a.handle_key(key(KeyCode::Char('a')));
    type_str(&mut a, "openai");
    a.handle_key(key(KeyCode::Enter));
    type_str(&mut a, "sk-test-0002");
    match a.handle_key(key(KeyCode::Enter)) {
        Some(Action::AddKey {
            provider,
            key,
            account,
        }) => {
            assert_eq!(provider, "openai");
            assert_eq!(key.masked(), "…0002");
            assert_eq!(account, None);
        }
        other => panic!("{other:?}"),
    }
    a.key_result("added", Err("unknown provider".into()));
    assert_eq!(a.keys.message, Some((false, "unknown provider".into())));
    a.handle_key(key(KeyCode::Char('d')));
    assert_eq!(
        a.handle_key(key(KeyCode::Char('y'))),
        Some(Action::RemoveKey {
            provider: "groq".into(),
            suffix: "a1b2".into()
        })
    );
    assert_eq!(
        a.handle_key(key(KeyCode::Char('c'))),
        Some(Action::CheckKeys)
    );
}

#[test]
fn paste_goes_into_the_prompt_and_release_events_are_ignored() {
    let mut a = app();
    a.paste("line one\nline two");
    assert_eq!(a.input.text(), "line one\nline two");
    let mut release = key(KeyCode::Char('x'));
    release.kind = KeyEventKind::Release;
    assert_eq!(a.handle_key(release), None);
    assert_eq!(a.input.text(), "line one\nline two");
}

#[test]
fn status_redraw_only_when_something_but_the_time_changed() {
    let mut a = app();
    assert!(!a.set_status(sample_status(5_000)));
    let mut s = sample_status(6_000);
    s.pools.get_mut(&Task::Code).unwrap()[0].until_ms = Some(11_000);
    assert!(a.set_status(s));
}

#[test]
fn errors_and_rotations_show_in_the_chat_and_status_line() {
    let mut a = app();
    send(&mut a, "hello");
    a.handle_event(Event::ModelRotation {
        from: "groq/a".into(),
        to: Some("together/b".into()),
        key: "…a1b2".into(),
        reason: rota::model::Reason::RateLimited,
        window: Some(rota::model::Window::Tpm),
        retry_after_ms: Some(7_000),
        limit: Some(12_000),
    });
    assert_eq!(
        a.statusline.rotation.as_deref(),
        Some("groq/a → together/b rate limited (TPM), back in 7s")
    );
    a.handle_event(Event::Error {
        kind: "no_credentials".into(),
        message: "no key for the fast pool: run `rota keys add groq`".into(),
        retry_after_ms: None,
    });
    a.stream_ended();
    let last = a.chat.messages.last().unwrap();
    assert!(last.text.contains("rota keys add groq"));
}

#[test]
fn ctrl_t_starts_a_transcribe_command() {
    let mut a = app();
    assert_eq!(a.handle_key(ctrl('t')), None);
    assert_eq!(a.input.text(), "/transcribe ");
    type_str(&mut a, "memo.ogg");
    assert_eq!(
        a.handle_key(key(KeyCode::Enter)),
        Some(Action::Transcribe("memo.ogg".into()))
    );
}

#[test]
fn a_failed_transcription_leaves_a_streaming_answer_alone() {
    let mut a = app();
    send(&mut a, "hello");
    a.handle_event(Event::Delta { text: "Hi".into() });
    type_str(&mut a, "/transcribe x.wav");
    assert!(matches!(
        a.handle_key(key(KeyCode::Enter)),
        Some(Action::Transcribe(_))
    ));
    a.handle_transcription_event(Event::Error {
        kind: "input".into(),
        message: "x.wav is not audio".into(),
        retry_after_ms: None,
    });
    assert!(a.streaming);
    assert!(!a.transcribing);
    a.handle_event(Event::Delta { text: "!".into() });
    assert_eq!(a.chat.last_answer(), Some("Hi!"));
}

/// A saved conversation as a backend returns it.
fn saved(
    id: i64,
    role: rota::store::conversations::Role,
    text: &str,
    model: Option<&str>,
) -> rota::tui::MessageRow {
    rota::tui::MessageRow {
        id,
        role,
        content: text.into(),
        model: model.map(|m| m.parse().unwrap()),
        usage: model.map(|_| rota::model::Usage {
            prompt_tokens: 20,
            completion_tokens: 5,
        }),
        created_ms: 1_000 + id as u64,
    }
}

fn session_row(id: i64, title: &str, messages: u64) -> rota::tui::SessionRow {
    rota::tui::SessionRow {
        id,
        title: title.into(),
        created_ms: 1_000,
        updated_ms: 2_000 + id as u64,
        messages,
    }
}

#[test]
fn f4_and_ctrl_o_open_the_conversations_and_enter_resumes_one() {
    use rota::store::conversations::Role as R;
    let mut a = app();
    assert_eq!(
        a.handle_key(key(KeyCode::F(4))),
        Some(Action::RefreshSessions)
    );
    assert_eq!(a.view, View::Sessions);
    assert_eq!(a.handle_key(key(KeyCode::F(4))), None);
    assert_eq!(a.view, View::Chat);
    assert_eq!(a.handle_key(ctrl('o')), Some(Action::RefreshSessions));
    assert_eq!(a.view, View::Sessions);
    a.set_sessions(
        Ok(vec![
            session_row(9, "newest", 2),
            session_row(4, "sorting", 3),
        ]),
        None,
        10_000,
    );
    a.handle_key(key(KeyCode::Down));
    assert_eq!(
        a.handle_key(key(KeyCode::Enter)),
        Some(Action::OpenSession(4))
    );
    a.session_opened(
        4,
        Ok(vec![
            saved(1, R::System, "Be brief.", None),
            saved(2, R::User, "sort a Vec?", None),
            saved(
                3,
                R::Assistant,
                "Use `sort`.",
                Some("groq/llama-3.1-8b-instant"),
            ),
        ]),
    );
    assert_eq!(a.view, View::Chat);
    assert_eq!(a.chat.messages.len(), 3);
    assert_eq!(
        a.chat.messages[2].model.as_deref(),
        Some("groq/llama-3.1-8b-instant")
    );
    assert_eq!(
        a.statusline.note.as_deref(),
        Some("resumed “sorting” · 3 messages")
    );
    assert_eq!(a.sessions.current, Some(4));
    // The next request carries the loaded conversation, system prompt included.
    let req = send(&mut a, "and by key?");
    let roles: Vec<&str> = req.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(req.messages[2].as_text().unwrap(), "Use `sort`.");
    assert_eq!(req.messages[3].as_text().unwrap(), "and by key?");
}

#[test]
fn resuming_or_starting_new_is_refused_while_an_answer_streams() {
    let mut a = app();
    send(&mut a, "tell me a story");
    a.handle_event(Event::Delta {
        text: "Once".into(),
    });
    a.handle_key(key(KeyCode::F(4)));
    a.set_sessions(Ok(vec![session_row(1, "old", 2)]), None, 10_000);
    assert_eq!(a.handle_key(key(KeyCode::Enter)), None);
    assert_eq!(a.handle_key(key(KeyCode::Char('n'))), None);
    let (ok, words) = a.sessions.message.clone().unwrap();
    assert!(!ok && words.contains("still streaming"), "{words}");
    assert_eq!(a.view, View::Sessions);
    assert!(a.streaming);
    // The answer goes on undisturbed; export is fine meanwhile.
    assert_eq!(
        a.handle_key(key(KeyCode::Char('e'))),
        Some(Action::ExportSession(1))
    );
    a.handle_event(Event::Delta {
        text: " upon".into(),
    });
    assert_eq!(a.chat.last_answer(), Some("Once upon"));
    a.stream_ended();
    assert_eq!(
        a.handle_key(key(KeyCode::Enter)),
        Some(Action::OpenSession(1))
    );
}

#[test]
fn n_starts_a_new_conversation_with_an_empty_history() {
    let mut a = app();
    send(&mut a, "first");
    a.handle_event(Event::Delta { text: "one".into() });
    a.stream_ended();
    a.handle_key(key(KeyCode::F(4)));
    assert_eq!(
        a.handle_key(key(KeyCode::Char('n'))),
        Some(Action::NewSession)
    );
    assert_eq!(a.view, View::Chat);
    assert!(a.chat.messages.is_empty());
    let req = send(&mut a, "second");
    assert_eq!(req.messages.len(), 1);
}

#[test]
fn a_failed_open_or_export_says_why_and_keeps_the_chat() {
    let mut a = app();
    send(&mut a, "keep me");
    a.stream_ended();
    a.handle_key(key(KeyCode::F(4)));
    a.set_sessions(Ok(vec![session_row(3, "gone", 1)]), None, 10_000);
    assert_eq!(
        a.handle_key(key(KeyCode::Enter)),
        Some(Action::OpenSession(3))
    );
    a.session_opened(3, Err("no saved conversation 3 in rota.db".into()));
    assert_eq!(a.view, View::Sessions);
    assert_eq!(a.chat.messages[0].text, "keep me");
    assert_eq!(
        a.sessions.message,
        Some((false, "no saved conversation 3 in rota.db".into()))
    );
    a.session_exported(Ok("/tmp/rota-3-gone.md".into()));
    assert_eq!(
        a.sessions.message,
        Some((true, "exported to /tmp/rota-3-gone.md".into()))
    );
    assert_eq!(
        a.statusline.note.as_deref(),
        Some("exported to /tmp/rota-3-gone.md")
    );
}

#[test]
fn the_filter_takes_question_marks_and_pastes() {
    let mut a = app();
    a.handle_key(key(KeyCode::F(4)));
    a.set_sessions(
        Ok(vec![session_row(2, "why?", 2), session_row(1, "how", 2)]),
        None,
        10_000,
    );
    a.handle_key(key(KeyCode::Char('/')));
    a.handle_key(key(KeyCode::Char('?')));
    assert!(!a.help);
    assert_eq!(a.sessions.filter, "?");
    a.paste("wh\nignored");
    assert_eq!(a.sessions.filter, "?wh");
    assert!(a.sessions.visible().is_empty());
    a.handle_key(key(KeyCode::Esc));
    a.handle_key(key(KeyCode::Char('/')));
    a.paste("why");
    assert_eq!(a.sessions.visible().len(), 1);
    assert_eq!(
        a.handle_key(key(KeyCode::Enter)),
        Some(Action::OpenSession(2))
    );
    // Outside the filter, ? is help again.
    a.handle_key(key(KeyCode::Char('?')));
    assert!(a.help);
}

fn alt_char(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT)
}

fn done_event(finish: &str, max_tokens: u64) -> Event {
    Event::Done {
        provider: "groq".into(),
        model: "openai/gpt-oss-20b".into(),
        usage: rota::model::Usage {
            prompt_tokens: 9,
            completion_tokens: max_tokens,
        },
        estimated_prompt_tokens: 10,
        cost_usd: 0.0,
        latency_ms: 100,
        first_token_ms: 20,
        attempts: 1,
        finish_reason: Some(finish.into()),
        max_tokens,
        sources: Vec::new(),
    }
}

#[test]
fn thinking_is_shown_apart_and_never_sent_back() {
    let mut a = app();
    send(&mut a, "why is the sky blue");
    a.handle_event(Event::Reasoning {
        text: "The user asks about light.".into(),
    });
    a.handle_event(Event::Delta {
        text: "Rayleigh scattering.".into(),
    });
    a.handle_event(done_event("stop", 1024));
    a.stream_ended();
    let answer = a.chat.messages.last().unwrap();
    assert_eq!(answer.text, "Rayleigh scattering.");
    assert_eq!(answer.reasoning, "The user asks about light.");
    let req = send(&mut a, "and at sunset?");
    let history = serde_json::to_string(&req.messages).unwrap();
    assert!(!history.contains("The user asks"), "{history}");
    assert!(history.contains("Rayleigh scattering."), "{history}");
    // Alt+R toggles the thinking and says so.
    assert_eq!(a.handle_key(alt_char('r')), None);
    assert!(
        a.statusline.note.as_deref().unwrap_or("").contains("shown"),
        "{:?}",
        a.statusline.note
    );
}

#[test]
fn a_cut_answer_is_marked_and_alt_c_continues_it_in_the_same_message() {
    let mut a = app();
    send(&mut a, "write a long poem");
    a.handle_event(Event::Delta {
        text: "Roses are".into(),
    });
    a.handle_event(done_event("length", 64));
    a.stream_ended();
    assert_eq!(a.chat.messages.last().unwrap().cut, Some(64));
    let n = a.chat.messages.len();
    let req = match a.handle_key(alt_char('c')) {
        Some(Action::Send(req)) => req,
        other => panic!("Alt+C gave {other:?}"),
    };
    assert!(req.continues, "Alt+C marks its request as a continuation");
    let last = req.messages.last().unwrap();
    assert_eq!(last.role.as_str(), "user");
    assert_eq!(last.as_text().unwrap(), rota::tui::app::CONTINUE_PROMPT);
    assert_eq!(
        req.messages[req.messages.len() - 2].as_text().unwrap(),
        "Roses are"
    );
    assert!(a.streaming);
    a.handle_event(Event::Delta {
        text: " red.".into(),
    });
    a.handle_event(done_event("stop", 4096));
    a.stream_ended();
    assert_eq!(
        a.chat.messages.len(),
        n,
        "the continuation opened a new message"
    );
    let m = a.chat.messages.last().unwrap();
    assert_eq!(m.text, "Roses are red.");
    assert_eq!(m.cut, None);
    // Nothing left to continue.
    assert_eq!(a.handle_key(alt_char('c')), None);
}

#[test]
fn a_research_call_line_turns_into_its_result() {
    let mut a = app();
    send(&mut a, "groq limits");
    a.handle_event(Event::ToolCall {
        id: "call_1".into(),
        name: "web_search".into(),
        arguments: serde_json::json!({"query": "groq free tier"}),
    });
    a.handle_event(Event::ToolCall {
        id: "call_2".into(),
        name: "fetch_url".into(),
        arguments: serde_json::json!({"url": "https://example.com/x"}),
    });
    a.handle_event(Event::ToolResult {
        id: "call_2".into(),
        name: "fetch_url".into(),
        ok: false,
        bytes: 10,
        latency_ms: 1_200,
        error: Some("example.com answered 404".into()),
        results: 0,
    });
    a.handle_event(Event::ToolResult {
        id: "call_1".into(),
        name: "web_search".into(),
        ok: true,
        bytes: 900,
        latency_ms: 400,
        error: None,
        results: 3,
    });
    let answer = a.chat.messages.last().expect("the answer being researched");
    let lines: Vec<&str> = answer.tools.iter().map(String::as_str).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "searching: groq free tier · 3 results · 0.4s");
    assert!(
        lines[1].starts_with("reading: https://example.com/x · failed · 1.2s: ")
            && lines[1].ends_with("example.com answered 404"),
        "{lines:?}"
    );
}

#[test]
fn r_on_the_dashboard_takes_everything_back_into_rotation() {
    let mut a = app();
    assert!(a.handle_key(key(KeyCode::F(2))).is_none());
    assert!(matches!(
        a.handle_key(key(KeyCode::Char('r'))),
        Some(Action::Reset)
    ));
    assert!(
        rota::tui::keymap::footer(rota::tui::app::View::Dashboard)
            .iter()
            .any(|(k, w)| *k == "r" && *w == "reset")
    );
}
