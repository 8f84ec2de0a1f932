//! A process's copy of a shared engine state, kept in step record by record.
//!
//! A shared store (SQLite, Redis) keeps the state as one record per slot (its windows,
//! learned limits, cooldown, backoff and the reservations counted in it) plus one small
//! record of what is not per slot ([`Globals`]: disabled keys and models, unavailable
//! models, provider backoffs, last errors, the transcription round-robin). A slot's day of
//! minute buckets (up to 1,440, most of a slot's bytes) is kept apart, one chunk per hour:
//! a decision changes the newest chunk and rewrites only that one. Every commit bumps a
//! sequence number and stamps the records it wrote with it.
//!
//! The mirror holds the whole state decoded, and the sequence number it has seen. Before a
//! decision the store hands it only the records stamped after that number; after the
//! decision the mirror says which records the decision changed ([`Mirror::prepare_commit`]), and
//! only those are encoded and written. A decision's cost therefore follows what it and the
//! other processes changed since, not the size of the fleet or of the day's traffic.

use crate::engine::EngineState;
use crate::engine::state::{Backoff, Disabled, Reservation, Slot};
use crate::engine::status::TranscriptionStats;
use crate::engine::window::{Log, Mark};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// The span of one chunk of a slot's day log: an hour.
pub const DAY_CHUNK_MS: u64 = 3_600_000;

/// The name under which the [`Globals`] record travels among slot records.
pub const GLOBALS: &str = "#globals";

/// One slot's record: the slot (without its day log, kept in chunks) and the reservations
/// counted in it.
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

/// What a decision changed, encoded for the store.
#[derive(Debug, Default)]
pub struct Commit {
    /// Slot records and the globals record ([`GLOBALS`]): name and new bytes (`None`:
    /// removed).
    pub records: Vec<(String, Option<Vec<u8>>)>,
    /// Day-log chunks to write.
    pub days: Vec<DayChunk>,
}

/// One hour of a slot's day log, as a commit writes it.
#[derive(Debug)]
pub struct DayChunk {
    /// The slot.
    pub slot: String,
    /// Epoch ms / [`DAY_CHUNK_MS`].
    pub hour: u64,
    /// The marks, encoded (`None`: the hour no longer counts).
    pub bytes: Option<Vec<u8>>,
    /// The hash of the marks, kept as saved once written.
    hash: u64,
}

impl Commit {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.days.is_empty()
    }
}

/// A saved day-log chunk: the hash of its marks and its bytes.
#[derive(Clone, Debug)]
struct SavedChunk {
    hash: u64,
    bytes: Vec<u8>,
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
    /// Each slot or globals record's bytes as last read or written, to undo a decision that
    /// could not be committed without reading the store again.
    saved_bytes: FxHashMap<String, Vec<u8>>,
    /// Each slot's day-log chunks as last read or written, by hour.
    saved_days: FxHashMap<String, BTreeMap<u64, SavedChunk>>,
    /// Every record is to be written with the next commit, changed or not (the store has
    /// lost them, or never had them).
    rewrite_all: bool,
    /// The state before the decision under way, kept while every record is to be written
    /// (saved bytes cannot restore it then): what [`Mirror::undo`] puts back.
    before: Option<EngineState>,
    /// The store's identity as last read (Redis: changes when the server lost its data).
    pub epoch: String,
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

