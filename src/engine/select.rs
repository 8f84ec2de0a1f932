//! `reserve`: pick the first candidate of a pool that fits every window now, record the
//! reservation, or say exactly when something fits (or that nothing ever will).

use super::fleet::{Fleet, FleetAccount, FleetModel};
use super::state::{EngineState, Reservation, Slot};
use super::window::{AUD, Amounts, TOK, cap, unit_index};
use super::{Candidate, Decision, Demand, Grant, Pool, Unfit};
use crate::model::{Millis, Window};

/// Why candidates were ruled out, for the `Unfit` answer when nothing is left.
#[derive(Default)]
struct Tally {
    any_key: bool,
    any_capable: bool,
    any_size_ok: bool,
    incapable: Vec<String>,
    largest: u64,
    needed: u64,
    exhausted: Vec<String>,
    wait: Option<(Millis, usize)>,
}

impl Tally {
    fn note_wait(&mut self, at: Millis, model: usize) {
        if self.wait.is_none_or(|(t, _)| at < t) {
            self.wait = Some((at, model));
        }
    }
}

/// What a demand needs of every window, and whether it is a transcription.
fn need_of(fleet: &Fleet, demand: &Demand, m: &FleetModel, pool: Pool) -> Amounts {
    let _ = fleet;
    match pool {
        Pool::Transcription => {
            let min = m
                .spec
                .audio
                .as_ref()
                .map_or(0, |a| a.min_billed_secs as u64);
            [1, 0, demand.audio_secs.max(min)]
        }
        Pool::Chat(_) => [
            1,
            demand.prompt_tokens + demand.max_tokens,
            demand.audio_secs,
        ],
    }
}

/// The capability check: `Some(why)` when the model cannot serve the demand at all.
fn incapable(fleet: &Fleet, demand: &Demand, m: &FleetModel, pool: Pool) -> Option<String> {
    let s = &m.spec;
    match pool {
        Pool::Transcription => {
            if !s.transcription {
                return Some(format!("{} does not transcribe", m.name));
            }
            let max = s
                .audio
                .as_ref()
                .and_then(|a| a.max_upload_bytes)
                .unwrap_or(fleet.max_file_bytes);
            if demand.file_bytes > max {
                return Some(format!(
                    "{} takes files up to {} bytes, this one has {}",
                    m.name, max, demand.file_bytes
                ));
            }
            if let (Some(f), Some(a)) = (&demand.audio_format, &s.audio)
                && !a.formats.is_empty()
                && !a.formats.iter().any(|x| x.eq_ignore_ascii_case(f))
            {
                return Some(format!(
                    "{} does not take {f} (it takes {})",
                    m.name,
                    a.formats.join(", ")
                ));
            }
            None
        }
        Pool::Chat(_) => {
            if demand.needs_tools && !s.tools {
                return Some(format!("{} has no tool calls", m.name));
            }
            if demand.images > 0 {
                if !s.vision {
                    return Some(format!("{} does not read images", m.name));
                }
                if let Some(l) = &s.images {
                    if demand.images > l.max_images {
                        return Some(format!(
                            "{} takes at most {} images, this request has {}",
                            m.name, l.max_images, demand.images
                        ));
                    }
                    if demand.largest_image_bytes > l.max_image_bytes {
                        return Some(format!(
                            "{} takes images up to {} bytes, the largest here has {}",
                            m.name, l.max_image_bytes, demand.largest_image_bytes
                        ));
                    }
                }
            }
            None
        }
    }
}

/// The most of the demand's main unit a model can take in one request, given an account's
/// learned limits (tokens for chat, audio seconds for transcription).
fn largest_for(
    fleet: &Fleet,
    m: &FleetModel,
    slot: Option<&Slot>,
    demand: &Demand,
    pool: Pool,
) -> u64 {
    let (unit_windows, mut largest) = match pool {
        Pool::Transcription => ([Window::Ash, Window::Asd], u64::MAX),
        Pool::Chat(_) => {
            let mut l = m.spec.context_window.unwrap_or(u64::MAX);
            if let Some(mo) = m.spec.max_output_tokens
                && demand.max_tokens > mo
            {
                // The answer can never be as long as asked: what would fit is the prompt
                // plus the longest answer the model gives.
                l = l.min(demand.prompt_tokens + mo);
            }
            ([Window::Tpm, Window::Tpd], l)
        }
    };
    for w in unit_windows {
        let lim = match slot {
            Some(s) => s.effective(m.configured(w), w).0,
            None => m.configured(w),
        };
        if let Some(l) = lim {
            largest = largest.min(cap(l, fleet.safety_margin));
        }
    }
    largest
}

