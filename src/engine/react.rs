//! What happens after a call: true the reservation up, release it, or react to the error;
//! and what a reply's rate-limit headers teach.

use super::fleet::{Fleet, key_id, slot_id};
use super::state::{Backoff, Disabled, EngineState, jitter};
use super::{Candidate, Classified, Grant, RateReading};
use crate::model::{Millis, Reason, Usage, Window};

/// First backoff after a 429 without `retry-after`.
pub const RATE_BACKOFF_BASE_MS: u64 = 1_000;
/// Longest backoff after repeated 429s without `retry-after`.
pub const RATE_BACKOFF_CAP_MS: u64 = 60_000;
/// First provider-wide backoff after overload, 5xx, timeout or a broken connection.
pub const PROVIDER_BACKOFF_BASE_MS: u64 = 500;
/// Longest provider-wide backoff.
pub const PROVIDER_BACKOFF_CAP_MS: u64 = 30_000;

/// The call succeeded: count what the provider really used instead of the reservation
/// (prompt + completion tokens) and clear the backoffs of that account, model and provider.
pub fn complete(fleet: &Fleet, state: &mut EngineState, grant: &Grant, usage: &Usage, now: Millis) {
    let _ = (fleet, now);
    settle(state, grant, usage.total(), grant.audio_secs);
    clear_backoff(state, &grant.candidate);
}

/// A transcription succeeded: count `audio_secs` (at least the model's billed minimum),
/// clear backoffs and add to the provider's [`super::TranscriptionStats`].
pub fn complete_transcription(
    fleet: &Fleet,
    state: &mut EngineState,
    grant: &Grant,
    audio_secs: u64,
    bytes: u64,
    now: Millis,
) {
    let _ = now;
    let min = fleet
        .spec(&grant.candidate.model)
        .and_then(|s| s.audio.as_ref())
        .map_or(0, |a| a.min_billed_secs as u64);
    settle(state, grant, 0, audio_secs.max(min));
    clear_backoff(state, &grant.candidate);
    let st = state
        .transcription_stats
        .entry(grant.candidate.model.provider.clone())
        .or_default();
    st.requests += 1;
    st.bytes += bytes;
    st.audio_secs += audio_secs;
}

/// The provider never counted the call (refused connection, auth failure, cancelled before
/// sending, 429): remove the reservation from every window. Idempotent.
pub fn release(state: &mut EngineState, grant: &Grant) {
    if let Some(r) = state.inflight.remove(&grant.id)
        && let Some(s) = state.slots.get_mut(&r.slot)
    {
        s.windows.adjust(
            r.at,
            [-1, -(r.tokens as i64), -(r.audio_secs as i64)],
            r.audio_secs > 0,
        );
    }
}

/// Replaces the reservation's amounts with what was really used. Idempotent.
fn settle(state: &mut EngineState, grant: &Grant, tokens: u64, audio: u64) {
    if let Some(r) = state.inflight.remove(&grant.id)
        && let Some(s) = state.slots.get_mut(&r.slot)
    {
        s.windows.adjust(
            r.at,
            [
                0,
                tokens as i64 - r.tokens as i64,
                audio as i64 - r.audio_secs as i64,
            ],
            r.audio_secs > 0,
        );
    }
}

fn clear_backoff(state: &mut EngineState, c: &Candidate) {
    if let Some(s) = state.slots.get_mut(&slot_id(&c.key.account, &c.model)) {
        s.backoff = 0;
    }
    if let Some(b) = state.provider_backoff.get_mut(&c.model.provider) {
        b.level = 0;
    }
}

/// Records a limit a provider stated: it never raises a configured limit (the lower one is
/// in force), and replaces an earlier learned figure.
fn learn(state: &mut EngineState, slot: &str, w: Window, limit: u64) {
    state
        .slots
        .entry(slot.to_string())
        .or_default()
        .learned
        .set(w, Some(limit));
}

