//! What happens after a call: true the reservation up, release it, or react to the error;
//! and what a reply's rate-limit headers teach.

use super::fleet::{Fleet, key_id, slot_id};
use super::policy::{Mark, Scope, policy};
use super::state::{Backoff, Disabled, EngineState, jitter};
use super::{Candidate, Classified, Grant, RateReading};
use crate::model::{Millis, Usage, Window};

/// First backoff after a 429 without `retry-after`.
pub const RATE_BACKOFF_BASE_MS: u64 = 1_000;
/// Longest backoff after repeated 429s without `retry-after`.
pub const RATE_BACKOFF_CAP_MS: u64 = 60_000;
/// First provider-wide backoff after overload, 5xx, timeout or a broken connection.
pub const PROVIDER_BACKOFF_BASE_MS: u64 = 500;
/// Longest provider-wide backoff.
pub const PROVIDER_BACKOFF_CAP_MS: u64 = 30_000;
/// How much longer than the window it names a cooldown may last (the provider's clock and
/// ours differ by a little).
pub const COOLDOWN_SLACK_MS: u64 = 1_000;
/// The largest limit believed from a provider: anything above is no limit at all (a header
/// of `18446744073709551615` must not wrap a window into looking free).
pub const MAX_BELIEVED_LIMIT: u64 = 1_000_000_000_000;

/// The longest cooldown one 429 may set: the window it names (plus a little), else
/// `[defaults] max_cooldown`. A `retry-after: 86400` on a minute limit cools a minute.
pub fn cooldown_cap(fleet: &Fleet, window: Option<Window>) -> Millis {
    match window {
        Some(w) => w.span_ms() + COOLDOWN_SLACK_MS,
        None => fleet.max_cooldown_ms,
    }
}

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

/// The provider may have counted the call (its reply had begun when the caller went away):
/// the reservation stays in the windows as it is, and a later `release` cannot remove it.
/// Idempotent.
pub fn keep(state: &mut EngineState, grant: &Grant) {
    state.inflight.remove(&grant.id);
}

/// The caller went away before the call ended: the reservation stays counted when the
/// provider's reply had begun (`replied`: it counted the request), else it is released.
pub fn abandon(state: &mut EngineState, grant: &Grant, replied: bool) {
    if replied {
        keep(state, grant);
    } else {
        release(state, grant);
    }
}

