//! `reserve`: pick the first candidate of a pool that fits every window now, record the
//! reservation, or say exactly when something fits (or that nothing ever will).

use super::fleet::{Fleet, FleetAccount, FleetModel};
use super::state::{EngineState, Reservation, Slot};
use super::window::{AUD, Amounts, TOK, cap, unit_index};
use super::{Candidate, Decision, Demand, Grant, Pool, Unfit};
use crate::model::{Limits, Millis, Task, Window};
use std::borrow::Cow;

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
fn need_of(demand: &Demand, m: &FleetModel, pool: Pool) -> Amounts {
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
            demand.prompt_tokens.saturating_add(demand.max_tokens),
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
            if s.transcription {
                return Some(format!("{} only transcribes", m.name));
            }
            if demand.needs_tools && !s.tools {
                return Some(format!("{} has no tool calls", m.name));
            }
            if demand.needs_parallel_tools && !s.parallel_tools {
                return Some(format!("{} makes one tool call per turn", m.name));
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

/// Position of a window in [`Window::ALL`], for per-window arrays.
fn widx(w: Window) -> usize {
    match w {
        Window::Rpm => 0,
        Window::Tpm => 1,
        Window::Rpd => 2,
        Window::Tpd => 3,
        Window::Ash => 4,
        Window::Asd => 5,
    }
}

/// The cap in force in every window (indexed as [`Window::ALL`]) for one account on one
/// model: the effective limit (configured, or learned when lower) after the safety margin.
/// Computed once per account and shared by the size, request and fit checks.
type Caps = [Option<u64>; 6];

/// Computes an account's [`Caps`]: the model's configured ones unless the slot learned a
/// lower limit.
fn caps_of(fleet: &Fleet, m: &FleetModel, slot: Option<&Slot>) -> Caps {
    match slot {
        Some(s) if s.learned != Limits::default() => Window::ALL.map(|w| {
            s.effective(m.configured(w), w)
                .0
                .map(|l| cap(l, fleet.safety_margin))
        }),
        _ => m.caps,
    }
}

/// The most of the demand's main unit a model can take in one request, given an account's
/// caps (tokens for chat, audio seconds for transcription).
fn largest_for(m: &FleetModel, caps: &Caps, demand: &Demand, pool: Pool) -> u64 {
    let (unit_windows, mut largest) = match pool {
        Pool::Transcription => ([Window::Ash, Window::Asd], u64::MAX),
        Pool::Chat(_) => {
            let mut l = m.spec.context_window.unwrap_or(u64::MAX);
            if let Some(mo) = m.spec.max_output_tokens
                && demand.max_tokens > mo
            {
                // The answer can never be as long as asked: what would fit is the prompt
                // plus the longest answer the model gives.
                l = l.min(demand.prompt_tokens.saturating_add(mo));
            }
            ([Window::Tpm, Window::Tpd], l)
        }
    };
    for w in unit_windows {
        if let Some(c) = caps[widx(w)] {
            largest = largest.min(c);
        }
    }
    largest
}

/// Whether a request fits a slot's request windows at all (a learned limit of 0).
fn requests_possible(caps: &Caps) -> bool {
    [Window::Rpm, Window::Rpd]
        .into_iter()
        .all(|w| caps[widx(w)].is_none_or(|c| c >= 1))
}

/// The models a demand on `pool` may go to, as indexes into [`Fleet::models`] in order:
/// the one it names (`only`), else the pool's.
fn candidates<'f>(fleet: &'f Fleet, demand: &Demand, pool: Pool) -> Cow<'f, [usize]> {
    match (pool, &demand.only) {
        (Pool::Chat(_), Some(m)) => Cow::Owned(fleet.index_of(m).into_iter().collect()),
        (Pool::Chat(t), None) => Cow::Borrowed(fleet.pools.get(&t).map_or(&[], Vec::as_slice)),
        (Pool::Transcription, _) => Cow::Borrowed(&fleet.transcription),
    }
}

