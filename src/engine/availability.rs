//! What key checks and model lists teach the engine: which models each account can see,
//! and which keys the provider accepts. Pure changes to the state; the providers read the
//! lists (`GET /models`) and the router applies them through the store.

use super::KeyRef;
use super::fleet::{Fleet, key_id};
use super::state::{DisableCause, Disabled, EngineState};
use crate::model::Millis;

/// The models one account's `GET /models` listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The provider (`groq`, `custom:local`, …).
    pub provider: String,
    /// The account.
    pub account: String,
    /// The model ids the provider listed for it.
    pub models: Vec<String>,
}

/// A fleet model one account cannot see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unseen {
    /// The account.
    pub account: String,
    /// `provider/model`.
    pub model: String,
}

/// What a key check says about a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyVerdict {
    /// The provider accepted it.
    Accepted,
    /// The provider refused it, with its message (keys masked).
    Refused(String),
    /// Nothing is known (the provider could not be reached, or no check ran).
    Unknown,
}

/// Marks every fleet model of a listed account's provider that its listing does not name
/// unavailable to that account, and lifts the mark (whoever set it) where the listing names
/// the model again. Accounts without a listing are left as they are. Returns what is now
/// unavailable to the listed accounts among the models rota routes to (pools and
/// transcription), in fleet order.
pub fn apply_listings(
    fleet: &Fleet,
    state: &mut EngineState,
    listings: &[Listing],
    now: Millis,
) -> Vec<Unseen> {
    let mut unseen = Vec::new();
    // Every keyed model is marked (a caller may name one), but only the ones rota routes to
    // by itself (a pool's, the transcription list's) are reported.
    let routed: std::collections::BTreeSet<usize> = fleet
        .pools
        .values()
        .flatten()
        .chain(&fleet.transcription)
        .copied()
        .collect();
    for (mi, m) in fleet.models.iter().enumerate() {
        for acc in &m.accounts {
            let Some(l) = listings
                .iter()
                .find(|l| l.provider == m.spec.model.provider && l.account == acc.name)
            else {
                continue;
            };
            if l.models.contains(&m.spec.model.id) {
                state.unavailable.remove(&acc.slot);
                continue;
            }
            if routed.contains(&mi) {
                unseen.push(Unseen {
                    account: acc.name.clone(),
                    model: m.name.clone(),
                });
            }
            state
                .unavailable
                .entry(acc.slot.clone())
                .or_insert_with(|| Disabled {
                    key: None,
                    cause: DisableCause::Unlisted,
                    message: "not in the account's GET /models".into(),
                    at: now,
                });
        }
    }
    unseen
}

/// Whether a key check the provider passes puts back a key disabled for `cause`: every
/// cause about the key being accepted or funded (see [`apply_key_verdicts`]). Marks on a
/// model are not a key's: a listing that names the model lifts them ([`apply_listings`]).
fn lifted_by_a_passing_check(cause: DisableCause) -> bool {
    match cause {
        DisableCause::KeyCheck | DisableCause::Auth | DisableCause::QuotaExhausted => true,
        DisableCause::Decommissioned | DisableCause::ModelDenied | DisableCause::Unlisted => false,
    }
}

