//! The static picture the engine decides over: every pool's models, each model's accounts and
//! keys, built once from the [`Config`] (or from parts, in tests and benches).

use super::KeyRef;
use super::window::cap;
use crate::catalog::ModelSpec;
use crate::config::{Config, KeyConfig};
use crate::model::{Limits, Millis, ModelRef, Task, Window};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// One provider as the fleet needs it: enabled or not, and its keys.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderParts {
    /// `groq`, `custom:local`, …
    pub name: String,
    /// `enabled = false` in config.
    pub enabled: bool,
    /// Its keys, each naming its account.
    pub keys: Vec<KeyRef>,
}

/// Everything a [`Fleet`] is built from, without a config file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FleetParts {
    /// Every known model.
    pub models: Vec<ModelSpec>,
    /// Every provider.
    pub providers: Vec<ProviderParts>,
    /// Each chat pool in preference order.
    pub pools: BTreeMap<Task, Vec<ModelRef>>,
    /// Transcription providers: the first preferred, the rest round-robin.
    pub transcription_order: Vec<String>,
    /// Fraction of every limit kept unused.
    pub safety_margin: f64,
    /// Upload limit for transcription providers that publish none.
    pub max_file_bytes: u64,
    /// The longest cooldown a 429 that names no window may set (`[defaults] max_cooldown`).
    pub max_cooldown_ms: Millis,
}

/// One key of an account, with its id in the state.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetKey {
    /// The key.
    pub key: KeyRef,
    /// `provider|account|masked`: where the state records it disabled.
    pub id: String,
}

/// One account of a model's provider: its keys share its windows on the model.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetAccount {
    /// The account name.
    pub name: String,
    /// Its keys in config order.
    pub keys: Vec<FleetKey>,
    /// `account@provider/model`: the state's slot for this account on this model.
    pub slot: String,
    /// This account-on-model's number in the fleet (0, 1, … over every model's accounts):
    /// lets the state find its slot without hashing the name (see
    /// [`SlotTable::position`](super::slots::SlotTable::position)).
    pub ix: usize,
}

/// One model with its spec, provider status and accounts.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetModel {
    /// Capabilities and configured limits.
    pub spec: ModelSpec,
    /// `provider/model`, the state's name for it.
    pub name: String,
    /// The provider is enabled.
    pub enabled: bool,
    /// The provider's accounts (empty: no key).
    pub accounts: Vec<FleetAccount>,
    /// The configured limit of every window (in [`Window::ALL`] order) after the fleet's
    /// safety margin: what the engine lets a window hold unless a lower limit was learned.
    /// Computed at build: change a fleet by building it again.
    pub caps: [Option<u64>; 6],
}

impl FleetModel {
    /// Configured limit of a window.
    pub fn configured(&self, w: Window) -> Option<u64> {
        self.spec.limits.get(w)
    }
}

/// The static picture: models, pools, margins. Cheap to share; build it once per config.
#[derive(Clone, Debug)]
pub struct Fleet {
    /// Which build this is (unique in the process; a clone keeps it): caches keyed by
    /// [`FleetAccount::ix`] are valid only for the fleet that numbered them.
    pub id: u64,
    /// Every model that appears in a pool, then every other chat model of a provider with
    /// a key.
    pub models: Vec<FleetModel>,
    /// Each chat pool as indexes into `models`, in preference order.
    pub pools: BTreeMap<Task, Vec<usize>>,
    /// The transcription pool as indexes into `models`, in routing order.
    pub transcription: Vec<usize>,
    /// Transcription providers in order (first preferred).
    pub transcription_order: Vec<String>,
    /// Fraction of every limit kept unused.
    pub safety_margin: f64,
    /// Upload limit for transcription providers that publish none.
    pub max_file_bytes: u64,
    /// The longest cooldown a 429 that names no window may set (`[defaults] max_cooldown`).
    pub max_cooldown_ms: Millis,
}

/// The state's id for a key: `provider|account|fingerprint` (`provider|account|masked` for
/// a keyless endpoint, and in records saved before fingerprints).
pub fn key_id(k: &KeyRef) -> String {
    if k.fingerprint.is_empty() {
        format!("{}|{}|{}", k.provider, k.account, k.masked)
    } else {
        format!("{}|{}|{}", k.provider, k.account, k.fingerprint)
    }
}

/// The state's slot for an account on a model: `account@provider/model`.
pub fn slot_id(account: &str, model: &ModelRef) -> String {
    format!("{account}@{model}")
}

