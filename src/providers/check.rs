//! Key checks: `GET {base_url}/models` with one key says whether the provider accepts it.
//! Used by `rota keys check` and the TUI's keys view; results are kept in `rota.db` (blob
//! `key-checks`) so `rota keys list` can show the last one, and keys the provider refuses
//! are taken out of rotation.
//!
//! The same lists say which models each account can see: a fleet model an account's list
//! does not name is marked unavailable to that account (see [`apply_visibility`]). Besides
//! `rota keys check`, [`refresh_availability`] runs this in the background when `ask`,
//! `chat`, `batch` or `transcribe` start.

use super::{CallError, Client, Endpoint, ErrorKind};
use crate::config::ProviderConfig;
use crate::engine::KeyRef;
use crate::engine::fleet::{Fleet, key_id};
use crate::engine::state::{DisableCause, Disabled};
use crate::model::{Millis, Reason};
use crate::store::Store;
use crate::store::db::{Db, DbError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The name of the blob row holding the last check of every key.
pub const CHECKS_BLOB: &str = "key-checks";

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
                ep.base_url,
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
            let key = KeyRef {
                provider: p.name.clone(),
                account: k.account.clone(),
                masked: k.masked(),
            };
            out.push((key, Endpoint::new(p, k)));
        }
    }
    out
}

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
            let key = KeyRef {
                provider: p.name.clone(),
                account: k.account.clone(),
                masked: k.masked(),
            };
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

/// A fleet model one account cannot see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unseen {
    /// The account.
    pub account: String,
    /// `provider/model`.
    pub model: String,
}

/// Marks every fleet model of a listed account's provider that its listing does not name
/// unavailable to that account, and lifts the mark (whoever set it) where the listing names
/// the model again. Accounts without a listing are left as they are. Returns what is now
/// unavailable to the listed accounts, in fleet order.
pub fn apply_visibility(
    fleet: &Fleet,
    store: &dyn Store,
    listings: &[Listing],
    now: Millis,
) -> Result<Vec<Unseen>, crate::store::StoreError> {
    if listings.is_empty() {
        return Ok(Vec::new());
    }
    let mut unseen = Vec::new();
    store.transact(&mut |state| {
        unseen.clear();
        for m in &fleet.models {
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
                unseen.push(Unseen {
                    account: acc.name.clone(),
                    model: m.name.clone(),
                });
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
    })?;
    Ok(unseen)
}

/// Reads every account's `GET /models` and applies it (see [`apply_visibility`]); what
/// `ask`, `chat`, `batch` and `transcribe` run in the background at start. Problems are
/// logged, never shown: requests go on with what the state knew.
pub async fn refresh_availability(router: std::sync::Arc<crate::router::Router>) {
    let accounts = account_endpoints(&router.config().providers);
    let listings = list_accounts(router.client(), &accounts).await;
    let now = crate::model::now_ms();
    match apply_visibility(router.fleet(), router.store().as_ref(), &listings, now) {
        Ok(unseen) => {
            for u in unseen {
                tracing::info!(account = %u.account, model = %u.model, "model unavailable to the account");
            }
        }
        Err(e) => tracing::warn!("cannot record which models each account sees: {e}"),
    }
}

/// One stored check: the result and when it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheck {
    /// The result.
    pub check: KeyCheck,
    /// When (ms since the epoch).
    pub at: Millis,
}

/// The last check of every key, by the engine's key id (`provider|account|masked`).
pub type Checks = BTreeMap<String, StoredCheck>;

fn decode(bytes: Option<&[u8]>) -> Checks {
    bytes
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default()
}

/// The checks saved in `db` (empty when none were saved, or the blob is unreadable).
pub fn load_checks(db: &Db) -> Result<Checks, DbError> {
    Ok(decode(db.read_blob(CHECKS_BLOB)?.as_deref()))
}

/// Saves these results in `db`, keeping the other keys' last checks.
pub fn save_checks(db: &Db, results: &[(KeyRef, KeyCheck)], at: Millis) -> Result<(), DbError> {
    db.update_blob(CHECKS_BLOB, |cur| {
        let mut all = decode(cur);
        for (k, c) in results {
            if matches!(c, KeyCheck::Unchecked | KeyCheck::Checking) {
                continue;
            }
            all.insert(
                key_id(k),
                StoredCheck {
                    check: c.clone(),
                    at,
                },
            );
        }
        (serde_json::to_vec(&all).ok(), ())
    })
}

