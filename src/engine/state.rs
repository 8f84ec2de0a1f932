//! What the engine remembers between decisions: usage, reservations, cooldowns, learned
//! limits and disabled keys. Serializable so a store can keep it between processes.

use super::KeyRef;
use super::slots::SlotTable;
use super::status::TranscriptionStats;
use super::window::Windows;
use crate::model::{Limits, Millis, Window};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One account on one model: its windows, cooldown and what was learned about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Sliding windows.
    pub windows: Windows,
    /// Limits learned from error bodies and headers.
    pub learned: Limits,
    /// No request before this instant (after a 429).
    pub cool_until: Millis,
    /// How many 429s in a row (0 after a success).
    pub backoff: u32,
}

impl Slot {
    /// The limit in force for a window: configured, or learned when lower (or when none is
    /// configured). The flag says the learned one is in force.
    pub fn effective(&self, configured: Option<u64>, w: Window) -> (Option<u64>, bool) {
        match (configured, self.learned.get(w)) {
            (Some(c), Some(l)) if l < c => (Some(l), true),
            (Some(c), _) => (Some(c), false),
            (None, Some(l)) => (Some(l), true),
            (None, None) => (None, false),
        }
    }
}

/// A granted reservation not yet completed, failed or released.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The slot it counts in.
    pub slot: String,
    /// When it was granted.
    pub at: Millis,
    /// Tokens reserved.
    pub tokens: u64,
    /// Audio seconds reserved.
    pub audio_secs: u64,
}

/// A key or model taken out of rotation: by what, why, and when.
///
/// Serialized as `{key, cause, message, at}`. A record written before causes were typed
/// (`{key, reason: "quota_exhausted: …", at}`) still loads: its cause is read once from the
/// reason's prefix (see [`DisableCause::from_legacy`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "DisabledRecord")]
pub struct Disabled {
    /// The key, for keys.
    pub key: Option<KeyRef>,
    /// What took it out of rotation; decides what puts it back.
    pub cause: DisableCause,
    /// The provider's or rota's message, for the user.
    pub message: String,
    /// When.
    pub at: Millis,
}

/// For the user: `cause: message` (`quota_exhausted: You exceeded your current quota…`).
impl fmt::Display for Disabled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.cause, self.message)
    }
}

/// What took a key or a model out of rotation. What may put it back follows from it (a
/// passing key check, a `GET /models` that lists the model: see `providers::check`);
/// `rota reset` lifts any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisableCause {
    /// A request's 401, or a 403 that denies the key (reason `auth`).
    Auth,
    /// A request found the key spent (reason `quota_exhausted`).
    QuotaExhausted,
    /// A key check (`GET /models`, by `rota keys check` or the keys view) was refused.
    KeyCheck,
    /// A request found the model retired, or gone for the account (reason `decommissioned`,
    /// which `model_not_found` also reads as).
    Decommissioned,
    /// A request's 403 denied the account this model (reason `model_denied`).
    ModelDenied,
    /// The account's `GET /models` does not list the model.
    Unlisted,
}

impl DisableCause {
    /// The snake_case name, as serialized and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DisableCause::Auth => "auth",
            DisableCause::QuotaExhausted => "quota_exhausted",
            DisableCause::KeyCheck => "key_check",
            DisableCause::Decommissioned => "decommissioned",
            DisableCause::ModelDenied => "model_denied",
            DisableCause::Unlisted => "unlisted",
        }
    }

    /// Reads the cause of a record written before causes were typed, from the prefix of its
    /// `reason` (`auth: key check: …`, `auth: …`, `quota_exhausted: …`, `decommissioned: …`,
    /// `model_denied: …`), and returns it with the rest of the reason as the message. A
    /// reason without a known prefix was a key refused ([`DisableCause::Auth`]: a passing
    /// check or `rota reset` lifts it) when the record names a key, else a model its account
    /// did not list ([`DisableCause::Unlisted`]: a listing that names it lifts it).
    pub fn from_legacy(reason: &str, for_key: bool) -> (Self, String) {
        const PREFIXES: [(&str, DisableCause); 5] = [
            ("auth: key check: ", DisableCause::KeyCheck),
            ("auth: ", DisableCause::Auth),
            ("quota_exhausted: ", DisableCause::QuotaExhausted),
            ("decommissioned: ", DisableCause::Decommissioned),
            ("model_denied: ", DisableCause::ModelDenied),
        ];
        for (prefix, cause) in PREFIXES {
            if let Some(rest) = reason.strip_prefix(prefix) {
                return (cause, rest.to_string());
            }
        }
        let cause = if for_key {
            DisableCause::Auth
        } else {
            DisableCause::Unlisted
        };
        (cause, reason.to_string())
    }
}

