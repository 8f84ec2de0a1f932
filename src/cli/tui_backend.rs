//! The TUI's [`ChatBackend`] over the real [`Router`]: requests go through the router,
//! the gauges read the shared state, keys are checked with `GET /models` (invalid ones
//! leave rotation) and edited in the config file, and with the local (SQLite) backend every
//! message of the session is saved as a conversation as it completes; saved conversations
//! are listed, resumed (later messages append to them) and exported to Markdown files.

use crate::engine::{KeyRef, Status};
use crate::message::{Content, ContentPart, Message};
use crate::model::{ModelRef, Usage, now_ms};
use crate::providers::Endpoint;
use crate::providers::check::{self, KeyCheck};
use crate::router::checks::Checks;
use crate::router::events::Event;
use crate::router::{ChatRequest, Router};
use crate::secret::ApiKey;
use crate::store::conversations::{self, Role};
use crate::store::db::Db;
use crate::tui::backend::{ChatBackend, KeyRow, MessageRow, NO_SAVED_CONVERSATIONS, SessionRow};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::runtime::Handle;
use tokio::sync::mpsc::{Receiver, Sender, channel};

/// Where `add_key` / `remove_key` write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeysFile {
    /// The user's config file (created with mode 0600 when missing).
    Path(PathBuf),
    /// `--demo`: the keys are the simulated fleet's; editing them is refused.
    Demo,
}

/// One key the keys view lists and a check calls.
#[derive(Clone, Debug)]
struct KeyEntry {
    key: KeyRef,
    /// `None` when the provider is not in the running config (added as a new custom one).
    endpoint: Option<Endpoint>,
}

/// One conversation's saved id: empty until its first message is saved. Each request saves
/// into the slot that was current when it started, so an answer still being saved after
/// the user resumed another conversation lands in its own.
type Slot = Arc<Mutex<Option<i64>>>;

/// The `kind` of the error event that tells the TUI a message could not be saved.
pub const NOT_SAVED: &str = "not_saved";

/// A router's published status.
type StatusFeed = tokio::sync::watch::Receiver<Option<Arc<Status>>>;

/// How often the TUI's status is read from the store (the TUI redraws it once a second).
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Starts `router`'s status feed on `rt`.
fn feed(router: &Arc<Router>, rt: &Handle) -> StatusFeed {
    let _enter = rt.enter();
    router.status_feed(STATUS_EVERY)
}

struct Inner {
    /// The router new requests go to; replaced when a key is added or removed.
    router: Mutex<Arc<Router>>,
    db: Option<Arc<Db>>,
    keys_file: KeysFile,
    rt: Handle,
    keys: Mutex<Vec<KeyEntry>>,
    checks: Mutex<BTreeMap<String, KeyCheck>>,
    /// The current router's status, published off the UI task.
    status: Mutex<StatusFeed>,
    /// The conversation messages are saved to now.
    session: Mutex<Slot>,
    /// Where exports go; `None`: the current directory.
    export_dir: Mutex<Option<PathBuf>>,
}

/// [`ChatBackend`] over a router. Cheap to clone; every method returns at once.
#[derive(Clone)]
pub struct RouterBackend {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RouterBackend {
    /// A backend over `router`. `db` (the local store's database) enables saved
    /// conversations and remembered key checks; `rt` runs background work (key checks,
    /// saving messages).
    pub fn new(router: Arc<Router>, db: Option<Arc<Db>>, keys_file: KeysFile, rt: Handle) -> Self {
        let keys = check::endpoints_of(router.config())
            .into_iter()
            .map(|(key, ep)| KeyEntry {
                key,
                endpoint: Some(ep),
            })
            .collect();
        let saved: Checks = db
            .as_deref()
            .map(|d| {
                crate::router::checks::load_checks(d).unwrap_or_else(|e| {
                    tracing::warn!("cannot read the last key checks: {e}");
                    Checks::new()
                })
            })
            .unwrap_or_default();
        let checks = saved.into_iter().map(|(id, s)| (id, s.check)).collect();
        Self {
            inner: Arc::new(Inner {
                status: Mutex::new(feed(&router, &rt)),
                router: Mutex::new(router),
                db,
                keys_file,
                rt,
                keys: Mutex::new(keys),
                checks: Mutex::new(checks),
                session: Mutex::new(Slot::default()),
                export_dir: Mutex::new(None),
            }),
        }
    }

