//! The state's table of slots (one per account × model), looked up by name, with a cache
//! that lets `reserve` find a fleet account's slot without hashing its name.
//!
//! A decision may consider every account of every model of a pool (490 slots in the
//! worst-case bench); hashing and comparing 490 names took a third of its time. Each
//! [`FleetAccount`](super::fleet::FleetAccount) has a number in its fleet; the table
//! remembers, per number, where that account's slot was last found. The hints belong to one
//! fleet (another fleet's numbers start them afresh); a remembered position is trusted only
//! when the name stored there still matches, and "absent" only while nothing was inserted
//! since. A stale hint costs one ordinary lookup and is never wrong.

use super::state::Slot;
use crate::model::Millis;
use rustc_hash::FxHashMap;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What the table remembers for one fleet account.
#[derive(Clone, Copy, Debug)]
struct Hint {
    /// Position in `entries`, or [`ABSENT`]; valid while `generation` is the table's.
    pos: u32,
    /// The table's generation when `pos` was found.
    generation: u64,
    /// No request fits the slot before this instant ...
    bound: Millis,
    /// ... as long as the slot's stamp is still this one (`NO_STAMP`: no bound).
    bound_stamp: u64,
}

const ABSENT: u32 = u32::MAX;
const NO_STAMP: u64 = u64::MAX;

/// One slot with its name, the stamp of its last change through the table's general
/// accessors, and whether it changed since the store last took the changes.
#[derive(Clone)]
struct Entry {
    name: String,
    slot: Slot,
    stamp: u64,
    dirty: bool,
}

/// The slots changed or removed since [`SlotTable::take_changes`] last ran: what a store
/// must write back for a decision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotChanges {
    /// Slots changed or added.
    pub changed: Vec<String>,
    /// Slots removed.
    pub removed: Vec<String>,
}

/// Slots by `account@provider/model`, in insertion order.
#[derive(Clone, Default)]
pub struct SlotTable {
    entries: Vec<Entry>,
    /// Position in `entries` by name. Fx, not SipHash: the names are rota's own (no
    /// attacker picks them) and SipHash's cost showed in the select bench.
    index: FxHashMap<String, usize>,
    /// Bumped whenever a slot is inserted or removed: positions in hints are then stale.
    generation: u64,
    /// The next stamp to give a changed entry.
    next_stamp: u64,
    /// By fleet account number; a cache, never serialized or compared.
    hints: Vec<Hint>,
    /// Names removed since the changes were last taken.
    removed: Vec<String>,
    /// The [`Fleet::id`](super::fleet::Fleet::id) whose numbers `hints` follows.
    hints_for: u64,
}

impl SlotTable {
    /// The slot named `name`.
    pub fn get(&self, name: &str) -> Option<&Slot> {
        self.index.get(name).map(|&i| &self.entries[i].slot)
    }

