//! The application state: every component, which view is up, what is streaming.
//!
//! [`App`] never touches the terminal or the backend: keys and backend events go in,
//! [`Action`]s come out for the event loop to carry out, and [`App::draw`] paints a frame.
//! That keeps every behaviour testable on ratatui's `TestBackend`.

use super::chat::{ChatPane, Message, Role};
use super::dashboard::Dashboard;
use super::gauges;
use super::help;
use super::input::{InputBox, InputOutcome};
use super::keymap::{self, Act, Section};
use super::keys::{KeysAction, KeysView};
use super::sessions::{SessionsAction, SessionsView};
use super::statusline::{StatusLine, rotation_words};
use super::tasks::TaskSelector;
use super::theme::Theme;
use super::toosmall;
use crate::engine::Status;
use crate::model::{Millis, Task};
use crate::router::ChatRequest;
use crate::router::events::Event;
use crate::secret::ApiKey;
use crate::store::conversations::{MessageRow, Role as SavedRole, SessionRow};
use crossterm::event::{KeyEvent, KeyEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which full-screen view is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Chat, input, task selector, gauges, status line.
    Chat,
    /// Every pool in detail.
    Dashboard,
    /// Keys per provider.
    Keys,
    /// Saved conversations.
    Sessions,
}

/// Something the event loop must do for the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Start this request (`ChatBackend::ask`).
    Send(ChatRequest),
    /// Drop the running request's receiver (the answer so far is kept).
    Cancel,
    /// Leave the TUI.
    Quit,
    /// Transcribe this file into the input box.
    Transcribe(PathBuf),
    /// Suspend the terminal and edit this text in `$EDITOR`; hand the result to
    /// [`App::set_input`].
    EditPrompt(String),
    /// Put this text on the clipboard (OSC 52).
    Copy(String),
    /// Add a key; report with [`App::key_result`].
    AddKey {
        /// Provider name.
        provider: String,
        /// The key.
        key: ApiKey,
        /// Account, if given.
        account: Option<String>,
    },
    /// Remove a key; report with [`App::key_result`].
    RemoveKey {
        /// Provider name.
        provider: String,
        /// Last characters of the key.
        suffix: String,
    },
    /// Check every key in the background.
    CheckKeys,
    /// Read the keys again (`ChatBackend::keys`) into [`App::set_keys`].
    RefreshKeys,
    /// Read the saved conversations (`ChatBackend::sessions`) into [`App::set_sessions`].
    RefreshSessions,
    /// Load this conversation (`ChatBackend::open_session`) into [`App::session_opened`].
    OpenSession(i64),
    /// Start a new conversation (`ChatBackend::new_session`); the chat is already cleared.
    NewSession,
    /// Export this conversation (`ChatBackend::export_session`); report with
    /// [`App::session_exported`].
    ExportSession(i64),
    /// Take every model and key back into rotation (`ChatBackend::reset`).
    Reset,
}

/// The whole UI's state.
#[derive(Debug)]
pub struct App {
    /// Colours and modifiers.
    pub theme: Theme,
    /// The view that is up.
    pub view: View,
    /// The help overlay is open.
    pub help: bool,
    help_scroll: usize,
    /// The history.
    pub chat: ChatPane,
    /// The prompt editor.
    pub input: InputBox,
    /// The task selector.
    pub tasks: TaskSelector,
    /// The pools, as last read.
    pub status: Status,
    /// The status line.
    pub statusline: StatusLine,
    /// The dashboard view.
    pub dashboard: Dashboard,
    /// The keys view.
    pub keys: KeysView,
    /// The saved-conversations view.
    pub sessions: SessionsView,
    /// A chat request is running.
    pub streaming: bool,
    /// A transcription is running.
    pub transcribing: bool,
    /// The model answering now (from `model_selected`).
    current_model: Option<String>,
    /// Where each running tool call's line is (answer, line), by call id: its result is
    /// written into it.
    tool_lines: std::collections::HashMap<String, (usize, usize)>,
    /// Set when the UI should quit.
    pub quit: bool,
}

fn empty_status() -> Status {
    Status {
        at: 0,
        pools: BTreeMap::new(),
        transcription: Vec::new(),
    }
}