/// The largest request (prompt and answer tokens together) any model of the demand's chat
/// pool that can serve it would take in one request, whatever its windows hold now: the
/// size a growing conversation (the research loop's history) must fit. Models and accounts
/// that cannot serve until someone acts (disabled, unavailable, every key disabled) do not
/// count. `None` when no enabled, capable model with a usable key is in the pool.
pub fn largest_request(fleet: &Fleet, state: &EngineState, demand: &Demand) -> Option<u64> {
    if demand.pool == Pool::Transcription {
        return None;
    }
    let sizing = Demand {
        max_tokens: 0,
        ..demand.clone()
    };
    let mut best: Option<u64> = None;
    for &mi in candidates(fleet, demand, demand.pool).iter() {
        let m = &fleet.models[mi];
        if !m.enabled
            || m.accounts.is_empty()
            || state.disabled_models.contains_key(&m.name)
            || incapable(fleet, &sizing, m, demand.pool).is_some()
        {
            continue;
        }
        // Only accounts that could serve once their windows refill: not unavailable, with a
        // key that is not disabled.
        let serving = m.accounts.iter().filter(|acc| {
            !state.unavailable.contains_key(&acc.slot)
                && acc
                    .keys
                    .iter()
                    .any(|k| !state.disabled_keys.contains_key(&k.id))
        });
        for acc in serving {
            let caps = caps_of(fleet, m, state.slots.get(&acc.slot));
            if requests_possible(&caps) {
                let l = largest_for(m, &caps, &sizing, demand.pool);
                best = Some(best.map_or(l, |b| b.max(l)));
            }
        }
    }
    best
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
    let caps = caps_of(fleet, m, slot);
    fits_with_caps(slot, &caps, provider_until, need, now)
}

/// [`slot_fits_at`] with the account's caps already computed.
fn fits_with_caps(
    slot: Option<&Slot>,
    caps: &Caps,
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
        if let Some(c) = caps[widx(w)] {
            let t = s.windows.fits_at(w, n, c, now)?;
            at = at.max(t);
        }
    }
    Some(at)
}

