//! A process's copy of a shared engine state, kept in step record by record.
//!
//! A shared store (SQLite, Redis) keeps the state as one record per slot (its windows,
//! learned limits, cooldown, backoff and the reservations counted in it) plus one small
//! record of what is not per slot ([`Globals`]: disabled keys and models, unavailable
//! models, provider backoffs, last errors, the transcription round-robin). Every commit
//! bumps a sequence number and stamps the records it wrote with it.
//!
//! The mirror holds the whole state decoded, and the sequence number it has seen. Before a
//! decision the store hands it only the records stamped after that number; after the
//! decision the mirror says which records the decision changed ([`Mirror::take_commit`]), and
//! only those are encoded and written. A decision's cost therefore follows what it and the
//! other processes changed since, not the size of the fleet or of the day's traffic.

use crate::engine::EngineState;
use crate::engine::state::{Backoff, Disabled, Reservation, Slot};
use crate::engine::status::TranscriptionStats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The name under which the [`Globals`] record travels among slot records.
pub const GLOBALS: &str = "#globals";

/// One slot's record: the slot and the reservations counted in it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlotRecord {
    /// The slot.
    pub slot: Slot,
    /// Reservations granted in this slot and not yet settled, by grant id.
    #[serde(default)]
    pub inflight: BTreeMap<u64, Reservation>,
}

/// What the engine state holds that is not per slot. Small: a few entries per key, model
/// and provider that is out of rotation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Globals {
    /// See [`EngineState::disabled_keys`].
    #[serde(default)]
    pub disabled_keys: BTreeMap<String, Disabled>,
    /// See [`EngineState::disabled_models`].
    #[serde(default)]
    pub disabled_models: BTreeMap<String, Disabled>,
    /// See [`EngineState::unavailable`].
    #[serde(default)]
    pub unavailable: BTreeMap<String, Disabled>,
    /// See [`EngineState::provider_backoff`].
    #[serde(default)]
    pub provider_backoff: BTreeMap<String, Backoff>,
    /// See [`EngineState::last_error`].
    #[serde(default)]
    pub last_error: BTreeMap<String, String>,
    /// See [`EngineState::transcription_rr`].
    #[serde(default)]
    pub transcription_rr: usize,
    /// See [`EngineState::transcription_stats`].
    #[serde(default)]
    pub transcription_stats: BTreeMap<String, TranscriptionStats>,
}

impl Globals {
    /// A copy of the state's globals.
    pub fn of(st: &EngineState) -> Self {
        Self {
            disabled_keys: st.disabled_keys.clone(),
            disabled_models: st.disabled_models.clone(),
            unavailable: st.unavailable.clone(),
            provider_backoff: st.provider_backoff.clone(),
            last_error: st.last_error.clone(),
            transcription_rr: st.transcription_rr,
            transcription_stats: st.transcription_stats.clone(),
        }
    }

    /// Whether the state's globals are these (compared in place, nothing copied).
    fn matches(&self, st: &EngineState) -> bool {
        self.disabled_keys == st.disabled_keys
            && self.disabled_models == st.disabled_models
            && self.unavailable == st.unavailable
            && self.provider_backoff == st.provider_backoff
            && self.last_error == st.last_error
            && self.transcription_rr == st.transcription_rr
            && self.transcription_stats == st.transcription_stats
    }

    /// Puts these globals into the state.
    fn put(self, st: &mut EngineState) {
        st.disabled_keys = self.disabled_keys;
        st.disabled_models = self.disabled_models;
        st.unavailable = self.unavailable;
        st.provider_backoff = self.provider_backoff;
        st.last_error = self.last_error;
        st.transcription_rr = self.transcription_rr;
        st.transcription_stats = self.transcription_stats;
    }
}

/// What a decision changed, encoded for the store: each record's name and its new bytes
/// (`None`: removed). The globals record, when changed, is named [`GLOBALS`].
#[derive(Debug, Default)]
pub struct Commit {
    /// The records to write.
    pub records: Vec<(String, Option<Vec<u8>>)>,
}

impl Commit {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// The state as this process last saw it in the shared store.
#[derive(Clone, Debug, Default)]
pub struct Mirror {
    /// The state, whole.
    pub state: EngineState,
    /// The store's sequence number this copy reflects.
    pub seq: i64,
    /// The globals as last read or written.
    saved_globals: Globals,
    /// The reservations as last read or written.
    saved_inflight: BTreeMap<u64, Reservation>,
    /// Each record's bytes as last read or written, to undo a decision that could not be
    /// committed without reading the store again.
    saved_bytes: rustc_hash::FxHashMap<String, Vec<u8>>,
}

impl Mirror {
    /// An empty mirror that has seen nothing (`seq` below any the store gives).
    pub fn empty() -> Self {
        Self {
            seq: -1,
            ..Self::default()
        }
    }

    /// A mirror of `state`, whose every record still has to be written (a state moved from
    /// elsewhere: the old single blob, or a store that lost its data).
    pub fn of_unsaved(state: EngineState) -> Self {
        let mut m = Self::empty();
        m.state = state;
        m.mark_all_unsaved();
        m
    }

