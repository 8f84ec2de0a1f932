//! What the engine remembers between decisions: usage, reservations, cooldowns, learned
//! limits and disabled keys. Serializable so a store can keep it between processes.

use super::KeyRef;
use super::slots::SlotTable;
use super::status::TranscriptionStats;
use super::window::Windows;
use crate::model::{Limits, Millis, Window};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// A key or model taken out of rotation, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    /// The key, for keys.
    pub key: Option<KeyRef>,
    /// Why, for the user (`quota_exhausted: …`).
    pub reason: String,
    /// When.
    pub at: Millis,
}

/// A short provider-wide backoff after overload, 5xx, timeouts or broken connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// No request before this instant.
    pub until: Millis,
    /// Failures in a row.
    pub level: u32,
}

pub use crate::fxhash::{FxBuild, FxHasher};

/// Everything the engine knows that changes: the input and output of every decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    /// Per `account@provider/model`.
    pub slots: SlotTable,
    /// Reservations granted and not yet settled, by grant id.
    pub inflight: BTreeMap<u64, Reservation>,
    /// Keys out of rotation, by `provider|account|masked`.
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
                reason: "not listed".into(),
                at: 1,
            },
        );
        let mut json: serde_json::Value = serde_json::to_value(&st).unwrap();
        json.as_object_mut().unwrap().remove("unavailable");
        let back: EngineState = serde_json::from_value(json).unwrap();
        assert!(back.unavailable.is_empty());
        assert_eq!(back.next_grant_id, st.next_grant_id);
    }
}