impl fmt::Display for DisableCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// [`Disabled`] as stored: the typed form, or the older `reason` string.
#[derive(Deserialize)]
struct DisabledRecord {
    key: Option<KeyRef>,
    #[serde(default)]
    cause: Option<DisableCause>,
    #[serde(default)]
    message: Option<String>,
    /// Written before causes were typed: `cause: message` in one string.
    #[serde(default)]
    reason: Option<String>,
    at: Millis,
}

impl From<DisabledRecord> for Disabled {
    fn from(r: DisabledRecord) -> Self {
        let (cause, message) = match (r.cause, r.reason) {
            (Some(cause), _) => (cause, r.message.unwrap_or_default()),
            (None, reason) => {
                DisableCause::from_legacy(reason.as_deref().unwrap_or(""), r.key.is_some())
            }
        };
        Self {
            key: r.key,
            cause,
            message,
            at: r.at,
        }
    }
}

/// A short provider-wide backoff after overload, 5xx, timeouts or broken connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// No request before this instant.
    pub until: Millis,
    /// Failures in a row.
    pub level: u32,
}

/// Everything the engine knows that changes: the input and output of every decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    /// Per `account@provider/model`.
    pub slots: SlotTable,
    /// Reservations granted and not yet settled, by grant id.
    pub inflight: BTreeMap<u64, Reservation>,
    /// Keys out of rotation, by [`super::fleet::key_id`].
    pub disabled_keys: BTreeMap<String, Disabled>,
    /// Models out of rotation, by `provider/model`.
    pub disabled_models: BTreeMap<String, Disabled>,
    /// Models one account cannot see, by slot (`account@provider/model`): its `GET /models`
    /// did not list them, or a request answered `model_not_found`. Lifted when a later
    /// check lists the model again.
    #[serde(default)]
    pub unavailable: BTreeMap<String, Disabled>,
    /// Provider-wide short backoffs, by provider.
    pub provider_backoff: BTreeMap<String, Backoff>,
    /// The last error per `provider/model`, for the dashboard.
    pub last_error: BTreeMap<String, String>,
    /// Round-robin position among the transcription providers after the first.
    pub transcription_rr: usize,
    /// Transcription counters per provider.
    pub transcription_stats: BTreeMap<String, TranscriptionStats>,
    /// The next grant's id.
    pub next_grant_id: u64,
}

impl EngineState {
    /// Forgets usage that no longer counts anywhere at `now`, and reservations older than a
    /// day (a process died holding them). Keeps learned limits, disabled keys and models.
    pub fn prune(&mut self, now: Millis) {
        for s in self.slots.values_mut() {
            s.windows.prune(now);
        }
        self.slots.retain(|_, s| {
            !(s.windows.is_empty() && s.learned == Limits::default() && s.cool_until <= now)
                || s.backoff > 0
        });
        let day = Window::Rpd.span_ms();
        self.inflight.retain(|_, r| r.at + day > now);
        self.provider_backoff
            .retain(|_, b| b.until > now || b.level > 0);
    }
}