impl App {
    /// A fresh UI with a theme, starting on `task`.
    pub fn new(theme: Theme, task: Task) -> Self {
        Self {
            theme,
            view: View::Chat,
            help: false,
            help_scroll: 0,
            chat: ChatPane::default(),
            input: InputBox::new(),
            tasks: TaskSelector::new(task),
            status: empty_status(),
            statusline: StatusLine::default(),
            dashboard: Dashboard::default(),
            keys: KeysView::default(),
            sessions: SessionsView::default(),
            streaming: false,
            transcribing: false,
            current_model: None,
            tool_lines: Default::default(),
            quit: false,
        }
    }

    /// Replaces the status; true when anything but its timestamp changed (needs a redraw).
    pub fn set_status(&mut self, s: Status) -> bool {
        let changed = s.pools != self.status.pools || s.transcription != self.status.transcription;
        self.status = s;
        changed
    }

    /// Replaces the keys view's rows; true when they changed.
    pub fn set_keys(&mut self, rows: Vec<super::backend::KeyRow>) -> bool {
        let changed = rows != self.keys.rows;
        self.keys.set_rows(rows);
        changed
    }

    /// Reports the result of [`Action::AddKey`] / [`Action::RemoveKey`].
    pub fn key_result(&mut self, what: &str, r: Result<(), String>) {
        match r {
            Ok(()) => self.keys.set_result(true, what.to_string()),
            Err(e) => self.keys.set_result(false, e),
        }
    }

    /// Replaces the conversations view's rows (or says why there are none); `current` is
    /// the conversation the chat's messages go to, `now` the time the rows were read. True
    /// when anything shown changed.
    pub fn set_sessions(
        &mut self,
        rows: Result<Vec<SessionRow>, String>,
        current: Option<i64>,
        now: Millis,
    ) -> bool {
        self.sessions.set_rows(rows, current, now)
    }

    /// Takes the messages of the conversation [`Action::OpenSession`] loaded: they replace
    /// the chat (answers keep their model) and are the history sent with the next prompt.
    pub fn session_opened(&mut self, id: i64, r: Result<Vec<MessageRow>, String>) {
        let rows = match r {
            Ok(rows) => rows,
            Err(e) => {
                self.sessions.set_result(false, e);
                return;
            }
        };
        let title = self
            .sessions
            .rows
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.title.clone())
            .unwrap_or_else(|| format!("conversation {id}"));
        let last = rows
            .iter()
            .rev()
            .find(|m| m.role == SavedRole::Assistant)
            .map(|m| (m.model.as_ref().map(|x| x.to_string()), m.usage));
        let n = rows.len();
        let messages = rows
            .into_iter()
            .map(|m| {
                let role = match m.role {
                    SavedRole::System => Role::System,
                    SavedRole::User => Role::User,
                    SavedRole::Assistant => Role::Assistant,
                };
                let mut msg = Message::new(role, m.content);
                msg.model = m.model.map(|x| x.to_string());
                msg
            })
            .collect();
        self.chat.replace(messages);
        self.sessions.current = Some(id);
        self.sessions.message = None;
        self.current_model = None;
        self.tasks.picked = None;
        self.statusline.model = last.as_ref().and_then(|(m, _)| m.clone());
        self.statusline.usage = last.and_then(|(_, u)| u);
        self.statusline.cost = None;
        self.statusline.rotation = None;
        self.view = View::Chat;
        self.note(format!(
            "resumed “{title}” · {n} message{}",
            if n == 1 { "" } else { "s" }
        ));
    }

    /// Reports the result of [`Action::ExportSession`]: the file written, or why not.
    pub fn session_exported(&mut self, r: Result<PathBuf, String>) {
        match r {
            Ok(p) => {
                let words = format!("exported to {}", p.display());
                self.sessions.set_result(true, words.clone());
                self.note(words);
            }
            Err(e) => self.sessions.set_result(false, e),
        }
    }

    /// Replaces the prompt text (after `$EDITOR`, or a transcript).
    pub fn set_input(&mut self, text: &str) {
        self.input.set_text(text.trim_end_matches('\n'));
    }

    /// Shows a short note in the status line until the next key.
    pub fn note(&mut self, text: impl Into<String>) {
        self.statusline.note = Some(text.into());
    }
}

/// What a continuation asks after a cut answer (the answer so far is the assistant turn
/// before it).
pub const CONTINUE_PROMPT: &str =
    "Your answer above was cut off. Continue exactly where it stopped, without repeating anything.";

impl App {
    fn conversation(&self) -> Vec<crate::message::Message> {
        self.chat
            .messages
            .iter()
            .filter(|m| {
                matches!(m.role, Role::System | Role::User | Role::Assistant) && !m.text.is_empty()
            })
            .map(|m| {
                let role = match m.role {
                    Role::System => crate::message::Role::System,
                    Role::User => crate::message::Role::User,
                    _ => crate::message::Role::Assistant,
                };
                crate::message::Message::text_of(role, m.text.clone())
            })
            .collect()
    }

