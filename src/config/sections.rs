//! The small sections: `[defaults]`, `[transcription]`, `[tools]`, `[serve]`, `[state]`,
//! `[ui]`.

use super::error::Sink;
use super::walk::Section;
use super::{
    Backend, Defaults, Fallback, ProviderConfig, ServeConfig, StateConfig, ToolsConfig,
    TranscriptionConfig,
};
use crate::model::Task;
use crate::secret::ApiKey;
use std::collections::BTreeMap;
use std::time::Duration;

/// Reads `[defaults]`; absent fields keep their defaults.
pub(crate) fn defaults(sink: &mut Sink, sec: Option<Section>) -> Defaults {
    let mut d = Defaults::default();
    let Some(s) = sec else { return d };
    s.only(
        sink,
        &[
            "task",
            "max_attempts",
            "max_wait",
            "safety_margin",
            "connect_timeout",
            "first_byte_timeout",
            "idle_timeout",
            "request_timeout",
            "max_cooldown",
        ],
    );
    if let Some(t) = s.str(sink, "task", "\"auto\"") {
        match t.parse::<Task>() {
            Ok(task) => d.task = task,
            Err(e) => sink.at(
                s.span("task"),
                format!("`task` in [defaults]: {e}"),
                "write e.g. task = \"auto\"",
            ),
        }
    }
    if let Some(item) = s.item("max_attempts") {
        match item.as_integer() {
            Some(n) if n >= 1 => d.max_attempts = u32::try_from(n).unwrap_or(u32::MAX),
            Some(n) => sink.at(
                s.span("max_attempts"),
                format!("`max_attempts` in [defaults] must be at least 1, not {n}"),
                "write e.g. max_attempts = 3 (candidates tried before waiting)",
            ),
            None => {
                s.positive(sink, "max_attempts", "3");
            }
        }
    }
    if let Some(w) = s.duration(sink, "max_wait", "120s") {
        d.max_wait = w;
    }
    if let Some(m) = s.f64(sink, "safety_margin", "0.05") {
        if (0.0..1.0).contains(&m) {
            d.safety_margin = m;
        } else {
            sink.at(
                s.span("safety_margin"),
                format!("`safety_margin` in [defaults] must be at least 0 and below 1, not {m}"),
                "write e.g. safety_margin = 0.05 (keep 5 % of every limit unused)",
            );
        }
    }
    for (key, example, slot) in [
        ("connect_timeout", "10s", &mut d.connect_timeout),
        ("first_byte_timeout", "60s", &mut d.first_byte_timeout),
        ("idle_timeout", "30s", &mut d.idle_timeout),
        ("request_timeout", "10m", &mut d.request_timeout),
        ("max_cooldown", "1h", &mut d.max_cooldown),
    ] {
        if let Some(v) = s.duration(sink, key, example) {
            if v == Duration::ZERO {
                sink.at(
                    s.span(key),
                    format!("`{key}` in [defaults] must be longer than 0s"),
                    format!("write e.g. {key} = \"{example}\""),
                );
            } else {
                *slot = v;
            }
        }
    }
    d
}

/// Reads `[transcription]`; the default order is groq, openai, together, then custom
/// providers that serve a transcription model.
pub(crate) fn transcription(
    sink: &mut Sink,
    sec: Option<Section>,
    providers: &[ProviderConfig],
    default_order: Vec<String>,
) -> TranscriptionConfig {
    let mut t = TranscriptionConfig {
        order: default_order,
        max_file_mb: 25,
    };
    let Some(s) = sec else { return t };
    s.only(sink, &["order", "max_file_mb"]);
    if let Some(list) = s.str_list(sink, "order", "[\"groq\", \"openai\"]") {
        let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
        let mut order = Vec::new();
        for (name, span) in list {
            if !names.contains(&name.as_str()) {
                sink.at(
                    span,
                    format!("`{name}` in `order` of [transcription] is not a provider"),
                    format!("use one of: {}", names.join(", ")),
                );
            } else if order.contains(&name) {
                sink.at(
                    span,
                    format!("`{name}` is listed twice in `order` of [transcription]"),
                    "list each provider once",
                );
            } else {
                order.push(name);
            }
        }
        t.order = order;
    }
    if let Some(mb) = s.positive(sink, "max_file_mb", "25") {
        t.max_file_mb = mb;
    }
    t
}