    /// The slot named `name`, to change it in any way.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Slot> {
        let i = *self.index.get(name)?;
        Some(self.changed(i))
    }

    /// The slot named `name`, created empty when missing, to change it in any way.
    pub fn get_or_default(&mut self, name: &str) -> &mut Slot {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => self.push(name.to_string(), Slot::default()),
        };
        self.changed(i)
    }

    /// The slot named `name`, for a store that takes part of it out while encoding it and
    /// puts it back as it was: not a change ([`SlotTable::take_changes`] does not list it,
    /// cached bounds stay). Any real change goes through [`SlotTable::get_mut`].
    pub fn get_mut_unmarked(&mut self, name: &str) -> Option<&mut Slot> {
        let i = *self.index.get(name)?;
        Some(&mut self.entries[i].slot)
    }

    /// Puts `slot` under `name`, replacing any slot there.
    pub fn insert(&mut self, name: String, slot: Slot) {
        match self.index.get(&name) {
            Some(&i) => *self.changed(i) = slot,
            None => {
                self.push(name, slot);
            }
        }
    }

    /// Entry `i`, stamped as changed (its cached bound no longer holds).
    fn changed(&mut self, i: usize) -> &mut Slot {
        let e = &mut self.entries[i];
        e.stamp = self.next_stamp;
        e.dirty = true;
        self.next_stamp += 1;
        &mut e.slot
    }

    fn push(&mut self, name: String, slot: Slot) -> usize {
        let i = self.entries.len();
        self.index.insert(name.clone(), i);
        self.entries.push(Entry {
            name,
            slot,
            stamp: self.next_stamp,
            dirty: true,
        });
        self.next_stamp += 1;
        self.generation += 1;
        i
    }

    /// Keeps only the slots for which `keep` says yes (it may change them).
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Slot) -> bool) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let removed = &mut self.removed;
        self.entries.retain_mut(|e| {
            e.stamp = stamp;
            e.dirty = true;
            let kept = keep(&e.name, &mut e.slot);
            if !kept {
                removed.push(std::mem::take(&mut e.name));
            }
            kept
        });
        self.index.clear();
        for (i, e) in self.entries.iter().enumerate() {
            self.index.insert(e.name.clone(), i);
        }
        self.generation += 1;
    }

    /// Every slot with its name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Slot)> {
        self.entries.iter().map(|e| (e.name.as_str(), &e.slot))
    }

    /// Every slot, to change them in any way.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.entries.iter_mut().map(move |e| {
            e.stamp = stamp;
            e.dirty = true;
            &mut e.slot
        })
    }

    /// Removes the slot named `name` (a store applying another process's removal).
    pub fn remove(&mut self, name: &str) {
        if self.index.contains_key(name) {
            self.retain(|n, _| n != name);
        }
    }

    /// The slots changed or removed since the last call, which then starts afresh: what a
    /// store writes back after a decision. Dropping marks that no longer count
    /// ([`SlotTable::prune_at`]) is not a change: every reader drops them itself.
    pub fn take_changes(&mut self) -> SlotChanges {
        let mut changed = Vec::new();
        for e in &mut self.entries {
            if e.dirty {
                e.dirty = false;
                changed.push(e.name.clone());
            }
        }
        let mut removed = std::mem::take(&mut self.removed);
        removed.retain(|n| !self.index.contains_key(n));
        removed.sort_unstable();
        removed.dedup();
        SlotChanges { changed, removed }
    }

    /// Forgets what changed, as if the changes had been taken (a store that just loaded
    /// the table).
    pub fn clear_changes(&mut self) {
        let _ = self.take_changes();
    }

    /// How many slots there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The position of slot `name`, which account number `ix` of fleet `fleet` stands for
    /// (see [`FleetAccount::ix`](super::fleet::FleetAccount::ix)); `None` when the table has
    /// no such slot. Use [`SlotTable::at`] and the other position methods with it.
    pub fn position(&mut self, name: &str, fleet: u64, ix: usize) -> Option<usize> {
        if self.hints_for != fleet {
            self.hints.clear();
            self.hints_for = fleet;
        }
        if let Some(h) = self.hints.get(ix)
            && h.generation == self.generation
        {
            if h.pos == ABSENT {
                return None;
            }
            return Some(h.pos as usize);
        }
        let found = self.index.get(name).copied();
        if self.hints.len() <= ix {
            self.hints.resize(
                ix + 1,
                Hint {
                    pos: ABSENT,
                    generation: u64::MAX,
                    bound: 0,
                    bound_stamp: NO_STAMP,
                },
            );
        }
        let pos = found.map(|p| u32::try_from(p).unwrap_or(ABSENT));
        self.hints[ix] = Hint {
            pos: pos.unwrap_or(ABSENT),
            // A position too large to remember is looked up every time.
            generation: if pos == Some(ABSENT) {
                u64::MAX
            } else {
                self.generation
            },
            bound: 0,
            bound_stamp: NO_STAMP,
        };
        found
    }

    /// The slot at a position [`SlotTable::position`] returned.
    pub fn at(&self, pos: usize) -> &Slot {
        &self.entries[pos].slot
    }

    /// The slot at a position [`SlotTable::position`] returned, for changes that can only
    /// make its next fit later: adding usage, dropping marks that no longer count. Such
    /// changes keep its cached bound (see [`SlotTable::bound`]); any other change must go
    /// through [`SlotTable::get_mut`].
    pub(crate) fn at_mut(&mut self, pos: usize) -> &mut Slot {
        let e = &mut self.entries[pos];
        e.dirty = true;
        &mut e.slot
    }

    /// The slot at a position [`SlotTable::position`] returned, with the marks that no
    /// longer count at `now` dropped. Not a change a store must keep: its cached bound
    /// stays, and it is not among [`SlotTable::take_changes`].
    pub(crate) fn prune_at(&mut self, pos: usize, now: Millis) -> &Slot {
        let s = &mut self.entries[pos].slot;
        s.windows.prune(now);
        s
    }

    /// The bound remembered for account `ix` whose slot is at `pos`: no request fits that
    /// slot before it. `None` when none was set or the slot changed since.
    pub fn bound(&self, ix: usize, pos: usize) -> Option<Millis> {
        let h = self.hints.get(ix)?;
        (h.bound_stamp != NO_STAMP && h.bound_stamp == self.entries[pos].stamp).then_some(h.bound)
    }

    /// Remembers that no request fits account `ix`'s slot (at `pos`) before `at`, until the
    /// slot changes through a general accessor. Call [`SlotTable::position`] first.
    pub fn set_bound(&mut self, ix: usize, pos: usize, at: Millis) {
        if let Some(h) = self.hints.get_mut(ix) {
            h.bound = at;
            h.bound_stamp = self.entries[pos].stamp;
        }
    }
}