    fn cancel_stream(&mut self) -> Option<Action> {
        if !self.streaming {
            return None;
        }
        self.streaming = false;
        self.statusline.busy = false;
        self.chat.finish(None, true);
        self.note("stopped: the answer so far is kept");
        Some(Action::Cancel)
    }

    fn submit(&mut self, text: String) -> Option<Action> {
        if let Some(rest) = text.trim().strip_prefix("/transcribe") {
            let path = rest.trim();
            if path.is_empty() {
                self.note("usage: /transcribe PATH (an audio file)");
                self.set_input("/transcribe ");
                return None;
            }
            let path = expand_home(path);
            self.transcribing = true;
            self.note(format!("transcribing {}…", path.display()));
            return Some(Action::Transcribe(path));
        }
        if self.streaming {
            // Keep the prompt; one answer at a time.
            self.set_input(&text);
            self.note("an answer is still streaming: Esc stops it");
            return None;
        }
        self.chat.push(Message::new(Role::User, text));
        self.chat.offset = 0;
        let req = ChatRequest {
            messages: self.conversation(),
            task: Some(self.tasks.selected),
            max_tokens: None,
            ..ChatRequest::default()
        };
        self.streaming = true;
        self.statusline.busy = true;
        self.current_model = None;
        if self.tasks.selected == Task::Auto {
            self.tasks.picked = None;
        }
        Some(Action::Send(req))
    }

    /// Continues the newest answer if it was cut at `max_tokens`: one more request through
    /// the router with the history so far, its text appended to the same message.
    fn continue_cut(&mut self) -> Option<Action> {
        if self.streaming {
            self.note("an answer is still streaming: Esc stops it");
            return None;
        }
        let Some(m) = self.chat.cut_answer_mut() else {
            self.note("no cut answer to continue");
            return None;
        };
        m.cut = None;
        m.streaming = true;
        m.invalidate();
        let mut messages = self.conversation();
        messages.push(crate::message::Message::user(CONTINUE_PROMPT));
        self.chat.offset = 0;
        self.streaming = true;
        self.statusline.busy = true;
        Some(Action::Send(ChatRequest {
            messages,
            task: Some(self.tasks.picked.unwrap_or(self.tasks.selected)),
            max_tokens: None,
            continues: true,
            ..ChatRequest::default()
        }))
    }

    /// Handles one key; returns what the event loop must do, if anything. What each key
    /// does comes from [`keymap`].
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        self.statusline.note = None;
        match keymap::lookup(Section::Any, &key, false) {
            Some(Act::Quit) => {
                self.quit = true;
                return Some(Action::Quit);
            }
            Some(Act::Interrupt) => {
                if self.streaming {
                    return self.cancel_stream();
                }
                self.quit = true;
                return Some(Action::Quit);
            }
            _ => {}
        }
        if self.help {
            match keymap::lookup(Section::Help, &key, false) {
                Some(Act::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
                Some(Act::Down) => self.help_scroll += 1,
                Some(Act::PageDown) => self.help_scroll += 10,
                Some(Act::PageUp) => self.help_scroll = self.help_scroll.saturating_sub(10),
                _ => {
                    self.help = false;
                    self.help_scroll = 0;
                }
            }
            return None;
        }
        let typing = match self.view {
            View::Chat => !self.input.is_empty(),
            View::Keys => self.keys.is_typing(),
            View::Sessions => self.sessions.is_typing(),
            View::Dashboard => false,
        };
        match keymap::lookup(Section::Views, &key, typing) {
            Some(Act::Help) => {
                self.help = true;
                return None;
            }
            Some(Act::Pools) => return self.toggle(View::Dashboard),
            Some(Act::Keys) => return self.toggle(View::Keys),
            Some(Act::Conversations) => return self.toggle(View::Sessions),
            _ => {}
        }
        match self.view {
            View::Dashboard => {
                if keymap::lookup(Section::Views, &key, false) == Some(Act::Back) {
                    self.view = View::Chat;
                } else if keymap::lookup(Section::Pools, &key, false) == Some(Act::Reset) {
                    self.note("taking every model and key back into rotation…");
                    return Some(Action::Reset);
                } else {
                    self.dashboard.handle_key(key);
                }
                None
            }
            View::Keys => match self.keys.handle_key(key)? {
                KeysAction::Close => {
                    self.view = View::Chat;
                    None
                }
                KeysAction::Check => Some(Action::CheckKeys),
                KeysAction::Add {
                    provider,
                    key,
                    account,
                } => Some(Action::AddKey {
                    provider,
                    key,
                    account,
                }),
                KeysAction::Remove { provider, suffix } => {
                    Some(Action::RemoveKey { provider, suffix })
                }
            },
            View::Sessions => self.sessions_key(key),
            View::Chat => self.chat_key(key),
        }
    }