/// A deterministic jitter in `0..=max` derived from two numbers of the state (no RNG read).
pub fn jitter(seed: u64, salt: u64, max: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    // splitmix64
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    z % (max + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_limit_never_raised_by_learning() {
        let mut s = Slot::default();
        assert_eq!(s.effective(Some(100), Window::Tpm), (Some(100), false));
        s.learned.set(Window::Tpm, Some(80));
        assert_eq!(s.effective(Some(100), Window::Tpm), (Some(80), true));
        s.learned.set(Window::Tpm, Some(200));
        assert_eq!(s.effective(Some(100), Window::Tpm), (Some(100), false));
        assert_eq!(s.effective(None, Window::Tpm), (Some(200), true));
        assert_eq!(s.effective(None, Window::Rpm), (None, false));
    }

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        assert_eq!(jitter(7, 1, 100), jitter(7, 1, 100));
        assert!((0..1000).all(|i| jitter(i, 3, 50) <= 50));
        assert_eq!(jitter(1, 2, 0), 0);
    }

    #[test]
    fn state_roundtrips_through_json() {
        let mut st = EngineState::default();
        let mut slot = Slot::default();
        slot.windows.add(1_000, [1, 50, 0]);
        slot.learned.set(Window::Tpd, Some(100_000));
        st.slots.insert("a@groq/m".into(), slot);
        st.next_grant_id = 9;
        let json = serde_json::to_string(&st).unwrap();
        let back: EngineState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, st);
    }

    #[test]
    fn state_written_before_unavailable_existed_still_loads() {
        let mut st = EngineState::default();
        st.unavailable.insert(
            "a@groq/m".into(),
            Disabled {
                key: None,
                cause: DisableCause::Unlisted,
                message: "not listed".into(),
                at: 1,
            },
        );
        let mut json: serde_json::Value = serde_json::to_value(&st).unwrap();
        json.as_object_mut().unwrap().remove("unavailable");
        let back: EngineState = serde_json::from_value(json).unwrap();
        assert!(back.unavailable.is_empty());
        assert_eq!(back.next_grant_id, st.next_grant_id);
    }

    #[test]
    fn state_written_before_disable_causes_were_typed_still_loads() {
        // As an older rota wrote it: every disable a `reason` string.
        let key = |masked: &str| serde_json::json!({"provider": "groq", "account": "a", "masked": masked});
        let old = serde_json::json!({
            "slots": {},
            "inflight": {},
            "disabled_keys": {
                "groq|a|…0001": {"key": key("…0001"), "reason": "auth: key check: HTTP 401: bad", "at": 1},
                "groq|a|…0002": {"key": key("…0002"), "reason": "quota_exhausted: You exceeded your current quota", "at": 2},
                "groq|a|…0003": {"key": key("…0003"), "reason": "auth: invalid api key", "at": 3},
                "groq|a|…0004": {"key": key("…0004"), "reason": "something else", "at": 4}
            },
            "disabled_models": {
                "groq/old": {"key": null, "reason": "decommissioned: retired", "at": 5}
            },
            "unavailable": {
                "a@groq/m1": {"key": null, "reason": "not in the account's GET /models", "at": 6},
                "a@groq/m2": {"key": null, "reason": "model_denied: not allowed", "at": 7}
            },
            "provider_backoff": {},
            "last_error": {},
            "transcription_rr": 0,
            "transcription_stats": {},
            "next_grant_id": 8
        });
        let st: EngineState = serde_json::from_value(old).unwrap();
        fn cause(d: &Disabled) -> (DisableCause, &str, Millis) {
            (d.cause, d.message.as_str(), d.at)
        }
        let keys: Vec<_> = st.disabled_keys.values().map(cause).collect();
        assert_eq!(
            keys,
            [
                (DisableCause::KeyCheck, "HTTP 401: bad", 1),
                (
                    DisableCause::QuotaExhausted,
                    "You exceeded your current quota",
                    2
                ),
                (DisableCause::Auth, "invalid api key", 3),
                (DisableCause::Auth, "something else", 4),
            ]
        );
        assert_eq!(
            cause(&st.disabled_models["groq/old"]),
            (DisableCause::Decommissioned, "retired", 5)
        );
        assert_eq!(
            cause(&st.unavailable["a@groq/m1"]),
            (
                DisableCause::Unlisted,
                "not in the account's GET /models",
                6
            )
        );
        assert_eq!(
            st.unavailable["a@groq/m2"].to_string(),
            "model_denied: not allowed"
        );
        assert_eq!(st.next_grant_id, 8);
        // Written again, it is in the typed form, and reads back the same.
        let json = serde_json::to_value(&st).unwrap();
        let d = &json["disabled_keys"]["groq|a|…0002"];
        assert_eq!(d["cause"], "quota_exhausted");
        assert!(d.get("reason").is_none());
        assert_eq!(serde_json::from_value::<EngineState>(json).unwrap(), st);
    }
}