/// The call failed as `c` says. Reactions:
/// - `rate_limited`: release the reservation (a 429 is not counted), cool that account on
///   that model until `retry_after_ms` or an exponential backoff with deterministic jitter
///   (1 s doubling per repeat, capped at 60 s, cleared on success), learn the stated limit;
/// - `request_too_large`, `context_length`: release, learn the stated window limit (the
///   router skips the model for this request);
/// - `quota_exhausted`, `auth`: release, disable the key;
/// - `decommissioned`: release, disable the model;
/// - `overloaded`, `connection`: release, short provider-wide backoff;
/// - `server_error`, `timeout`, `bad_response`: the request reached the model and may have
///   been counted: keep the reservation as it is, short provider-wide backoff.
pub fn fail(fleet: &Fleet, state: &mut EngineState, grant: &Grant, c: &Classified, now: Millis) {
    let cand = &grant.candidate;
    let model = cand.model.to_string();
    let slot = slot_id(&cand.key.account, &cand.model);
    state
        .last_error
        .insert(model.clone(), format!("{}: {}", c.reason, c.message));
    if fleet.spec(&cand.model).is_some_and(|s| s.transcription) {
        state
            .transcription_stats
            .entry(cand.model.provider.clone())
            .or_default()
            .failures += 1;
    }
    match c.reason {
        Reason::RateLimited => {
            release(state, grant);
            if let (Some(w), Some(l)) = (c.window, c.limit) {
                learn(state, &slot, w, l);
            }
            let seed = state.next_grant_id;
            let s = state.slots.entry(slot).or_default();
            let wait = match c.retry_after_ms {
                Some(ms) => ms,
                None => {
                    let base = RATE_BACKOFF_BASE_MS
                        .saturating_mul(1u64 << s.backoff.min(20))
                        .min(RATE_BACKOFF_CAP_MS);
                    base + jitter(seed, s.backoff as u64, base / 4)
                }
            };
            s.backoff = s.backoff.saturating_add(1);
            s.cool_until = s.cool_until.max(now + wait);
        }
        Reason::RequestTooLarge | Reason::ContextLength => {
            release(state, grant);
            if c.reason == Reason::RequestTooLarge
                && let (Some(w), Some(l)) = (c.window, c.limit)
            {
                learn(state, &slot, w, l);
            }
        }
        Reason::QuotaExhausted | Reason::Auth => {
            release(state, grant);
            state.disabled_keys.insert(
                key_id(&cand.key),
                Disabled {
                    key: Some(cand.key.clone()),
                    reason: format!("{}: {}", c.reason, c.message),
                    at: now,
                },
            );
        }
        Reason::Decommissioned => {
            release(state, grant);
            state.disabled_models.insert(
                model,
                Disabled {
                    key: None,
                    reason: format!("{}: {}", c.reason, c.message),
                    at: now,
                },
            );
        }
        Reason::Overloaded | Reason::Connection => {
            release(state, grant);
            provider_backoff(state, &cand.model.provider, c.retry_after_ms, now);
        }
        Reason::ServerError | Reason::Timeout | Reason::BadResponse => {
            // Kept counted: the provider most likely received (and counted) it. Settle the
            // reservation as it is so a later `release` cannot remove it.
            state.inflight.remove(&grant.id);
            provider_backoff(state, &cand.model.provider, c.retry_after_ms, now);
        }
    }
}

fn provider_backoff(
    state: &mut EngineState,
    provider: &str,
    retry_after: Option<u64>,
    now: Millis,
) {
    let seed = state.next_grant_id;
    let b: &mut Backoff = state
        .provider_backoff
        .entry(provider.to_string())
        .or_default();
    let wait = match retry_after {
        Some(ms) => ms.min(60_000),
        None => {
            let base = PROVIDER_BACKOFF_BASE_MS
                .saturating_mul(1u64 << b.level.min(20))
                .min(PROVIDER_BACKOFF_CAP_MS);
            base + jitter(seed, 1_000 + b.level as u64, base / 4)
        }
    };
    b.level = b.level.saturating_add(1);
    b.until = b.until.max(now + wait);
}

/// Learns from a reply's rate-limit headers: `limit` becomes the learned limit of that
/// window; when `limit − remaining` shows the provider counted more than our own log does,
/// the difference counts in that window too until the provider's reset (or one span), so our
/// view is never more optimistic than the provider's.
pub fn sync_headers(
    fleet: &Fleet,
    state: &mut EngineState,
    cand: &Candidate,
    readings: &[RateReading],
    now: Millis,
) {
    let configured = fleet.configured_limits(&cand.model);
    let s = state
        .slots
        .entry(slot_id(&cand.key.account, &cand.model))
        .or_default();
    for r in readings {
        let w = r.window;
        if let Some(l) = r.limit {
            s.learned.set(w, Some(l));
        }
        let Some(remaining) = r.remaining else {
            continue;
        };
        let Some(limit) = r.limit.or(s.effective(configured.get(w), w).0) else {
            continue;
        };
        let theirs = limit.saturating_sub(remaining);
        let ours = s.windows.used(w, now);
        if theirs > ours {
            s.windows.extras.push(super::window::Extra {
                window: w,
                amount: theirs - ours,
                until: now + r.reset_ms.unwrap_or(w.span_ms()).max(1),
            });
        }
    }
}