    fn toggle(&mut self, v: View) -> Option<Action> {
        if self.view == v {
            self.view = View::Chat;
            None
        } else {
            self.view = v;
            match v {
                View::Keys => Some(Action::RefreshKeys),
                View::Sessions => {
                    self.sessions.message = None;
                    Some(Action::RefreshSessions)
                }
                View::Chat | View::Dashboard => None,
            }
        }
    }

    /// Resuming or starting a conversation while an answer streams would mix two
    /// conversations: it is refused until the answer ends or is stopped.
    fn sessions_key(&mut self, key: KeyEvent) -> Option<Action> {
        match self.sessions.handle_key(key)? {
            SessionsAction::Close => {
                self.view = View::Chat;
                None
            }
            SessionsAction::Export(id) => {
                self.sessions.set_result(true, "exporting…");
                Some(Action::ExportSession(id))
            }
            SessionsAction::Open(_) | SessionsAction::New if self.streaming => {
                self.sessions.set_result(
                    false,
                    "an answer is still streaming: wait for it, or stop it (Esc in the chat) first",
                );
                None
            }
            SessionsAction::Open(id) => Some(Action::OpenSession(id)),
            SessionsAction::New => {
                self.chat.replace(Vec::new());
                self.sessions.current = None;
                self.current_model = None;
                self.tasks.picked = None;
                self.statusline.model = None;
                self.statusline.usage = None;
                self.statusline.cost = None;
                self.statusline.rotation = None;
                self.view = View::Chat;
                self.note("new conversation: your next prompt starts it");
                Some(Action::NewSession)
            }
        }
    }

    fn chat_key(&mut self, key: KeyEvent) -> Option<Action> {
        match keymap::lookup(Section::Chat, &key, false) {
            Some(Act::Stop) => return self.cancel_stream(),
            Some(Act::NextTask) => {
                self.tasks.cycle(false);
                return None;
            }
            Some(Act::PrevTask) => {
                self.tasks.cycle(true);
                return None;
            }
            Some(Act::PickTask) => {
                if let Some(n) = key.code.as_char().and_then(|c| c.to_digit(10)) {
                    self.tasks.pick(n as usize);
                }
                return None;
            }
            Some(Act::PageUp) => {
                self.chat.scroll_up(self.chat.page());
                return None;
            }
            Some(Act::PageDown) => {
                self.chat.scroll_down(self.chat.page());
                return None;
            }
            Some(Act::Up) => {
                self.chat.scroll_up(1);
                return None;
            }
            Some(Act::Down) => {
                self.chat.scroll_down(1);
                return None;
            }
            Some(Act::EditPrompt) => return Some(Action::EditPrompt(self.input.text())),
            Some(Act::Transcribe) => {
                if self.input.is_empty() {
                    self.set_input("/transcribe ");
                    self.note("type the audio file's path, then Enter");
                }
                return None;
            }
            Some(Act::CopyAnswer) => {
                return match self.chat.last_answer() {
                    Some(t) => {
                        let t = t.to_string();
                        self.note(format!(
                            "copied the last answer ({} chars)",
                            t.chars().count()
                        ));
                        Some(Action::Copy(t))
                    }
                    None => {
                        self.note("no answer to copy yet");
                        None
                    }
                };
            }
            Some(Act::ToggleReasoning) => {
                let shown = self.chat.toggle_reasoning();
                self.note(if shown {
                    "thinking shown: Alt+R hides it"
                } else {
                    "thinking hidden: Alt+R shows it"
                });
                return None;
            }
            Some(Act::ContinueCut) => return self.continue_cut(),
            Some(Act::CopyCode) => {
                return match self.chat.code_in_view() {
                    Some(t) => {
                        self.note(format!(
                            "copied the code block ({} lines)",
                            t.lines().count()
                        ));
                        Some(Action::Copy(t))
                    }
                    None => {
                        self.note("no code block in view: scroll to one (PgUp)");
                        None
                    }
                };
            }
            // The prompt's own keys (send, new line, recall) and typing.
            _ => {}
        }
        match self.input.handle_key(key) {
            InputOutcome::Submit(text) => self.submit(text),
            InputOutcome::Changed | InputOutcome::Ignored => None,
        }
    }

