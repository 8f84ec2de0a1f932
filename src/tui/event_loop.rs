//! The event loop: terminal setup and restore, one `tokio::select!` over terminal input,
//! the running request's events, the transcription's events and a 1 Hz status tick;
//! drawing only when something changed, at most 30 frames a second, each frame inside a
//! synchronized update.

use super::app::{Action, App};
use super::backend::ChatBackend;
use super::theme::{Theme, ThemeError, no_color_env};
use crate::model::{Task, now_ms};
use crate::router::events::Event;
use crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent, EventStream,
};
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute, queue};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{self, Stdout, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;

/// How the TUI starts.
#[derive(Clone, Debug)]
pub struct TuiOptions {
    /// The task selected at start.
    pub task: Task,
    /// Theme name (`[ui] theme`): a user theme file or a built-in one.
    pub theme: String,
    /// Force no colours; `None` reads `NO_COLOR`.
    pub no_color: Option<bool>,
    /// How often the pools are read (1 s).
    pub tick: Duration,
    /// Shortest time between two frames (1/30 s).
    pub frame: Duration,
    /// Notices shown in the chat pane at start (a custom endpoint that listed no models).
    pub notices: Vec<String>,
}

impl Default for TuiOptions {
    fn default() -> Self {
        Self {
            task: Task::Auto,
            theme: "default".into(),
            no_color: None,
            tick: Duration::from_secs(1),
            frame: Duration::from_millis(33),
            notices: Vec::new(),
        }
    }
}

/// Why the TUI stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The theme could not be loaded.
    #[error(transparent)]
    Theme(#[from] ThemeError),
    /// Standard input or output is not a terminal.
    #[error("the chat UI needs a terminal: run it in one, or use `rota ask` in scripts")]
    NotATerminal,
    /// The terminal could not be set up or written.
    #[error("terminal error: {0}; try another terminal, or `rota ask`")]
    Io(#[from] io::Error),
}

type Term = Terminal<CrosstermBackend<Stdout>>;

static RAW: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as it was (idempotent; safe from a panic hook).
pub fn restore_terminal() {
    if RAW.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        let _ = execute!(
            out,
            EndSynchronizedUpdate,
            DisableBracketedPaste,
            LeaveAlternateScreen,
            cursor::Show
        );
        let _ = disable_raw_mode();
        let _ = out.flush();
    }
}

fn setup_terminal() -> Result<Term, TuiError> {
    enable_raw_mode()?;
    RAW.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    if let Err(e) = execute!(
        out,
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    ) {
        restore_terminal();
        return Err(e.into());
    }
    match Terminal::new(CrosstermBackend::new(io::stdout())) {
        Ok(t) => Ok(t),
        Err(e) => {
            restore_terminal();
            Err(e.into())
        }
    }
}

/// Restores the terminal when dropped: every exit path, `?` included.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            prev(info);
        }));
    });
}

fn draw(term: &mut Term, app: &mut App) -> io::Result<()> {
    queue!(term.backend_mut(), BeginSynchronizedUpdate)?;
    term.draw(|f| app.draw(f))?;
    execute!(term.backend_mut(), EndSynchronizedUpdate)?;
    Ok(())
}

async fn recv(rx: &mut Option<Receiver<Event>>) -> Option<Event> {
    match rx.as_mut() {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs `$VISUAL`/`$EDITOR` (else `vi`) on `text` with the terminal suspended.
fn edit_in_editor(term: &mut Term, text: &str) -> Result<String, String> {
    let mut file = tempfile::Builder::new()
        .prefix("rota-prompt-")
        .suffix(".md")
        .tempfile()
        .map_err(|e| format!("cannot make a temp file for the editor: {e}"))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write the temp file: {e}"))?;
    let path = file.path().to_path_buf();
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|s| !s.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".into());
    restore_terminal();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("rota-editor")
        .arg(&path)
        .status();
    let back = setup_again(term);
    let status = status.map_err(|e| format!("cannot run `{editor}`: {e}; set $EDITOR"))?;
    back.map_err(|e| format!("cannot restore the terminal: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`{editor}` exited with {status}; the prompt is unchanged"
        ));
    }
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read the edited prompt: {e}"))
}

fn setup_again(term: &mut Term) -> io::Result<()> {
    enable_raw_mode()?;
    RAW.store(true, Ordering::SeqCst);
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    )?;
    // `resize` repaints everything without asking the terminal for the cursor position
    // (which `clear` does, and which can time out right after a child program).
    let size = term.size()?;
    term.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
}

fn copy_osc52(text: &str) -> io::Result<()> {
    let mut out = io::stdout();
    execute!(
        out,
        crossterm::clipboard::CopyToClipboard::to_clipboard_from(text)
    )
}

/// Where frames go and what only a real terminal can do. The real one is the crossterm
/// terminal; tests use ratatui's `TestBackend` through the same loop.
pub trait Surface {
    /// Draws one frame of the app.
    fn draw(&mut self, app: &mut App) -> io::Result<()>;
    /// The terminal was resized: adopt its new size.
    fn resize(&mut self) -> io::Result<()>;
    /// Puts text on the clipboard.
    fn copy(&mut self, text: &str) -> io::Result<()>;
    /// Edits text in an external editor with the screen suspended.
    fn edit(&mut self, text: &str) -> Result<String, String>;
}

/// A stream of terminal events, boxed so the loop can replace it (after `$EDITOR`).
pub type TermEvents =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = io::Result<TermEvent>> + Send>>;

struct Crossterm(Term);

