//! The failure policy: for every [`Reason`], whose fault the failure is and what follows —
//! whether waiting helps, whether the provider counted the request, whether the model can
//! take this request at all, and what the engine marks in its state.
//!
//! It is one table, [`policy`], and everything that reacts to a failure reads it:
//! [`super::react::fail`] (the reservation and the mark), the router (`skips_model`: the
//! model is skipped for the rest of the request), `CallError::is_retryable`, and the
//! providers' reading of a failed reply (no wait is reported where waiting cannot help). It
//! lives in the engine, not beside [`Reason`] in `model`, because every entry is a
//! statement about engine state (reservations, cooldowns, provider backoffs, disabled keys,
//! unavailable models), and `model` sits below the engine.

use super::state::DisableCause;
use crate::model::Reason;

/// Whose fault a failure is: what the reaction is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// rota's own side: the request never reached the provider (a file it cannot read, no
    /// key configured for the endpoint, a request it cannot build or will not send).
    /// Nothing about the provider, its models or keys is learned.
    Local,
    /// This request: the provider refused it, and says nothing about the key or the model.
    Request,
    /// This model, for this request (too large for it) or for this account (retired,
    /// denied).
    Model,
    /// This account's limits on this model (its keys share them).
    Account,
    /// This key: refused or spent.
    Key,
    /// The whole provider: busy, failing or unreachable.
    Provider,
}

/// What a failure marks in the engine state, beyond the reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mark {
    /// Nothing.
    Nothing,
    /// Cool the account on that model: until the wait the provider asked for, else an
    /// exponential backoff with jitter (cleared on success), never longer than the window
    /// it names.
    Cooldown,
    /// A short provider-wide backoff (cleared on success).
    ProviderBackoff,
    /// Disable the key, with this cause.
    DisableKey(DisableCause),
    /// Mark the model unavailable to the account, with this cause.
    Unavailable(DisableCause),
}

/// How one [`Reason`] is handled; see [`policy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Whose fault it is.
    pub scope: Scope,
    /// Whether the same model and key may succeed later, after a wait (so a stated wait is
    /// worth reporting).
    pub retry: bool,
    /// Whether the reservation is released (the provider did not count the request) rather
    /// than kept counted (it reached the model and most likely was counted).
    pub releases: bool,
    /// Whether the router skips the model for the rest of this request (it can never take
    /// this request, or this account may not use it).
    pub skips_model: bool,
    /// Whether a limit the failure states for a window becomes that window's learned limit.
    pub learns_limit: bool,
    /// What the engine marks.
    pub mark: Mark,
}