impl std::ops::Index<&str> for SlotTable {
    type Output = Slot;

    /// The slot named so; panics when there is none (like `HashMap`'s index).
    fn index(&self, name: &str) -> &Slot {
        match self.get(name) {
            Some(s) => s,
            None => panic!("no slot named {name}"),
        }
    }
}

impl PartialEq for SlotTable {
    /// The same slots under the same names, in any order; hints are ignored.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(n, s)| other.get(n) == Some(s))
    }
}

impl fmt::Debug for SlotTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for SlotTable {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut map = ser.serialize_map(Some(self.len()))?;
        for (n, s) in self.iter() {
            map.serialize_entry(n, s)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for SlotTable {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SlotTable;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of slot names to slots")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SlotTable, A::Error> {
                let mut t = SlotTable::default();
                while let Some((name, slot)) = map.next_entry::<String, Slot>()? {
                    t.insert(name, slot);
                }
                Ok(t)
            }
        }
        de.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(cool: u64) -> Slot {
        Slot {
            cool_until: cool,
            ..Slot::default()
        }
    }

    #[test]
    fn hints_follow_inserts_and_removals() {
        let mut t = SlotTable::default();
        let cool = |t: &mut SlotTable, name: &str, fleet: u64, ix: usize| {
            t.position(name, fleet, ix).map(|p| t.at(p).cool_until)
        };
        assert_eq!(cool(&mut t, "a", 1, 0), None);
        // Absent stays cached until something is inserted.
        assert_eq!(cool(&mut t, "a", 1, 0), None);
        t.insert("b".into(), slot(2));
        t.insert("a".into(), slot(1));
        assert_eq!(cool(&mut t, "a", 1, 0), Some(1));
        assert_eq!(cool(&mut t, "b", 1, 1), Some(2));
        // Removing "b" moves "a": the stale position is caught by the name check.
        t.retain(|n, _| n == "a");
        assert_eq!(cool(&mut t, "a", 1, 0), Some(1));
        assert_eq!(cool(&mut t, "b", 1, 1), None);
        // Another fleet numbers its accounts differently: its number 1 is "a".
        assert_eq!(cool(&mut t, "a", 2, 1), Some(1));
        assert_eq!(cool(&mut t, "b", 2, 0), None);
        // Back to the first fleet: still right.
        assert_eq!(cool(&mut t, "b", 1, 1), None);
        assert_eq!(cool(&mut t, "a", 1, 0), Some(1));
    }

    #[test]
    fn equality_ignores_order_and_hints_and_json_roundtrips() {
        let mut a = SlotTable::default();
        a.insert("x".into(), slot(1));
        a.insert("y".into(), slot(2));
        let mut b = SlotTable::default();
        b.insert("y".into(), slot(2));
        b.insert("x".into(), slot(1));
        let _ = b.position("x", 1, 5);
        assert_eq!(a, b);
        b.get_or_default("x").cool_until = 9;
        assert_ne!(a, b);
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.starts_with("{\"x\":"), "{json}");
        let back: SlotTable = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert_eq!(back["y"].cool_until, 2);
    }
}