/// Whether a key check the provider passes puts back a key disabled for `cause`: every
/// cause about the key being accepted or funded (see [`apply_to_engine`]). Marks on a model
/// are not a key's: a listing that names the model lifts them ([`apply_visibility`]).
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
pub fn apply_to_engine(
    store: &dyn Store,
    results: &[(KeyRef, KeyCheck)],
    now: Millis,
) -> Result<(), crate::store::StoreError> {
    if !results
        .iter()
        .any(|(_, c)| matches!(c, KeyCheck::Invalid(_) | KeyCheck::Valid))
    {
        return Ok(());
    }
    store.transact(&mut |state| {
        for (k, c) in results {
            let id = key_id(k);
            match c {
                KeyCheck::Invalid(why) => {
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
                KeyCheck::Valid
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyConfig;
    use crate::secret::ApiKey;
    use crate::store::MemoryStore;

    fn key(masked: &str) -> KeyRef {
        KeyRef {
            provider: "groq".into(),
            account: "a".into(),
            masked: masked.into(),
        }
    }

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

    fn listing(account: &str, models: &[&str]) -> Listing {
        Listing {
            provider: "groq".into(),
            account: account.into(),
            models: models.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn unlisted_models_become_unavailable_per_account_and_a_later_listing_lifts_them() {
        use crate::engine::testkit::{chat_model, fleet, key, rpm_tpm};
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
        let store = MemoryStore::default();
        // `c` has no listing (its check failed): nothing is concluded about it.
        let got = apply_visibility(
            &f,
            &store,
            &[listing("a", &["m1", "m2"]), listing("b", &["m1"])],
            5,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![Unseen {
                account: "b".into(),
                model: "groq/m2".into()
            }]
        );
        let unavailable: Vec<String> = store.snapshot().unwrap().unavailable.into_keys().collect();
        assert_eq!(unavailable, vec!["b@groq/m2".to_string()]);

        apply_visibility(&f, &store, &[listing("b", &["m1", "m2"])], 6).unwrap();
        assert!(store.snapshot().unwrap().unavailable.is_empty());
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

    #[test]
    fn checks_round_trip_and_merge() {
        let db = Db::open_in_memory().unwrap();
        assert!(load_checks(&db).unwrap().is_empty());
        save_checks(&db, &[(key("…0001"), KeyCheck::Valid)], 10).unwrap();
        save_checks(
            &db,
            &[
                (key("…0002"), KeyCheck::Invalid("HTTP 401: bad".into())),
                (key("…0003"), KeyCheck::Checking),
            ],
            20,
        )
        .unwrap();
        let all = load_checks(&db).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all["groq|a|…0001"].check, KeyCheck::Valid);
        assert_eq!(all["groq|a|…0002"].at, 20);
    }

    #[test]
    fn invalid_disables_and_a_later_valid_check_lifts_it() {
        let store = MemoryStore::default();
        let bad = key("…0002");
        apply_to_engine(&store, &[(bad.clone(), KeyCheck::Invalid("401".into()))], 5).unwrap();
        let s = store.snapshot().unwrap();
        assert_eq!(s.disabled_keys[&key_id(&bad)].cause, DisableCause::KeyCheck);
        assert_eq!(s.disabled_keys[&key_id(&bad)].to_string(), "key_check: 401");
        apply_to_engine(&store, &[(bad.clone(), KeyCheck::Valid)], 6).unwrap();
        assert!(store.snapshot().unwrap().disabled_keys.is_empty());
    }

    #[test]
    fn a_key_a_request_disabled_is_put_back_by_a_passing_check() {
        // Spent (the account was topped up since) or refused (the key was restored): a
        // check that passes puts it back; an unreachable provider proves nothing.
        for cause in [DisableCause::QuotaExhausted, DisableCause::Auth] {
            let store = MemoryStore::default();
            let k = key("…0003");
            store
                .transact(&mut |st| {
                    st.disabled_keys.insert(
                        key_id(&k),
                        Disabled {
                            key: Some(k.clone()),
                            cause,
                            message: "from a request".into(),
                            at: 1,
                        },
                    );
                })
                .unwrap();
            let down = KeyCheck::Unreachable("timeout".into());
            apply_to_engine(&store, &[(k.clone(), down)], 6).unwrap();
            assert!(
                !store.snapshot().unwrap().disabled_keys.is_empty(),
                "{cause}"
            );
            apply_to_engine(&store, &[(k.clone(), KeyCheck::Valid)], 7).unwrap();
            assert!(
                store.snapshot().unwrap().disabled_keys.is_empty(),
                "{cause}"
            );
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