/// The failure policy of `reason`: the one table every reaction to a failure reads.
///
/// | reason | scope | retry | reservation | skips model | mark |
/// |---|---|---|---|---|---|
/// | `rate_limited` | account | yes | released | no | cooldown (learns the limit) |
/// | `request_too_large` | model | no | released | yes | nothing (learns the limit) |
/// | `context_length` | model | no | released | yes | nothing |
/// | `quota_exhausted` | key | no | released | no | disable key (`quota_exhausted`) |
/// | `auth` | key | no | released | no | disable key (`auth`) |
/// | `decommissioned` | model | no | released | yes | unavailable (`decommissioned`) |
/// | `model_denied` | model | no | released | yes | unavailable (`model_denied`) |
/// | `invalid_request` | request | no | released | yes | nothing |
/// | `overloaded`, `connection` | provider | yes | released | no | provider backoff |
/// | `server_error`, `timeout`, `bad_response` | provider | yes | kept | no | provider backoff |
/// | `local` | local | no | released | yes | nothing |
pub const fn policy(reason: Reason) -> Policy {
    const fn p(scope: Scope, retry: bool, releases: bool, skips_model: bool, mark: Mark) -> Policy {
        Policy {
            scope,
            retry,
            releases,
            skips_model,
            learns_limit: false,
            mark,
        }
    }
    const RETRY: bool = true;
    const RELEASE: bool = true;
    const SKIP: bool = true;
    match reason {
        // A 429 is not counted; the account waits on that model, others go on.
        Reason::RateLimited => Policy {
            learns_limit: true,
            ..p(Scope::Account, RETRY, RELEASE, !SKIP, Mark::Cooldown)
        },
        Reason::RequestTooLarge => Policy {
            learns_limit: true,
            ..p(Scope::Model, !RETRY, RELEASE, SKIP, Mark::Nothing)
        },
        Reason::ContextLength => p(Scope::Model, !RETRY, RELEASE, SKIP, Mark::Nothing),
        Reason::QuotaExhausted => p(
            Scope::Key,
            !RETRY,
            RELEASE,
            !SKIP,
            Mark::DisableKey(DisableCause::QuotaExhausted),
        ),
        Reason::Auth => p(
            Scope::Key,
            !RETRY,
            RELEASE,
            !SKIP,
            Mark::DisableKey(DisableCause::Auth),
        ),
        // Per account: one project may lack a model others have; `GET /models` lifts it.
        Reason::Decommissioned => p(
            Scope::Model,
            !RETRY,
            RELEASE,
            SKIP,
            Mark::Unavailable(DisableCause::Decommissioned),
        ),
        Reason::ModelDenied => p(
            Scope::Model,
            !RETRY,
            RELEASE,
            SKIP,
            Mark::Unavailable(DisableCause::ModelDenied),
        ),
        // Not the key's or the model's fault: nothing to back off from. The router decides
        // whether another model may take the request.
        Reason::InvalidRequest => p(Scope::Request, !RETRY, RELEASE, SKIP, Mark::Nothing),
        Reason::Overloaded | Reason::Connection => p(
            Scope::Provider,
            RETRY,
            RELEASE,
            !SKIP,
            Mark::ProviderBackoff,
        ),
        // The request reached the model: the provider most likely counted it.
        Reason::ServerError | Reason::Timeout | Reason::BadResponse => p(
            Scope::Provider,
            RETRY,
            !RELEASE,
            !SKIP,
            Mark::ProviderBackoff,
        ),
        // Never reached the provider: nothing is counted and nothing is marked. The model is
        // skipped so the same local failure is not met again in this request.
        Reason::Local => p(Scope::Local, !RETRY, RELEASE, SKIP, Mark::Nothing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_an_entry_that_agrees_with_itself() {
        for r in Reason::ALL {
            let p = policy(r);
            // Waiting helps only where nothing was ruled out for good.
            if p.retry {
                assert!(!p.skips_model, "{r}");
                assert!(
                    !matches!(p.mark, Mark::DisableKey(_) | Mark::Unavailable(_)),
                    "{r}"
                );
            }
            // Only a request that reached the model is kept counted, and a provider that
            // counted it gets a backoff.
            if !p.releases {
                assert_eq!((p.scope, p.mark), (Scope::Provider, Mark::ProviderBackoff));
            }
        }
    }

    #[test]
    fn a_local_failure_releases_and_marks_nothing() {
        let p = policy(Reason::Local);
        assert_eq!(p.scope, Scope::Local);
        assert!(p.releases && !p.retry && !p.learns_limit);
        assert_eq!(p.mark, Mark::Nothing);
    }

    #[test]
    fn keys_and_models_are_marked_with_their_cause() {
        assert_eq!(
            policy(Reason::QuotaExhausted).mark,
            Mark::DisableKey(DisableCause::QuotaExhausted)
        );
        assert_eq!(
            policy(Reason::Auth).mark,
            Mark::DisableKey(DisableCause::Auth)
        );
        assert_eq!(
            policy(Reason::Decommissioned).mark,
            Mark::Unavailable(DisableCause::Decommissioned)
        );
        assert_eq!(
            policy(Reason::ModelDenied).mark,
            Mark::Unavailable(DisableCause::ModelDenied)
        );
    }
}
