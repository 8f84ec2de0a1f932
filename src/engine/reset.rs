//! What `rota reset` clears: cooldowns, backoffs and disabled states that hold a provider,
//! a model or a key out of rotation, when the user knows better than the last error. Usage
//! in the windows and learned limits stay: they are facts, not verdicts.

use super::fleet::Fleet;
use super::state::EngineState;
use crate::model::Millis;

/// Which part of the fleet to clear. Every field `None`: everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResetScope {
    /// Only this provider (`groq`, `custom:local`, …).
    pub provider: Option<String>,
    /// Only this model id of the provider (needs `provider`).
    pub model: Option<String>,
    /// Only keys whose masked form ends with this (the last up to 4 characters), and the
    /// cooldowns of their accounts.
    pub key_suffix: Option<String>,
}

/// What one reset cleared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Account × model cooldowns still running, and 429 backoff counts.
    pub cooldowns: usize,
    /// Provider-wide backoffs still running.
    pub provider_backoffs: usize,
    /// Keys taken back into rotation, as `provider key` with the key masked.
    pub keys: Vec<String>,
    /// Models marked unavailable to an account, or disabled, taken back.
    pub models: usize,
}

impl Cleared {
    /// Whether nothing was held.
    pub fn is_empty(&self) -> bool {
        *self == Cleared::default()
    }
}

/// Splits a slot id (`account@provider/model`) into provider and model id.
fn slot_parts(slot: &str) -> Option<(&str, &str, &str)> {
    let (account, model) = slot.split_once('@')?;
    let (provider, id) = model.split_once('/')?;
    Some((account, provider, id))
}