/// Whether a request of `need` fits a slot's request windows at all (a learned limit of 0).
fn requests_possible(fleet: &Fleet, m: &FleetModel, slot: Option<&Slot>) -> bool {
    [Window::Rpm, Window::Rpd].into_iter().all(|w| {
        let lim = match slot {
            Some(s) => s.effective(m.configured(w), w).0,
            None => m.configured(w),
        };
        lim.is_none_or(|l| cap(l, fleet.safety_margin) >= 1)
    })
}

/// The earliest instant ≥ `now` the slot takes `need` (cooldowns and backoffs included).
pub(crate) fn slot_fits_at(
    fleet: &Fleet,
    m: &FleetModel,
    slot: Option<&Slot>,
    provider_until: Millis,
    need: Amounts,
    now: Millis,
) -> Option<Millis> {
    let mut at = now.max(provider_until);
    let Some(s) = slot else {
        return Some(at);
    };
    at = at.max(s.cool_until);
    for w in Window::ALL {
        let n = need[unit_index(w)];
        if n == 0 {
            continue;
        }
        if let (Some(l), _) = s.effective(m.configured(w), w) {
            let t = s.windows.fits_at(w, n, cap(l, fleet.safety_margin), now)?;
            at = at.max(t);
        }
    }
    Some(at)
}

/// Picks a candidate for the demand and records the reservation, or says when one fits, or
/// that none ever will. See the module docs of [`crate::engine`] and `docs/engine.md`.
pub fn reserve(fleet: &Fleet, state: &mut EngineState, demand: &Demand, now: Millis) -> Decision {
    let Some(pool) = demand.pool else {
        return Decision::Unfit(Unfit::NoCapableModel {
            why: "the request names no pool".to_string(),
        });
    };
    let empty = Vec::new();
    let entries = match pool {
        Pool::Chat(t) => fleet.pools.get(&t).unwrap_or(&empty),
        Pool::Transcription => &fleet.transcription,
    };
    let mut tally = Tally {
        needed: match pool {
            Pool::Transcription => 0,
            Pool::Chat(_) => demand.prompt_tokens + demand.max_tokens,
        },
        ..Tally::default()
    };
    match pool {
        Pool::Chat(_) => {
            for &mi in entries {
                if let Some(g) = try_model(fleet, state, demand, pool, mi, now, &mut tally) {
                    return Decision::Grant(g);
                }
            }
        }
        Pool::Transcription => {
            if let Some(g) = transcription_pass(fleet, state, demand, entries, now, &mut tally) {
                return Decision::Grant(g);
            }
        }
    }
    finish(fleet, pool, tally)
}

/// The transcription order: the first provider whenever it fits, else round-robin over the
/// rest starting at the state's position (advanced past the provider that gets the grant).
fn transcription_pass(
    fleet: &Fleet,
    state: &mut EngineState,
    demand: &Demand,
    entries: &[usize],
    now: Millis,
    tally: &mut Tally,
) -> Option<Grant> {
    let mut providers: Vec<&str> = Vec::new();
    for &mi in entries {
        let p = fleet.models[mi].spec.model.provider.as_str();
        if !providers.contains(&p) {
            providers.push(p);
        }
    }
    let (first, rest) = providers.split_first()?;
    let of = |p: &str| -> Vec<usize> {
        entries
            .iter()
            .copied()
            .filter(|&mi| fleet.models[mi].spec.model.provider == p)
            .collect()
    };
    for mi in of(first) {
        if let Some(g) = try_model(fleet, state, demand, Pool::Transcription, mi, now, tally) {
            return Some(g);
        }
    }
    let n = rest.len();
    let start = if n == 0 {
        0
    } else {
        state.transcription_rr % n
    };
    for k in 0..n {
        let i = (start + k) % n;
        for mi in of(rest[i]) {
            if let Some(g) = try_model(fleet, state, demand, Pool::Transcription, mi, now, tally) {
                state.transcription_rr = (i + 1) % n;
                return Some(g);
            }
        }
    }
    None
}