/// Picks a candidate for the demand and records the reservation, or says when one fits, or
/// that none ever will. See the module docs of [`crate::engine`] and `docs/engine.md`.
pub fn reserve(fleet: &Fleet, state: &mut EngineState, demand: &Demand, now: Millis) -> Decision {
    let pool = match demand.pool {
        Pool::Chat(Task::Auto) => {
            return Decision::Unfit(Unfit::NoCapableModel {
                why: "the request names no pool: resolve task auto to a pool first".to_string(),
            });
        }
        p => p,
    };
    let entries = candidates(fleet, demand, pool);
    let mut tally = Tally {
        needed: match pool {
            Pool::Transcription => 0,
            Pool::Chat(_) => demand.prompt_tokens.saturating_add(demand.max_tokens),
        },
        ..Tally::default()
    };
    match pool {
        Pool::Chat(_) => {
            for &mi in entries.iter() {
                if let Some(g) = try_model(fleet, state, demand, pool, mi, now, &mut tally) {
                    return Decision::Grant(g);
                }
            }
        }
        Pool::Transcription => {
            if let Some(g) = transcription_pass(fleet, state, demand, &entries, now, &mut tally) {
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
    let need = need_of(demand, m, pool);
    if pool == Pool::Transcription {
        tally.needed = tally.needed.max(need[AUD]);
    }
    let main = match pool {
        Pool::Transcription => need[AUD],
        Pool::Chat(_) => need[TOK],
    };
    let provider_until = state
        .provider_backoff
        .get(&m.spec.model.provider)
        .map_or(0, |b| b.until);
    let model_off = state.disabled_models.get(&m.name).map(|d| d.to_string());
    let skipped = demand.skip_models.contains(&m.spec.model);
    for acc in &m.accounts {
        let pos = state.slots.position(&acc.slot, fleet.id, acc.ix);
        let bound = pos.and_then(|p| state.slots.bound(acc.ix, p));
        if let (Some(b), Some((best, _))) = (bound, tally.wait)
            && b >= best
        {
            // No request fits this slot before the earliest wait found so far: it can
            // neither take the demand now nor offer an earlier wait.
            continue;
        }
        let slot = match pos {
            Some(p) => Some(state.slots.prune_at(p, now)),
            None => None,
        };
        let caps = caps_of(fleet, m, slot);
        let possible = requests_possible(&caps);
        let largest = largest_for(m, &caps, demand, pool);
        let mut need = need;
        let mut main = main;
        // No max_tokens was asked for: a model whose whole window (Groq's 8K TPM) cannot take
        // the task's usual answer still serves with the longest answer it takes.
        let shrunk = matches!(pool, Pool::Chat(_))
            && demand.answer_ceiling.is_some()
            && main > largest
            && largest >= demand.prompt_tokens.saturating_add(MIN_FITTED_ANSWER);
        if shrunk {
            need[TOK] = largest;
            main = largest;
        }
        if main > largest || !possible {
            tally.largest = tally.largest.max(if possible { largest } else { 0 });
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
        if let Some(d) = state.unavailable.get(&acc.slot) {
            tally.exhausted.push(format!(
                "{} is unavailable to account {} ({d})",
                m.name, acc.name
            ));
            continue;
        }
        let fit = fits_with_caps(slot, &caps, provider_until, need, now);
        let room = match (fit, pool) {
            (Some(at), Pool::Chat(_)) if at <= now && !shrunk => {
                answer_room(m, &caps, slot, demand, now)
            }
            _ => 0,
        };
        if let Some(p) = pos
            && fit.is_none_or(|at| at > now)
            && bound.is_none()
        {
            // Remember when the slot takes its next request at all, to skip it cheaply
            // while it cannot beat the wait already found (see `SlotTable::bound`).
            // A bound at `now` skips nothing later and would not hold for a caller whose
            // clock reads earlier: keep only one set by a cooldown or a release instant.
            let bound = fits_with_caps(slot, &caps, 0, [1, 0, 0], now).unwrap_or(Millis::MAX);
            if bound > now {
                state.slots.set_bound(acc.ix, p, bound);
            }
        }
        let Some(key) = usable_key(state, demand, m, acc, tally) else {
            continue;
        };
        match fit {
            Some(at) if at <= now => {
                let mut need = need;
                need[TOK] = need[TOK].saturating_add(room);
                let answer = need[TOK].saturating_sub(demand.prompt_tokens);
                let mut g = grant(state, m, acc, pos, key, need, now);
                g.max_tokens = answer;
                return Some(g);
            }
            Some(at) => tally.note_wait(at, mi),
            None => {}
        }
    }
    None
}

/// The shortest answer a fitted request (no `max_tokens` asked for) is shrunk to on a model
/// whose whole token window cannot take the task's usual answer.
pub const MIN_FITTED_ANSWER: u64 = 256;

/// How many answer tokens beyond `demand.max_tokens` a grant may add, up to the demand's
/// `answer_ceiling`: what the model's output limit, its context window and every token
/// window of the account (after what is used and what this demand needs) leave free now.
fn answer_room(
    m: &FleetModel,
    caps: &Caps,
    slot: Option<&Slot>,
    demand: &Demand,
    now: Millis,
) -> u64 {
    let Some(ceiling) = demand.answer_ceiling else {
        return 0;
    };
    let base = demand.prompt_tokens.saturating_add(demand.max_tokens);
    let mut room = ceiling.saturating_sub(demand.max_tokens);
    if let Some(mo) = m.spec.max_output_tokens {
        room = room.min(mo.saturating_sub(demand.max_tokens));
    }
    if let Some(ctx) = m.spec.context_window {
        room = room.min(ctx.saturating_sub(base));
    }
    for w in [Window::Tpm, Window::Tpd] {
        if let Some(c) = caps[widx(w)] {
            let used = slot.map_or(0, |s| s.windows.used(w, now));
            room = room.min(c.saturating_sub(used).saturating_sub(base));
        }
    }
    room
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
                "key {} ({}) is disabled ({d})",
                k.key.masked, k.key.account
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
    pos: Option<usize>,
    key: usize,
    need: Amounts,
    now: Millis,
) -> Grant {
    let id = state.next_grant_id;
    state.next_grant_id += 1;
    let slot = match pos {
        Some(p) => state.slots.at_mut(p),
        None => state.slots.get_or_default(&acc.slot),
    };
    slot.windows.add(now, need);
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
        max_tokens: 0,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testkit::*;
    use crate::engine::{Decision, Unfit};
    use crate::model::{Limits, ModelRef, Task};

    fn granted(d: Decision) -> Grant {
        match d {
            Decision::Grant(g) => g,
            other => panic!("expected a grant, got {other:?}"),
        }
    }

    fn m(id: &str) -> ModelRef {
        ModelRef::new("groq", id)
    }

    #[test]
    fn grants_first_candidate_and_records_request_and_tokens() {
        let f = fleet(
            vec![chat_model("groq", "a", rpm_tpm(10, 1_000))],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(100, 50), 1_000));
        assert_eq!(g.candidate.model, m("a"));
        assert_eq!(g.tokens, 150);
        assert_eq!((g.id, g.at), (0, 1_000));
        let s = &st.slots["acc@groq/a"];
        assert_eq!(s.windows.used(Window::Rpm, 1_000), 1);
        assert_eq!(s.windows.used(Window::Tpm, 1_000), 150);
        assert_eq!(s.windows.used(Window::Tpd, 1_000), 150);
        let g2 = granted(reserve(&f, &mut st, &chat(1, 1), 1_001));
        assert_eq!(g2.id, 1);
    }

    #[test]
    fn rpm_full_waits_until_the_exact_instant_the_oldest_request_leaves() {
        let f = fleet(
            vec![chat_model("groq", "a", rpm_tpm(2, 100_000))],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        let mut st = EngineState::default();
        granted(reserve(&f, &mut st, &chat(10, 10), 0));
        granted(reserve(&f, &mut st, &chat(10, 10), 1_000));
        let d = reserve(&f, &mut st, &chat(10, 10), 2_000);
        // 60 s window + 1 % guard (600 ms) after the first request.
        assert_eq!(
            d,
            Decision::Wait {
                until: 60_600,
                next: m("a")
            }
        );
        assert!(matches!(
            reserve(&f, &mut st, &chat(10, 10), 60_599),
            Decision::Wait { until: 60_600, .. }
        ));
        granted(reserve(&f, &mut st, &chat(10, 10), 60_600));
    }

    #[test]
    fn tpm_waits_until_enough_tokens_leave_with_margin() {
        // 1000 TPM with 10 % margin: 900 usable.
        let f = fleet(
            vec![chat_model("groq", "a", rpm_tpm(100, 1_000))],
            vec![key("groq", "acc", 1)],
            0.1,
        );
        let mut st = EngineState::default();
        granted(reserve(&f, &mut st, &chat(300, 100), 0)); // 400
        granted(reserve(&f, &mut st, &chat(300, 100), 10_000)); // 800
        // 200 more needs 100 freed: the first mark (400) leaves at 60 600.
        assert_eq!(
            reserve(&f, &mut st, &chat(100, 100), 20_000),
            Decision::Wait {
                until: 60_600,
                next: m("a")
            }
        );
        // 100 more fits now (800 + 100 = 900).
        granted(reserve(&f, &mut st, &chat(50, 50), 20_000));
    }

    #[test]
    fn day_window_waits_a_day_and_a_guard() {
        let lim = Limits {
            rpd: Some(1),
            ..Limits::default()
        };
        let f = fleet(
            vec![chat_model("groq", "a", lim)],
            vec![key("groq", "acc", 1)],
            0.05,
        );
        let mut st = EngineState::default();
        granted(reserve(&f, &mut st, &chat(1, 1), 5_000));
        let until = 5_000 + 86_400_000 + 864_000;
        assert_eq!(
            reserve(&f, &mut st, &chat(1, 1), 6_000),
            Decision::Wait {
                until,
                next: m("a")
            }
        );
        assert!(matches!(
            reserve(&f, &mut st, &chat(1, 1), until - 1),
            Decision::Wait { .. }
        ));
        granted(reserve(&f, &mut st, &chat(1, 1), until));
    }

    #[test]
    fn keys_of_one_account_share_windows_other_accounts_add_capacity() {
        let spec = chat_model("groq", "a", rpm_tpm(1, 100_000));
        let shared = fleet(
            vec![spec.clone()],
            vec![key("groq", "org", 1), key("groq", "org", 2)],
            0.0,
        );
        let mut st = EngineState::default();
        granted(reserve(&shared, &mut st, &chat(1, 1), 0));
        assert!(matches!(
            reserve(&shared, &mut st, &chat(1, 1), 1),
            Decision::Wait { until: 60_600, .. }
        ));

        let separate = fleet(
            vec![spec],
            vec![key("groq", "a", 1), key("groq", "b", 2)],
            0.0,
        );
        let mut st = EngineState::default();
        let g1 = granted(reserve(&separate, &mut st, &chat(1, 1), 0));
        let g2 = granted(reserve(&separate, &mut st, &chat(1, 1), 1));
        assert_eq!(g1.candidate.key.account, "a");
        assert_eq!(g2.candidate.key.account, "b");
        assert!(matches!(
            reserve(&separate, &mut st, &chat(1, 1), 2),
            Decision::Wait { until: 60_600, .. }
        ));
    }

    #[test]
    fn full_model_rotates_to_the_next_and_wait_names_the_earliest() {
        let f = fleet(
            vec![
                chat_model("groq", "a", rpm_tpm(1, 100_000)),
                chat_model("groq", "b", rpm_tpm(1, 100_000)),
            ],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        let mut st = EngineState::default();
        assert_eq!(
            granted(reserve(&f, &mut st, &chat(1, 1), 0))
                .candidate
                .model,
            m("a")
        );
        assert_eq!(
            granted(reserve(&f, &mut st, &chat(1, 1), 500))
                .candidate
                .model,
            m("b")
        );
        // a frees at 60 600, b at 61 100: wait for a.
        assert_eq!(
            reserve(&f, &mut st, &chat(1, 1), 1_000),
            Decision::Wait {
                until: 60_600,
                next: m("a")
            }
        );
    }

    #[test]
    fn learned_limit_lower_than_configured_binds() {
        let f = fleet(
            vec![chat_model("groq", "a", rpm_tpm(10, 100_000))],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        let mut st = EngineState::default();
        st.slots
            .get_or_default("acc@groq/a")
            .learned
            .set(Window::Rpm, Some(1));
        granted(reserve(&f, &mut st, &chat(1, 1), 0));
        assert!(matches!(
            reserve(&f, &mut st, &chat(1, 1), 1),
            Decision::Wait { until: 60_600, .. }
        ));
        // A learned limit above the configured one changes nothing.
        let mut st = EngineState::default();
        st.slots
            .get_or_default("acc@groq/a")
            .learned
            .set(Window::Rpm, Some(1_000));
        for t in 0..10 {
            granted(reserve(&f, &mut st, &chat(1, 1), t));
        }
        assert!(matches!(
            reserve(&f, &mut st, &chat(1, 1), 10),
            Decision::Wait { .. }
        ));
    }

    #[test]
    fn learned_limit_applies_where_none_is_configured() {
        let f = fleet(
            vec![chat_model("groq", "a", Limits::default())],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        let mut st = EngineState::default();
        for t in 0..100 {
            granted(reserve(&f, &mut st, &chat(100, 100), t));
        }
        st.slots
            .get_mut("acc@groq/a")
            .unwrap()
            .learned
            .set(Window::Tpm, Some(20_000));
        assert!(matches!(
            reserve(&f, &mut st, &chat(100, 100), 200),
            Decision::Wait { until: 60_600, .. }
        ));
    }

    #[test]
    fn no_credentials_when_no_enabled_provider_has_a_key() {
        let f = fleet(vec![chat_model("groq", "a", rpm_tpm(1, 1))], vec![], 0.0);
        let mut st = EngineState::default();
        assert_eq!(
            reserve(&f, &mut st, &chat(1, 1), 0),
            Decision::Unfit(Unfit::NoCredentials {
                pool: Pool::Chat(Task::Fast)
            })
        );
        let mut f = fleet(
            vec![chat_model("groq", "a", rpm_tpm(1, 1))],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        f.models[0].enabled = false;
        assert!(matches!(
            reserve(&f, &mut st, &chat(1, 1), 0),
            Decision::Unfit(Unfit::NoCredentials { .. })
        ));
    }

    #[test]
    fn too_large_reports_needed_and_the_largest_any_model_takes() {
        let mut big = chat_model("groq", "big", rpm_tpm(10, 6_000));
        big.context_window = Some(131_072);
        let small = chat_model("groq", "small", rpm_tpm(10, 100_000)); // 8192 context
        let f = fleet(vec![small, big], vec![key("groq", "acc", 1)], 0.05);
        let mut st = EngineState::default();
        // small: context 8192; big: TPM cap 5700.
        assert_eq!(
            reserve(&f, &mut st, &chat(9_000, 1_000), 0),
            Decision::Unfit(Unfit::TooLarge {
                needed: 10_000,
                largest: 8_192
            })
        );
        // 7000 fits small's context.
        granted(reserve(&f, &mut st, &chat(6_000, 1_000), 0));
        // max_output_tokens: a model answering at most 100 tokens takes prompt + 100.
        let mut capped = chat_model("groq", "c", rpm_tpm(10, 100_000));
        capped.max_output_tokens = Some(100);
        let f = fleet(vec![capped], vec![key("groq", "acc", 1)], 0.0);
        assert_eq!(
            reserve(&f, &mut st, &chat(50, 500), 0),
            Decision::Unfit(Unfit::TooLarge {
                needed: 550,
                largest: 150
            })
        );
    }

    #[test]
    fn the_largest_request_is_the_biggest_over_capable_models_whatever_is_used() {
        let mut big = chat_model("groq", "big", rpm_tpm(10, 6_000));
        big.context_window = Some(131_072);
        let mut plain = chat_model("groq", "plain", rpm_tpm(10, 100_000));
        plain.tools = false;
        let f = fleet(vec![big, plain], vec![key("groq", "acc", 1)], 0.05);
        let mut st = EngineState::default();
        // big: its TPM cap (6000 less the margin); plain's 8192 context counts only when
        // the demand needs no tools.
        assert_eq!(largest_request(&f, &st, &chat(1, 1)), Some(8_192));
        let tools = Demand {
            needs_tools: true,
            ..chat(1, 1)
        };
        assert_eq!(largest_request(&f, &st, &tools), Some(5_700));
        // What the minute already holds does not shrink it.
        granted(reserve(&f, &mut st, &chat(5_000, 600), 0));
        assert_eq!(largest_request(&f, &st, &tools), Some(5_700));
        // A model taken out of rotation, or whose only account cannot see it, is no size
        // to fit: only `plain` could serve, and it takes no tools.
        let off = crate::engine::state::Disabled {
            key: None,
            cause: crate::engine::state::DisableCause::Decommissioned,
            message: "gone".into(),
            at: 0,
        };
        st.disabled_models.insert("groq/big".into(), off.clone());
        assert_eq!(largest_request(&f, &st, &tools), None);
        assert_eq!(largest_request(&f, &st, &chat(1, 1)), Some(8_192));
        st.disabled_models.clear();
        st.unavailable
            .insert(f.models[0].accounts[0].slot.clone(), off);
        assert_eq!(largest_request(&f, &st, &tools), None);
        let none = fleet(vec![chat_model("groq", "a", rpm_tpm(1, 1))], vec![], 0.0);
        assert_eq!(largest_request(&none, &st, &chat(1, 1)), None);
    }

    #[test]
    fn no_capable_model_names_what_is_missing() {
        let mut plain = chat_model("groq", "a", rpm_tpm(10, 10_000));
        plain.tools = false;
        let f = fleet(vec![plain], vec![key("groq", "acc", 1)], 0.0);
        let mut st = EngineState::default();
        let mut d = chat(1, 1);
        d.needs_tools = true;
        match reserve(&f, &mut st, &d, 0) {
            Decision::Unfit(Unfit::NoCapableModel { why }) => assert!(why.contains("tool")),
            other => panic!("{other:?}"),
        }
        let mut eye = chat_model("groq", "eye", rpm_tpm(10, 10_000));
        eye.vision = true;
        eye.images = Some(crate::catalog::ImageLimits {
            max_images: 5,
            max_image_bytes: 4_000_000,
            max_megapixels: None,
        });
        let f = fleet(vec![eye], vec![key("groq", "acc", 1)], 0.0);
        let mut d = chat(1, 1);
        d.images = 6;
        assert!(matches!(
            reserve(&f, &mut st, &d, 0),
            Decision::Unfit(Unfit::NoCapableModel { why }) if why.contains("at most 5")
        ));
        d.images = 1;
        d.largest_image_bytes = 5_000_000;
        assert!(matches!(
            reserve(&f, &mut st, &d, 0),
            Decision::Unfit(Unfit::NoCapableModel { why }) if why.contains("4000000")
        ));
        d.largest_image_bytes = 1_000;
        granted(reserve(&f, &mut st, &d, 0));
    }

    #[test]
    fn exhausted_when_every_candidate_is_tried_skipped_or_disabled() {
        let f = fleet(
            vec![
                chat_model("groq", "a", rpm_tpm(10, 10_000)),
                chat_model("groq", "b", rpm_tpm(10, 10_000)),
            ],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(1, 1), 0));
        let mut d = chat(1, 1);
        d.tried.push(g.candidate.clone());
        let g2 = granted(reserve(&f, &mut st, &d, 0));
        assert_eq!(g2.candidate.model, m("b"));
        d.skip_models.push(m("b"));
        match reserve(&f, &mut st, &d, 0) {
            Decision::Unfit(Unfit::Exhausted { why }) => {
                assert!(why.contains("tried already"), "{why}");
                assert!(why.contains("ruled out"), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn transcription_prefers_the_first_provider_then_round_robins_the_rest() {
        let f = fleet(
            vec![
                whisper(
                    "groq",
                    "whisper-large-v3",
                    1,
                    Some(25_000_000),
                    &["wav", "mp3"],
                ),
                whisper("openai", "whisper-1", 10, Some(26_214_400), &["wav", "mp3"]),
                whisper("together", "openai/whisper-large-v3", 10, None, &["wav"]),
            ],
            vec![
                key("groq", "g", 1),
                key("openai", "o", 2),
                key("together", "t", 3),
            ],
            0.0,
        );
        let mut st = EngineState::default();
        let who = |d: Decision| granted(d).candidate.model.provider;
        assert_eq!(
            who(reserve(&f, &mut st, &audio(5, 1_000, "wav"), 0)),
            "groq"
        );
        // groq (1 RPM) is full: round-robin openai, together, openai.
        assert_eq!(
            who(reserve(&f, &mut st, &audio(5, 1_000, "wav"), 1)),
            "openai"
        );
        assert_eq!(
            who(reserve(&f, &mut st, &audio(5, 1_000, "wav"), 2)),
            "together"
        );
        assert_eq!(
            who(reserve(&f, &mut st, &audio(5, 1_000, "wav"), 3)),
            "openai"
        );
        // mp3: together does not take it, so openai again.
        assert_eq!(
            who(reserve(&f, &mut st, &audio(5, 1_000, "mp3"), 4)),
            "openai"
        );
        // Back to groq as soon as it has capacity.
        assert_eq!(
            who(reserve(&f, &mut st, &audio(5, 1_000, "wav"), 60_600)),
            "groq"
        );
        // 30 MB: groq takes 25 MB, openai 25 MiB, together publishes none so the config's
        // 25 MB applies: nobody takes it.
        assert!(matches!(
            reserve(&f, &mut st, &audio(5, 30_000_000, "wav"), 60_601),
            Decision::Unfit(Unfit::NoCapableModel { .. })
        ));
        // 25.5 MB: only openai's 25 MiB limit takes it.
        assert_eq!(
            who(reserve(&f, &mut st, &audio(5, 25_500_000, "wav"), 60_602)),
            "openai"
        );
    }

    #[test]
    fn transcription_reserves_the_billed_minimum_of_audio_seconds() {
        let mut w = whisper("groq", "whisper-large-v3", 100, None, &["wav"]);
        w.limits.ash = Some(100);
        let f = fleet(vec![w], vec![key("groq", "g", 1)], 0.0);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &audio(3, 10, "wav"), 0));
        assert_eq!(g.audio_secs, 10);
        assert_eq!(
            st.slots["g@groq/whisper-large-v3"]
                .windows
                .used(Window::Ash, 0),
            10
        );
        assert_eq!(
            reserve(&f, &mut st, &audio(500, 10, "wav"), 0),
            Decision::Unfit(Unfit::TooLarge {
                needed: 500,
                largest: 100
            })
        );
        for t in 1..10 {
            granted(reserve(&f, &mut st, &audio(1, 10, "wav"), t));
        }
        // ASH is full: the first bucket (stamped at its latest addition, 9) leaves after an
        // hour and a guard.
        assert_eq!(
            reserve(&f, &mut st, &audio(1, 10, "wav"), 10),
            Decision::Wait {
                until: 9 + 3_600_000 + 36_000,
                next: ModelRef::new("groq", "whisper-large-v3")
            }
        );
    }

    #[test]
    fn a_cached_bound_holds_for_a_caller_whose_clock_reads_earlier() {
        // a: 1 RPM, no tools; b: 1,000 TPM with tools.
        let mut a = chat_model("groq", "a", rpm_tpm(1, 1_000_000));
        a.tools = false;
        let b = chat_model("groq", "b", rpm_tpm(1_000, 1_000));
        let f = fleet(vec![a, b], vec![key("groq", "x", 1)], 0.0);
        let tools = |prompt: u64| Demand {
            needs_tools: true,
            ..chat(prompt, 0)
        };
        let mut st = EngineState::default();
        granted(reserve(&f, &mut st, &chat(10, 0), 0));
        granted(reserve(&f, &mut st, &tools(995), 30_000));
        // b is out of tokens until 90,600 but free for requests: no bound is kept for it.
        assert!(matches!(
            reserve(&f, &mut st, &tools(10), 61_000),
            Decision::Wait { until: 90_600, .. }
        ));
        // Another process whose clock reads 60,000: a is still cooling from its request at
        // 0 (frees at 60,600), and b takes 5 tokens now, cached state or not.
        let json = serde_json::to_string(&st).unwrap();
        let mut fresh: EngineState = serde_json::from_str(&json).unwrap();
        let cached = reserve(&f, &mut st, &chat(5, 0), 60_000);
        assert_eq!(cached, reserve(&f, &mut fresh, &chat(5, 0), 60_000));
        assert_eq!(granted(cached).candidate.model, m("b"));
    }

    #[test]
    fn parallel_tool_calls_go_only_to_models_that_make_them() {
        let mut one_call = chat_model("groq", "oss", rpm_tpm(10, 10_000));
        one_call.tools = true;
        one_call.parallel_tools = false;
        let mut many = chat_model("openai", "luna", rpm_tpm(10, 10_000));
        many.tools = true;
        many.parallel_tools = true;
        let f = fleet(
            vec![one_call, many],
            vec![key("groq", "acc", 1), key("openai", "acc", 2)],
            0.0,
        );
        let mut st = EngineState::default();
        // A plain chat and a tool chat take the first model.
        assert_eq!(
            granted(reserve(&f, &mut st, &chat(5, 5), 0))
                .candidate
                .model,
            m("oss")
        );
        let mut d = chat(5, 5);
        d.needs_tools = true;
        assert_eq!(
            granted(reserve(&f, &mut st, &d, 0)).candidate.model,
            m("oss")
        );
        // Parallel calls skip it.
        d.needs_parallel_tools = true;
        let g = granted(reserve(&f, &mut st, &d, 0));
        assert_eq!(g.candidate.model.to_string(), "openai/luna");
        let f = fleet(
            vec![f.models[0].spec.clone()],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        match reserve(&f, &mut EngineState::default(), &d, 0) {
            Decision::Unfit(Unfit::NoCapableModel { why }) => {
                assert!(why.contains("one tool call per turn"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fitted_answer_takes_the_windows_headroom_up_to_the_ceiling() {
        let f = fleet(
            vec![chat_model("groq", "a", rpm_tpm(10, 8_000))],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        let mut st = EngineState::default();
        let mut d = chat(100, 1_000);
        d.answer_ceiling = Some(4_000);
        let g = granted(reserve(&f, &mut st, &d, 0));
        assert_eq!((g.max_tokens, g.tokens), (4_000, 4_100));
        // The next one gets what the minute has left: 8,000 − 4,100 − 100.
        let g = granted(reserve(&f, &mut st, &d, 0));
        assert_eq!(g.max_tokens, 3_800);
        // Without a ceiling the answer is exactly what was asked.
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(100, 1_000), 0));
        assert_eq!(g.max_tokens, 1_000);
    }

    #[test]
    fn a_fitted_answer_shrinks_to_a_window_smaller_than_the_tasks_default() {
        // 8K TPM, a 7,000-token prompt: the task's 1,024 does not fit, 1,000 does.
        let f = fleet(
            vec![chat_model("groq", "a", rpm_tpm(10, 8_000))],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        let mut d = chat(7_000, 1_024);
        d.answer_ceiling = Some(4_096);
        let g = granted(reserve(&f, &mut EngineState::default(), &d, 0));
        assert_eq!(g.max_tokens, 1_000);
        // Asked for explicitly, 1,024 is refused with both numbers.
        assert!(matches!(
            reserve(&f, &mut EngineState::default(), &chat(7_000, 1_024), 0),
            Decision::Unfit(Unfit::TooLarge {
                needed: 8_024,
                largest: 8_000
            })
        ));
    }
}