/// Reads `[serve]`.
pub(crate) fn serve(sink: &mut Sink, sec: Option<Section>) -> ServeConfig {
    let mut c = ServeConfig::default();
    let Some(s) = sec else {
        return c;
    };
    s.only(sink, &["listen", "max_chat_mb", "max_audio_mb"]);
    if let Some(l) = s.str(sink, "listen", "\"127.0.0.1:8787\"") {
        match l.parse::<std::net::SocketAddr>() {
            Ok(_) => c.listen = l,
            Err(_) => sink.at(
                s.span("listen"),
                format!("`listen` in [serve] is not an address and port: {l:?}"),
                "write e.g. listen = \"127.0.0.1:8787\"",
            ),
        }
    }
    let mb =
        |n: u64| usize::try_from(n.min(4_096).saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
    if let Some(n) = s.positive(sink, "max_chat_mb", "8") {
        c.max_chat_bytes = mb(n);
    }
    if let Some(n) = s.positive(sink, "max_audio_mb", "32") {
        c.max_audio_bytes = mb(n);
    }
    c
}

/// Reads `[tools]`; `$TAVILY_API_KEY` and `$TAVILY_BASE_URL` win over the file.
pub(crate) fn tools(
    sink: &mut Sink,
    sec: Option<Section>,
    env: &dyn Fn(&str) -> Option<String>,
) -> ToolsConfig {
    let mut t = ToolsConfig::default();
    let mut key = None;
    let mut url = None;
    if let Some(s) = sec {
        s.only(
            sink,
            &[
                "tavily_key",
                "tavily_url",
                "max_steps",
                "max_tool_calls",
                "allow_private_urls",
            ],
        );
        if let Some(item) = s.item("tavily_key") {
            match item.as_str() {
                Some(k) if !k.trim().is_empty() => key = Some(ApiKey::new(k)),
                Some(_) => sink.at(
                    s.span("tavily_key"),
                    "`tavily_key` in [tools] is empty",
                    "paste the key, or remove the line",
                ),
                None => sink.at(
                    s.span("tavily_key"),
                    format!(
                        "`tavily_key` in [tools] must be a string, not {}",
                        super::walk::a_type(item)
                    ),
                    "write e.g. tavily_key = \"tvly-…\"",
                ),
            }
        }
        if let Some(u) = s.str(sink, "tavily_url", "\"https://api.tavily.com\"") {
            match super::url::parse_base_url(&u) {
                Ok(b) if b.may_carry_key() => url = Some(b.url),
                Ok(_) => sink.at(
                    s.span("tavily_url"),
                    "`tavily_url` in [tools] must be https (http only to a loopback address)",
                    "write e.g. tavily_url = \"https://api.tavily.com\"",
                ),
                Err(e) => sink.at(
                    s.span("tavily_url"),
                    format!("`tavily_url` in [tools]: {e}"),
                    "write e.g. tavily_url = \"https://api.tavily.com\"",
                ),
            }
        }
        if let Some(n) = s.positive(sink, "max_steps", "6") {
            t.max_steps = u32::try_from(n.min(50)).unwrap_or(50);
        }
        if let Some(n) = s.positive(sink, "max_tool_calls", "12") {
            t.max_tool_calls = u32::try_from(n.min(200)).unwrap_or(200);
        }
        if let Some(b) = s.bool(sink, "allow_private_urls") {
            t.allow_private_urls = b;
        }
    }
    t.tavily_key = env("TAVILY_API_KEY")
        .filter(|k| !k.trim().is_empty())
        .map(ApiKey::new)
        .or(key);
    let env_url = env("TAVILY_BASE_URL")
        .filter(|u| !u.trim().is_empty())
        .and_then(|u| match super::url::parse_base_url(&u) {
            Ok(b) if b.may_carry_key() => Some(b.url),
            _ => {
                sink.env(
                    "TAVILY_BASE_URL",
                    "$TAVILY_BASE_URL must be an https URL (http only to a loopback address)",
                    "unset it, or set it to e.g. https://api.tavily.com",
                );
                None
            }
        });
    if let Some(u) = env_url.or(url) {
        t.tavily_url = u;
    }
    t
}

/// Reads `[state]`.
pub(crate) fn state(
    sink: &mut Sink,
    sec: Option<Section>,
    env: &dyn Fn(&str) -> Option<String>,
) -> StateConfig {
    let mut st = StateConfig {
        backend: Backend::Local,
        redis_url: None,
        redis_prefix: "rota".into(),
        fallback: Fallback::None,
        data_dir: super::paths::data_dir(),
        ledger_days: StateConfig::DEFAULT_LEDGER_DAYS,
    };
    if let Some(s) = sec {
        state_section(sink, &s, &mut st);
    }
    // $REDIS_URL replaces `redis_url` (a password can then stay out of the file). It is read
    // only for the redis backend: other programs set it for their own use.
    if st.backend == Backend::Redis {
        match env("REDIS_URL").map(|u| u.trim().to_string()) {
            Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => {
                st.redis_url = Some(u);
            }
            Some(u) if u.is_empty() => {}
            Some(_) => sink.env(
                "REDIS_URL",
                "$REDIS_URL must start with redis:// or rediss://",
                "unset it, or set it to e.g. redis://127.0.0.1:6379/0",
            ),
            None => {}
        }
    }
    st
}

/// Reads the keys of a `[state]` section into `st`.
fn state_section(sink: &mut Sink, s: &Section, st: &mut StateConfig) {
    s.only(
        sink,
        &[
            "backend",
            "redis_url",
            "redis_prefix",
            "fallback",
            "ledger_days",
        ],
    );
    if let Some(p) = s.str(sink, "redis_prefix", "\"rota\"") {
        if !p.is_empty() && p.len() <= 64 && !p.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            st.redis_prefix = p;
        } else {
            sink.at(
                s.span("redis_prefix"),
                "`redis_prefix` in [state] must be 1 to 64 characters without spaces",
                "write e.g. redis_prefix = \"rota\"",
            );
        }
    }
    if let Some(f) = s.str(sink, "fallback", "\"none\"") {
        match f.as_str() {
            "none" => st.fallback = Fallback::None,
            "local" => st.fallback = Fallback::Local,
            other => sink.at(
                s.span("fallback"),
                format!("`fallback` in [state] must be none or local, not `{other}`"),
                "write e.g. fallback = \"local\" to use this machine's SQLite while Redis is unreachable",
            ),
        }
    }
    if let Some(d) = s.positive(sink, "ledger_days", "90") {
        if d <= StateConfig::MAX_LEDGER_DAYS {
            st.ledger_days = d;
        } else {
            sink.at(
                s.span("ledger_days"),
                format!(
                    "`ledger_days` in [state] is at most {} (100 years), not {d}",
                    StateConfig::MAX_LEDGER_DAYS
                ),
                "write e.g. ledger_days = 365, or leave it out for 90",
            );
        }
    }
    if let Some(b) = s.str(sink, "backend", "\"local\"") {
        match b.as_str() {
            "local" => st.backend = Backend::Local,
            "memory" => st.backend = Backend::Memory,
            "redis" => st.backend = Backend::Redis,
            other => sink.at(
                s.span("backend"),
                format!("`backend` in [state] must be local, memory or redis, not `{other}`"),
                "write e.g. backend = \"local\"",
            ),
        }
    }
    if let Some(u) = s.str(sink, "redis_url", "\"redis://127.0.0.1:6379/0\"") {
        if u.starts_with("redis://") || u.starts_with("rediss://") {
            st.redis_url = Some(u);
        } else {
            sink.at(
                s.span("redis_url"),
                format!(
                    "`redis_url` in [state] must start with redis:// or rediss://, not `{}`",
                    crate::store::redis::redact_url(&u)
                ),
                "write e.g. redis_url = \"redis://127.0.0.1:6379/0\"",
            );
        }
    }
}

