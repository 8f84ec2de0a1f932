//! Saved conversations through the real TUI backend (`RouterBackend`) over a temporary
//! SQLite database and the in-process simulated fleet: list, resume, send one more (it is
//! saved at the end of the same conversation), export, start a new one, and the memory
//! backend saying what to do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rota::cli::context::open_store;
use rota::cli::demo::Demo;
use rota::cli::tui_backend::{KeysFile, RouterBackend};
use rota::model::{ModelRef, Task, Usage, now_ms};
use rota::router::events::Event;
use rota::router::{ChatRequest, Router};
use rota::store::MemoryStore;
use rota::store::conversations::{self as conv, Role};
use rota::store::db::Db;
use rota::tui::{Action, App, ChatBackend, Theme, View};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Runs one request to its end, feeding every event to the app.
async fn answer(backend: &RouterBackend, app: &mut App, req: ChatRequest) {
    let mut rx = backend.ask(req);
    while let Some(ev) = rx.recv().await {
        app.handle_event(ev);
    }
    app.stream_ended();
}

fn send(app: &mut App, prompt: &str) -> ChatRequest {
    for c in prompt.chars() {
        app.handle_key(key(KeyCode::Char(c)));
    }
    match app.handle_key(key(KeyCode::Enter)) {
        Some(Action::Send(req)) => req,
        other => panic!("Enter gave {other:?}"),
    }
}

/// Two saved conversations: "Sorting in Rust" (a question and its answer), then a newer
/// "Something else".
fn seed(db: &Db) -> (i64, i64) {
    let model = ModelRef::new("groq", "llama-3.1-8b-instant");
    let usage = Usage {
        prompt_tokens: 12,
        completion_tokens: 9,
    };
    let a = conv::create_session(db, "Sorting in Rust").unwrap();
    conv::append_message(db, a, Role::User, "How do I sort a Vec?", None, None).unwrap();
    conv::append_message(
        db,
        a,
        Role::Assistant,
        "Call `v.sort()`.",
        Some(&model),
        Some(usage),
    )
    .unwrap();
    // Created after `a`: listed first (same millisecond or later, then the higher id).
    let b = conv::create_session(db, "Something else").unwrap();
    conv::append_message(db, b, Role::User, "hello", None, None).unwrap();
    (a, b)
}

