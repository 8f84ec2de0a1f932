//! `[providers.*]` and `[[providers.custom]]`, the environment's keys and base URLs, and the
//! accounts keys belong to.

use super::env::{env_base_url, env_keys};
use super::error::Sink;
use super::model_fields::{MODEL_FIELDS, apply};
use super::url::parse_base_url;
use super::walk::{Section, value_type};
use super::{KeyConfig, ProviderConfig};
use crate::catalog::ModelSpec;
use crate::model::ModelRef;
use crate::secret::ApiKey;
use std::collections::HashMap;
use std::ops::Range;

/// The built-in providers and their default base URLs.
pub const BUILTIN_PROVIDERS: [(&str, &str); 3] = [
    ("groq", "https://api.groq.com/openai/v1"),
    ("openai", "https://api.openai.com/v1"),
    ("together", "https://api.together.xyz/v1"),
];

/// The account of a keyless custom endpoint.
pub const KEYLESS_ACCOUNT: &str = "keyless";

/// One key as written, before accounts are assigned.
struct RawKey {
    key: ApiKey,
    account: Option<String>,
}

/// Providers and custom models read from the file and environment.
pub(crate) struct Providers {
    /// Built-in ones first, then custom ones in file order.
    pub providers: Vec<ProviderConfig>,
    /// Models declared under `[[providers.custom.models]]`.
    pub custom_models: Vec<ModelSpec>,
}