    /// The id of the current saved conversation, once its first message was saved.
    pub fn session_id(&self) -> Option<i64> {
        let slot = Arc::clone(&lock(&self.inner.session));
        *lock(&slot)
    }

    /// Exports go to `dir` instead of the current directory.
    pub fn set_export_dir(&self, dir: PathBuf) {
        *lock(&self.inner.export_dir) = Some(dir);
    }

    /// Checks every key now and waits for the results (also recorded, like
    /// [`ChatBackend::check_keys`]).
    pub async fn check_now(&self) -> Vec<(KeyRef, KeyCheck)> {
        Inner::check(Arc::clone(&self.inner)).await
    }
}

/// The text of a message as a conversation saves it: text parts joined by newlines, other
/// parts named (`[image_url]`).
fn content_text(m: &Message) -> String {
    match &m.content {
        Some(Content::Text(s)) => s.clone(),
        Some(Content::Parts(parts)) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text(t) => t.clone(),
                ContentPart::Image(_) => "[image_url]".to_string(),
                ContentPart::Other(v) => v
                    .get("type")
                    .and_then(|t| t.as_str())
                    .map(|t| format!("[{t}]"))
                    .unwrap_or_default(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => String::new(),
    }
}

/// A conversation's title: the first line of its first prompt, at most 60 characters.
fn title_of(prompt: &str) -> String {
    let line = prompt.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut t: String = line.trim().chars().take(60).collect();
    if line.trim().chars().count() > 60 {
        t.push('…');
    }
    if t.is_empty() {
        "conversation".into()
    } else {
        t
    }
}

/// How a message is saved: a new row, or appended to the answer it continues.
#[derive(Clone, Copy, Debug)]
enum Saved {
    /// A message of its own.
    Message(Role),
    /// More text of the newest answer (a cut answer continued).
    Continuation,
}

impl From<Role> for Saved {
    fn from(r: Role) -> Self {
        Saved::Message(r)
    }
}

impl Inner {
    /// The router for new requests.
    fn router(&self) -> Arc<Router> {
        Arc::clone(&lock(&self.router))
    }

    /// Routes new requests with the current configuration changed by `change` (running
    /// requests finish on the router they started with).
    fn reconfigure(&self, change: impl FnOnce(&mut crate::config::Config)) {
        let mut router = lock(&self.router);
        let mut config = router.config().clone();
        change(&mut config);
        *router = Arc::new(router.reconfigured(config));
        *lock(&self.status) = feed(&router, &self.rt);
    }

    /// Saves one message into `slot`'s conversation on a blocking thread (SQLite may wait
    /// for another process). A failure is logged and returned, worded for the user.
    async fn save(
        &self,
        slot: &Slot,
        role: impl Into<Saved>,
        text: String,
        model: Option<ModelRef>,
        usage: Option<Usage>,
    ) -> Result<(), String> {
        let Some(db) = self.db.clone() else {
            return Ok(());
        };
        let role = role.into();
        let slot = Arc::clone(slot);
        let r = tokio::task::spawn_blocking(move || {
            let mut session = lock(&slot);
            let id = match *session {
                Some(id) => id,
                None => {
                    let id = conversations::create_session(&db, &title_of(&text))?;
                    *session = Some(id);
                    id
                }
            };
            match role {
                Saved::Message(role) => {
                    conversations::append_message(&db, id, role, &text, model.as_ref(), usage)
                }
                Saved::Continuation => {
                    conversations::extend_last_answer(&db, id, &text, model.as_ref(), usage)
                }
            }
        })
        .await;
        let why = match r {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("saving stopped: {e}"),
        };
        tracing::warn!("could not save a message of the conversation: {why}");
        Err(why)
    }

    /// Passes the router's events on to the UI and saves the answer when it completes (or
    /// what came of it when it is stopped or fails). Stops the request when the UI drops
    /// its receiver.
    async fn forward(
        self: Arc<Self>,
        slot: Slot,
        prompt: String,
        continues: bool,
        mut rx: Receiver<Event>,
        tx: Sender<Event>,
    ) {
        // A cut answer continued: its text belongs to the answer already saved, and the
        // request's own prompt is rota's, not the user's.
        // The first save that failed, told to the user once the answer is complete (an
        // error event mid-stream would end the answer on screen).
        let mut unsaved: Option<String> = None;
        let mut note = |r: Result<(), String>| {
            if let Err(e) = r {
                unsaved.get_or_insert(e);
            }
        };
        if !continues && !prompt.trim().is_empty() {
            note(self.save(&slot, Role::User, prompt, None, None).await);
        }
        let role = if continues {
            Saved::Continuation
        } else {
            Saved::Message(Role::Assistant)
        };
        let mut answer = String::new();
        let mut model: Option<ModelRef> = None;
        let mut saved = false;
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = tx.closed() => break,
            };
            let Some(ev) = ev else { break };
            let done = match &ev {
                Event::ModelSelected {
                    provider, model: m, ..
                } => {
                    model = Some(ModelRef::new(provider.clone(), m.clone()));
                    None
                }
                Event::Delta { text } => {
                    answer.push_str(text);
                    None
                }
                Event::Done {
                    provider,
                    model: m,
                    usage,
                    ..
                } => Some((ModelRef::new(provider.clone(), m.clone()), *usage)),
                _ => None,
            };
            let sent = tx.send(ev).await.is_ok();
            if let Some((m, usage)) = done {
                note(
                    self.save(
                        &slot,
                        role,
                        std::mem::take(&mut answer),
                        Some(m),
                        Some(usage),
                    )
                    .await,
                );
                saved = true;
            }
            if !sent {
                break;
            }
        }
        drop(rx); // cancels the request if it is still running
        if !saved && !answer.is_empty() {
            // Stopped or failed part way: the UI keeps what came, so does the record.
            note(self.save(&slot, role, answer, model, None).await);
        }
        if let Some(why) = unsaved {
            // Shown in the chat as an error line below the answer (unless the UI stopped
            // listening; the log has it either way).
            let _ = tx
                .send(Event::Error {
                    kind: NOT_SAVED.into(),
                    message: format!(
                        "this exchange is not in your saved conversations: {why}. It stays \
                         on screen until you quit or switch conversations, so copy anything \
                         you want to keep; later messages are saved once the cause is fixed"
                    ),
                    retry_after_ms: None,
                })
                .await;
        }
    }