impl Surface for Crossterm {
    fn draw(&mut self, app: &mut App) -> io::Result<()> {
        draw(&mut self.0, app)
    }
    fn resize(&mut self) -> io::Result<()> {
        self.0.autoresize()
    }
    fn copy(&mut self, text: &str) -> io::Result<()> {
        copy_osc52(text)
    }
    fn edit(&mut self, text: &str) -> Result<String, String> {
        edit_in_editor(&mut self.0, text)
    }
}

/// Runs the chat TUI until the user quits. Restores the terminal on every exit path and
/// on panic. Calls `check_keys` once at start, off the UI task.
pub async fn run(backend: Arc<dyn ChatBackend>, opts: TuiOptions) -> Result<(), TuiError> {
    use std::io::IsTerminal;
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Err(TuiError::NotATerminal);
    }
    let no_color = opts.no_color.unwrap_or_else(no_color_env);
    let theme = Theme::load(&opts.theme, no_color)?;
    let mut app = App::new(theme, opts.task);
    for n in &opts.notices {
        app.chat.push(super::chat::Message::new(
            super::chat::Role::Notice,
            n.clone(),
        ));
    }

    install_panic_hook();
    let term = setup_terminal()?;
    let _guard = Guard;
    let mut surface = Crossterm(term);
    drive(
        &mut surface,
        || Box::pin(EventStream::new()),
        backend,
        app,
        &opts,
    )
    .await
    .map(|_| ())
}

/// The loop itself, over any [`Surface`] and event source: returns the app when the user
/// quits (or the events end). `events` is called again after the editor ran, so the
/// editor gets the keyboard to itself.
pub async fn drive<S, F>(
    surface: &mut S,
    mut make_events: F,
    backend: Arc<dyn ChatBackend>,
    mut app: App,
    opts: &TuiOptions,
) -> Result<App, TuiError>
where
    S: Surface,
    F: FnMut() -> TermEvents,
{
    app.set_status(backend.status());
    {
        let b = Arc::clone(&backend);
        tokio::task::spawn_blocking(move || b.check_keys());
    }
    let mut events = make_events();
    let mut tick = tokio::time::interval(opts.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut chat_rx: Option<Receiver<Event>> = None;
    let mut tr_rx: Option<Receiver<Event>> = None;
    let mut dirty = true;
    let mut next_frame = Instant::now();

    loop {
        if dirty && Instant::now() >= next_frame {
            surface.draw(&mut app)?;
            dirty = false;
            next_frame = Instant::now() + opts.frame;
        }
        let mut actions: Vec<Action> = Vec::new();
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => {
                    if let Some(a) = app.handle_key(k) { actions.push(a); }
                    dirty = true;
                }
                Some(Ok(TermEvent::Paste(text))) => { app.paste(&text); dirty = true; }
                Some(Ok(TermEvent::Resize(_, _))) => {
                    surface.resize()?;
                    dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(app),
            },
            ev = recv(&mut chat_rx) => {
                match ev {
                    Some(e) => app.handle_event(e),
                    None => { chat_rx = None; app.stream_ended(); }
                }
                dirty = true;
            },
            ev = recv(&mut tr_rx) => {
                match ev {
                    Some(e) => app.handle_transcription_event(e),
                    None => { tr_rx = None; app.transcription_ended(); }
                }
                dirty = true;
            },
            _ = tick.tick() => {
                if app.set_status(backend.status()) { dirty = true; }
                if app.view == super::app::View::Keys && app.set_keys(backend.keys()) {
                    dirty = true;
                }
                if app.view == super::app::View::Sessions
                    && app.set_sessions(backend.sessions(), backend.current_session(), now_ms())
                {
                    dirty = true;
                }
            },
            _ = tokio::time::sleep_until(next_frame), if dirty => {},
        }
        for a in actions {
            match a {
                Action::Quit => return Ok(app),
                Action::Send(req) => chat_rx = Some(backend.ask(req)),
                Action::Cancel => chat_rx = None,
                Action::Transcribe(path) => tr_rx = Some(backend.transcribe(path)),
                Action::Copy(text) => {
                    if let Err(e) = surface.copy(&text) {
                        app.note(format!("copy failed: {e}"));
                    }
                }
                Action::EditPrompt(text) => {
                    // The event reader must not steal the editor's input.
                    drop(events);
                    match surface.edit(&text) {
                        Ok(t) => app.set_input(&t),
                        Err(e) => app.note(e),
                    }
                    events = make_events();
                    dirty = true;
                }
                Action::AddKey {
                    provider,
                    key,
                    account,
                } => {
                    let masked = key.masked();
                    let r = backend.add_key(&provider, key, account);
                    app.key_result(&format!("added {provider} key {masked}"), r);
                    app.set_keys(backend.keys());
                }
                Action::RemoveKey { provider, suffix } => {
                    let r = backend.remove_key(&provider, &suffix);
                    app.key_result(&format!("removed {provider} key …{suffix}"), r);
                    app.set_keys(backend.keys());
                }
                Action::CheckKeys => {
                    let b = Arc::clone(&backend);
                    tokio::task::spawn_blocking(move || b.check_keys());
                }
                Action::Reset => backend.reset(),
                Action::RefreshKeys => {
                    app.set_keys(backend.keys());
                }
                Action::RefreshSessions => {
                    app.set_sessions(backend.sessions(), backend.current_session(), now_ms());
                }
                Action::OpenSession(id) => {
                    let r = backend.open_session(id);
                    app.session_opened(id, r);
                }
                Action::NewSession => backend.new_session(),
                Action::ExportSession(id) => {
                    let r = backend.export_session(id);
                    app.session_exported(r);
                }
            }
        }
    }
}