/// Tries every account of one model; grants on the first that fits now.
fn try_model(
    fleet: &Fleet,
    state: &mut EngineState,
    demand: &Demand,
    pool: Pool,
    mi: usize,
    now: Millis,
    tally: &mut Tally,
) -> Option<Grant> {
    let m = &fleet.models[mi];
    if !m.enabled || m.accounts.is_empty() {
        return None;
    }
    tally.any_key = true;
    if let Some(why) = incapable(fleet, demand, m, pool) {
        tally.incapable.push(why);
        return None;
    }
    tally.any_capable = true;
    if pool == Pool::Transcription {
        let need = need_of(fleet, demand, m, pool)[AUD];
        tally.needed = tally.needed.max(need);
    }
    let need = need_of(fleet, demand, m, pool);
    let main = match pool {
        Pool::Transcription => need[AUD],
        Pool::Chat(_) => need[TOK],
    };
    let provider_until = state
        .provider_backoff
        .get(&m.spec.model.provider)
        .map_or(0, |b| b.until);
    let model_off = state.disabled_models.get(&m.name).map(|d| d.reason.clone());
    let skipped = demand.skip_models.contains(&m.spec.model);
    for acc in &m.accounts {
        let slot = state.slots.get(&acc.slot);
        let largest = largest_for(fleet, m, slot, demand, pool);
        if main > largest || !requests_possible(fleet, m, slot) {
            tally.largest = tally.largest.max(if requests_possible(fleet, m, slot) {
                largest
            } else {
                0
            });
            continue;
        }
        tally.any_size_ok = true;
        if let Some(r) = &model_off {
            tally
                .exhausted
                .push(format!("{} is disabled ({r})", m.name));
            break;
        }
        if skipped {
            tally
                .exhausted
                .push(format!("{} was ruled out for this request", m.name));
            break;
        }
        let Some(key) = usable_key(state, demand, m, acc, tally) else {
            continue;
        };
        if let Some(s) = state.slots.get_mut(&acc.slot) {
            s.windows.prune(now);
        }
        let slot = state.slots.get(&acc.slot);
        match slot_fits_at(fleet, m, slot, provider_until, need, now) {
            Some(at) if at <= now => return Some(grant(state, m, acc, key, need, now)),
            Some(at) => tally.note_wait(at, mi),
            None => {}
        }
    }
    None
}

/// The first key of an account that is neither disabled nor already tried.
fn usable_key(
    state: &EngineState,
    demand: &Demand,
    m: &FleetModel,
    acc: &FleetAccount,
    tally: &mut Tally,
) -> Option<usize> {
    for (i, k) in acc.keys.iter().enumerate() {
        if let Some(d) = state.disabled_keys.get(&k.id) {
            tally.exhausted.push(format!(
                "key {} ({}) is disabled ({})",
                k.key.masked, k.key.account, d.reason
            ));
            continue;
        }
        if demand
            .tried
            .iter()
            .any(|c| c.key == k.key && c.model == m.spec.model)
        {
            tally.exhausted.push(format!(
                "{} with key {} was tried already",
                m.name, k.key.masked
            ));
            continue;
        }
        return Some(i);
    }
    None
}

/// Records the reservation and builds the grant.
fn grant(
    state: &mut EngineState,
    m: &FleetModel,
    acc: &FleetAccount,
    key: usize,
    need: Amounts,
    now: Millis,
) -> Grant {
    let id = state.next_grant_id;
    state.next_grant_id += 1;
    state
        .slots
        .entry(acc.slot.clone())
        .or_default()
        .windows
        .add(now, need);
    state.inflight.insert(
        id,
        Reservation {
            slot: acc.slot.clone(),
            at: now,
            tokens: need[TOK],
            audio_secs: need[AUD],
        },
    );
    Grant {
        id,
        candidate: Candidate {
            model: m.spec.model.clone(),
            key: acc.keys[key].key.clone(),
        },
        tokens: need[TOK],
        audio_secs: need[AUD],
        at: now,
    }
}

/// Nothing fits now: wait for the earliest, or say why nothing ever will.
fn finish(fleet: &Fleet, pool: Pool, tally: Tally) -> Decision {
    if let Some((until, mi)) = tally.wait {
        return Decision::Wait {
            until,
            next: fleet.models[mi].spec.model.clone(),
        };
    }
    if !tally.any_key {
        return Decision::Unfit(Unfit::NoCredentials { pool });
    }
    if !tally.any_capable {
        return Decision::Unfit(Unfit::NoCapableModel {
            why: summarize(&tally.incapable),
        });
    }
    if !tally.any_size_ok {
        return Decision::Unfit(Unfit::TooLarge {
            needed: tally.needed,
            largest: tally.largest,
        });
    }
    Decision::Unfit(Unfit::Exhausted {
        why: summarize(&tally.exhausted),
    })
}

fn summarize(list: &[String]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for s in list {
        if !out.contains(&s.as_str()) {
            out.push(s);
        }
    }
    if out.is_empty() {
        "no candidate is left".to_string()
    } else {
        out.join("; ")
    }
}
