//! What the fleet serves: providers, accounts and keys, models with their limits and
//! streaming pace, and the faults to inject. Read from TOML (docs/sim.md) or built from the
//! catalog ([`Scenario::default_fleet`]).

use super::SimError;
use super::faults::FaultKind;
use crate::catalog::ModelSpec;
use crate::model::{Dialect, Limits, ModelRef, Task};
use crate::secret::ApiKey;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// The slowest pace a scenario may ask for (one token every 100 s): slower would overflow
/// an answer's duration.
pub const MIN_TOKENS_PER_SEC: f64 = 0.01;
/// The fastest pace a scenario may ask for.
pub const MAX_TOKENS_PER_SEC: f64 = 1e9;

/// A whole fleet: every provider it serves and the faults it injects.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Seed of the fault and tool-call dice: the same seed replays the same choices.
    pub seed: u64,
    /// The providers, each served at `/{name}/v1`.
    pub providers: Vec<ProviderScenario>,
    /// Fault rules, checked in order for every chat request.
    pub faults: Vec<FaultRule>,
    /// The Tavily-compatible search served at `/tavily/search`.
    pub search: SearchScenario,
}

/// `[search]`: how the sim's Tavily-compatible search behaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchScenario {
    /// How long each search takes.
    pub latency: Duration,
    /// Every search fails with this status (401, 429, 432, 433, 500…) when set.
    pub status: Option<u16>,
    /// A model offered tools keeps calling them until it has read this many results (0:
    /// it answers after the first): a sequential model then takes one turn per search.
    pub wanted: u32,
    /// Characters of each result's extract (0: a sentence, as before). Real extracts run to
    /// hundreds of characters, enough to outgrow an 8K request after a few searches.
    pub extract_chars: usize,
}

/// One simulated provider.
#[derive(Clone, Debug)]
pub struct ProviderScenario {
    /// Path prefix name: `groq` is served at `/groq/v1`.
    pub name: String,
    /// Whose wire behaviour it copies (headers, error bodies, stream chunks, `/models`).
    pub dialect: Dialect,
    /// Accounts, each with its own limits per model and one or more keys.
    pub accounts: Vec<AccountScenario>,
    /// Whether requests must carry a known key (false when the scenario names no accounts).
    pub auth: bool,
    /// Models it serves.
    pub models: Vec<ModelScenario>,
    /// Largest audio upload in bytes (`None`: no limit).
    pub upload_limit_bytes: Option<u64>,
    /// Together only: send the older per-second `x-ratelimit-*`/`x-tokenlimit-*` headers.
    pub per_second_headers: bool,
}

/// One account: its keys share its limits.
#[derive(Clone, Debug)]
pub struct AccountScenario {
    /// Account name (`a`, `b`, …).
    pub name: String,
    /// Keys that draw on this account.
    pub keys: Vec<ApiKey>,
    /// Models this account cannot see: left out of its `/models`, `model_not_found` to it.
    pub hidden_models: Vec<String>,
}

/// One model of a provider: limits per account and how it answers.
#[derive(Clone, Debug)]
pub struct ModelScenario {
    /// Model id as the provider names it.
    pub id: String,
    /// Limits of each account on this model.
    pub limits: Limits,
    /// Context window in tokens.
    pub context_window: u64,
    /// Largest `max_tokens` it accepts (`None`: no check).
    pub max_output_tokens: Option<u64>,
    /// `max_tokens` assumed when a request names none.
    pub default_max_tokens: u64,
    /// Typical answer length in tokens (the answer is also bounded by `max_tokens`).
    pub answer_tokens: u64,
    /// Streaming pace in tokens per second (0: as fast as possible).
    pub tokens_per_sec: f64,
    /// Delay before the first token.
    pub ttft: Duration,
    /// Accepts tools (answers with tool calls when offered).
    pub tools: bool,
    /// Tool calls per answer when tools are offered and parallel calls allowed.
    pub parallel_tool_calls: u32,
    /// Chance that an answer to a request offering tools is a tool call.
    pub tool_call_probability: f64,
    /// Accepts image parts.
    pub vision: bool,
    /// Serves `/audio/transcriptions` (and not chat).
    pub transcription: bool,
    /// Chat pools this model suits, for the demo's config.
    pub tasks: Vec<Task>,
    /// A reasoning model: streams some thinking before its answer (`delta.reasoning` on
    /// Groq, `delta.reasoning_content` elsewhere, none on OpenAI, as the real ones do), and
    /// (OpenAI) refuses `max_tokens` for `max_completion_tokens`.
    pub reasoning: bool,
}

