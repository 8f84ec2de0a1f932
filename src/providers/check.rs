//! Key checks: `GET {base_url}/models` with one key says whether the provider accepts it.
//! Used by `rota keys check` and the TUI's keys view; results are kept in `rota.db` (blob
//! `key-checks`) so `rota keys list` can show the last one, and keys the provider refuses
//! are taken out of rotation.
//!
//! The same lists say which models each account can see ([`listings_of`],
//! [`list_accounts`]). What the results change in the engine state is the engine's
//! (`engine::availability`); the router applies them and keeps the results
//! (`router::checks`).

use super::{CallError, Client, Endpoint, ErrorKind};
use crate::config::ProviderConfig;
use crate::engine::KeyRef;
use crate::engine::availability::KeyVerdict;
pub use crate::engine::availability::Listing;
use crate::model::Reason;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest one key check may take before it counts as unreachable.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// The result of the last check of one key (`GET {base_url}/models`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "why", rename_all = "lowercase")]
pub enum KeyCheck {
    /// Not checked yet.
    Unchecked,
    /// A check is running.
    Checking,
    /// The provider accepted the key.
    Valid,
    /// The provider refused the key (401/403), with its message (keys masked).
    Invalid(String),
    /// The provider could not be reached (transport error, 5xx, other replies), with why.
    Unreachable(String),
}

impl KeyCheck {
    /// A short label for the keys view.
    pub fn label(&self) -> String {
        match self {
            KeyCheck::Unchecked => "not checked".into(),
            KeyCheck::Checking => "checking…".into(),
            KeyCheck::Valid => "valid".into(),
            KeyCheck::Invalid(m) => format!("invalid: {m}"),
            KeyCheck::Unreachable(m) => format!("unreachable: {m}"),
        }
    }

    /// The word and reason as `rota keys check` prints them: `valid`, `invalid (why)`,
    /// `unreachable (why)`.
    pub fn verdict(&self) -> String {
        match self {
            KeyCheck::Invalid(m) => format!("invalid ({m})"),
            KeyCheck::Unreachable(m) => format!("unreachable ({m})"),
            other => other.label(),
        }
    }

    /// What the check tells the engine about the key (see
    /// [`crate::engine::availability::apply_key_verdicts`]).
    pub fn key_verdict(&self) -> KeyVerdict {
        match self {
            KeyCheck::Valid => KeyVerdict::Accepted,
            KeyCheck::Invalid(why) => KeyVerdict::Refused(why.clone()),
            KeyCheck::Unchecked | KeyCheck::Checking | KeyCheck::Unreachable(_) => {
                KeyVerdict::Unknown
            }
        }
    }

    /// Reads a failed `GET /models`: 401/403 → invalid; anything else (a transport error, a
    /// 5xx, a request rota would not send) → unreachable.
    pub fn from_error(e: &CallError) -> Self {
        let why = match (e.kind, e.status) {
            (ErrorKind::Reply, Some(s)) => format!("HTTP {s}: {}", e.classified.message),
            _ => e.classified.message.clone(),
        };
        if e.reason() == Reason::Auth {
            KeyCheck::Invalid(why)
        } else {
            KeyCheck::Unreachable(why)
        }
    }
}

/// Checks one key: `GET {base_url}/models`, bounded by [`CHECK_TIMEOUT`].
pub async fn check_key(client: &Client, ep: &Endpoint) -> KeyCheck {
    check_key_listing(client, ep).await.0
}

/// Checks one key like [`check_key`], and keeps the model ids the provider listed (`None`
/// when the check failed).
pub async fn check_key_listing(client: &Client, ep: &Endpoint) -> (KeyCheck, Option<Vec<String>>) {
    match tokio::time::timeout(CHECK_TIMEOUT, client.list_models(ep)).await {
        Ok(Ok(models)) => (KeyCheck::Valid, Some(models)),
        Ok(Err(e)) => (KeyCheck::from_error(&e), None),
        Err(_) => (
            KeyCheck::Unreachable(format!(
                "no answer from {} in {} s",
                crate::config::url::shown(&ep.base_url),
                CHECK_TIMEOUT.as_secs()
            )),
            None,
        ),
    }
}

/// Checks every key at once; results in the order given.
pub async fn check_all(client: &Client, keys: &[(KeyRef, Endpoint)]) -> Vec<(KeyRef, KeyCheck)> {
    check_all_listing(client, keys)
        .await
        .into_iter()
        .map(|(k, c, _)| (k, c))
        .collect()
}

/// Checks every key at once like [`check_all`], keeping each key's model list.
pub async fn check_all_listing(
    client: &Client,
    keys: &[(KeyRef, Endpoint)],
) -> Vec<(KeyRef, KeyCheck, Option<Vec<String>>)> {
    let checks = keys.iter().map(|(k, ep)| async move {
        let (c, models) = check_key_listing(client, ep).await;
        (k.clone(), c, models)
    });
    futures_util::future::join_all(checks).await
}