/// Reads `[ui]`'s theme (default `default`).
pub(crate) fn theme(sink: &mut Sink, sec: Option<Section>) -> String {
    let Some(s) = sec else {
        return "default".into();
    };
    s.only(sink, &["theme"]);
    match s.str(sink, "theme", "\"default\"") {
        Some(t) if !t.trim().is_empty() => t,
        Some(_) => {
            sink.at(
                s.span("theme"),
                "`theme` in [ui] is empty",
                "write e.g. theme = \"default\"",
            );
            "default".into()
        }
        None => "default".into(),
    }
}

/// `[reasoning]`: the `reasoning_effort` of each task (`fast = "low"`), sent only to models
/// whose catalog entry lists that value. Unset tasks send none (the provider's default);
/// `fast` defaults to `low`, so a quick question is not spent thinking.
pub(crate) fn reasoning(sink: &mut Sink, sec: Option<Section>) -> BTreeMap<Task, String> {
    let mut out = BTreeMap::from([(Task::Fast, "low".to_string())]);
    let Some(s) = sec else {
        return out;
    };
    s.only(sink, &["fast", "research", "code", "vision"]);
    for task in Task::POOLS {
        let name = task.as_str();
        match s.str(sink, name, "\"low\"") {
            Some(v) if matches!(v.as_str(), "none" | "minimal" | "low" | "medium" | "high") => {
                out.insert(task, v);
            }
            Some(v) => sink.at(
                s.span(name),
                format!("`{v}` in [reasoning] {name} is not a reasoning effort"),
                "use none, minimal, low, medium or high",
            ),
            None => {}
        }
    }
    out
}