    /// Takes in another process's version of one slot or globals record (`None`:
    /// removed); a slot's day log is left as it is (see [`Mirror::apply_day`]). A record
    /// that cannot be read is left out with a warning: a slot starts empty, globals keep
    /// theirs.
    pub fn apply(&mut self, name: &str, bytes: Option<&[u8]>) {
        if name == GLOBALS {
            match bytes.map(|b| (b, serde_json::from_slice::<Globals>(b))) {
                Some((b, Ok(g))) => {
                    self.saved_globals = g.clone();
                    g.put(&mut self.state);
                    self.saved_bytes.insert(name.to_string(), b.to_vec());
                }
                Some((_, Err(e))) => {
                    tracing::warn!("unreadable shared globals record skipped: {e}")
                }
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
        let record = match bytes.map(|b| (b, serde_json::from_slice::<SlotRecord>(b))) {
            Some((b, Ok(r))) => Some((b, r)),
            Some((_, Err(e))) => {
                tracing::warn!("unreadable shared slot record {name} skipped: {e}");
                None
            }
            None => None,
        };
        match record {
            Some((b, r)) => {
                for (id, res) in r.inflight {
                    self.saved_inflight.insert(id, res.clone());
                    self.state.inflight.insert(id, res);
                }
                let mut slot = r.slot;
                if let Some(old) = self.state.slots.get_mut(name) {
                    slot.windows.day = std::mem::take(&mut old.windows.day);
                }
                self.state.slots.insert(name.to_string(), slot);
                self.saved_bytes.insert(name.to_string(), b.to_vec());
            }
            None => {
                self.state.slots.remove(name);
                self.saved_bytes.remove(name);
                self.saved_days.remove(name);
            }
        }
    }

    /// Takes in another process's version of one hour of a slot's day log (`None`: it no
    /// longer counts). A chunk that cannot be read is left out with a warning.
    pub fn apply_day(&mut self, slot: &str, hour: u64, bytes: Option<&[u8]>) {
        let marks = match bytes.map(serde_json::from_slice::<Vec<Mark>>) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::warn!("unreadable shared day chunk {slot} hour {hour} skipped: {e}");
                return;
            }
            None => Vec::new(),
        };
        let saved = self.saved_days.entry(slot.to_string()).or_default();
        match bytes {
            Some(b) => {
                saved.insert(
                    hour,
                    SavedChunk {
                        hash: hash_marks(&marks),
                        bytes: b.to_vec(),
                    },
                );
            }
            None => {
                saved.remove(&hour);
            }
        }
        if bytes.is_none() && self.state.slots.get(slot).is_none() {
            return;
        }
        let day = &mut self.state.slots.get_or_default(slot).windows.day;
        let at = day.marks.partition_point(|m| m.0 / DAY_CHUNK_MS < hour);
        let end = day.marks.partition_point(|m| m.0 / DAY_CHUNK_MS <= hour);
        day.marks.drain(at..end);
        for (i, m) in marks.into_iter().enumerate() {
            day.marks.insert(at + i, m);
        }
        resum(day);
    }

    /// Replaces a slot's whole day log with `chunks` (hour, bytes): another process's
    /// version of every chunk it has.
    pub fn replace_day(&mut self, slot: &str, chunks: &[(u64, Vec<u8>)]) {
        self.saved_days.remove(slot);
        if let Some(s) = self.state.slots.get_mut(slot) {
            s.windows.day = Log::default();
        }
        for (h, b) in chunks {
            self.apply_day(slot, *h, Some(b));
        }
    }

    /// Call after applying other processes' records and before a decision: what was
    /// applied is not this process's change.
    pub fn settle_applied(&mut self) {
        self.state.slots.clear_changes();
    }

    /// Marks every record as still to be written by the next commit.
    pub fn mark_all_unsaved(&mut self) {
        self.saved_globals = Globals::default();
        self.saved_inflight.clear();
        self.saved_bytes.clear();
        self.saved_days.clear();
        self.rewrite_all = true;
    }

    /// Call just before a decision runs on [`Mirror::state`], so that [`Mirror::undo`] can
    /// put it back.
    pub fn begin(&mut self) {
        if self.rewrite_all {
            self.before = Some(self.state.clone());
        }
    }

    /// What the decision just run on [`Mirror::state`] changed, encoded. Then either
    /// [`Mirror::committed`] (the store wrote it) or [`Mirror::undo`] (it did not).
    pub fn prepare_commit(&mut self) -> Result<Commit, serde_json::Error> {
        let changes = self.state.slots.take_changes();
        let mut names: Vec<String> = changes.changed;
        if self.rewrite_all {
            names.extend(self.state.slots.iter().map(|(n, _)| n.to_string()));
        }
        // A reservation added, settled or dropped changes its slot's record.
        diff_inflight(&self.saved_inflight, &self.state.inflight, &mut names);
        names.extend(changes.removed);
        names.sort_unstable();
        names.dedup();
        let mut commit = Commit::default();
        for name in names {
            if self.state.slots.get(&name).is_none() {
                if self.saved_bytes.contains_key(&name) {
                    commit.records.push((name.clone(), None));
                }
                if let Some(days) = self.saved_days.get(&name) {
                    commit.days.extend(days.keys().map(|h| DayChunk {
                        slot: name.clone(),
                        hour: *h,
                        bytes: None,
                        hash: 0,
                    }));
                }
                continue;
            }
            let bytes = self.encode_head(&name)?;
            if self.saved_bytes.get(&name) != Some(&bytes) {
                commit.records.push((name.clone(), Some(bytes)));
            }
            self.diff_day(&name, &mut commit)?;
        }
        if self.rewrite_all || !self.saved_globals.matches(&self.state) {
            let bytes = serde_json::to_vec(&Globals::of(&self.state))?;
            commit.records.push((GLOBALS.to_string(), Some(bytes)));
        }
        Ok(commit)
    }