    /// Inserts pasted text into the focused field.
    pub fn paste(&mut self, text: &str) {
        if self.help {
            return;
        }
        match self.view {
            View::Chat => self.input.paste(text),
            View::Sessions if self.sessions.filtering => {
                let line = text.lines().next().unwrap_or("");
                self.sessions.filter.push_str(line);
                self.sessions.selected = 0;
            }
            _ => {}
        }
    }

    /// Takes one event of the running request (or transcription).
    pub fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::TaskSelected { task, auto } => {
                if auto {
                    self.tasks.picked = Some(task);
                }
            }
            Event::ModelSelected {
                provider, model, ..
            } => {
                let m = format!("{provider}/{model}");
                self.statusline.model = Some(m.clone());
                if let Some(msg) = self.chat.streaming_mut() {
                    msg.model = Some(m.clone());
                    msg.invalidate();
                }
                self.current_model = Some(m);
            }
            Event::ModelRotation {
                from,
                to,
                reason,
                window,
                retry_after_ms,
                ..
            } => {
                let words = rotation_words(&from, to.as_deref(), reason, window, retry_after_ms);
                self.chat.push(Message::new(Role::Notice, words.clone()));
                self.statusline.rotation = Some(words);
            }
            Event::NoModelsAvailable {
                task,
                wait_ms,
                next,
            } => {
                let words = format!(
                    "every {task} model is busy: waiting {} for {next}",
                    crate::duration::short(wait_ms)
                );
                self.chat.push(Message::new(Role::Notice, words.clone()));
                self.statusline.rotation = Some(words);
            }
            Event::RateLimitRecovered {
                provider,
                model,
                attempts,
            } => {
                // The rotation stays in the status line; the chat says it recovered.
                self.chat.push(Message::new(
                    Role::Notice,
                    format!("recovered on {provider}/{model} after {attempts} attempts"),
                ));
            }
            Event::Delta { text } => {
                if self.streaming {
                    let model = self.current_model.clone();
                    self.chat.append_delta(&text, model.as_deref());
                }
            }
            Event::Reasoning { text } => {
                if self.streaming {
                    let model = self.current_model.clone();
                    self.chat.append_reasoning(&text, model.as_deref());
                }
            }
            Event::Done {
                provider,
                model,
                usage,
                cost_usd,
                finish_reason,
                max_tokens,
                ..
            } => {
                let m = format!("{provider}/{model}");
                if finish_reason.as_deref() == Some("length")
                    && let Some(msg) = self.chat.streaming_mut()
                {
                    msg.cut = Some(max_tokens);
                    self.note(format!(
                        "the answer was cut at {max_tokens} tokens: Alt+C continues it"
                    ));
                }
                self.chat.finish(Some(m.clone()), false);
                self.statusline.model = Some(m);
                self.statusline.usage = Some(usage);
                self.statusline.cost = Some(cost_usd);
                self.statusline.session_cost += cost_usd;
            }
            Event::Transcript { text, .. } => {
                self.transcribing = false;
                let cur = self.input.text();
                let joined = if cur.trim().is_empty() {
                    text
                } else {
                    format!("{cur} {text}")
                };
                self.set_input(&joined);
                self.note("transcript added to the prompt: edit it, then Enter");
            }
            Event::Error { kind, message, .. } => {
                self.chat.finish(None, false);
                self.chat
                    .push(Message::new(Role::Error, format!("{kind}: {message}")));
            }
            // The TUI offers no tools of its own: nothing asks it to run one.
            Event::ToolCallDelta { .. } => {}
            Event::ToolCall {
                id,
                name,
                arguments,
            } => {
                let model = self.current_model.clone();
                let line = crate::tools::describe_call(&name, &arguments);
                if let Some(at) = self.chat.push_tool_line(line, model.as_deref()) {
                    self.tool_lines.insert(id, at);
                }
            }
            Event::ToolResult {
                id,
                name,
                ok,
                latency_ms,
                error,
                results,
                ..
            } => {
                let took = crate::duration::tenths(latency_ms);
                let outcome = match (ok, error) {
                    (true, _) if name == crate::tools::WEB_SEARCH => {
                        let s = if results == 1 { "" } else { "s" };
                        format!("{results} result{s} · {took}")
                    }
                    (true, _) => format!("done · {took}"),
                    (false, e) => format!("failed · {took}: {}", e.unwrap_or_default()),
                };
                // The call's line turns into its result: `searching: q · 3 results · 0.4s`.
                if let Some(at) = self.tool_lines.remove(&id) {
                    let call = self
                        .chat
                        .messages
                        .get(at.0)
                        .and_then(|m| m.tools.get(at.1))
                        .cloned()
                        .unwrap_or_else(|| name.clone());
                    self.chat.set_tool_line(at, format!("{call} · {outcome}"));
                }
            }
            Event::Step { n, provider, model } => {
                self.statusline.rotation = Some(format!("research step {n}: {provider}/{model}"));
            }
            Event::Notice { message } => self.note(message),
        }
    }

    /// Takes one event of the running transcription: the transcript goes into the prompt;
    /// an error is shown without touching a chat answer that may be streaming.
    pub fn handle_transcription_event(&mut self, ev: Event) {
        match ev {
            Event::Transcript { .. } => self.handle_event(ev),
            Event::Error { kind, message, .. } => {
                self.transcribing = false;
                self.chat.push(Message::new(
                    Role::Error,
                    format!("transcription failed ({kind}): {message}"),
                ));
                self.note("transcription failed: see the chat");
            }
            _ => {}
        }
    }

    /// The running request's channel closed.
    pub fn stream_ended(&mut self) {
        self.streaming = false;
        self.statusline.busy = false;
        self.chat.finish(None, false);
    }

    /// The transcription's channel closed.
    pub fn transcription_ended(&mut self) {
        self.transcribing = false;
    }

    /// Draws the whole screen.
    pub fn draw(&mut self, f: &mut Frame) {
        let area = f.area();
        if toosmall::too_small(area) {
            toosmall::draw(f, area, &self.theme);
            return;
        }
        match self.view {
            View::Chat => self.draw_chat(f, area),
            View::Dashboard => {
                let [main, foot] =
                    Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
                self.dashboard.draw(f, main, &self.status, &self.theme);
                self.draw_footer(f, foot);
            }
            View::Keys => {
                let [main, foot] =
                    Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
                self.keys.draw(f, main, &self.theme);
                self.draw_footer(f, foot);
            }
            View::Sessions => {
                let [main, foot] =
                    Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
                self.sessions.draw(f, main, &self.theme);
                self.draw_footer(f, foot);
            }
        }
        if self.help {
            help::draw(f, area, &self.theme, &mut self.help_scroll);
        }
    }

    fn draw_chat(&mut self, f: &mut Frame, area: Rect) {
        let pool = self.tasks.pool();
        let entries = self
            .status
            .pools
            .get(&pool)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let input_h = self.input.height();
        // Gauges get at most about a third of the screen.
        let gauge_rows = (area.height / 3).saturating_sub(1).max(2);
        let gauges_h = gauges::height(entries.len(), gauge_rows);
        let [tasks, chat, gauge_area, input, status, foot] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(gauges_h),
            Constraint::Length(input_h),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.tasks.draw(f, tasks, &self.theme);
        self.chat.draw(f, chat, &self.theme);
        gauges::draw(f, gauge_area, pool, entries, &self.theme);
        let title = if self.streaming {
            "prompt · answering (Esc stops)"
        } else if self.transcribing {
            "prompt · transcribing…"
        } else {
            "prompt"
        };
        self.input.draw(f, input, &self.theme, title, !self.help);
        self.statusline.draw(f, status, &self.theme);
        self.draw_footer(f, foot);
    }

    fn draw_footer(&self, f: &mut Frame, area: Rect) {
        // Most needed first: on a narrow terminal the tail is left out, never F1.
        let items = keymap::footer(self.view);
        let mut spans = vec![Span::raw(" ")];
        let mut used = 1usize;
        for (k, what) in items {
            let w = k.chars().count() + what.chars().count() + 3;
            if used + w > area.width as usize {
                // Leave it out; a shorter one after it may still fit.
                continue;
            }
            spans.push(Span::styled(k.to_string(), self.theme.key));
            spans.push(Span::styled(format!(" {what}  "), self.theme.footer));
            used += w;
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }
}

/// `~/x` → `$HOME/x`.
fn expand_home(p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = directories::BaseDirs::new()
    {
        return home.home_dir().join(rest);
    }
    PathBuf::from(p)
}