/// Every key of every enabled provider (keyless endpoints have nothing to check), with
/// the endpoint a check calls.
pub fn endpoints_of(config: &crate::config::Config) -> Vec<(KeyRef, Endpoint)> {
    let mut out = Vec::new();
    for p in config.providers.iter().filter(|p| p.enabled) {
        for k in p.keys.iter().filter(|k| k.key.is_some()) {
            let key = crate::engine::KeyRef::of(&p.name, k);
            out.push((key, Endpoint::new(p, k)));
        }
    }
    out
}

/// The first listing of each account among key check results (one key of an account is
/// enough: keys of one account see the same models).
pub fn listings_of(results: &[(KeyRef, KeyCheck, Option<Vec<String>>)]) -> Vec<Listing> {
    let mut out: Vec<Listing> = Vec::new();
    for (k, _, models) in results {
        let Some(models) = models else { continue };
        if out
            .iter()
            .any(|l| l.provider == k.provider && l.account == k.account)
        {
            continue;
        }
        out.push(Listing {
            provider: k.provider.clone(),
            account: k.account.clone(),
            models: models.clone(),
        });
    }
    out
}

/// One endpoint per account of every enabled provider (its first key, or the keyless
/// endpoint): what [`list_accounts`] calls.
pub fn account_endpoints(providers: &[ProviderConfig]) -> Vec<(KeyRef, Endpoint)> {
    let mut out: Vec<(KeyRef, Endpoint)> = Vec::new();
    for p in providers.iter().filter(|p| p.enabled) {
        for k in &p.keys {
            if out
                .iter()
                .any(|(r, _)| r.provider == p.name && r.account == k.account)
            {
                continue;
            }
            let key = crate::engine::KeyRef::of(&p.name, k);
            out.push((key, Endpoint::new(p, k)));
        }
    }
    out
}

/// Lists every account's models at once. An account whose `GET /models` failed or timed
/// out has no listing, so nothing is concluded about it.
pub async fn list_accounts(client: &Client, accounts: &[(KeyRef, Endpoint)]) -> Vec<Listing> {
    listings_of(&check_all_listing(client, accounts).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyConfig;
    use crate::secret::ApiKey;

    #[tokio::test]
    async fn sim_key_is_valid_bad_key_is_invalid_dead_port_is_unreachable() {
        let sim = crate::sim::start(
            crate::sim::Scenario::default_fleet(),
            ([127, 0, 0, 1], 0).into(),
        )
        .await
        .unwrap();
        let providers = sim.provider_configs();
        let groq = providers.iter().find(|p| p.name == "groq").unwrap();
        let client = Client::new(Default::default());
        let good = Endpoint::new(groq, &groq.keys[0]);
        assert_eq!(check_key(&client, &good).await, KeyCheck::Valid);

        let bad = KeyConfig {
            key: Some(ApiKey::new("gsk_test_0001")),
            account: "x".into(),
        };
        let got = check_key(&client, &Endpoint::new(groq, &bad)).await;
        match &got {
            KeyCheck::Invalid(why) => {
                assert!(why.contains("401"), "{why}");
                assert!(!why.contains("gsk_test_0001"), "key leaked: {why}");
            }
            other => panic!("expected invalid, got {other:?}"),
        }

        // A port nobody listens on: bind one, learn it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dead = ProviderConfig {
            name: "groq".into(),
            base_url: format!("http://127.0.0.1:{port}/v1"),
            keys: vec![bad.clone()],
            enabled: true,
        };
        let got = check_key(&client, &Endpoint::new(&dead, &bad)).await;
        assert!(matches!(got, KeyCheck::Unreachable(_)), "{got:?}");
    }

    #[tokio::test]
    async fn accounts_are_listed_once_each_and_a_failed_list_is_left_out() {
        let mut sc = crate::sim::Scenario::default_fleet();
        let groq = sc.providers.iter_mut().find(|p| p.name == "groq").unwrap();
        let hidden = groq.models[0].id.clone();
        groq.accounts[1].hidden_models.push(hidden.clone());
        let sim = crate::sim::start(sc, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let mut groq = sim
            .provider_configs()
            .into_iter()
            .find(|p| p.name == "groq")
            .unwrap();
        // A second key of account `a`: still one listing for the account.
        groq.keys.insert(1, groq.keys[0].clone());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dead = ProviderConfig {
            name: "openai".into(),
            base_url: format!("http://127.0.0.1:{port}/v1"),
            keys: vec![groq.keys[0].clone()],
            enabled: true,
        };
        let accounts = account_endpoints(&[groq, dead]);
        assert_eq!(accounts.len(), 3, "{accounts:?}");
        let client = Client::new(Default::default());
        let got = list_accounts(&client, &accounts).await;
        let names: Vec<_> = got
            .iter()
            .map(|l| format!("{}/{}", l.provider, l.account))
            .collect();
        assert_eq!(names, ["groq/a", "groq/b"]);
        assert!(got[0].models.contains(&hidden));
        assert!(!got[1].models.contains(&hidden));
    }
}