    /// Runs every key check, records the results (memory, `rota.db`) and takes keys the
    /// provider refused out of rotation.
    async fn check(me: Arc<Self>) -> Vec<(KeyRef, KeyCheck)> {
        let entries: Vec<KeyEntry> = lock(&me.keys).clone();
        {
            let mut checks = lock(&me.checks);
            for e in &entries {
                checks.insert(crate::engine::fleet::key_id(&e.key), KeyCheck::Checking);
            }
        }
        let with_ep: Vec<(KeyRef, Endpoint)> = entries
            .iter()
            .filter_map(|e| e.endpoint.clone().map(|ep| (e.key.clone(), ep)))
            .collect();
        let mut results = check::check_all(me.router().client(), &with_ep).await;
        for e in entries.iter().filter(|e| e.endpoint.is_none()) {
            results.push((
                e.key.clone(),
                KeyCheck::Unreachable("provider not in the running config: restart rota".into()),
            ));
        }
        {
            let mut checks = lock(&me.checks);
            for (k, c) in &results {
                checks.insert(crate::engine::fleet::key_id(k), c.clone());
            }
        }
        let now = now_ms();
        let db = me.db.clone();
        let record = results.clone();
        let saved = tokio::task::spawn_blocking(move || {
            if let Some(db) = db
                && let Err(e) = crate::router::checks::save_checks(&db, &record, now)
            {
                tracing::warn!("cannot save the key checks: {e}");
            }
        })
        .await;
        if let Err(e) = saved {
            tracing::warn!("saving the key checks stopped: {e}");
        }
        if let Err(e) = me.router().apply_key_checks(&results).await {
            tracing::warn!("cannot take invalid keys out of rotation: {e}");
        }
        results
    }