/// Clears what `scope` names and says what that was.
pub fn reset(fleet: &Fleet, state: &mut EngineState, scope: &ResetScope, now: Millis) -> Cleared {
    let mut cleared = Cleared::default();
    let provider_ok = |p: &str| scope.provider.as_deref().is_none_or(|want| want == p);
    let model_ok = |m: &str| scope.model.as_deref().is_none_or(|want| want == m);
    let suffix = scope
        .key_suffix
        .as_deref()
        .map(|s| s.trim_start_matches('…'));
    let key_ok = |masked: &str| suffix.is_none_or(|s| masked.ends_with(s));
    // The accounts a key suffix names (any provider in scope).
    let accounts: Option<Vec<(String, String)>> = suffix.map(|_| {
        fleet
            .models
            .iter()
            .flat_map(|m| m.accounts.iter().map(move |a| (m, a)))
            .filter(|(m, a)| {
                provider_ok(&m.spec.model.provider) && a.keys.iter().any(|k| key_ok(&k.key.masked))
            })
            .map(|(m, a)| (m.spec.model.provider.clone(), a.name.clone()))
            .collect()
    });
    let account_ok = |provider: &str, account: &str| {
        accounts
            .as_ref()
            .is_none_or(|list| list.iter().any(|(p, a)| p == provider && a == account))
    };
    let slot_ok = |slot: &str| {
        slot_parts(slot).is_some_and(|(account, provider, id)| {
            provider_ok(provider) && model_ok(id) && account_ok(provider, account)
        })
    };

    state.slots.retain(|name, s| {
        if slot_ok(name) && (s.cool_until > now || s.backoff > 0) {
            s.cool_until = 0;
            s.backoff = 0;
            cleared.cooldowns += 1;
        }
        true
    });
    let before = state.unavailable.len();
    state.unavailable.retain(|slot, _| !slot_ok(slot));
    cleared.models += before - state.unavailable.len();
    if suffix.is_none() {
        let before = state.disabled_models.len();
        state.disabled_models.retain(|m, _| {
            !m.split_once('/')
                .is_some_and(|(p, id)| provider_ok(p) && model_ok(id))
        });
        cleared.models += before - state.disabled_models.len();
    }
    if scope.model.is_none() {
        for (p, b) in state.provider_backoff.iter_mut() {
            if provider_ok(p) && (b.until > now || b.level > 0) {
                b.until = 0;
                b.level = 0;
                cleared.provider_backoffs += 1;
            }
        }
        state.disabled_keys.retain(|id, d| {
            // The record names its key; an id of `provider|account|masked` (older records)
            // names it too.
            let mut parts = id.splitn(3, '|');
            let (p, masked) = match (&d.key, parts.next(), parts.next(), parts.next()) {
                (Some(k), ..) => (k.provider.as_str(), k.masked.as_str()),
                (None, Some(p), Some(_account), Some(masked)) => (p, masked),
                _ => return true,
            };
            if provider_ok(p) && key_ok(masked) {
                cleared.keys.push(format!("{p} {masked}"));
                false
            } else {
                true
            }
        });
    }
    state.last_error.retain(|m, _| {
        !m.split_once('/')
            .is_some_and(|(p, id)| provider_ok(p) && model_ok(id))
    });
    cleared
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::{Backoff, DisableCause, Disabled};

    fn held(state: &mut EngineState, slot: &str) {
        let s = state.slots.get_or_default(slot);
        s.cool_until = 90_000;
        s.backoff = 3;
    }

    fn disabled() -> Disabled {
        Disabled {
            key: None,
            cause: DisableCause::QuotaExhausted,
            message: "test".into(),
            at: 1,
        }
    }

    fn state() -> EngineState {
        let mut st = EngineState::default();
        held(&mut st, "a@groq/openai/gpt-oss-20b");
        held(&mut st, "b@groq/openai/gpt-oss-120b");
        held(&mut st, "a@openai/gpt-4o-mini");
        st.provider_backoff.insert(
            "groq".into(),
            Backoff {
                level: 2,
                until: 70_000,
            },
        );
        st.disabled_keys.insert("groq|a|…a1b2".into(), disabled());
        st.disabled_keys.insert("openai|a|…zz99".into(), disabled());
        st.unavailable
            .insert("b@groq/openai/gpt-oss-120b".into(), disabled());
        st
    }

    fn fleet() -> Fleet {
        crate::engine::testkit::fleet(Vec::new(), Vec::new(), 0.0)
    }

    fn cooling(st: &EngineState) -> Vec<String> {
        let mut v: Vec<String> = st
            .slots
            .iter()
            .filter(|(_, s)| s.cool_until > 0)
            .map(|(n, _)| n.to_string())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_model_reset_clears_only_that_models_cooldowns_and_marks() {
        let mut st = state();
        let scope = ResetScope {
            provider: Some("groq".into()),
            model: Some("openai/gpt-oss-120b".into()),
            key_suffix: None,
        };
        let c = reset(&fleet(), &mut st, &scope, 50_000);
        assert_eq!((c.cooldowns, c.models, c.provider_backoffs), (1, 1, 0));
        assert!(c.keys.is_empty());
        assert_eq!(
            cooling(&st),
            ["a@groq/openai/gpt-oss-20b", "a@openai/gpt-4o-mini"]
        );
        assert_eq!(st.provider_backoff["groq"].level, 2);
        assert_eq!(st.disabled_keys.len(), 2);
    }

    #[test]
    fn a_provider_reset_clears_its_cooldowns_backoff_and_keys_and_a_second_finds_nothing() {
        let mut st = state();
        let scope = ResetScope {
            provider: Some("groq".into()),
            ..ResetScope::default()
        };
        let c = reset(&fleet(), &mut st, &scope, 50_000);
        assert_eq!((c.cooldowns, c.models, c.provider_backoffs), (2, 1, 1));
        assert_eq!(c.keys, ["groq …a1b2"]);
        assert_eq!(cooling(&st), ["a@openai/gpt-4o-mini"]);
        assert!(st.disabled_keys.contains_key("openai|a|…zz99"));
        assert!(reset(&fleet(), &mut st, &scope, 50_000).is_empty());
        // Everything, then nothing is held.
        let c = reset(&fleet(), &mut st, &ResetScope::default(), 50_000);
        assert_eq!((c.cooldowns, c.keys.len()), (1, 1));
        assert!(cooling(&st).is_empty() && st.disabled_keys.is_empty());
    }

    #[test]
    fn a_key_reset_lifts_only_keys_ending_so() {
        let mut st = state();
        let scope = ResetScope {
            key_suffix: Some("zz99".into()),
            ..ResetScope::default()
        };
        let c = reset(&fleet(), &mut st, &scope, 50_000);
        assert_eq!(c.keys, ["openai …zz99"]);
        assert!(st.disabled_keys.contains_key("groq|a|…a1b2"));
    }
}
