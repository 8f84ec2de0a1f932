//! What the TUI needs from the rest of rota: [`ChatBackend`]. The router implements it;
//! [`FakeBackend`] is a scripted stand-in for tests and for developing the UI.

use crate::engine::{EntryState, KeyStatus, Status, StatusEntry, WindowStatus};
use crate::model::{Millis, ModelRef, Reason, Task, Usage, Window};
use crate::router::ChatRequest;
use crate::router::events::Event;
use crate::secret::ApiKey;
use crate::store::conversations::{self, Role};
use crate::store::db::Db;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc::{Receiver, channel};

pub use crate::providers::check::KeyCheck;
pub use crate::store::conversations::{MessageRow, SessionRow};

/// One key as the keys view shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    /// `groq`, `openai`, `together` or `custom:NAME`.
    pub provider: String,
    /// The masked key (`…a1b2`); never the whole key.
    pub masked: String,
    /// The account whose limits it draws on.
    pub account: String,
    /// The last check's result.
    pub check: KeyCheck,
}

/// The rest of rota as the TUI sees it. Every method returns at once: work that takes
/// time runs in the background and reports through the returned channel or later calls
/// (the saved-conversation methods are quick local reads and one small file write).
pub trait ChatBackend: Send + Sync + 'static {
    /// Starts one chat request; its events (docs/router.md, "Events") arrive on the receiver, ending
    /// with `done` or `error` and then the channel closing. Dropping the receiver cancels
    /// the request (and releases its reservation).
    fn ask(&self, req: ChatRequest) -> Receiver<Event>;
    /// Starts transcribing an audio file; a `transcript` event (or `error`) arrives.
    fn transcribe(&self, path: PathBuf) -> Receiver<Event>;
    /// Every pool now (what `rota status` shows).
    fn status(&self) -> Status;
    /// Every key of every provider, masked, with its last check result.
    fn keys(&self) -> Vec<KeyRow>;
    /// Adds a key to the config file (and to the running pools).
    fn add_key(&self, provider: &str, key: ApiKey, account: Option<String>) -> Result<(), String>;
    /// Removes the key of `provider` ending in `suffix`.
    fn remove_key(&self, provider: &str, suffix: &str) -> Result<(), String>;
    /// Checks every key in the background; results show in later [`ChatBackend::keys`].
    fn check_keys(&self);
    /// Takes every model and key back into rotation in the background (clears cooldowns,
    /// backoffs and disabled keys, like `rota reset`); later statuses show it.
    fn reset(&self);
    /// Saved conversations, most recently updated first. `Err` says why there are none
    /// (the memory backend saves nothing) and what to do about it.
    fn sessions(&self) -> Result<Vec<SessionRow>, String>;
    /// The saved conversation the chat's messages go to; `None` until the first message of
    /// a new one is saved.
    fn current_session(&self) -> Option<i64>;
    /// Loads a saved conversation and makes it the current one: messages sent afterwards
    /// are saved at its end.
    fn open_session(&self, id: i64) -> Result<Vec<MessageRow>, String>;
    /// Starts a new conversation: the next message saved creates it.
    fn new_session(&self);
    /// Writes a conversation as a Markdown transcript to a new file (never over an
    /// existing one) and returns its path.
    fn export_session(&self, id: i64) -> Result<PathBuf, String>;
}

/// What the TUI says when there is no database to save conversations in.
pub const NO_SAVED_CONVERSATIONS: &str = "saved conversations need the local backend: this \
    rota runs with [state] backend = \"memory\", which keeps nothing; set backend = \"local\" \
    in the config file (`rota config path` shows it) and start rota again";

/// A scripted backend: every `ask` replays the same events, `status` is fixed (with an
/// entry in every state), keys live in memory, conversations in an in-memory SQLite
/// database (each `ask` saves its prompt and the script's answer at once). Requests and
/// exports are recorded for tests; exports write no file.
pub struct FakeBackend {
    script: Mutex<Vec<Event>>,
    status: Mutex<Status>,
    keys: Mutex<Vec<KeyRow>>,
    asked: Mutex<Vec<ChatRequest>>,
    delay: Option<Duration>,
    db: Option<Db>,
    session: Mutex<Option<i64>>,
    exported: Mutex<Vec<(PathBuf, String)>>,
    resets: Mutex<u32>,
}

