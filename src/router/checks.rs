//! Key checks and model lists, applied: what `rota keys check`, the TUI's keys view and
//! the background check at start change in the shared state (through the engine's
//! `availability` rules), and the last check of every key kept in `rota.db` (blob
//! `key-checks`) so `rota keys list` can show it.

use super::Router;
use crate::engine::KeyRef;
use crate::engine::availability::{self, KeyVerdict, Listing, Unseen};
use crate::engine::fleet::key_id;
use crate::model::Millis;
use crate::providers::check::{KeyCheck, account_endpoints, list_accounts};
use crate::store::StoreError;
use crate::store::db::{Db, DbError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The name of the blob row holding the last check of every key.
pub const CHECKS_BLOB: &str = "key-checks";

impl Router {
    /// Marks the models each listed account cannot see unavailable to it, and lifts the
    /// mark where a listing names the model again (see
    /// [`availability::apply_listings`]). Returns what is now unavailable.
    pub async fn apply_listings(&self, listings: &[Listing]) -> Result<Vec<Unseen>, StoreError> {
        if listings.is_empty() {
            return Ok(Vec::new());
        }
        let listings = listings.to_vec();
        self.transact(move |fleet, state, now| {
            availability::apply_listings(fleet, state, &listings, now)
        })
        .await
    }

    /// Takes keys a check found refused out of rotation, and puts back keys it found
    /// accepted (see [`availability::apply_key_verdicts`]).
    pub async fn apply_key_checks(&self, results: &[(KeyRef, KeyCheck)]) -> Result<(), StoreError> {
        let verdicts: Vec<(KeyRef, KeyVerdict)> = results
            .iter()
            .map(|(k, c)| (k.clone(), c.key_verdict()))
            .filter(|(_, v)| *v != KeyVerdict::Unknown)
            .collect();
        if verdicts.is_empty() {
            return Ok(());
        }
        self.transact(move |_, state, now| availability::apply_key_verdicts(state, &verdicts, now))
            .await
    }

    /// Reads every account's `GET /models` and applies it ([`Router::apply_listings`]);
    /// what `ask`, `chat`, `batch` and `transcribe` run in the background at start. The
    /// providers in `listed` are left out (their models were just discovered from that
    /// same list). Problems are logged, never shown: requests go on with what the state
    /// knew.
    pub async fn refresh_availability(self: Arc<Self>, listed: Vec<String>) {
        let mut accounts = account_endpoints(&self.config().providers);
        accounts.retain(|(k, _)| !listed.contains(&k.provider));
        let listings = list_accounts(self.client(), &accounts).await;
        match self.apply_listings(&listings).await {
            Ok(unseen) => {
                for u in unseen {
                    tracing::info!(account = %u.account, model = %u.model, "model unavailable to the account");
                }
            }
            Err(e) => tracing::warn!("cannot record which models each account sees: {e}"),
        }
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

/// The last check of every key, by the engine's key id ([`crate::engine::fleet::key_id`]).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(masked: &str) -> KeyRef {
        KeyRef {
            provider: "groq".into(),
            account: "a".into(),
            masked: masked.into(),
            ..KeyRef::default()
        }
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

    #[tokio::test]
    async fn a_refused_key_leaves_rotation_and_an_unreachable_check_changes_nothing() {
        let text = "[state]\nbackend = \"memory\"\n[providers.groq]\nkeys = [\"gsk_test_0001\"]\n";
        let config = crate::config::parse(text, "(test)", &|_: &str| None).unwrap();
        let router = Router::new(config, Arc::new(crate::store::MemoryStore::default()));
        let k = key("…0001");
        let down = KeyCheck::Unreachable("timeout".into());
        router.apply_key_checks(&[(k.clone(), down)]).await.unwrap();
        assert!(router.store().snapshot().unwrap().disabled_keys.is_empty());
        let refused = KeyCheck::Invalid("HTTP 401".into());
        router
            .apply_key_checks(&[(k.clone(), refused)])
            .await
            .unwrap();
        assert!(
            router
                .store()
                .snapshot()
                .unwrap()
                .disabled_keys
                .contains_key(&key_id(&k))
        );
        router
            .apply_key_checks(&[(k.clone(), KeyCheck::Valid)])
            .await
            .unwrap();
        assert!(router.store().snapshot().unwrap().disabled_keys.is_empty());
    }
}