/// The configured key behind a [`KeyRef`], for building the Authorization header.
pub fn key_config<'a>(config: &'a Config, key: &KeyRef) -> Option<&'a KeyConfig> {
    config
        .provider(&key.provider)?
        .keys
        .iter()
        .find(|k| k.account == key.account && k.masked() == key.masked)
}

impl Fleet {
    /// Builds the fleet from the resolved configuration.
    pub fn from_config(config: &Config) -> Fleet {
        let providers = config
            .providers
            .iter()
            .map(|p| ProviderParts {
                name: p.name.clone(),
                enabled: p.enabled,
                keys: p
                    .keys
                    .iter()
                    .map(|k| crate::engine::KeyRef::of(&p.name, k))
                    .collect(),
            })
            .collect();
        Fleet::from_parts(FleetParts {
            models: config.models.clone(),
            providers,
            pools: config.pools.clone(),
            transcription_order: config.transcription.order.clone(),
            safety_margin: config.defaults.safety_margin,
            max_file_bytes: config.transcription.max_file_mb.saturating_mul(1_000_000),
            max_cooldown_ms: u64::try_from(config.defaults.max_cooldown.as_millis())
                .unwrap_or(Millis::MAX),
        })
    }

    /// Builds the fleet from parts. Pool models missing from `models` get a bare spec (no
    /// capabilities, no limits); providers missing from `providers` have no key.
    pub fn from_parts(parts: FleetParts) -> Fleet {
        static BUILDS: AtomicU64 = AtomicU64::new(1);
        let mut fleet = Fleet {
            id: BUILDS.fetch_add(1, Ordering::Relaxed),
            models: Vec::new(),
            pools: BTreeMap::new(),
            transcription: Vec::new(),
            transcription_order: parts.transcription_order.clone(),
            safety_margin: parts.safety_margin,
            max_file_bytes: parts.max_file_bytes,
            max_cooldown_ms: parts.max_cooldown_ms.max(1),
        };
        let mut index: BTreeMap<ModelRef, usize> = BTreeMap::new();
        let mut intern = |fleet: &mut Fleet, m: &ModelRef| -> usize {
            if let Some(&i) = index.get(m) {
                return i;
            }
            let spec = parts
                .models
                .iter()
                .find(|s| &s.model == m)
                .cloned()
                .unwrap_or_else(|| ModelSpec::bare(m.clone()));
            let provider = parts.providers.iter().find(|p| p.name == m.provider);
            let mut accounts: Vec<FleetAccount> = Vec::new();
            for k in provider.map(|p| p.keys.as_slice()).unwrap_or(&[]) {
                let fk = FleetKey {
                    key: k.clone(),
                    id: key_id(k),
                };
                match accounts.iter_mut().find(|a| a.name == k.account) {
                    Some(a) => a.keys.push(fk),
                    None => accounts.push(FleetAccount {
                        name: k.account.clone(),
                        slot: slot_id(&k.account, m),
                        keys: vec![fk],
                        ix: 0,
                    }),
                }
            }
            fleet.models.push(FleetModel {
                name: m.to_string(),
                enabled: provider.is_some_and(|p| p.enabled),
                caps: Window::ALL.map(|w| spec.limits.get(w).map(|l| cap(l, parts.safety_margin))),
                spec,
                accounts,
            });
            index.insert(m.clone(), fleet.models.len() - 1);
            fleet.models.len() - 1
        };
        for (task, list) in &parts.pools {
            let mut idx = Vec::new();
            for m in list {
                let i = intern(&mut fleet, m);
                if !idx.contains(&i) {
                    idx.push(i);
                }
            }
            fleet.pools.insert(*task, idx);
        }
        for p in &parts.transcription_order {
            for s in parts.models.iter().filter(|s| s.transcription) {
                if &s.model.provider == p {
                    let i = intern(&mut fleet, &s.model);
                    if !fleet.transcription.contains(&i) {
                        fleet.transcription.push(i);
                    }
                }
            }
        }
        // Every other chat model of a provider with a key, after the pools: a caller may
        // name one (`rota serve`'s `PROVIDER/ID`), rotating over its accounts and keys.
        for s in parts.models.iter().filter(|s| !s.transcription) {
            let keyed = parts
                .providers
                .iter()
                .any(|p| p.name == s.model.provider && !p.keys.is_empty());
            if keyed {
                intern(&mut fleet, &s.model);
            }
        }
        let accounts = fleet.models.iter_mut().flat_map(|m| m.accounts.iter_mut());
        for (ix, a) in accounts.enumerate() {
            a.ix = ix;
        }
        fleet
    }