    /// The record of slot `name` without its day log.
    fn encode_head(&mut self, name: &str) -> Result<Vec<u8>, serde_json::Error> {
        let Some(slot) = self.state.slots.get_mut_unmarked(name) else {
            return Ok(Vec::new());
        };
        // The day log is taken out for the encoding and put back as it was.
        let day = std::mem::take(&mut slot.windows.day);
        let record = SlotRecordRef {
            slot,
            inflight: self
                .state
                .inflight
                .iter()
                .filter(|(_, r)| r.slot == name)
                .collect(),
        };
        let bytes = serde_json::to_vec(&record);
        slot.windows.day = day;
        bytes
    }

    /// Adds to `commit` the chunks of slot `name`'s day log that differ from the saved ones.
    fn diff_day(&self, name: &str, commit: &mut Commit) -> Result<(), serde_json::Error> {
        let Some(slot) = self.state.slots.get(name) else {
            return Ok(());
        };
        let marks = &slot.windows.day.marks;
        let saved = self.saved_days.get(name);
        let mut seen = Vec::new();
        let mut i = 0;
        while i < marks.len() {
            let hour = marks[i].0 / DAY_CHUNK_MS;
            let mut j = i;
            while j < marks.len() && marks[j].0 / DAY_CHUNK_MS == hour {
                j += 1;
            }
            let chunk: Vec<Mark> = marks.range(i..j).copied().collect();
            let hash = hash_marks(&chunk);
            if saved.and_then(|d| d.get(&hour)).map(|c| c.hash) != Some(hash) {
                commit.days.push(DayChunk {
                    slot: name.to_string(),
                    hour,
                    bytes: Some(serde_json::to_vec(&chunk)?),
                    hash,
                });
            }
            seen.push(hour);
            i = j;
        }
        if let Some(d) = saved {
            for h in d.keys().filter(|h| !seen.contains(h)) {
                commit.days.push(DayChunk {
                    slot: name.to_string(),
                    hour: *h,
                    bytes: None,
                    hash: 0,
                });
            }
        }
        Ok(())
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
        for c in commit.days {
            let days = self.saved_days.entry(c.slot).or_default();
            match c.bytes {
                Some(bytes) => {
                    days.insert(
                        c.hour,
                        SavedChunk {
                            hash: c.hash,
                            bytes,
                        },
                    );
                }
                None => {
                    days.remove(&c.hour);
                }
            }
        }
        self.saved_days.retain(|_, d| !d.is_empty());
        if globals {
            self.saved_globals = Globals::of(&self.state);
        }
        if self.state.inflight != self.saved_inflight {
            self.saved_inflight = self.state.inflight.clone();
        }
        self.rewrite_all = false;
        self.before = None;
        self.seq = seq;
    }

    /// The store refused `commit` (another process committed first): puts back every
    /// record it changed as last saved, so the decision can be made again on fresh data.
    pub fn undo(&mut self, commit: &Commit) {
        if let Some(before) = self.before.take() {
            // Nothing is saved to restore from: put back the state as the decision found it.
            self.state = before;
            self.settle_applied();
            return;
        }
        for (name, _) in &commit.records {
            let old = self.saved_bytes.get(name).cloned();
            self.apply(name, old.as_deref());
        }
        for c in &commit.days {
            let old = self
                .saved_days
                .get(&c.slot)
                .and_then(|d| d.get(&c.hour))
                .map(|c| c.bytes.clone());
            self.apply_day(&c.slot, c.hour, old.as_deref());
        }
        self.settle_applied();
    }
}

/// A hash of a chunk's marks, to tell a changed chunk without encoding it.
fn hash_marks(marks: &[Mark]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    for m in marks {
        m.0.hash(&mut h);
        m.1.hash(&mut h);
    }
    h.finish()
}