/// One fault rule: which requests it may hit and how often.
#[derive(Clone, Debug)]
pub struct FaultRule {
    /// Provider it applies to (`None`: all).
    pub provider: Option<String>,
    /// Model it applies to (`None`: all).
    pub model: Option<String>,
    /// What goes wrong.
    pub kind: FaultKind,
    /// Chance per request, 0.0 – 1.0.
    pub probability: f64,
    /// For mid-stream faults: tokens sent before it strikes.
    pub after_tokens: u64,
    /// For `slow_first_byte`: the delay; for hangs: how long (default: until shutdown).
    pub delay: Option<Duration>,
}

impl FaultRule {
    /// Whether the rule covers this provider and model.
    pub fn matches(&self, provider: &str, model: &str) -> bool {
        self.provider.as_deref().is_none_or(|p| p == provider)
            && self.model.as_deref().is_none_or(|m| m == model)
    }
}

impl ProviderScenario {
    /// The model called `id`.
    pub fn model(&self, id: &str) -> Option<&ModelScenario> {
        self.models.iter().find(|m| m.id == id)
    }

    /// Every key with its account name, for building a client config.
    pub fn keys(&self) -> Vec<(ApiKey, String)> {
        self.accounts
            .iter()
            .flat_map(|a| a.keys.iter().map(|k| (k.clone(), a.name.clone())))
            .collect()
    }

    /// The provider's name in rota's config and model references: `groq`, `openai`,
    /// `together`, else `custom:NAME`.
    pub fn config_name(&self) -> String {
        if matches!(self.name.as_str(), "groq" | "openai" | "together") {
            self.name.clone()
        } else {
            format!("custom:{}", self.name)
        }
    }

    /// The models as catalog specs (limits as the sim enforces them), for the demo's config.
    pub fn model_specs(&self) -> Vec<ModelSpec> {
        let provider = self.config_name();
        self.models
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut s = ModelSpec::bare(ModelRef::new(provider.clone(), m.id.clone()));
                s.tasks = m.tasks.clone();
                s.tools = m.tools;
                s.parallel_tools = m.tools && m.parallel_tool_calls > 1;
                s.vision = m.vision;
                s.transcription = m.transcription;
                s.reasoning = m.reasoning;
                if m.reasoning {
                    s.reasoning_efforts = ["low", "medium", "high"].map(String::from).to_vec();
                }
                s.limits = m.limits;
                s.context_window = Some(m.context_window);
                s.max_output_tokens = m.max_output_tokens;
                s.priority = 100 + i as u32;
                if m.transcription {
                    s.audio = Some(crate::catalog::AudioLimits {
                        max_upload_bytes: self.upload_limit_bytes,
                        formats: super::audio::formats(self.dialect)
                            .iter()
                            .map(|f| f.to_string())
                            .collect(),
                        min_billed_secs: if self.dialect == Dialect::Groq { 10 } else { 0 },
                        cost_per_hour: 0.0,
                    });
                }
                s.source = Some("rota sim scenario".into());
                s
            })
            .collect()
    }
}

