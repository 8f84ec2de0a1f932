//! The event loop (`drive`) on a TestBackend surface with scripted terminal events and the
//! FakeBackend, under tokio's paused clock: no terminal, no real waiting.

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rota::model::Task;
use rota::tui::backend::{ChatBackend, FakeBackend, sample_status};
use rota::tui::event_loop::{Surface, TermEvents, TuiOptions, drive};
use rota::tui::{App, Theme};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_stream::wrappers::UnboundedReceiverStream;

struct TestSurface {
    term: Terminal<TestBackend>,
    draws: Arc<AtomicUsize>,
    copied: Vec<String>,
    edits: Vec<String>,
}

impl Surface for TestSurface {
    fn draw(&mut self, app: &mut App) -> io::Result<()> {
        self.draws.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.term.draw(|f| app.draw(f)) {
            match e {}
        }
        Ok(())
    }
    fn resize(&mut self) -> io::Result<()> {
        self.term.autoresize().map_err(|e| match e {})
    }
    fn copy(&mut self, text: &str) -> io::Result<()> {
        self.copied.push(text.to_string());
        Ok(())
    }
    fn edit(&mut self, text: &str) -> Result<String, String> {
        self.edits.push(text.to_string());
        Ok(format!("{text} (edited)\n"))
    }
}

/// Terminal events the test sends; a new channel each time the loop asks for a stream.
#[derive(Clone, Default)]
struct Keys(Arc<Mutex<Option<UnboundedSender<io::Result<TermEvent>>>>>);

impl Keys {
    fn stream(&self) -> TermEvents {
        let (tx, rx) = unbounded_channel();
        *self.0.lock().unwrap() = Some(tx);
        Box::pin(UnboundedReceiverStream::new(rx))
    }
    fn send(&self, code: KeyCode, mods: KeyModifiers) {
        let tx = self.0.lock().unwrap().clone().expect("loop started");
        tx.send(Ok(TermEvent::Key(KeyEvent::new(code, mods))))
            .unwrap();
    }
    fn typ(&self, s: &str) {
        for c in s.chars() {
            self.send(KeyCode::Char(c), KeyModifiers::NONE);
        }
    }
}

fn surface() -> (TestSurface, Arc<AtomicUsize>) {
    let draws = Arc::new(AtomicUsize::new(0));
    (
        TestSurface {
            term: Terminal::new(TestBackend::new(100, 30)).unwrap(),
            draws: Arc::clone(&draws),
            copied: vec![],
            edits: vec![],
        },
        draws,
    )
}

/// Runs the loop on `surf` with `keys`' events and `backend` until the script quits.
async fn run(surf: &mut TestSurface, keys: &Keys, backend: Arc<dyn ChatBackend>) -> App {
    let app = App::new(Theme::default_dark(), Task::Auto);
    drive(surf, || keys.stream(), backend, app, &TuiOptions::default())
        .await
        .expect("loop ends cleanly")
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test(start_paused = true)]
async fn a_whole_session_through_the_loop() {
    let fake = Arc::new(FakeBackend::new());
    let backend: Arc<dyn ChatBackend> = fake.clone();
    let keys = Keys::default();
    let (mut surf, draws) = surface();
    let k2 = keys.clone();
    let fake2 = Arc::clone(&fake);
    let script = tokio::spawn(async move {
        settle().await;
        k2.typ("reverse a string");
        k2.send(KeyCode::Enter, KeyModifiers::NONE);
        settle().await;
        // Idle: the answer is in; nothing changes for ten seconds.
        let before = draws.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let idle = draws.load(Ordering::SeqCst) - before;
        // The pools change: the next tick redraws.
        let mut s = sample_status(1);
        s.pools.get_mut(&Task::Code).unwrap()[0].until_ms = Some(3_000);
        fake2.set_status(s);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let after_change = draws.load(Ordering::SeqCst) - before - idle;
        // A burst of 200 keys is drawn in a few frames, not 200.
        let burst_start = draws.load(Ordering::SeqCst);
        k2.typ(&"x".repeat(200));
        settle().await;
        let burst = draws.load(Ordering::SeqCst) - burst_start;
        k2.send(KeyCode::Char('e'), KeyModifiers::CONTROL);
        settle().await;
        k2.send(KeyCode::Char('y'), KeyModifiers::CONTROL);
        settle().await;
        k2.send(KeyCode::Char('q'), KeyModifiers::CONTROL);
        (idle, after_change, burst)
    });
    let app = run(&mut surf, &keys, backend).await;
    let (idle, after_change, burst) = script.await.unwrap();

    assert_eq!(fake.asked().len(), 1);
    assert_eq!(
        fake.asked()[0].messages[0].as_text().unwrap(),
        serde_json::json!("reverse a string")
    );
    assert!(app.chat.last_answer().unwrap().contains("fn reverse"));
    assert!(!app.streaming);
    assert_eq!(app.tasks.picked, Some(Task::Code));
    assert_eq!(idle, 0, "redrew while idle");
    assert_eq!(after_change, 1, "a status change redraws once");
    assert!(burst <= 10, "{burst} frames for a burst of keys");
    // Ctrl+E went through the editor and a fresh event stream kept working after it.
    assert_eq!(surf.edits, vec!["x".repeat(200)]);
    assert_eq!(app.input.text(), format!("{} (edited)", "x".repeat(200)));
    assert_eq!(surf.copied.len(), 1);
    assert!(surf.copied[0].starts_with("Reverse a string"));
    // check_keys ran at start.
    assert!(
        fake.keys()
            .iter()
            .all(|k| k.check != rota::tui::KeyCheck::Unchecked)
    );
}