/// Recomputes a log's running sums from its marks.
fn resum(log: &mut Log) {
    let mut sum = [0u64; 3];
    for m in &log.marks {
        for (s, a) in sum.iter_mut().zip(m.1) {
            *s += a;
        }
    }
    log.sum = sum;
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

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = DAY_CHUNK_MS;

    /// A state with one slot holding a full day of buckets and a minute of marks.
    fn full(now: u64) -> EngineState {
        let mut st = EngineState::default();
        let slot = st.slots.get_or_default("a@groq/m");
        for i in (1..=1_440u64).rev() {
            slot.windows.add(now - i * 60_000, [2, 300, 0]);
        }
        for i in (1..=30u64).rev() {
            slot.windows.add(now - i * 2_000, [1, 150, 0]);
        }
        slot.windows.prune(now);
        st
    }

    /// What another process applies of `c`.
    fn apply_commit(m: &mut Mirror, c: &Commit) {
        for (n, b) in &c.records {
            m.apply(n, b.as_deref());
        }
        for d in &c.days {
            m.apply_day(&d.slot, d.hour, d.bytes.as_deref());
        }
        m.settle_applied();
    }

    #[test]
    fn a_decision_rewrites_only_the_newest_hour_of_a_full_day() {
        let now = 100 * HOUR + 1_234;
        let mut a = Mirror::of_unsaved(full(now));
        let first = a.prepare_commit().unwrap();
        assert!(first.days.len() >= 24, "{}", first.days.len());
        let mut b = Mirror::empty();
        apply_commit(&mut b, &first);
        a.committed(first, 1);
        assert_eq!(b.state, a.state, "another process reads it whole");

        a.state
            .slots
            .get_or_default("a@groq/m")
            .windows
            .add(now + 10, [1, 99, 0]);
        let c = a.prepare_commit().unwrap();
        assert_eq!(c.records.len(), 1, "the slot's record");
        assert_eq!(c.days.len(), 1, "one hour of its day");
        assert_eq!(c.days[0].hour, now / HOUR);
        let written: usize = c
            .records
            .iter()
            .filter_map(|r| r.1.as_ref())
            .map(Vec::len)
            .sum::<usize>()
            + c.days
                .iter()
                .filter_map(|d| d.bytes.as_ref())
                .map(Vec::len)
                .sum::<usize>();
        let whole = serde_json::to_vec(&a.state.slots["a@groq/m"])
            .unwrap()
            .len();
        assert!(
            written * 5 < whole,
            "{written} bytes written of a {whole}-byte slot"
        );
        apply_commit(&mut b, &c);
        a.committed(c, 2);
        assert_eq!(b.state, a.state);
        assert_eq!(
            b.state.slots["a@groq/m"].windows.day.sum,
            a.state.slots["a@groq/m"].windows.day.sum
        );
        assert!(
            a.prepare_commit().unwrap().is_empty(),
            "nothing left to write"
        );
    }

    #[test]
    fn an_undone_decision_leaves_the_state_as_saved() {
        let now = 50 * HOUR + 5;
        let mut a = Mirror::of_unsaved(full(now));
        let c = a.prepare_commit().unwrap();
        a.committed(c, 1);
        let saved = a.state.clone();
        let s = a.state.slots.get_or_default("a@groq/m");
        s.windows.add(now + 1, [1, 10, 0]);
        s.cool_until = 7;
        a.state.slots.get_or_default("b@groq/m").backoff = 3;
        a.state.last_error.insert("groq/m".into(), "x".into());
        let c = a.prepare_commit().unwrap();
        a.undo(&c);
        assert_eq!(a.state, saved);
        assert!(a.prepare_commit().unwrap().is_empty());
    }

    #[test]
    fn a_removed_slot_removes_its_record_and_its_day() {
        let now = 100 * HOUR;
        let mut a = Mirror::of_unsaved(full(now));
        let c = a.prepare_commit().unwrap();
        let mut b = Mirror::empty();
        apply_commit(&mut b, &c);
        a.committed(c, 1);
        a.state.slots.retain(|_, _| false);
        let c = a.prepare_commit().unwrap();
        assert_eq!(c.records, [("a@groq/m".to_string(), None)]);
        assert!(c.days.len() >= 24 && c.days.iter().all(|d| d.bytes.is_none()));
        apply_commit(&mut b, &c);
        assert!(b.state.slots.is_empty());
    }

    #[test]
    fn a_view_to_write_back_is_written_whole_even_after_a_read_in_between() {
        let now = 100 * HOUR;
        let mut a = Mirror::of_unsaved(full(now));
        let c = a.prepare_commit().unwrap();
        a.committed(c, 1);
        // The store lost everything: a status read notices, a later decision writes.
        a.mark_all_unsaved();
        a.settle_applied();
        let c = a.prepare_commit().unwrap();
        let names: Vec<&str> = c.records.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(names.len(), 2, "the slot and the globals: {names:?}");
        assert!(c.days.len() >= 24);
        a.committed(c, 1);
        assert!(a.prepare_commit().unwrap().is_empty());
    }

    #[test]
    fn an_undone_decision_on_a_view_to_write_back_keeps_the_view() {
        let now = 100 * HOUR;
        let mut a = Mirror::of_unsaved(full(now));
        let view = a.state.clone();
        a.begin();
        a.state.slots.get_or_default("a@groq/m").backoff = 9;
        let c = a.prepare_commit().unwrap();
        // Another host committed first.
        a.undo(&c);
        assert_eq!(a.state, view, "nothing of the view is lost");
        let c = a.prepare_commit().unwrap();
        assert!(c.days.len() >= 24, "still to be written whole");
    }
}