impl Scenario {
    /// The provider called `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderScenario> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Names of the providers, in scenario order.
    pub fn provider_names(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.name.clone()).collect()
    }

    /// Parses a scenario from TOML text (format: docs/sim.md).
    pub fn from_toml(text: &str) -> Result<Self, SimError> {
        let raw: RawScenario =
            toml::from_str(text).map_err(|e| SimError::Scenario(e.to_string()))?;
        raw.resolve()
    }

    /// Reads a scenario file.
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Scenario(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| match e {
            SimError::Scenario(msg) => SimError::Scenario(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// The built-in fleet: groq, openai and together, two accounts each (`a`, `b`, keys
    /// `sim-PROVIDER-a`/`-b`), the catalog's models with published limits scaled down so a
    /// demo meets them within seconds.
    pub fn default_fleet() -> Self {
        let specs = crate::catalog::builtin();
        let providers = ["groq", "openai", "together"]
            .into_iter()
            .map(|name| {
                let dialect = Dialect::of_provider(name);
                let accounts = ["a", "b"]
                    .into_iter()
                    .map(|a| AccountScenario {
                        name: a.into(),
                        keys: vec![ApiKey::new(format!("sim-{name}-{a}"))],
                        hidden_models: Vec::new(),
                    })
                    .collect();
                let models = specs
                    .iter()
                    .filter(|s| s.model.provider == name)
                    .map(default_model)
                    .collect();
                ProviderScenario {
                    name: name.into(),
                    dialect,
                    accounts,
                    auth: true,
                    models,
                    upload_limit_bytes: default_upload_limit(dialect),
                    per_second_headers: dialect == Dialect::Together,
                }
            })
            .collect();
        Scenario {
            seed: 1,
            providers,
            faults: Vec::new(),
            search: SearchScenario::default(),
        }
    }
}

/// The default fleet's pace and sizes.
const DEMO_TOKENS_PER_SEC: f64 = 250.0;
const DEMO_TTFT_MS: u64 = 60;
const DEMO_MAX_TOKENS: u64 = 256;
const DEMO_ANSWER_TOKENS: u64 = 60;

/// Published limits scaled down for the demo: per-minute windows ÷ 3 (capped at 20 requests
/// and 6,000 tokens), per-day windows ÷ 10, audio windows ÷ 10.
fn scale_limits(l: &Limits) -> Limits {
    let div = |v: Option<u64>, d: u64, floor: u64, cap: u64| v.map(|v| (v / d).clamp(floor, cap));
    Limits {
        rpm: div(l.rpm, 3, 2, 20),
        tpm: div(l.tpm, 3, 1_000, 6_000),
        rpd: div(l.rpd, 10, 10, 2_000),
        tpd: div(l.tpd, 10, 2_000, 50_000),
        ash: div(l.ash, 10, 60, 3_600),
        asd: div(l.asd, 10, 120, 86_400),
    }
}

fn default_model(spec: &ModelSpec) -> ModelScenario {
    ModelScenario {
        id: spec.model.id.clone(),
        limits: scale_limits(&spec.limits),
        context_window: spec.context_window.unwrap_or(131_072),
        max_output_tokens: spec.max_output_tokens,
        default_max_tokens: DEMO_MAX_TOKENS,
        answer_tokens: DEMO_ANSWER_TOKENS,
        tokens_per_sec: DEMO_TOKENS_PER_SEC,
        ttft: Duration::from_millis(DEMO_TTFT_MS),
        tools: spec.tools,
        parallel_tool_calls: if spec.parallel_tools { 2 } else { 1 },
        tool_call_probability: 1.0,
        vision: spec.vision,
        transcription: spec.transcription,
        tasks: spec.tasks.clone(),
        reasoning: spec.reasoning,
    }
}

/// Published upload limits: Groq 25 MB, OpenAI 25 MiB, others none.
pub fn default_upload_limit(dialect: Dialect) -> Option<u64> {
    match dialect {
        Dialect::Groq => Some(25_000_000),
        Dialect::OpenAi => Some(25 * 1024 * 1024),
        Dialect::Together | Dialect::Generic => None,
    }
}

// ---- the TOML form ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    defaults: RawBehaviour,
    #[serde(default)]
    providers: Vec<RawProvider>,
    #[serde(default)]
    faults: Vec<RawFault>,
    #[serde(default)]
    search: RawSearch,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawSearch {
    latency: Option<String>,
    status: Option<u16>,
    wanted: Option<u32>,
    extract_chars: Option<usize>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawBehaviour {
    max_tokens: Option<u64>,
    answer_tokens: Option<u64>,
    tokens_per_sec: Option<f64>,
    ttft: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: String,
    dialect: Option<Dialect>,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    #[serde(default)]
    models: Vec<RawModel>,
    upload_limit_bytes: Option<u64>,
    per_second_headers: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: String,
    keys: Vec<String>,
    #[serde(default)]
    hidden_models: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    id: String,
    rpm: Option<u64>,
    tpm: Option<u64>,
    rpd: Option<u64>,
    tpd: Option<u64>,
    ash: Option<u64>,
    asd: Option<u64>,
    context_window: Option<u64>,
    max_output_tokens: Option<u64>,
    max_tokens: Option<u64>,
    answer_tokens: Option<u64>,
    tokens_per_sec: Option<f64>,
    ttft: Option<String>,
    #[serde(default)]
    tools: bool,
    parallel_tool_calls: Option<u32>,
    tool_call_probability: Option<f64>,
    #[serde(default)]
    vision: bool,
    #[serde(default)]
    transcription: bool,
    #[serde(default)]
    tasks: Vec<Task>,
    #[serde(default)]
    reasoning: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    provider: Option<String>,
    model: Option<String>,
    kind: FaultKind,
    probability: f64,
    after_tokens: Option<u64>,
    delay: Option<String>,
}

fn duration(field: &str, text: &str) -> Result<Duration, SimError> {
    crate::duration::parse(text).map_err(|e| SimError::Scenario(format!("{field}: {e}")))
}

impl RawScenario {
    fn resolve(self) -> Result<Scenario, SimError> {
        let d = &self.defaults;
        let def_ttft = match &d.ttft {
            Some(t) => duration("defaults.ttft", t)?,
            None => Duration::ZERO,
        };
        let mut providers: Vec<ProviderScenario> = Vec::new();
        for p in self.providers {
            let valid = !p.name.is_empty()
                && p.name != "sim"
                && p.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return Err(SimError::Scenario(format!(
                    "provider name `{}`: use [a-z0-9-]+ (and not `sim`)",
                    p.name
                )));
            }
            if providers.iter().any(|q| q.name == p.name) {
                return Err(SimError::Scenario(format!(
                    "provider `{}` is named twice: give each a unique name",
                    p.name
                )));
            }
            let dialect = p.dialect.unwrap_or(match Dialect::of_provider(&p.name) {
                Dialect::Generic => Dialect::OpenAi,
                other => other,
            });
            let auth = !p.accounts.is_empty();
            let mut accounts: Vec<AccountScenario> = p
                .accounts
                .into_iter()
                .map(|a| AccountScenario {
                    name: a.name,
                    keys: a.keys.iter().map(ApiKey::new).collect(),
                    hidden_models: a.hidden_models,
                })
                .collect();
            if accounts.is_empty() {
                accounts.push(AccountScenario {
                    name: "default".into(),
                    keys: Vec::new(),
                    hidden_models: Vec::new(),
                });
            }
            let mut models = Vec::new();
            for m in p.models {
                let ttft = match m.ttft.as_ref().or(d.ttft.as_ref()) {
                    Some(t) => duration(&format!("model {} ttft", m.id), t)?,
                    None => def_ttft,
                };
                let pace = m.tokens_per_sec.or(d.tokens_per_sec).unwrap_or(0.0);
                if !(pace == 0.0 || (MIN_TOKENS_PER_SEC..=MAX_TOKENS_PER_SEC).contains(&pace)) {
                    return Err(SimError::Scenario(format!(
                        "model {}: tokens_per_sec must be 0 (no pacing) or between \
                         {MIN_TOKENS_PER_SEC} and {MAX_TOKENS_PER_SEC}, not {pace}",
                        m.id
                    )));
                }
                let prob = m.tool_call_probability.unwrap_or(1.0);
                if !(0.0..=1.0).contains(&prob) {
                    return Err(SimError::Scenario(format!(
                        "model {}: tool_call_probability must be between 0 and 1",
                        m.id
                    )));
                }
                models.push(ModelScenario {
                    limits: Limits {
                        rpm: m.rpm,
                        tpm: m.tpm,
                        rpd: m.rpd,
                        tpd: m.tpd,
                        ash: m.ash,
                        asd: m.asd,
                    },
                    context_window: m.context_window.unwrap_or(131_072),
                    max_output_tokens: m.max_output_tokens,
                    default_max_tokens: m.max_tokens.or(d.max_tokens).unwrap_or(1024),
                    answer_tokens: m.answer_tokens.or(d.answer_tokens).unwrap_or(40),
                    tokens_per_sec: pace,
                    ttft,
                    tools: m.tools,
                    parallel_tool_calls: m.parallel_tool_calls.unwrap_or(1).max(1),
                    tool_call_probability: prob,
                    vision: m.vision,
                    transcription: m.transcription,
                    tasks: m.tasks,
                    reasoning: m.reasoning,
                    id: m.id,
                });
            }
            providers.push(ProviderScenario {
                upload_limit_bytes: p.upload_limit_bytes.or(default_upload_limit(dialect)),
                per_second_headers: p.per_second_headers.unwrap_or(dialect == Dialect::Together),
                name: p.name,
                dialect,
                accounts,
                auth,
                models,
            });
        }
        let mut faults = Vec::new();
        for f in self.faults {
            if !(0.0..=1.0).contains(&f.probability) {
                return Err(SimError::Scenario(format!(
                    "fault {:?}: probability must be between 0 and 1",
                    f.kind
                )));
            }
            if let Some(p) = &f.provider
                && !providers.iter().any(|q| &q.name == p)
            {
                return Err(SimError::Scenario(format!(
                    "fault names provider `{p}`, which the scenario does not define"
                )));
            }
            faults.push(FaultRule {
                provider: f.provider,
                model: f.model,
                kind: f.kind,
                probability: f.probability,
                after_tokens: f.after_tokens.unwrap_or(3),
                delay: f.delay.map(|t| duration("fault delay", &t)).transpose()?,
            });
        }
        let search = SearchScenario {
            latency: match &self.search.latency {
                Some(l) => duration("search.latency", l)?,
                None => Duration::ZERO,
            },
            status: self.search.status,
            wanted: self.search.wanted.unwrap_or(0),
            extract_chars: self.search.extract_chars.unwrap_or(0),
        };
        Ok(Scenario {
            seed: self.seed.unwrap_or(1),
            providers,
            faults,
            search,
        })
    }
}
