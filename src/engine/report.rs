//! Builds the [`Status`] snapshot (CONTRACT §4) from the fleet and the state.

use super::fleet::{Fleet, FleetModel};
use super::select::slot_fits_at;
use super::state::EngineState;
use super::status::{EntryState, KeyStatus, Status, StatusEntry, WindowStatus};
use super::window::Amounts;
use crate::model::{Millis, Window};
use std::collections::BTreeMap;

fn rank(s: EntryState) -> u8 {
    match s {
        EntryState::Available => 0,
        EntryState::AtCapacity => 1,
        EntryState::Cooling => 2,
        EntryState::Failed => 3,
        EntryState::NoKey => 4,
        EntryState::Disabled => 5,
    }
}

/// Every pool, model and key at `now`: states, windows of the busiest account, last errors.
pub fn status(fleet: &Fleet, state: &EngineState, now: Millis) -> Status {
    let pools = fleet
        .pools
        .iter()
        .map(|(t, list)| {
            let entries = list
                .iter()
                .map(|&mi| entry(fleet, state, &fleet.models[mi], [1, 1, 0], now, false))
                .collect();
            (*t, entries)
        })
        .collect();
    let transcription = fleet
        .transcription
        .iter()
        .map(|&mi| {
            let m = &fleet.models[mi];
            let min = m
                .spec
                .audio
                .as_ref()
                .map_or(1, |a| a.min_billed_secs.max(1) as u64);
            entry(fleet, state, m, [1, 0, min], now, true)
        })
        .collect();
    Status {
        at: now,
        pools,
        transcription,
    }
}

fn entry(
    fleet: &Fleet,
    state: &EngineState,
    m: &FleetModel,
    probe: Amounts,
    now: Millis,
    transcription: bool,
) -> StatusEntry {
    let mut keys = Vec::new();
    let provider_until = state
        .provider_backoff
        .get(&m.spec.model.provider)
        .map_or(0, |b| b.until);
    let model_failed = state.disabled_models.contains_key(&m.name);
    for acc in &m.accounts {
        let slot = state.slots.get(&acc.slot);
        for k in &acc.keys {
            let (st, until) = if !m.enabled {
                (EntryState::Disabled, None)
            } else if model_failed || state.disabled_keys.contains_key(&k.id) {
                (EntryState::Failed, None)
            } else {
                let cool = provider_until.max(slot.map_or(0, |s| s.cool_until));
                if cool > now {
                    (EntryState::Cooling, Some(cool - now))
                } else {
                    match slot_fits_at(fleet, m, slot, provider_until, probe, now) {
                        Some(t) if t <= now => (EntryState::Available, None),
                        Some(t) => (EntryState::AtCapacity, Some(t - now)),
                        None => (EntryState::AtCapacity, None),
                    }
                }
            };
            keys.push(KeyStatus {
                key: k.key.masked.clone(),
                account: acc.name.clone(),
                state: st,
                until_ms: until,
            });
        }
    }
    let (state_of, until_ms) = if keys.is_empty() {
        let s = if m.enabled {
            EntryState::NoKey
        } else {
            EntryState::Disabled
        };
        (s, None)
    } else {
        let best = keys
            .iter()
            .map(|k| k.state)
            .min_by_key(|s| rank(*s))
            .unwrap_or(EntryState::NoKey);
        let until = keys
            .iter()
            .filter(|k| k.state == best)
            .filter_map(|k| k.until_ms)
            .min();
        (best, until)
    };
    StatusEntry {
        provider: m.spec.model.provider.clone(),
        model: m.spec.model.id.clone(),
        state: state_of,
        until_ms,
        windows: windows_of(m, state, now),
        keys,
        last_error: state.last_error.get(&m.name).cloned(),
        transcription: transcription.then(|| {
            state
                .transcription_stats
                .get(&m.spec.model.provider)
                .copied()
                .unwrap_or_default()
        }),
    }
}

/// The windows of the busiest account (highest used/limit over any window, then most used).
fn windows_of(m: &FleetModel, state: &EngineState, now: Millis) -> BTreeMap<Window, WindowStatus> {
    let mut best: Option<(f64, u64, BTreeMap<Window, WindowStatus>)> = None;
    let mut accounts: Vec<Option<&str>> =
        m.accounts.iter().map(|a| Some(a.slot.as_str())).collect();
    if accounts.is_empty() {
        accounts.push(None);
    }
    for slot_name in accounts {
        let slot = slot_name.and_then(|s| state.slots.get(s));
        let mut map = BTreeMap::new();
        let mut ratio: f64 = 0.0;
        let mut total = 0;
        for w in Window::ALL {
            let (limit, learned) = match slot {
                Some(s) => s.effective(m.configured(w), w),
                None => (m.configured(w), false),
            };
            let used = slot.map_or(0, |s| s.windows.used(w, now));
            if limit.is_none() && used == 0 {
                continue;
            }
            if let Some(l) = limit.filter(|l| *l > 0) {
                ratio = ratio.max(used as f64 / l as f64);
            }
            total += used;
            map.insert(
                w,
                WindowStatus {
                    used,
                    limit,
                    learned,
                },
            );
        }
        let better = match &best {
            None => true,
            Some((r, t, _)) => ratio > *r || (ratio == *r && total > *t),
        };
        if better {
            best = Some((ratio, total, map));
        }
    }
    best.map(|b| b.2).unwrap_or_default()
}