/// Moves a reservation's time to `now`. A provider counts a request from when it arrives,
/// which under load can be well after rota reserved it; the router calls this when the
/// reply's headers arrive, so rota's window never frees before the provider's does.
/// Idempotent; never moves a reservation back in time.
pub fn restamp(state: &mut EngineState, grant: &Grant, now: Millis) {
    if let Some(r) = state.inflight.get_mut(&grant.id)
        && now > r.at
        && let Some(s) = state.slots.get_mut(&r.slot)
    {
        let had_audio = r.audio_secs > 0;
        s.windows.adjust(
            r.at,
            [-1, -(r.tokens as i64), -(r.audio_secs as i64)],
            had_audio,
        );
        s.windows.add(now, [1, r.tokens, r.audio_secs]);
        r.at = now;
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
    if limit <= MAX_BELIEVED_LIMIT {
        state.slots.get_or_default(slot).learned.set(w, Some(limit));
    }
}

/// The call failed as `c` says; what follows is the reason's [`policy`]:
/// - the reservation is released (the provider did not count the request), or kept counted
///   as it is (the request reached the model);
/// - where the policy says so, a limit the failure states for a window becomes that
///   window's learned limit;
/// - the mark: [`Mark::Cooldown`] cools that account on that model until `retry_after_ms`,
///   else an exponential backoff with deterministic jitter (1 s doubling per repeat, capped
///   at 60 s, cleared on success), never longer than [`cooldown_cap`];
///   [`Mark::ProviderBackoff`] backs the whole provider off briefly; [`Mark::DisableKey`]
///   takes the key out of rotation; [`Mark::Unavailable`] makes the model unavailable to
///   that account (the next `GET /models` that lists it lifts it);
/// - the model's last error and the provider's transcription failures are recorded, except
///   for a [`Scope::Local`] failure: the provider never saw that request.
pub fn fail(fleet: &Fleet, state: &mut EngineState, grant: &Grant, c: &Classified, now: Millis) {
    let cand = &grant.candidate;
    let slot = slot_id(&cand.key.account, &cand.model);
    let p = policy(c.reason);
    if p.releases {
        release(state, grant);
    } else {
        // Settle the reservation as it is, so a later `release` cannot remove it.
        state.inflight.remove(&grant.id);
    }
    if p.scope != Scope::Local {
        state.last_error.insert(
            cand.model.to_string(),
            format!("{}: {}", c.reason, c.message),
        );
        if fleet.spec(&cand.model).is_some_and(|s| s.transcription) {
            state
                .transcription_stats
                .entry(cand.model.provider.clone())
                .or_default()
                .failures += 1;
        }
    }
    if p.learns_limit
        && let (Some(w), Some(l)) = (c.window, c.limit)
    {
        learn(state, &slot, w, l);
    }
    match p.mark {
        Mark::Nothing => {}
        Mark::Cooldown => cool(fleet, state, &slot, c, now),
        Mark::ProviderBackoff => {
            provider_backoff(state, &cand.model.provider, c.retry_after_ms, now);
        }
        Mark::DisableKey(cause) => {
            state.disabled_keys.insert(
                key_id(&cand.key),
                Disabled {
                    key: Some(cand.key.clone()),
                    cause,
                    message: c.message.clone(),
                    at: now,
                },
            );
        }
        Mark::Unavailable(cause) => {
            // Per account: one project may lack a model others have.
            state.unavailable.insert(
                slot,
                Disabled {
                    key: None,
                    cause,
                    message: c.message.clone(),
                    at: now,
                },
            );
        }
    }
}

/// Cools one slot after a 429: until `retry_after_ms`, else 1 s doubling per repeat (capped
/// at 60 s) plus jitter; never longer than [`cooldown_cap`].
fn cool(fleet: &Fleet, state: &mut EngineState, slot: &str, c: &Classified, now: Millis) {
    let seed = state.next_grant_id;
    let s = state.slots.get_or_default(slot);
    let wait = match c.retry_after_ms {
        Some(ms) => ms,
        None => {
            let base = RATE_BACKOFF_BASE_MS
                .saturating_mul(1u64 << s.backoff.min(20))
                .min(RATE_BACKOFF_CAP_MS);
            base + jitter(seed, s.backoff as u64, base / 4)
        }
    };
    let wait = wait.min(cooldown_cap(fleet, c.window));
    s.backoff = s.backoff.saturating_add(1);
    s.cool_until = s.cool_until.max(now.saturating_add(wait));
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
    b.until = b.until.max(now.saturating_add(wait));
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
        .get_or_default(&slot_id(&cand.key.account, &cand.model));
    for r in readings {
        let w = r.window;
        let believed = r.limit.filter(|&l| l <= MAX_BELIEVED_LIMIT);
        if let Some(l) = believed {
            s.learned.set(w, Some(l));
        }
        let Some(remaining) = r.remaining else {
            continue;
        };
        let Some(limit) = believed.or(s.effective(configured.get(w), w).0) else {
            continue;
        };
        let theirs = limit.saturating_sub(remaining);
        let ours = s.windows.used(w, now);
        if theirs > ours {
            s.windows.extras.push(super::window::Extra {
                window: w,
                amount: theirs - ours,
                // A reset never outlasts its window, however far off the header puts it.
                until: now.saturating_add(r.reset_ms.unwrap_or(w.span_ms()).clamp(1, w.span_ms())),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::DisableCause;
    use crate::engine::testkit::*;
    use crate::engine::{Decision, Unfit, reserve};
    use crate::model::{ModelRef, Reason};

    fn granted(d: Decision) -> Grant {
        match d {
            Decision::Grant(g) => g,
            other => panic!("expected a grant, got {other:?}"),
        }
    }

    fn classified(
        reason: Reason,
        window: Option<Window>,
        limit: Option<u64>,
        retry: Option<u64>,
    ) -> Classified {
        Classified {
            reason,
            window,
            limit,
            retry_after_ms: retry,
            message: "test".into(),
        }
    }

    fn one_model(rpm: u64, tpm: u64) -> Fleet {
        fleet(
            vec![
                chat_model("groq", "a", rpm_tpm(rpm, tpm)),
                chat_model("openai", "b", rpm_tpm(rpm, tpm)),
            ],
            vec![
                key("groq", "acc", 1),
                key("groq", "acc", 2),
                key("openai", "o", 3),
            ],
            0.0,
        )
    }

    fn used(st: &EngineState, slot: &str, w: Window, now: Millis) -> u64 {
        st.slots[slot].windows.used(w, now)
    }

    #[test]
    fn complete_trues_the_reservation_up_to_real_usage() {
        let f = one_model(10, 10_000);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(100, 1_000), 0));
        assert_eq!(used(&st, "acc@groq/a", Window::Tpm, 0), 1_100);
        let u = Usage {
            prompt_tokens: 120,
            completion_tokens: 30,
        };
        complete(&f, &mut st, &g, &u, 5_000);
        assert_eq!(used(&st, "acc@groq/a", Window::Tpm, 5_000), 150);
        assert_eq!(used(&st, "acc@groq/a", Window::Tpd, 5_000), 150);
        assert_eq!(used(&st, "acc@groq/a", Window::Rpm, 5_000), 1);
        // Settling twice changes nothing.
        complete(&f, &mut st, &g, &Usage::default(), 5_000);
        release(&mut st, &g);
        assert_eq!(used(&st, "acc@groq/a", Window::Tpm, 5_000), 150);
    }

    #[test]
    fn release_removes_the_reservation_once() {
        let f = one_model(1, 10_000);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(10, 10), 0));
        let g2 = granted(reserve(&f, &mut st, &chat(10, 10), 0));
        assert_eq!(g2.candidate.model.provider, "openai");
        release(&mut st, &g);
        release(&mut st, &g);
        assert_eq!(used(&st, "acc@groq/a", Window::Rpm, 0), 0);
        assert_eq!(used(&st, "acc@groq/a", Window::Tpd, 0), 0);
        assert_eq!(used(&st, "o@openai/b", Window::Rpm, 0), 1);
        assert_eq!(
            granted(reserve(&f, &mut st, &chat(10, 10), 1))
                .candidate
                .model
                .provider,
            "groq"
        );
    }

    #[test]
    fn restamp_moves_the_reservation_to_its_arrival_so_it_frees_later() {
        // RPM 1 on groq/a: a reservation at 0 that reached the provider at 1500 frees at
        // 1500 + the window + guard, not at 0 + the window + guard.
        let f = one_model(1, 10_000);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(10, 10), 0));
        restamp(&mut st, &g, 1_500);
        restamp(&mut st, &g, 1_000); // never back in time
        assert_eq!(used(&st, "acc@groq/a", Window::Rpm, 1_500), 1);
        assert_eq!(used(&st, "acc@groq/a", Window::Tpm, 1_500), 20);
        let frees = 1_500 + crate::engine::window::hold_ms(Window::Rpm);
        assert_eq!(used(&st, "acc@groq/a", Window::Rpm, frees - 1), 1);
        assert_eq!(used(&st, "acc@groq/a", Window::Rpm, frees), 0);
        // Completing after a restamp trues up the moved entry.
        complete(
            &f,
            &mut st,
            &g,
            &Usage {
                prompt_tokens: 5,
                completion_tokens: 3,
            },
            2_000,
        );
        assert_eq!(used(&st, "acc@groq/a", Window::Tpm, 2_000), 8);
    }

    #[test]
    fn a_huge_wait_cools_at_most_the_window_it_names_and_never_wraps() {
        let f = one_model(30, 10_000);
        let now = 1_000;
        for (window, cap) in [
            (Some(Window::Rpm), 60_000 + COOLDOWN_SLACK_MS),
            (Some(Window::Tpd), 86_400_000 + COOLDOWN_SLACK_MS),
            (None, f.max_cooldown_ms),
        ] {
            let mut st = EngineState::default();
            let g = granted(reserve(&f, &mut st, &chat(10, 10), now));
            let c = classified(Reason::RateLimited, window, None, Some(u64::MAX));
            fail(&f, &mut st, &g, &c, now);
            assert_eq!(st.slots["acc@groq/a"].cool_until, now + cap, "{window:?}");
        }
        // Even at the end of time nothing wraps into the past.
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(10, 10), now));
        let c = classified(Reason::RateLimited, None, None, Some(u64::MAX));
        fail(&f, &mut st, &g, &c, u64::MAX - 5);
        assert_eq!(st.slots["acc@groq/a"].cool_until, u64::MAX);
    }

    #[test]
    fn an_absurd_limit_from_a_header_or_body_is_not_believed() {
        let f = one_model(30, 10_000);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(10, 10), 1_000));
        let huge = RateReading {
            window: Window::Rpm,
            limit: Some(u64::MAX),
            remaining: Some(0),
            reset_ms: Some(u64::MAX),
        };
        sync_headers(&f, &mut st, &g.candidate, &[huge], 1_000);
        let s = &st.slots["acc@groq/a"];
        assert_eq!(s.learned.rpm, None);
        // The provider's count still counts, but for one window at most.
        let extra = s.windows.extras.iter().map(|e| e.until).max().unwrap_or(0);
        assert!(extra <= 1_000 + Window::Rpm.span_ms(), "{extra}");
        let c = classified(Reason::RateLimited, Some(Window::Tpm), Some(u64::MAX), None);
        fail(&f, &mut st, &g, &c, 1_100);
        assert_eq!(st.slots["acc@groq/a"].learned.tpm, None);
    }

    #[test]
    fn a_refused_request_is_released_without_cooldown_or_backoff() {
        let f = one_model(30, 10_000);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(10, 10), 1_000));
        fail(
            &f,
            &mut st,
            &g,
            &classified(Reason::InvalidRequest, None, None, None),
            1_100,
        );
        let s = &st.slots["acc@groq/a"];
        assert_eq!((s.cool_until, s.backoff), (0, 0));
        assert_eq!(s.windows.used(Window::Rpm, 1_100), 0);
        assert!(st.provider_backoff.get("groq").is_none_or(|b| b.until == 0));
    }

    #[test]
    fn rate_limited_with_retry_after_cools_exactly_and_learns_the_limit() {
        let f = one_model(30, 10_000);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(10, 10), 1_000));
        let c = classified(
            Reason::RateLimited,
            Some(Window::Tpm),
            Some(6_000),
            Some(2_500),
        );
        fail(&f, &mut st, &g, &c, 1_100);
        let s = &st.slots["acc@groq/a"];
        assert_eq!(s.cool_until, 3_600);
        assert_eq!(s.learned.tpm, Some(6_000));
        assert_eq!(
            s.windows.used(Window::Rpm, 1_100),
            0,
            "429s are not counted"
        );
        // The other key of the same account shares the cooldown: openai is next.
        let mut d = chat(10, 10);
        d.tried.push(g.candidate.clone());
        assert_eq!(
            granted(reserve(&f, &mut st, &d, 1_200))
                .candidate
                .model
                .provider,
            "openai"
        );
        // With openai tried too, the wait is the cooldown's end.
        let mut d2 = chat(10, 10);
        d2.tried.push(g.candidate.clone());
        d2.skip_models.push(ModelRef::new("openai", "b"));
        assert_eq!(
            reserve(&f, &mut st, &d2, 1_300),
            Decision::Wait {
                until: 3_600,
                next: ModelRef::new("groq", "a")
            }
        );
        assert!(matches!(
            reserve(&f, &mut st, &d2, 3_600),
            Decision::Grant(_)
        ));
    }

    #[test]
    fn rate_limited_without_retry_after_backs_off_doubling_and_success_clears() {
        let f = one_model(30, 10_000);
        let mut st = EngineState::default();
        let c = classified(Reason::RateLimited, None, None, None);
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let g = granted(reserve(&f, &mut st, &chat(1, 1), now));
            assert_eq!(g.candidate.model.provider, "groq");
            fail(&f, &mut st, &g, &c, now);
            let until = st.slots["acc@groq/a"].cool_until;
            waits.push(until - now);
            now = until;
        }
        for (i, w) in waits.iter().enumerate() {
            let base = (1_000u64 << i).min(60_000);
            assert!(
                *w >= base && *w <= base + base / 4,
                "wait {i}: {w} vs base {base}"
            );
        }
        assert_eq!(st.slots["acc@groq/a"].backoff, 8);
        let g = granted(reserve(&f, &mut st, &chat(1, 1), now));
        complete(&f, &mut st, &g, &Usage::default(), now + 10);
        assert_eq!(st.slots["acc@groq/a"].backoff, 0);
        let g = granted(reserve(&f, &mut st, &chat(1, 1), now + 20));
        fail(&f, &mut st, &g, &c, now + 20);
        let w = st.slots["acc@groq/a"].cool_until - (now + 20);
        assert!((1_000..=1_250).contains(&w), "{w}");
    }

    #[test]
    fn request_too_large_learns_the_limit_without_cooling() {
        let f = one_model(30, 100_000);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(5_000, 2_000), 0));
        let c = classified(
            Reason::RequestTooLarge,
            Some(Window::Tpm),
            Some(6_000),
            None,
        );
        fail(&f, &mut st, &g, &c, 10);
        let s = &st.slots["acc@groq/a"];
        assert_eq!(s.cool_until, 0);
        assert_eq!(s.learned.tpm, Some(6_000));
        assert_eq!(s.windows.used(Window::Tpm, 10), 0);
        // Smaller requests still go to groq; 7000 tokens never will.
        assert_eq!(
            granted(reserve(&f, &mut st, &chat(100, 100), 20))
                .candidate
                .model
                .provider,
            "groq"
        );
        let only_groq = fleet(
            vec![chat_model("groq", "a", rpm_tpm(30, 100_000))],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        assert_eq!(
            reserve(&only_groq, &mut st, &chat(5_000, 2_000), 30),
            Decision::Unfit(Unfit::TooLarge {
                needed: 7_000,
                largest: 6_000
            })
        );
    }

    #[test]
    fn quota_and_auth_disable_the_key_and_rotation_uses_the_next_key() {
        let f = one_model(30, 100_000);
        let mut st = EngineState::default();
        // Each key in turn is granted, then fails so that it is disabled.
        let turns = [
            ("…0001", Reason::Auth),
            ("…0002", Reason::QuotaExhausted),
            ("…0003", Reason::Auth),
        ];
        for (t, (masked, reason)) in (0..).step_by(2).zip(turns) {
            let g = granted(reserve(&f, &mut st, &chat(1, 1), t));
            assert_eq!(g.candidate.key.masked, masked);
            fail(
                &f,
                &mut st,
                &g,
                &classified(reason, None, None, None),
                t + 1,
            );
        }
        match reserve(&f, &mut st, &chat(1, 1), 6) {
            Decision::Unfit(Unfit::Exhausted { why }) => {
                assert!(why.contains("…0001") && why.contains("auth"), "{why}");
                assert!(why.contains("quota_exhausted"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(used(&st, "acc@groq/a", Window::Rpm, 6), 0);
        let causes: Vec<DisableCause> = st.disabled_keys.values().map(|d| d.cause).collect();
        assert_eq!(
            causes,
            [
                DisableCause::Auth,
                DisableCause::QuotaExhausted,
                DisableCause::Auth
            ]
        );
    }

    #[test]
    fn a_local_failure_releases_and_marks_nothing() {
        let mut w = whisper("groq", "whisper-large-v3", 100, None, &["wav"]);
        w.limits.rpm = Some(30);
        let f = fleet(vec![w], vec![key("groq", "g", 1)], 0.0);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &audio(60, 1_000, "wav"), 1_000));
        let c = classified(Reason::Local, None, None, Some(5_000));
        fail(&f, &mut st, &g, &c, 1_100);
        let s = &st.slots["g@groq/whisper-large-v3"];
        assert_eq!((s.cool_until, s.backoff), (0, 0));
        assert_eq!(s.windows.used(Window::Rpm, 1_100), 0, "released");
        assert!(st.provider_backoff.is_empty());
        assert!(st.disabled_keys.is_empty() && st.unavailable.is_empty());
        assert!(st.last_error.is_empty() && st.transcription_stats.is_empty());
        // Nothing holds the candidate back.
        let again = granted(reserve(&f, &mut st, &audio(60, 1_000, "wav"), 1_200));
        assert_eq!(again.candidate, g.candidate);
    }

    #[test]
    fn decommissioned_makes_the_model_unavailable_to_that_account_only() {
        let f = fleet(
            vec![
                chat_model("groq", "a", rpm_tpm(30, 100_000)),
                chat_model("openai", "b", rpm_tpm(30, 100_000)),
            ],
            vec![
                key("groq", "one", 1),
                key("groq", "two", 2),
                key("openai", "o", 3),
            ],
            0.0,
        );
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(1, 1), 0));
        assert_eq!(g.candidate.key.account, "one");
        fail(
            &f,
            &mut st,
            &g,
            &classified(Reason::Decommissioned, None, None, None),
            1,
        );
        assert!(st.disabled_models.is_empty());
        assert!(st.unavailable.contains_key("one@groq/a"));
        assert!(st.last_error["groq/a"].starts_with("decommissioned"));
        let g = granted(reserve(&f, &mut st, &chat(1, 1), 2));
        assert_eq!(g.candidate.model, ModelRef::new("groq", "a"));
        assert_eq!(g.candidate.key.account, "two");
    }

    #[test]
    fn transient_errors_back_off_the_provider_briefly() {
        let f = one_model(30, 100_000);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(1, 1), 0));
        fail(
            &f,
            &mut st,
            &g,
            &classified(Reason::Overloaded, None, None, None),
            0,
        );
        let until = st.provider_backoff["groq"].until;
        assert!((500..=625).contains(&until), "{until}");
        assert_eq!(used(&st, "acc@groq/a", Window::Rpm, 0), 0, "503 released");
        assert_eq!(
            granted(reserve(&f, &mut st, &chat(1, 1), 1))
                .candidate
                .model
                .provider,
            "openai"
        );
        // A server error keeps the request counted, and release afterwards does nothing.
        let g = granted(reserve(&f, &mut st, &chat(1, 1), until)).clone();
        assert_eq!(g.candidate.model.provider, "groq");
        fail(
            &f,
            &mut st,
            &g,
            &classified(Reason::ServerError, None, None, Some(2_000)),
            until,
        );
        release(&mut st, &g);
        assert_eq!(used(&st, "acc@groq/a", Window::Rpm, until), 1);
        assert_eq!(st.provider_backoff["groq"].until, until + 2_000);
    }

    #[test]
    fn headers_teach_limits_and_raise_usage_to_the_providers_count() {
        let f = one_model(30, 10_000);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &chat(100, 100), 0));
        let readings = vec![
            RateReading {
                window: Window::Tpm,
                limit: Some(6_000),
                remaining: Some(1_000),
                reset_ms: Some(30_000),
            },
            RateReading {
                window: Window::Rpd,
                limit: Some(1_000),
                remaining: Some(999),
                reset_ms: Some(80_000),
            },
        ];
        sync_headers(&f, &mut st, &g.candidate, &readings, 100);
        let s = &st.slots["acc@groq/a"];
        assert_eq!(s.effective(Some(10_000), Window::Tpm), (Some(6_000), true));
        assert_eq!(s.learned.rpd, Some(1_000));
        // The provider counted 5000 tokens, we 200: our view rises to 5000 until the reset.
        assert_eq!(s.windows.used(Window::Tpm, 100), 5_000);
        assert_eq!(s.windows.used(Window::Rpd, 100), 1);
        assert_eq!(s.windows.used(Window::Tpm, 30_100), 200);
        // Syncing the same reading again adds nothing.
        sync_headers(&f, &mut st, &g.candidate, &readings[..1], 200);
        assert_eq!(st.slots["acc@groq/a"].windows.used(Window::Tpm, 200), 5_000);
        // 2000 more would pass 6000: wait for the reset.
        let only_groq = fleet(
            vec![chat_model("groq", "a", rpm_tpm(30, 10_000))],
            vec![key("groq", "acc", 1)],
            0.0,
        );
        assert_eq!(
            reserve(&only_groq, &mut st, &chat(1_000, 1_000), 300),
            Decision::Wait {
                until: 30_100,
                next: ModelRef::new("groq", "a")
            }
        );
    }

    #[test]
    fn transcription_completion_counts_stats_and_billed_seconds() {
        let mut w = whisper("groq", "whisper-large-v3", 100, None, &["wav"]);
        w.limits.asd = Some(10_000);
        let f = fleet(vec![w], vec![key("groq", "g", 1)], 0.0);
        let mut st = EngineState::default();
        let g = granted(reserve(&f, &mut st, &audio(60, 1_000, "wav"), 0));
        complete_transcription(&f, &mut st, &g, 4, 1_000, 10);
        let slot = "g@groq/whisper-large-v3";
        assert_eq!(used(&st, slot, Window::Asd, 10), 10, "billed minimum");
        let g = granted(reserve(&f, &mut st, &audio(60, 2_000, "wav"), 20));
        fail(
            &f,
            &mut st,
            &g,
            &classified(Reason::Timeout, None, None, None),
            30,
        );
        let stats = st.transcription_stats["groq"];
        assert_eq!(
            (
                stats.requests,
                stats.bytes,
                stats.audio_secs,
                stats.failures
            ),
            (1, 1_000, 4, 1)
        );
    }
}