    fn db(&self) -> Result<&Db, String> {
        self.db
            .as_deref()
            .ok_or_else(|| NO_SAVED_CONVERSATIONS.to_string())
    }

    fn file(&self) -> Result<&PathBuf, String> {
        match &self.keys_file {
            KeysFile::Path(p) => Ok(p),
            KeysFile::Demo => Err(
                "demo mode: these keys belong to the simulated fleet and are not yours to edit; \
                 run rota without --demo to manage your keys"
                    .into(),
            ),
        }
    }
}

fn cli_message(e: super::CliError) -> String {
    match e.hint {
        Some(h) => format!("{} ({h})", e.message),
        None => e.message,
    }
}

impl ChatBackend for RouterBackend {
    fn ask(&self, req: ChatRequest) -> Receiver<Event> {
        let prompt = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == crate::message::Role::User)
            .map(content_text)
            .unwrap_or_default();
        let continues = req.continues;
        let _enter = self.inner.rt.enter();
        let rx = self.inner.router().ask(req);
        if self.inner.db.is_none() {
            return rx;
        }
        let (tx, out) = channel(256);
        let slot = Arc::clone(&lock(&self.inner.session));
        self.inner
            .rt
            .spawn(Arc::clone(&self.inner).forward(slot, prompt, continues, rx, tx));
        out
    }

    fn transcribe(&self, path: PathBuf) -> Receiver<Event> {
        let _enter = self.inner.rt.enter();
        self.inner
            .router()
            .start_transcribe(crate::router::transcribe::TranscribeJob {
                file: path,
                language: None,
                prompt: None,
                response_format: None,
            })
    }

    /// The last status the router published (at most a feed period old); never reads
    /// the store on the caller's task.
    fn status(&self) -> Status {
        match lock(&self.inner.status).borrow().as_deref() {
            Some(s) => s.clone(),
            None => Status {
                at: now_ms(),
                pools: BTreeMap::new(),
                transcription: Vec::new(),
            },
        }
    }

    fn keys(&self) -> Vec<KeyRow> {
        let checks = lock(&self.inner.checks);
        lock(&self.inner.keys)
            .iter()
            .map(|e| KeyRow {
                provider: e.key.provider.clone(),
                masked: e.key.masked.clone(),
                account: e.key.account.clone(),
                check: checks
                    .get(&crate::engine::fleet::key_id(&e.key))
                    .cloned()
                    .unwrap_or(KeyCheck::Unchecked),
            })
            .collect()
    }

    fn add_key(&self, provider: &str, key: ApiKey, account: Option<String>) -> Result<(), String> {
        let path = self.inner.file()?;
        super::keys::add(path, provider, account.as_deref(), key.expose()).map_err(cli_message)?;
        let masked = key.masked();
        let router = self.inner.router();
        let running = router.config().provider(provider);
        if running.is_some_and(|p| p.keys.iter().any(|k| k.key.as_ref() == Some(&key))) {
            // Already in use (from the environment, say): saved for the next start, and
            // nothing changes now.
            return Ok(());
        }
        // A key without an account is its own account, named as the config loader names it.
        let account = account.unwrap_or_else(|| {
            let taken =
                |name: &str| running.is_some_and(|p| p.keys.iter().any(|k| k.account == name));
            let base = format!("key-{masked}");
            let mut name = base.clone();
            let mut n = 2;
            while taken(&name) {
                name = format!("{base}-{n}");
                n += 1;
            }
            name
        });
        let kc = crate::config::KeyConfig {
            key: Some(key.clone()),
            account: account.clone(),
        };
        let endpoint = running.map(|p| Endpoint::new(p, &kc));
        // The next request can use it: no restart.
        self.inner.reconfigure(|c| {
            if let Some(p) = c.providers.iter_mut().find(|p| p.name == provider) {
                p.keys.push(kc);
            }
        });
        lock(&self.inner.keys).push(KeyEntry {
            key: KeyRef {
                provider: provider.to_string(),
                account,
                masked,
                fingerprint: key.fingerprint(),
            },
            endpoint,
        });
        Ok(())
    }

    fn remove_key(&self, provider: &str, suffix: &str) -> Result<(), String> {
        let path = self.inner.file()?;
        let masked = super::keys::remove(path, provider, suffix).map_err(cli_message)?;
        lock(&self.inner.keys).retain(|e| !(e.key.provider == provider && e.key.masked == masked));
        self.inner.reconfigure(|c| {
            if let Some(p) = c.providers.iter_mut().find(|p| p.name == provider) {
                p.keys.retain(|k| k.masked() != masked);
            }
        });
        Ok(())
    }

    fn reset(&self) {
        let router = self.inner.router();
        self.inner.rt.spawn(async move {
            match router.reset(crate::engine::ResetScope::default()).await {
                Ok(cleared) => tracing::info!(?cleared, "reset from the dashboard"),
                Err(e) => tracing::warn!("could not reset from the dashboard: {e}"),
            }
        });
    }

    fn check_keys(&self) {
        let me = Arc::clone(&self.inner);
        self.inner.rt.spawn(async move {
            Inner::check(me).await;
        });
    }

    fn sessions(&self) -> Result<Vec<SessionRow>, String> {
        conversations::list_sessions(self.inner.db()?).map_err(|e| e.to_string())
    }

    fn current_session(&self) -> Option<i64> {
        self.session_id()
    }

    fn open_session(&self, id: i64) -> Result<Vec<MessageRow>, String> {
        let rows = conversations::load_session(self.inner.db()?, id).map_err(|e| e.to_string())?;
        *lock(&self.inner.session) = Arc::new(Mutex::new(Some(id)));
        Ok(rows)
    }

    fn new_session(&self) {
        *lock(&self.inner.session) = Slot::default();
    }

    fn export_session(&self, id: i64) -> Result<PathBuf, String> {
        let db = self.inner.db()?;
        let head = conversations::session(db, id).map_err(|e| e.to_string())?;
        let text = conversations::export_markdown(db, id).map_err(|e| e.to_string())?;
        let dir = match lock(&self.inner.export_dir).clone() {
            Some(d) => d,
            None => std::env::current_dir().map_err(|e| {
                format!("cannot tell the current directory to export to: {e}; start rota from one that exists")
            })?,
        };
        crate::tui::sessions::write_export(&dir, id, &head.title, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_message_is_saved_and_demo_keys_are_not_editable() {
        let demo = crate::cli::demo::Demo::start().await.unwrap();
        let (store, db, _) = crate::cli::context::open_store(&demo.config).unwrap();
        let db = db.unwrap();
        let router = Arc::new(Router::new(demo.config.clone(), store));
        let b = RouterBackend::new(
            router,
            Some(Arc::clone(&db)),
            KeysFile::Demo,
            Handle::current(),
        );
        for prompt in ["hello there", "and again"] {
            let req = ChatRequest {
                messages: vec![Message::user(prompt)],
                ..Default::default()
            };
            let mut rx = b.ask(req);
            let mut answer = String::new();
            while let Some(ev) = rx.recv().await {
                if let Event::Delta { text } = ev {
                    answer.push_str(&text);
                }
            }
            assert!(!answer.is_empty());
        }
        let id = b.session_id().unwrap();
        let msgs = conversations::load_session(&db, id).unwrap();
        let roles: Vec<Role> = msgs.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::User, Role::Assistant, Role::User, Role::Assistant]
        );
        assert_eq!(msgs[0].content, "hello there");
        assert!(msgs[1].model.is_some() && msgs[1].usage.is_some());
        assert_eq!(
            conversations::list_sessions(&db).unwrap()[0].title,
            "hello there"
        );

        let err = b
            .add_key("groq", ApiKey::new("gsk_test_0001"), None)
            .unwrap_err();
        assert!(err.contains("demo"), "{err}");
        assert!(b.remove_key("groq", "0001").is_err());
        let checked = b.check_now().await;
        assert!(!checked.is_empty());
        assert!(checked.iter().all(|(_, c)| *c == KeyCheck::Valid));
        assert!(b.keys().iter().all(|k| k.check == KeyCheck::Valid));
        assert!(b.status().pools.values().any(|p| !p.is_empty()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_that_cannot_be_saved_is_reported_after_the_answer() {
        let demo = crate::cli::demo::Demo::start().await.unwrap();
        let (store, db, _) = crate::cli::context::open_store(&demo.config).unwrap();
        let db = db.unwrap();
        // Every message insert fails, as on a full disk.
        db.write(|tx| {
            tx.execute_batch(
                "CREATE TRIGGER full BEFORE INSERT ON messages
                 BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;",
            )
        })
        .unwrap();
        let router = Arc::new(Router::new(demo.config.clone(), store));
        let b = RouterBackend::new(router, Some(db), KeysFile::Demo, Handle::current());
        let mut rx = b.ask(ChatRequest {
            messages: vec![Message::user("hello there")],
            ..Default::default()
        });
        let mut events = Vec::new();
        while let Some(ev) = rx.recv().await {
            events.push(ev);
        }
        let done = events
            .iter()
            .position(|e| matches!(e, Event::Done { .. }))
            .expect("the answer completes");
        let Some(Event::Error { kind, message, .. }) = events.last() else {
            panic!("no notice that nothing was saved: {events:?}");
        };
        assert_eq!(kind, NOT_SAVED);
        assert_eq!(done, events.len() - 2, "right after the answer");
        assert!(message.contains("disk is full"), "{message}");
        assert!(message.contains("copy anything"), "{message}");
        let notices = events
            .iter()
            .filter(|e| matches!(e, Event::Error { .. }))
            .count();
        assert_eq!(notices, 1, "once per exchange, though both saves failed");

        // The TUI shows it as an error line below the answer, which stays.
        let mut app = crate::tui::app::App::new(
            crate::tui::theme::Theme::no_color(),
            crate::model::Task::Auto,
        );
        app.chat.push(crate::tui::chat::Message::new(
            crate::tui::chat::Role::User,
            "hello there",
        ));
        app.streaming = true;
        for ev in events {
            app.handle_event(ev);
        }
        app.stream_ended();
        let shown: Vec<_> = app
            .chat
            .messages
            .iter()
            .map(|m| (m.role, m.text.clone()))
            .collect();
        let n = shown.len();
        assert!(n >= 3, "{shown:?}");
        assert_eq!(
            shown[n - 2].0,
            crate::tui::chat::Role::Assistant,
            "{shown:?}"
        );
        assert!(!shown[n - 2].1.is_empty(), "the answer stays: {shown:?}");
        assert_eq!(shown[n - 1].0, crate::tui::chat::Role::Error, "{shown:?}");
        assert!(shown[n - 1].1.starts_with("not_saved: "), "{shown:?}");
    }

    #[test]
    fn content_text_reads_strings_and_parts() {
        assert_eq!(content_text(&Message::user("hi")), "hi");
        let p = Message::from(serde_json::json!({"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:…"}}
        ]}));
        assert_eq!(content_text(&p), "what is this\n[image_url]");
    }

    #[test]
    fn titles_are_the_first_line_cut_short() {
        assert_eq!(title_of("\n  hello there\nmore"), "hello there");
        assert_eq!(title_of(""), "conversation");
        let long = "x".repeat(80);
        assert_eq!(title_of(&long).chars().count(), 61);
    }
}
