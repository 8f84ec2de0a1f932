//! Builds the [`Status`] snapshot (docs/engine.md, "`rota status`") from the fleet and the
//! state.

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
        EntryState::Unavailable => 3,
        EntryState::Failed => 4,
        EntryState::NoKey => 5,
        EntryState::Disabled => 6,
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
        let unseen = state.unavailable.contains_key(&acc.slot);
        for k in &acc.keys {
            let (st, until) = if !m.enabled {
                (EntryState::Disabled, None)
            } else if model_failed || state.disabled_keys.contains_key(&k.id) {
                (EntryState::Failed, None)
            } else if unseen {
                (EntryState::Unavailable, None)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testkit::*;
    use crate::engine::{Classified, Decision, Grant, fail, reserve};
    use crate::model::{Reason, Task};

    fn granted(d: Decision) -> Grant {
        match d {
            Decision::Grant(g) => g,
            other => panic!("expected a grant, got {other:?}"),
        }
    }

    #[test]
    fn entry_state_is_the_best_over_keys_and_windows_show_the_busiest_account() {
        let f = fleet(
            vec![
                chat_model("groq", "a", rpm_tpm(1, 1_000)),
                chat_model("together", "t", rpm_tpm(1, 1_000)),
            ],
            vec![key("groq", "x", 1), key("groq", "y", 2)],
            0.0,
        );
        let mut st = EngineState::default();
        let s = status(&f, &st, 0);
        let fast = &s.pools[&Task::Fast];
        assert_eq!(fast[0].state, EntryState::Available);
        assert_eq!(fast[1].state, EntryState::NoKey);
        assert!(fast[1].keys.is_empty());
        assert_eq!(fast[0].windows[&Window::Rpm].used, 0);
        assert_eq!(fast[0].windows[&Window::Rpm].limit, Some(1));

        let g = granted(reserve(&f, &mut st, &chat(100, 100), 1_000));
        assert_eq!(g.candidate.key.account, "x");
        let s = status(&f, &st, 2_000);
        let e = &s.pools[&Task::Fast][0];
        assert_eq!(e.state, EntryState::Available, "account y is free");
        assert_eq!(e.keys[0].state, EntryState::AtCapacity);
        assert_eq!(e.keys[0].until_ms, Some(61_600 - 2_000));
        assert_eq!(e.windows[&Window::Tpm].used, 200);
        assert!(!e.windows[&Window::Tpm].learned);

        let g2 = granted(reserve(&f, &mut st, &chat(1, 1), 2_000));
        let c = Classified {
            reason: Reason::RateLimited,
            window: Some(Window::Rpm),
            limit: Some(1),
            retry_after_ms: Some(90_000),
            message: "Rate limit reached".into(),
        };
        fail(&f, &mut st, &g2, &c, 3_000);
        let s = status(&f, &st, 3_000);
        let e = &s.pools[&Task::Fast][0];
        assert_eq!(e.keys[1].state, EntryState::Cooling);
        assert_eq!(e.state, EntryState::AtCapacity, "at capacity beats cooling");
        assert_eq!(e.until_ms, Some(61_600 - 3_000));
        assert_eq!(
            e.last_error.as_deref(),
            Some("rate_limited: Rate limit reached")
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["pools"]["fast"][0]["state"], "at_capacity");
        assert_eq!(json["pools"]["fast"][0]["windows"]["rpm"]["limit"], 1);
    }

    #[test]
    fn learned_limits_show_as_learned_and_failed_or_disabled_entries_say_so() {
        let mut f = fleet(
            vec![
                chat_model("groq", "a", rpm_tpm(30, 10_000)),
                chat_model("openai", "b", rpm_tpm(30, 10_000)),
            ],
            vec![key("groq", "x", 1), key("openai", "o", 2)],
            0.0,
        );
        f.models[1].enabled = false;
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(1, 1), 0));
        let c = Classified {
            reason: Reason::RateLimited,
            window: Some(Window::Tpm),
            limit: Some(6_000),
            retry_after_ms: Some(1_000),
            message: String::new(),
        };
        fail(&f, &mut st, &g, &c, 0);
        let s = status(&f, &st, 10);
        let e = &s.pools[&Task::Fast][0];
        assert_eq!(e.state, EntryState::Cooling);
        assert_eq!(e.until_ms, Some(990));
        assert_eq!(
            e.windows[&Window::Tpm],
            WindowStatus {
                used: 0,
                limit: Some(6_000),
                learned: true
            }
        );
        assert_eq!(s.pools[&Task::Fast][1].state, EntryState::Disabled);
        let g = granted(reserve(&f, &mut st, &chat(1, 1), 1_000));
        let auth = Classified {
            reason: Reason::Auth,
            ..c
        };
        fail(&f, &mut st, &g, &auth, 1_000);
        assert_eq!(
            status(&f, &st, 1_000).pools[&Task::Fast][0].state,
            EntryState::Failed
        );
    }

    #[test]
    fn transcription_entries_carry_their_provider_stats() {
        let f = fleet(
            vec![whisper("groq", "whisper-large-v3", 20, None, &["wav"])],
            vec![key("groq", "g", 1)],
            0.0,
        );
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &audio(30, 500, "wav"), 0));
        crate::engine::complete_transcription(&f, &mut st, &g, 30, 500, 5);
        let s = status(&f, &st, 5);
        let e = &s.transcription[0];
        assert_eq!(e.model, "whisper-large-v3");
        assert_eq!(
            e.transcription.map(|t| (t.requests, t.bytes)),
            Some((1, 500))
        );
        assert_eq!(e.windows[&Window::Rpm].used, 1);
    }
}