#[tokio::test(start_paused = true)]
async fn esc_cancels_a_slow_stream_and_drops_the_receiver() {
    let fake = Arc::new(FakeBackend::new().with_delay(Duration::from_millis(100)));
    let backend: Arc<dyn ChatBackend> = fake.clone();
    let keys = Keys::default();
    let (mut surf, _) = surface();
    let k2 = keys.clone();
    let script = tokio::spawn(async move {
        settle().await;
        k2.typ("hello");
        k2.send(KeyCode::Enter, KeyModifiers::NONE);
        // Six events in (task, model, rotation, model, two deltas), then stop.
        tokio::time::sleep(Duration::from_millis(650)).await;
        k2.send(KeyCode::Esc, KeyModifiers::NONE);
        tokio::time::sleep(Duration::from_secs(5)).await;
        k2.send(KeyCode::Char('c'), KeyModifiers::CONTROL);
    });
    let app = run(&mut surf, &keys, backend).await;
    script.await.unwrap();
    let answer = app.chat.last_answer().unwrap().to_string();
    assert!(!answer.is_empty());
    assert!(
        !answer.contains("unicode-segmentation"),
        "the stream went on after Esc: {answer}"
    );
    assert!(app.chat.messages.iter().any(|m| m.stopped));
    assert!(app.quit);
}

#[tokio::test(start_paused = true)]
async fn resume_export_and_new_through_the_loop() {
    use rota::store::conversations::{self as conv, Role};
    let fake = Arc::new(FakeBackend::new());
    let db = fake.db().expect("the fake keeps conversations");
    let model = rota::model::ModelRef::new("groq", "llama-3.1-8b-instant");
    let id = conv::create_session(db, "sorting").unwrap();
    conv::append_message(db, id, Role::User, "sort a Vec?", None, None).unwrap();
    conv::append_message(db, id, Role::Assistant, "Use sort.", Some(&model), None).unwrap();

    let backend: Arc<dyn ChatBackend> = fake.clone();
    let keys = Keys::default();
    let (mut surf, _) = surface();
    let k2 = keys.clone();
    let script = tokio::spawn(async move {
        settle().await;
        k2.send(KeyCode::F(4), KeyModifiers::NONE);
        settle().await;
        k2.send(KeyCode::Enter, KeyModifiers::NONE);
        settle().await;
        k2.typ("and by key?");
        k2.send(KeyCode::Enter, KeyModifiers::NONE);
        settle().await;
        k2.send(KeyCode::Char('o'), KeyModifiers::CONTROL);
        settle().await;
        k2.send(KeyCode::Char('e'), KeyModifiers::NONE);
        settle().await;
        k2.send(KeyCode::Char('n'), KeyModifiers::NONE);
        settle().await;
        k2.typ("something else");
        k2.send(KeyCode::Enter, KeyModifiers::NONE);
        settle().await;
        k2.send(KeyCode::Char('q'), KeyModifiers::CONTROL);
    });
    let app = run(&mut surf, &keys, backend).await;
    script.await.unwrap();

    // The resumed conversation was the history of the next request…
    let asked = fake.asked();
    assert_eq!(asked.len(), 2);
    let first: Vec<(&str, &str)> = asked[0]
        .messages
        .iter()
        .map(|m| (m.role.as_str(), m.as_text().unwrap()))
        .collect();
    assert_eq!(
        first,
        [
            ("user", "sort a Vec?"),
            ("assistant", "Use sort."),
            ("user", "and by key?")
        ]
    );
    // …and the new prompt and answer were saved at its end.
    let msgs = conv::load_session(db, id).unwrap();
    assert_eq!(msgs.len(), 4);
    assert_eq!(msgs[2].content, "and by key?");
    assert!(msgs[3].content.contains("fn reverse"));
    // The export is the store's Markdown of it.
    let exported = fake.exported();
    assert_eq!(exported.len(), 1);
    assert_eq!(
        exported[0].0,
        std::path::PathBuf::from(format!("rota-{id}-sorting.md"))
    );
    assert_eq!(exported[0].1, conv::export_markdown(db, id).unwrap());
    // `n` started over: the last request had no history and went to a new conversation.
    assert_eq!(asked[1].messages.len(), 1);
    let now = fake.current_session().unwrap();
    assert_ne!(now, id);
    assert_eq!(conv::list_sessions(db).unwrap().len(), 2);
    assert_eq!(
        conv::load_session(db, now).unwrap()[0].content,
        "something else"
    );
    assert_eq!(app.chat.messages[0].text, "something else");
}

#[tokio::test(start_paused = true)]
async fn without_a_database_the_view_says_what_to_do() {
    let fake = Arc::new(FakeBackend::new().without_saved_conversations());
    let backend: Arc<dyn ChatBackend> = fake.clone();
    let keys = Keys::default();
    let (mut surf, _) = surface();
    let k2 = keys.clone();
    let script = tokio::spawn(async move {
        settle().await;
        k2.send(KeyCode::F(4), KeyModifiers::NONE);
        settle().await;
        k2.send(KeyCode::Char('e'), KeyModifiers::NONE);
        settle().await;
        k2.send(KeyCode::Char('q'), KeyModifiers::CONTROL);
    });
    let app = run(&mut surf, &keys, backend).await;
    script.await.unwrap();
    let text = surf.term.backend().to_string();
    assert!(text.contains("need the local backend"), "{text}");
    assert!(app.sessions.unavailable.is_some());
    assert!(fake.exported().is_empty());
}