    /// Takes in another process's version of one record (`None`: removed). A record that
    /// cannot be read is left out with a warning: a slot starts empty, globals keep theirs.
    pub fn apply(&mut self, name: &str, bytes: Option<&[u8]>) {
        if name == GLOBALS {
            match bytes.map(serde_json::from_slice::<Globals>) {
                Some(Ok(g)) => {
                    self.saved_globals = g.clone();
                    g.put(&mut self.state);
                    self.saved_bytes.insert(name.to_string(), bytes.unwrap_or_default().to_vec());
                }
                Some(Err(e)) => tracing::warn!("unreadable shared globals record skipped: {e}"),
                None => {
                    self.saved_globals = Globals::default();
                    Globals::default().put(&mut self.state);
                    self.saved_bytes.remove(name);
                }
            }
            return;
        }
        self.state.inflight.retain(|_, r| r.slot != name);
        self.saved_inflight.retain(|_, r| r.slot != name);
        let record = match bytes.map(serde_json::from_slice::<SlotRecord>) {
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => {
                tracing::warn!("unreadable shared slot record {name} skipped: {e}");
                None
            }
            None => None,
        };
        match record {
            Some(r) => {
                for (id, res) in r.inflight {
                    self.saved_inflight.insert(id, res.clone());
                    self.state.inflight.insert(id, res);
                }
                self.state.slots.insert(name.to_string(), r.slot);
                self.saved_bytes
                    .insert(name.to_string(), bytes.unwrap_or_default().to_vec());
            }
            None => {
                self.state.slots.remove(name);
                self.saved_bytes.remove(name);
            }
        }
    }

    /// Call after applying other processes' records and before a decision: what was
    /// applied is not this process's change.
    pub fn settle_applied(&mut self) {
        self.state.slots.clear_changes();
    }

    /// Marks every record as still to be written.
    pub fn mark_all_unsaved(&mut self) {
        self.saved_globals = Globals::default();
        // An impossible value: the globals differ from it.
        self.saved_globals.transcription_rr = usize::MAX;
        self.saved_inflight.clear();
        self.saved_bytes.clear();
        let names: Vec<String> = self.state.slots.iter().map(|(n, _)| n.to_string()).collect();
        for n in names {
            let _ = self.state.slots.get_mut(&n);
        }
    }

    /// What the decision just run on [`Mirror::state`] changed, encoded. Then either
    /// [`Mirror::committed`] (the store wrote it) or [`Mirror::undo`] (it did not).
    pub fn prepare_commit(&mut self) -> Result<Commit, serde_json::Error> {
        let changes = self.state.slots.take_changes();
        let mut names: Vec<String> = changes.changed;
        // A reservation added, settled or dropped changes its slot's record.
        diff_inflight(&self.saved_inflight, &self.state.inflight, &mut names);
        names.extend(changes.removed);
        names.sort_unstable();
        names.dedup();
        let mut commit = Commit::default();
        for name in names {
            let Some(slot) = self.state.slots.get(&name) else {
                if self.saved_bytes.contains_key(&name) {
                    commit.records.push((name, None));
                }
                continue;
            };
            let record = SlotRecordRef {
                slot,
                inflight: self
                    .state
                    .inflight
                    .iter()
                    .filter(|(_, r)| r.slot == name)
                    .collect(),
            };
            let bytes = serde_json::to_vec(&record)?;
            if self.saved_bytes.get(&name) != Some(&bytes) {
                commit.records.push((name, Some(bytes)));
            }
        }
        if !self.saved_globals.matches(&self.state) {
            let bytes = serde_json::to_vec(&Globals::of(&self.state))?;
            commit.records.push((GLOBALS.to_string(), Some(bytes)));
        }
        Ok(commit)
    }

    /// The store wrote `commit` as sequence number `seq`, with nothing from other
    /// processes in between: the mirror counts it as saved.
    pub fn committed(&mut self, commit: Commit, seq: i64) {
        let mut globals = false;
        for (name, bytes) in commit.records {
            globals |= name == GLOBALS;
            match bytes {
                Some(b) => {
                    self.saved_bytes.insert(name, b);
                }
                None => {
                    self.saved_bytes.remove(&name);
                }
            }
        }
        if globals {
            self.saved_globals = Globals::of(&self.state);
        }
        if self.state.inflight != self.saved_inflight {
            self.saved_inflight = self.state.inflight.clone();
        }
        self.seq = seq;
    }

    /// The store refused `commit` (another process committed first): puts back every
    /// record it changed as last saved, so the decision can be made again on fresh data.
    pub fn undo(&mut self, commit: &Commit) {
        for (name, _) in &commit.records {
            let old = self.saved_bytes.get(name).cloned();
            self.apply(name, old.as_deref());
        }
        self.settle_applied();
    }
}

/// A slot record borrowed from the state, for encoding without copying.
#[derive(Serialize)]
struct SlotRecordRef<'a> {
    slot: &'a Slot,
    inflight: BTreeMap<&'a u64, &'a Reservation>,
}

/// Adds to `names` the slot of every reservation added, removed or changed between
/// `before` and `after`.
fn diff_inflight(
    before: &BTreeMap<u64, Reservation>,
    after: &BTreeMap<u64, Reservation>,
    names: &mut Vec<String>,
) {
    for (id, r) in after {
        if before.get(id) != Some(r) {
            names.push(r.slot.clone());
        }
    }
    for (id, r) in before {
        if !after.contains_key(id) {
            names.push(r.slot.clone());
        }
    }
}