/// The demo fleet with its local database, and the real backend over them (keep the
/// `Demo`: dropping it stops the fleet and deletes the database).
async fn demo_backend() -> (Demo, Arc<Db>, RouterBackend) {
    let demo = Demo::start().await.unwrap();
    let (store, db, _) = open_store(&demo.config).unwrap();
    let db = db.expect("the demo uses the local backend");
    let router = Arc::new(Router::new(demo.config.clone(), store));
    let backend = RouterBackend::new(
        router,
        Some(Arc::clone(&db)),
        KeysFile::Demo,
        Handle::current(),
    );
    (demo, db, backend)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_resume_send_export_and_start_new() {
    let (_demo, db, backend) = demo_backend().await;
    let out = tempfile::tempdir().unwrap();
    backend.set_export_dir(out.path().to_path_buf());
    let (a, b) = seed(&db);

    // List: newest first, with counts; nothing is current yet.
    let list = backend.sessions().unwrap();
    let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
    assert_eq!(ids, [b, a]);
    assert_eq!(
        (list[1].title.as_str(), list[1].messages),
        ("Sorting in Rust", 2)
    );
    assert_eq!(backend.current_session(), None);

    // Open `a` through the view, as the event loop does.
    let mut app = App::new(Theme::no_color(), Task::Auto);
    assert_eq!(
        app.handle_key(key(KeyCode::F(4))),
        Some(Action::RefreshSessions)
    );
    app.set_sessions(backend.sessions(), backend.current_session(), now_ms());
    app.handle_key(key(KeyCode::Down));
    assert_eq!(
        app.handle_key(key(KeyCode::Enter)),
        Some(Action::OpenSession(a))
    );
    app.session_opened(a, backend.open_session(a));
    assert_eq!(backend.current_session(), Some(a));
    assert_eq!(app.view, View::Chat);
    let shown: Vec<(&str, Option<&str>)> = app
        .chat
        .messages
        .iter()
        .map(|m| (m.text.as_str(), m.model.as_deref()))
        .collect();
    assert_eq!(
        shown,
        [
            ("How do I sort a Vec?", None),
            ("Call `v.sort()`.", Some("groq/llama-3.1-8b-instant"))
        ]
    );

    // One more prompt: the loaded conversation is its history…
    let req = send(&mut app, "and by key?");
    let history: Vec<(&str, &str)> = req
        .messages
        .iter()
        .map(|m| (m.role.as_str(), m.as_text().unwrap()))
        .collect();
    assert_eq!(
        history,
        [
            ("user", "How do I sort a Vec?"),
            ("assistant", "Call `v.sort()`."),
            ("user", "and by key?")
        ]
    );
    answer(&backend, &mut app, req).await;
    let reply = app.chat.last_answer().unwrap().to_string();
    assert_ne!(reply, "Call `v.sort()`.");

    // …and it is saved at the end of the same conversation, now the newest.
    let msgs = conv::load_session(&db, a).unwrap();
    assert_eq!(msgs.len(), 4);
    assert_eq!(
        (msgs[2].role, msgs[2].content.as_str()),
        (Role::User, "and by key?")
    );
    assert_eq!(
        (msgs[3].role, msgs[3].content.as_str()),
        (Role::Assistant, reply.as_str())
    );
    assert!(msgs[3].model.is_some() && msgs[3].usage.is_some());
    let list = backend.sessions().unwrap();
    assert_eq!(list.len(), 2);
    let row = |id: i64| list.iter().find(|s| s.id == id).unwrap();
    assert_eq!(row(a).messages, 4);
    assert!(row(a).updated_ms >= row(b).updated_ms, "{list:?}");
    assert_eq!(conv::load_session(&db, b).unwrap().len(), 1);

    // Export: the store's Markdown, in a new file each time.
    let p1 = backend.export_session(a).unwrap();
    assert_eq!(p1, out.path().join(format!("rota-{a}-sorting-in-rust.md")));
    let md = conv::export_markdown(&db, a).unwrap();
    assert_eq!(std::fs::read_to_string(&p1).unwrap(), md);
    std::fs::write(&p1, "edited by hand").unwrap();
    let p2 = backend.export_session(a).unwrap();
    assert_eq!(
        p2,
        out.path().join(format!("rota-{a}-sorting-in-rust-2.md"))
    );
    assert_eq!(std::fs::read_to_string(&p2).unwrap(), md);
    assert_eq!(std::fs::read_to_string(&p1).unwrap(), "edited by hand");
    app.session_exported(Ok(p2.clone()));
    assert!(app.statusline.note.as_deref().unwrap().contains("-2.md"));

    // New: the next prompt starts another conversation, titled by it.
    app.handle_key(key(KeyCode::F(4)));
    assert_eq!(
        app.handle_key(key(KeyCode::Char('n'))),
        Some(Action::NewSession)
    );
    backend.new_session();
    assert_eq!(backend.current_session(), None);
    let req = send(&mut app, "a fresh start");
    assert_eq!(req.messages.len(), 1);
    answer(&backend, &mut app, req).await;
    let c = backend.current_session().unwrap();
    assert!(c != a && c != b);
    assert_eq!(conv::session(&db, c).unwrap().title, "a fresh start");
    assert_eq!(conv::load_session(&db, c).unwrap().len(), 2);
    assert_eq!(conv::load_session(&db, a).unwrap().len(), 4);

    // A conversation that is not there.
    let e = backend.open_session(9_999).unwrap_err();
    assert!(e.contains("no saved conversation 9999"), "{e}");
    assert_eq!(backend.current_session(), Some(c));
    assert!(backend.export_session(9_999).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_answer_is_saved_to_its_own_conversation_after_a_resume() {
    let (_demo, db, backend) = demo_backend().await;
    let (a, b) = seed(&db);
    backend.open_session(a).unwrap();
    let mut rx = backend.ask(ChatRequest {
        messages: vec![rota::message::Message::user("tell me more")],
        ..Default::default()
    });
    // Stop at the first bit of answer, then resume `b` at once.
    while let Some(ev) = rx.recv().await {
        if matches!(ev, Event::Delta { .. } | Event::Done { .. }) {
            break;
        }
    }
    drop(rx);
    backend.open_session(b).unwrap();
    // The answer (or what came of it) is saved in the background: wait for it, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = conv::load_session(&db, a).unwrap().len();
        if n == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the answer never reached conversation {a}: {n} messages"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let msgs = conv::load_session(&db, a).unwrap();
    assert_eq!(msgs[2].content, "tell me more");
    assert_eq!(msgs[3].role, Role::Assistant);
    assert!(!msgs[3].content.is_empty());
    assert_eq!(conv::load_session(&db, b).unwrap().len(), 1);
    assert_eq!(backend.current_session(), Some(b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_backend_says_saved_conversations_need_the_local_one() {
    let demo = Demo::start().await.unwrap();
    let router = Arc::new(Router::new(
        demo.config.clone(),
        Arc::new(MemoryStore::default()),
    ));
    let backend = RouterBackend::new(router, None, KeysFile::Demo, Handle::current());
    let e = backend.sessions().unwrap_err();
    assert!(e.contains("local backend") && e.contains("[state]"), "{e}");
    assert_eq!(backend.open_session(1).unwrap_err(), e);
    assert_eq!(backend.export_session(1).unwrap_err(), e);
    backend.new_session();
    assert_eq!(backend.current_session(), None);
    // Chatting still works; nothing is saved.
    let mut app = App::new(Theme::no_color(), Task::Auto);
    let req = send(&mut app, "hello");
    answer(&backend, &mut app, req).await;
    assert!(app.chat.last_answer().is_some());
    assert_eq!(backend.current_session(), None);
    app.handle_key(key(KeyCode::F(4)));
    app.set_sessions(backend.sessions(), backend.current_session(), now_ms());
    assert_eq!(app.sessions.unavailable.as_deref(), Some(e.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continued_answer_is_saved_into_the_answer_it_continues() {
    let (_demo, db, backend) = demo_backend().await;
    let mut app = App::new(Theme::no_color(), Task::Fast);
    let req = send(&mut app, "tell me a long story");
    answer(&backend, &mut app, req).await;
    let id = backend
        .current_session()
        .expect("the first answer opens a session");
    let first = conv::load_session(&db, id).unwrap();
    assert_eq!(first.len(), 2, "{first:?}");

    // What Alt+C sends: the history, then rota's own continue prompt.
    let req = ChatRequest {
        messages: vec![
            rota::message::Message::user("tell me a long story"),
            rota::message::Message::assistant(first[1].content.clone()),
            rota::message::Message::user(rota::tui::app::CONTINUE_PROMPT),
        ],
        task: Some(Task::Fast),
        continues: true,
        ..ChatRequest::default()
    };
    answer(&backend, &mut app, req).await;
    let after = conv::load_session(&db, id).unwrap();
    let roles: Vec<Role> = after.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant], "{after:?}");
    assert!(
        after[1].content.starts_with(&first[1].content)
            && after[1].content.len() > first[1].content.len(),
        "{after:?}"
    );
    assert!(!after.iter().any(|m| m.content.contains("was cut off")));
    let tokens = |m: &conv::MessageRow| m.usage.map(|u| u.completion_tokens).unwrap_or(0);
    assert!(tokens(&after[1]) > tokens(&first[1]), "{after:?}");
}