/// Takes keys the provider refused out of rotation (as a 401 during a request would), and
/// puts back disabled keys that check valid again.
///
/// A passing check puts back a key whatever disabled it: a check
/// ([`DisableCause::KeyCheck`]), a request's 401 ([`DisableCause::Auth`]: the key was
/// restored, or the provider erred) or a spent key ([`DisableCause::QuotaExhausted`]: the
/// account may have been topped up). A listing proves neither that the account has credit
/// nor that the key may call models (a key restricted to reading lists models and is
/// refused a chat), so a key still refused or spent fails its next request, which is
/// released and disables it again: one wasted request per check, against a restored or
/// topped-up key left out of rotation until `rota reset`. Checks run when the user asks
/// (`rota keys check`, the keys view) and once when the TUI starts.
pub fn apply_key_verdicts(state: &mut EngineState, verdicts: &[(KeyRef, KeyVerdict)], now: Millis) {
    for (k, v) in verdicts {
        let id = key_id(k);
        match v {
            KeyVerdict::Refused(why) => {
                state.disabled_keys.insert(
                    id,
                    Disabled {
                        key: Some(k.clone()),
                        cause: DisableCause::KeyCheck,
                        message: why.clone(),
                        at: now,
                    },
                );
            }
            KeyVerdict::Accepted
                if state
                    .disabled_keys
                    .get(&id)
                    .is_some_and(|d| lifted_by_a_passing_check(d.cause)) =>
            {
                state.disabled_keys.remove(&id);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testkit::{chat_model, fleet, key, rpm_tpm};

    fn listing(account: &str, models: &[&str]) -> Listing {
        Listing {
            provider: "groq".into(),
            account: account.into(),
            models: models.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn groq_key(masked: &str) -> KeyRef {
        KeyRef {
            provider: "groq".into(),
            account: "a".into(),
            masked: masked.into(),
            ..KeyRef::default()
        }
    }

    #[test]
    fn unlisted_models_become_unavailable_per_account_and_a_later_listing_lifts_them() {
        let f = fleet(
            vec![
                chat_model("groq", "m1", rpm_tpm(30, 1_000)),
                chat_model("groq", "m2", rpm_tpm(30, 1_000)),
            ],
            vec![
                key("groq", "a", 1),
                key("groq", "b", 2),
                key("groq", "c", 3),
            ],
            0.0,
        );
        let mut state = EngineState::default();
        // `c` has no listing (its check failed): nothing is concluded about it.
        let got = apply_listings(
            &f,
            &mut state,
            &[listing("a", &["m1", "m2"]), listing("b", &["m1"])],
            5,
        );
        assert_eq!(
            got,
            vec![Unseen {
                account: "b".into(),
                model: "groq/m2".into()
            }]
        );
        let unavailable: Vec<&String> = state.unavailable.keys().collect();
        assert_eq!(unavailable, ["b@groq/m2"]);
        apply_listings(&f, &mut state, &[listing("b", &["m1", "m2"])], 6);
        assert!(state.unavailable.is_empty());
    }

    #[test]
    fn a_refused_key_is_disabled_and_a_later_passing_check_lifts_it() {
        let mut state = EngineState::default();
        let bad = groq_key("…0002");
        apply_key_verdicts(
            &mut state,
            &[(bad.clone(), KeyVerdict::Refused("401".into()))],
            5,
        );
        assert_eq!(
            state.disabled_keys[&key_id(&bad)].cause,
            DisableCause::KeyCheck
        );
        assert_eq!(
            state.disabled_keys[&key_id(&bad)].to_string(),
            "key_check: 401"
        );
        apply_key_verdicts(&mut state, &[(bad.clone(), KeyVerdict::Accepted)], 6);
        assert!(state.disabled_keys.is_empty());
    }

    #[test]
    fn a_key_a_request_disabled_is_put_back_by_a_passing_check() {
        // Spent (the account was topped up since) or refused (the key was restored): a
        // check that passes puts it back; an unreachable provider proves nothing.
        for cause in [DisableCause::QuotaExhausted, DisableCause::Auth] {
            let mut state = EngineState::default();
            let k = groq_key("…0003");
            state.disabled_keys.insert(
                key_id(&k),
                Disabled {
                    key: Some(k.clone()),
                    cause,
                    message: "from a request".into(),
                    at: 1,
                },
            );
            apply_key_verdicts(&mut state, &[(k.clone(), KeyVerdict::Unknown)], 6);
            assert!(!state.disabled_keys.is_empty(), "{cause}");
            apply_key_verdicts(&mut state, &[(k.clone(), KeyVerdict::Accepted)], 7);
            assert!(state.disabled_keys.is_empty(), "{cause}");
        }
    }

    #[test]
    fn only_key_causes_are_lifted_by_a_passing_check() {
        let lifted: Vec<DisableCause> = [
            DisableCause::Auth,
            DisableCause::QuotaExhausted,
            DisableCause::KeyCheck,
            DisableCause::Decommissioned,
            DisableCause::ModelDenied,
            DisableCause::Unlisted,
        ]
        .into_iter()
        .filter(|&c| lifted_by_a_passing_check(c))
        .collect();
        assert_eq!(
            lifted,
            [
                DisableCause::Auth,
                DisableCause::QuotaExhausted,
                DisableCause::KeyCheck
            ]
        );
    }
}