/// Whether `name` is a valid custom provider name (`[a-z0-9-]+`).
pub fn valid_custom_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Reads `[providers]` (absent: built-ins with defaults) and applies the environment.
pub(crate) fn read(
    sink: &mut Sink,
    sec: Option<Section>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Providers {
    if let Some(s) = &sec {
        s.only(sink, &["groq", "openai", "together", "custom"]);
    }
    let mut providers = Vec::new();
    for (name, default_url) in BUILTIN_PROVIDERS {
        let sub = sec.as_ref().and_then(|s| s.table(sink, name));
        let mut keys = Vec::new();
        let mut url = default_url.to_string();
        let mut url_span = None;
        let mut enabled = true;
        if let Some(p) = &sub {
            p.only(sink, &["keys", "base_url", "enabled"]);
            keys = read_keys(sink, p);
            if let Some(u) = read_url(sink, p, default_url) {
                url = u;
                url_span = p.span("base_url");
            }
            enabled = p.bool(sink, "enabled").unwrap_or(true);
        }
        let mut url_var = None;
        if let Some((var, value)) = env_base_url(name, env) {
            match parse_base_url(&value) {
                Ok(u) => {
                    url = u.url;
                    url_var = Some(var);
                }
                Err(e) => sink.env(&var, e, format!("set it to e.g. {default_url}")),
            }
        }
        for (_, key) in env_keys(name, env) {
            if !keys.iter().any(|k: &RawKey| k.key == key) {
                keys.push(RawKey { key, account: None });
            }
        }
        check_transport(
            sink,
            name,
            &url,
            url_span,
            url_var.as_deref(),
            !keys.is_empty(),
        );
        providers.push(ProviderConfig {
            name: name.to_string(),
            base_url: url,
            keys: assign_accounts(keys),
            enabled,
        });
    }
    let mut custom_models = Vec::new();
    let mut seen: HashMap<String, ()> = HashMap::new();
    let customs = sec
        .as_ref()
        .map(|s| s.tables(sink, "custom"))
        .unwrap_or_default();
    for c in customs {
        c.only(sink, &["name", "base_url", "keys", "enabled", "models"]);
        let name = match c.str(sink, "name", "\"local\"") {
            Some(n) => n,
            None => {
                if c.item("name").is_none() {
                    sink.at(
                        c.span.clone(),
                        format!("[{}] has no `name`", c.name),
                        "add e.g. name = \"local\" ([a-z0-9-]+, unique)",
                    );
                }
                continue;
            }
        };
        if !valid_custom_name(&name) {
            sink.at(
                c.span("name"),
                format!("custom provider name `{name}` may hold only a-z, 0-9 and -"),
                format!("write e.g. name = \"{}\"", suggest_name(&name)),
            );
        }
        if seen.insert(name.clone(), ()).is_some() {
            sink.at(
                c.span("name"),
                format!("custom provider `{name}` is defined twice"),
                "give each [[providers.custom]] a different name",
            );
            continue;
        }
        let full = format!("custom:{name}");
        let keys = read_keys(sink, &c);
        let url = read_url(sink, &c, "http://127.0.0.1:8000/v1");
        if url.is_none() && c.item("base_url").is_none() {
            sink.at(
                c.span.clone(),
                format!("custom provider `{name}` has no `base_url`"),
                "add e.g. base_url = \"http://127.0.0.1:8000/v1\"",
            );
        }
        if let Some(u) = &url {
            check_transport(sink, &full, u, c.span("base_url"), None, !keys.is_empty());
        }
        let enabled = c.bool(sink, "enabled").unwrap_or(true);
        let mut ids: HashMap<String, ()> = HashMap::new();
        for m in c.tables(sink, "models") {
            let mut allowed = vec!["id"];
            allowed.extend_from_slice(MODEL_FIELDS);
            m.only(sink, &allowed);
            let Some(id) = m.str(sink, "id", "\"qwen2.5-7b-instruct\"") else {
                if m.item("id").is_none() {
                    sink.at(
                        m.span.clone(),
                        format!("[{}] has no `id`", m.name),
                        "add e.g. id = \"qwen2.5-7b-instruct\"",
                    );
                }
                continue;
            };
            if ids.insert(id.clone(), ()).is_some() {
                sink.at(
                    m.span("id"),
                    format!("model `{id}` of custom provider `{name}` is defined twice"),
                    "keep one [[providers.custom.models]] entry per id",
                );
                continue;
            }
            let mut spec = ModelSpec::bare(ModelRef::new(full.clone(), id));
            apply(sink, &m, &mut spec);
            custom_models.push(spec);
        }
        let mut keys = assign_accounts(keys);
        if keys.is_empty() {
            keys.push(KeyConfig {
                key: None,
                account: KEYLESS_ACCOUNT.to_string(),
            });
        }
        providers.push(ProviderConfig {
            name: full,
            base_url: url.unwrap_or_default(),
            keys,
            enabled,
        });
    }
    Providers {
        providers,
        custom_models,
    }
}

fn suggest_name(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if s.trim_matches('-').is_empty() {
        "local".into()
    } else {
        s
    }
}

fn read_url(sink: &mut Sink, sec: &Section, example: &str) -> Option<String> {
    let text = sec.str(sink, "base_url", &format!("\"{example}\""))?;
    match parse_base_url(&text) {
        Ok(u) => Some(u.url),
        Err(e) => {
            sink.at(
                sec.span("base_url"),
                format!("`base_url` in [{}]: {e}", sec.name),
                format!("write e.g. base_url = \"{example}\""),
            );
            None
        }
    }
}

/// Keys go only over https, or over http to a loopback host.
fn check_transport(
    sink: &mut Sink,
    provider: &str,
    url: &str,
    span: Option<Range<usize>>,
    var: Option<&str>,
    has_keys: bool,
) {
    let Ok(u) = parse_base_url(url) else { return };
    if !has_keys || u.may_carry_key() {
        return;
    }
    let msg = format!(
        "keys of `{provider}` would be sent over plain http to `{}`, which is not this machine",
        u.host
    );
    let hint = "use an https:// base_url (http is allowed only for 127.0.0.1, ::1 and localhost), or remove the keys";
    match var {
        Some(v) => sink.env(v, msg, hint),
        None => sink.at(span, msg, hint),
    }
}

fn check_key(
    sink: &mut Sink,
    text: &str,
    span: Option<Range<usize>>,
    section: &str,
) -> Option<ApiKey> {
    let key = ApiKey::new(text);
    if key.expose().is_empty() {
        sink.at(
            span,
            format!("an empty key in [{section}]"),
            "remove it, or paste the whole key",
        );
        return None;
    }
    if key.expose().chars().any(char::is_whitespace) {
        sink.at(
            span,
            format!("key {} in [{section}] has white space inside", key.masked()),
            "a key is one word: check it was pasted whole",
        );
        return None;
    }
    Some(key)
}

/// `keys = ["…", { key = "…", account = "…" }]`. Values of keys are only ever shown masked.
fn read_keys(sink: &mut Sink, sec: &Section) -> Vec<RawKey> {
    let Some(item) = sec.item("keys") else {
        return Vec::new();
    };
    let example = "[\"gsk_…\", { key = \"gsk_…\", account = \"team-b\" }]";
    let Some(arr) = item.as_array() else {
        sink.at(
            sec.span("keys"),
            format!(
                "`keys` in [{}] must be an array, not {}",
                sec.name,
                super::walk::a_type(item)
            ),
            format!("write e.g. keys = {example}"),
        );
        return Vec::new();
    };
    let mut out: Vec<RawKey> = Vec::new();
    for v in arr.iter() {
        let raw = if let Some(s) = v.as_str() {
            check_key(sink, s, v.span(), &sec.name).map(|key| RawKey { key, account: None })
        } else if let Some(t) = v.as_inline_table() {
            let ks = Section::new(t, format!("{}.keys", sec.name), v.span());
            ks.only(sink, &["key", "account"]);
            let key = match ks.item("key") {
                None => {
                    sink.at(
                        v.span(),
                        format!("a key table in [{}] has no `key`", sec.name),
                        format!("write e.g. keys = {example}"),
                    );
                    None
                }
                Some(k) => match k.as_str() {
                    Some(s) => check_key(sink, s, ks.span("key"), &sec.name),
                    None => {
                        sink.at(
                            ks.span("key"),
                            format!(
                                "`key` in [{}] must be a string, not {}",
                                ks.name,
                                super::walk::a_type(k)
                            ),
                            "write e.g. { key = \"gsk_…\", account = \"team-b\" }",
                        );
                        None
                    }
                },
            };
            let account = ks.str(sink, "account", "\"team-b\"");
            if let Some(a) = &account
                && (a.trim().is_empty() || a.trim() != a)
            {
                sink.at(
                    ks.span("account"),
                    format!("account name `{a}` in [{}] is empty or padded", sec.name),
                    "write e.g. account = \"team-b\"",
                );
            }
            key.map(|key| RawKey { key, account })
        } else {
            sink.at(
                v.span(),
                format!(
                    "every entry of `keys` in [{}] must be a string or {{ key, account }}, not {}",
                    sec.name,
                    value_type(v)
                ),
                format!("write e.g. keys = {example}"),
            );
            None
        };
        if let Some(r) = raw
            && !out.iter().any(|k| k.key == r.key)
        {
            out.push(r);
        }
    }
    out
}

/// Names every key's account: the configured one, else `key-…WXYZ` (made unique).
fn assign_accounts(keys: Vec<RawKey>) -> Vec<KeyConfig> {
    let mut used: Vec<String> = keys.iter().filter_map(|k| k.account.clone()).collect();
    keys.into_iter()
        .map(|k| {
            let account = match k.account {
                Some(a) => a,
                None => {
                    let base = format!("key-{}", k.key.masked());
                    let mut name = base.clone();
                    let mut n = 2;
                    while used.contains(&name) {
                        name = format!("{base}-{n}");
                        n += 1;
                    }
                    used.push(name.clone());
                    name
                }
            };
            KeyConfig {
                key: Some(k.key),
                account,
            }
        })
        .collect()
}