impl FakeBackend {
    /// A fake whose answers are [`sample_script`] and whose pools are [`sample_status`].
    pub fn new() -> Self {
        Self {
            script: Mutex::new(sample_script()),
            status: Mutex::new(sample_status(1_790_000_000_000)),
            keys: Mutex::new(sample_keys()),
            asked: Mutex::new(Vec::new()),
            delay: None,
            db: Db::open_in_memory().ok(),
            session: Mutex::new(None),
            exported: Mutex::new(Vec::new()),
            resets: Mutex::new(0),
        }
    }

    /// How many resets were asked for.
    pub fn resets(&self) -> u32 {
        self.resets.lock().map(|r| *r).unwrap_or(0)
    }

    /// Like the memory backend: no saved conversations (`sessions` says why).
    pub fn without_saved_conversations(mut self) -> Self {
        self.db = None;
        self
    }

    /// The in-memory database of saved conversations (to seed or inspect in tests).
    pub fn db(&self) -> Option<&Db> {
        self.db.as_ref()
    }

    /// The exports so far: (path it would have written, Markdown).
    pub fn exported(&self) -> Vec<(PathBuf, String)> {
        self.exported.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn store(&self) -> Result<&Db, String> {
        self.db
            .as_ref()
            .ok_or_else(|| NO_SAVED_CONVERSATIONS.to_string())
    }

    /// Saves one message of the current conversation, creating it (titled by `text`) first.
    fn save(
        &self,
        role: Role,
        text: &str,
        model: Option<&ModelRef>,
        usage: Option<Usage>,
    ) -> Result<(), String> {
        let db = self.store()?;
        let mut cur = self.session.lock().map_err(|e| e.to_string())?;
        let id = match *cur {
            Some(id) => id,
            None => {
                let title: String = text.lines().next().unwrap_or("").chars().take(60).collect();
                let id = conversations::create_session(db, &title).map_err(|e| e.to_string())?;
                *cur = Some(id);
                id
            }
        };
        conversations::append_message(db, id, role, text, model, usage)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Sends the events one by one with `delay` between them (needs a tokio runtime);
    /// without it every event is queued at once.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Replaces the events every `ask` replays.
    pub fn set_script(&self, events: Vec<Event>) {
        if let Ok(mut s) = self.script.lock() {
            *s = events;
        }
    }

    /// Replaces the status.
    pub fn set_status(&self, status: Status) {
        if let Ok(mut s) = self.status.lock() {
            *s = status;
        }
    }

    /// The requests asked so far.
    pub fn asked(&self) -> Vec<ChatRequest> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
    }

    fn replay(&self, events: Vec<Event>) -> Receiver<Event> {
        let (tx, rx) = channel(events.len().max(1));
        match (self.delay, tokio::runtime::Handle::try_current()) {
            (Some(d), Ok(h)) => {
                h.spawn(async move {
                    for e in events {
                        tokio::time::sleep(d).await;
                        if tx.send(e).await.is_err() {
                            return; // cancelled
                        }
                    }
                });
            }
            _ => {
                for e in events {
                    let _ = tx.try_send(e);
                }
            }
        }
        rx
    }
}

impl Default for FakeBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatBackend for FakeBackend {
    fn ask(&self, req: ChatRequest) -> Receiver<Event> {
        let prompt = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == crate::message::Role::User)
            .and_then(|m| match &m.content {
                Some(crate::message::Content::Text(s)) => Some(s.clone()),
                _ => None,
            });
        if let Ok(mut a) = self.asked.lock() {
            a.push(req);
        }
        let script = self.script.lock().map(|s| s.clone()).unwrap_or_default();
        if self.db.is_some()
            && let Some(prompt) = prompt
        {
            let _ = self.save(Role::User, &prompt, None, None);
            let answer: String = script
                .iter()
                .filter_map(|e| match e {
                    Event::Delta { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            let done = script.iter().find_map(|e| match e {
                Event::Done {
                    provider,
                    model,
                    usage,
                    ..
                } => Some((ModelRef::new(provider.clone(), model.clone()), *usage)),
                _ => None,
            });
            if let Some((model, usage)) = done {
                let _ = self.save(Role::Assistant, &answer, Some(&model), Some(usage));
            }
        }
        self.replay(script)
    }

    fn transcribe(&self, path: PathBuf) -> Receiver<Event> {
        let name = path.display().to_string();
        self.replay(vec![Event::Transcript {
            provider: "groq".into(),
            model: "whisper-large-v3-turbo".into(),
            text: format!("transcript of {name}"),
            bytes: 1024,
            latency_ms: 420,
        }])
    }

    fn status(&self) -> Status {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|_| sample_status(0))
    }

    fn keys(&self) -> Vec<KeyRow> {
        self.keys.lock().map(|k| k.clone()).unwrap_or_default()
    }

    fn add_key(&self, provider: &str, key: ApiKey, account: Option<String>) -> Result<(), String> {
        if !matches!(provider, "groq" | "openai" | "together") && !provider.starts_with("custom:") {
            return Err(format!(
                "unknown provider `{provider}`: use groq, openai, together or custom:NAME"
            ));
        }
        if key.expose().is_empty() {
            return Err("the key is empty: paste the whole key".into());
        }
        let masked = key.masked();
        let row = KeyRow {
            provider: provider.to_string(),
            account: account.unwrap_or_else(|| format!("key-{masked}")),
            masked,
            check: KeyCheck::Unchecked,
        };
        self.keys.lock().map_err(|e| e.to_string())?.push(row);
        Ok(())
    }

    fn remove_key(&self, provider: &str, suffix: &str) -> Result<(), String> {
        let mut keys = self.keys.lock().map_err(|e| e.to_string())?;
        let before = keys.len();
        keys.retain(|k| !(k.provider == provider && k.masked.ends_with(suffix)));
        if keys.len() == before {
            return Err(format!("no {provider} key ends in `{suffix}`"));
        }
        Ok(())
    }

    fn reset(&self) {
        if let Ok(mut resets) = self.resets.lock() {
            *resets += 1;
        }
    }

    fn check_keys(&self) {
        if let Ok(mut keys) = self.keys.lock() {
            for k in keys.iter_mut() {
                if k.check == KeyCheck::Unchecked {
                    k.check = KeyCheck::Valid;
                }
            }
        }
    }

    fn sessions(&self) -> Result<Vec<SessionRow>, String> {
        conversations::list_sessions(self.store()?).map_err(|e| e.to_string())
    }

    fn current_session(&self) -> Option<i64> {
        self.session.lock().ok().and_then(|s| *s)
    }

    fn open_session(&self, id: i64) -> Result<Vec<MessageRow>, String> {
        let rows = conversations::load_session(self.store()?, id).map_err(|e| e.to_string())?;
        *self.session.lock().map_err(|e| e.to_string())? = Some(id);
        Ok(rows)
    }

    fn new_session(&self) {
        if let Ok(mut s) = self.session.lock() {
            *s = None;
        }
    }

    fn export_session(&self, id: i64) -> Result<PathBuf, String> {
        let db = self.store()?;
        let head = conversations::session(db, id).map_err(|e| e.to_string())?;
        let text = conversations::export_markdown(db, id).map_err(|e| e.to_string())?;
        let mut exported = self.exported.lock().map_err(|e| e.to_string())?;
        let path = (1..)
            .map(|n| PathBuf::from(super::sessions::export_name(id, &head.title, n)))
            .find(|p| exported.iter().all(|(q, _)| q != p))
            .unwrap_or_default();
        exported.push((path.clone(), text));
        Ok(path)
    }
}

/// The events of one answer with a rotation, a code block and a cost.
pub fn sample_script() -> Vec<Event> {
    let mut ev = vec![
        Event::TaskSelected {
            task: Task::Code,
            auto: true,
        },
        Event::ModelSelected {
            provider: "groq".into(),
            model: "llama-3.3-70b-versatile".into(),
            key: "…a1b2".into(),
            account: "a".into(),
            estimated_tokens: 812,
            attempt: 1,
        },
        Event::ModelRotation {
            from: "groq/llama-3.3-70b-versatile".into(),
            to: Some("together/Qwen/Qwen2.5-Coder-32B-Instruct".into()),
            key: "…a1b2".into(),
            reason: Reason::RateLimited,
            window: Some(Window::Tpm),
            retry_after_ms: Some(7_000),
            limit: Some(12_000),
        },
        Event::ModelSelected {
            provider: "together".into(),
            model: "Qwen/Qwen2.5-Coder-32B-Instruct".into(),
            key: "…c3d4".into(),
            account: "a".into(),
            estimated_tokens: 812,
            attempt: 2,
        },
    ];
    let answer = "Reverse a string in **Rust** by iterating over its `chars`:\n\n```rust\nfn reverse(s: &str) -> String {\n    s.chars().rev().collect()\n}\n```\n\nThis handles *Unicode scalar values*; for grapheme clusters use the `unicode-segmentation` crate.";
    let mut rest = answer;
    while !rest.is_empty() {
        let cut = rest
            .char_indices()
            .nth(17)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        ev.push(Event::Delta {
            text: rest[..cut].to_string(),
        });
        rest = &rest[cut..];
    }
    ev.push(Event::RateLimitRecovered {
        provider: "together".into(),
        model: "Qwen/Qwen2.5-Coder-32B-Instruct".into(),
        attempts: 2,
    });
    ev.push(Event::Done {
        provider: "together".into(),
        model: "Qwen/Qwen2.5-Coder-32B-Instruct".into(),
        usage: Usage {
            prompt_tokens: 812,
            completion_tokens: 64,
        },
        estimated_prompt_tokens: 820,
        cost_usd: 0.000_701,
        latency_ms: 1_930,
        first_token_ms: 310,
        attempts: 2,
        finish_reason: Some("stop".into()),
        max_tokens: 1024,
        sources: Vec::new(),
    });
    ev
}

fn win(used: u64, limit: Option<u64>, learned: bool) -> WindowStatus {
    WindowStatus {
        used,
        limit,
        learned,
    }
}

#[allow(clippy::too_many_arguments)]
fn entry(
    provider: &str,
    model: &str,
    state: EntryState,
    until_ms: Option<u64>,
    windows: &[(Window, WindowStatus)],
    keys: &[(&str, &str, EntryState)],
    last_error: Option<&str>,
) -> StatusEntry {
    StatusEntry {
        provider: provider.into(),
        model: model.into(),
        state,
        until_ms,
        windows: windows.iter().copied().collect::<BTreeMap<_, _>>(),
        keys: keys
            .iter()
            .map(|(k, a, s)| KeyStatus {
                key: (*k).into(),
                account: (*a).into(),
                state: *s,
                until_ms: if *s == EntryState::Cooling {
                    until_ms
                } else {
                    None
                },
            })
            .collect(),
        last_error: last_error.map(str::to_string),
        transcription: None,
    }
}

/// A status with entries in every state: the code pool has one of each.
pub fn sample_status(at: Millis) -> Status {
    use EntryState::*;
    use Window::*;
    let code = vec![
        entry(
            "groq",
            "llama-3.3-70b-versatile",
            Cooling,
            Some(12_000),
            &[
                (Rpm, win(18, Some(30), false)),
                (Tpm, win(11_800, Some(12_000), true)),
                (Rpd, win(410, Some(1_000), false)),
            ],
            &[("…a1b2", "a", Cooling), ("…e5f6", "b", Available)],
            Some("429 rate_limited (tpm): limit 12000, used 11800; retry in 12s"),
        ),
        entry(
            "together",
            "Qwen/Qwen2.5-Coder-32B-Instruct",
            Available,
            None,
            &[
                (Rpm, win(4, Some(600), false)),
                (Tpm, win(2_300, Some(180_000), false)),
            ],
            &[("…c3d4", "a", Available)],
            None,
        ),
        entry(
            "openai",
            "gpt-4.1-mini",
            AtCapacity,
            Some(31_000),
            &[
                (Rpm, win(3, Some(3), false)),
                (Tpm, win(9_000, Some(40_000), false)),
                (Rpd, win(180, Some(200), false)),
            ],
            &[("…9z9z", "org-main", AtCapacity)],
            None,
        ),
        entry(
            "groq",
            "qwen-qwq-32b",
            Failed,
            None,
            &[
                (Rpm, win(0, Some(30), false)),
                (Tpm, win(0, Some(6_000), false)),
            ],
            &[("…dead", "c", Failed)],
            Some("decommissioned: the model was retired; remove it from [pools]"),
        ),
        entry(
            "custom:local",
            "qwen2.5-7b-instruct",
            NoKey,
            None,
            &[],
            &[],
            None,
        ),
        entry(
            "together",
            "deepseek-ai/DeepSeek-V3",
            Disabled,
            None,
            &[],
            &[],
            None,
        ),
    ];
    let fast = vec![
        entry(
            "groq",
            "llama-3.1-8b-instant",
            Available,
            None,
            &[
                (Rpm, win(12, Some(30), false)),
                (Tpm, win(2_100, Some(6_000), false)),
                (Rpd, win(13_900, Some(14_400), false)),
                (Tpd, win(120_000, Some(500_000), true)),
            ],
            &[("…a1b2", "a", Available), ("…e5f6", "b", Available)],
            None,
        ),
        entry(
            "openai",
            "gpt-4.1-nano",
            Available,
            None,
            &[
                (Rpm, win(1, Some(500), false)),
                (Tpm, win(700, Some(200_000), false)),
            ],
            &[("…9z9z", "org-main", Available)],
            None,
        ),
    ];
    let research = vec![entry(
        "openai",
        "gpt-4.1",
        Available,
        None,
        &[
            (Rpm, win(0, Some(500), false)),
            (Tpm, win(0, Some(30_000), false)),
        ],
        &[("…9z9z", "org-main", Available)],
        None,
    )];
    let vision = vec![entry(
        "groq",
        "llama-4-scout-17b-16e-instruct",
        Available,
        None,
        &[
            (Rpm, win(2, Some(30), false)),
            (Tpm, win(1_000, None, false)),
        ],
        &[("…a1b2", "a", Available)],
        None,
    )];
    let mut transcription = vec![entry(
        "groq",
        "whisper-large-v3-turbo",
        Available,
        None,
        &[
            (Ash, win(120, Some(7_200), false)),
            (Asd, win(900, Some(28_800), false)),
        ],
        &[("…a1b2", "a", Available)],
        None,
    )];
    transcription[0].transcription = Some(crate::engine::TranscriptionStats {
        requests: 3,
        bytes: 3_000_000,
        audio_secs: 120,
        failures: 0,
    });
    Status {
        at,
        pools: [
            (Task::Fast, fast),
            (Task::Research, research),
            (Task::Code, code),
            (Task::Vision, vision),
        ]
        .into_iter()
        .collect(),
        transcription,
    }
}

/// Keys for the keys view: checked, invalid, unreachable and unchecked ones.
pub fn sample_keys() -> Vec<KeyRow> {
    vec![
        KeyRow {
            provider: "groq".into(),
            masked: "…a1b2".into(),
            account: "a".into(),
            check: KeyCheck::Valid,
        },
        KeyRow {
            provider: "groq".into(),
            masked: "…e5f6".into(),
            account: "b".into(),
            check: KeyCheck::Unchecked,
        },
        KeyRow {
            provider: "openai".into(),
            masked: "…9z9z".into(),
            account: "org-main".into(),
            check: KeyCheck::Invalid("401 Incorrect API key provided: …9z9z".into()),
        },
        KeyRow {
            provider: "together".into(),
            masked: "…c3d4".into(),
            account: "a".into(),
            check: KeyCheck::Unreachable("connection refused".into()),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_status_has_every_state() {
        let s = sample_status(0);
        let states: Vec<EntryState> = s.pools[&Task::Code].iter().map(|e| e.state).collect();
        for st in [
            EntryState::Available,
            EntryState::AtCapacity,
            EntryState::Cooling,
            EntryState::Failed,
            EntryState::NoKey,
            EntryState::Disabled,
        ] {
            assert!(states.contains(&st), "{st:?}");
        }
    }

    #[test]
    fn fake_records_asks_and_replays_script() {
        let f = FakeBackend::new();
        let mut rx = f.ask(ChatRequest::default());
        let mut n = 0;
        while let Ok(e) = rx.try_recv() {
            n += 1;
            if let Event::Done { .. } = e {
                break;
            }
        }
        assert_eq!(n, sample_script().len());
        assert_eq!(f.asked().len(), 1);
    }

    #[test]
    fn fake_keys_add_remove_check_never_store_whole_key() {
        let f = FakeBackend::new();
        f.add_key("groq", ApiKey::new("gsk_test_0001"), None)
            .unwrap();
        let rows = f.keys();
        let added = rows.last().unwrap();
        assert_eq!(added.masked, "…0001");
        assert!(!format!("{rows:?}").contains("gsk_test"));
        assert!(f.add_key("nope", ApiKey::new("x"), None).is_err());
        f.check_keys();
        assert!(f.keys().iter().all(|k| k.check != KeyCheck::Unchecked));
        f.remove_key("groq", "0001").unwrap();
        assert!(f.remove_key("groq", "0001").is_err());
    }
}