    /// The spec of a model in the fleet.
    pub fn spec(&self, m: &ModelRef) -> Option<&ModelSpec> {
        self.models
            .iter()
            .find(|f| &f.spec.model == m)
            .map(|f| &f.spec)
    }

    /// Where a model is in [`Fleet::models`].
    pub fn index_of(&self, m: &ModelRef) -> Option<usize> {
        self.models.iter().position(|f| &f.spec.model == m)
    }

    /// The fleet's entry for a model.
    pub fn model(&self, m: &ModelRef) -> Option<&FleetModel> {
        self.models.iter().find(|f| &f.spec.model == m)
    }

    /// The limits configured for a model (catalog or config), before learning.
    pub fn configured_limits(&self, m: &ModelRef) -> Limits {
        self.spec(m).map(|s| s.limits).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backend, Defaults, ProviderConfig, StateConfig, TranscriptionConfig};
    use crate::secret::ApiKey;

    fn cfg() -> Config {
        let key = |k: &str, a: &str| KeyConfig {
            key: Some(ApiKey::new(k)),
            account: a.to_string(),
        };
        let mut whisper = ModelSpec::bare(ModelRef::new("groq", "whisper-large-v3"));
        whisper.transcription = true;
        let mut oa_whisper = ModelSpec::bare(ModelRef::new("openai", "whisper-1"));
        oa_whisper.transcription = true;
        Config {
            path: None,
            defaults: Defaults::default(),
            reasoning_effort: Default::default(),
            serve: Default::default(),
            providers: vec![
                ProviderConfig {
                    name: "groq".into(),
                    base_url: "http://127.0.0.1:1/groq/v1".into(),
                    keys: vec![
                        key("gsk_test_0001", "a"),
                        key("gsk_test_0002", "a"),
                        key("gsk_test_0003", "b"),
                    ],
                    enabled: true,
                },
                ProviderConfig {
                    name: "openai".into(),
                    base_url: "http://127.0.0.1:1/openai/v1".into(),
                    keys: vec![key("sk-test-0004", "key-…0004")],
                    enabled: false,
                },
                ProviderConfig {
                    name: "together".into(),
                    base_url: "http://127.0.0.1:1/together/v1".into(),
                    keys: vec![],
                    enabled: true,
                },
            ],
            models: vec![
                ModelSpec::bare(ModelRef::new("groq", "llama-3.1-8b-instant")),
                whisper,
                oa_whisper,
            ],
            pools: [(
                Task::Fast,
                vec![
                    ModelRef::new("groq", "llama-3.1-8b-instant"),
                    ModelRef::new("openai", "gpt-4o-mini"),
                    ModelRef::new("together", "x/y"),
                ],
            )]
            .into_iter()
            .collect(),
            transcription: TranscriptionConfig {
                order: vec!["openai".into(), "groq".into()],
                max_file_mb: 25,
            },
            tools: Default::default(),
            state: StateConfig {
                backend: Backend::Memory,
                redis_url: None,
                redis_prefix: "rota".into(),
                fallback: Default::default(),
                data_dir: None,
                ledger_days: StateConfig::DEFAULT_LEDGER_DAYS,
            },
            theme: "default".into(),
        }
    }

    #[test]
    fn groups_keys_by_account_and_keeps_orders() {
        let c = cfg();
        let f = Fleet::from_config(&c);
        let fast = &f.pools[&Task::Fast];
        assert_eq!(fast.len(), 3);
        let groq = &f.models[fast[0]];
        assert_eq!(groq.accounts.len(), 2);
        assert_eq!(groq.accounts[0].keys.len(), 2);
        assert_eq!(groq.accounts[0].keys[1].key.masked, "…0002");
        assert_eq!(groq.accounts[0].slot, "a@groq/llama-3.1-8b-instant");
        assert!(!f.models[fast[1]].enabled);
        assert!(f.models[fast[2]].accounts.is_empty());
        let t: Vec<_> = f
            .transcription
            .iter()
            .map(|&i| f.models[i].name.clone())
            .collect();
        assert_eq!(t, ["openai/whisper-1", "groq/whisper-large-v3"]);
        assert_eq!(f.max_file_bytes, 25_000_000);
        let k = &groq.accounts[1].keys[0].key;
        assert_eq!(
            key_config(&c, k).and_then(|k| k.key.clone()),
            Some(ApiKey::new("gsk_test_0003"))
        );
    }
}
