//! `rota reset [PROVIDER[/MODEL]] [--key SUFFIX]`: takes back into rotation what cooldowns,
//! backoffs and disabled states hold out, for every rota process sharing the state.

use super::args::Global;
use super::context::Context;
use super::error::{CliError, exit};
use crate::engine::{Cleared, ResetScope};

/// Reads `PROVIDER` or `PROVIDER/MODEL` (the model id may hold `/`) against the config.
fn scope_of(
    target: Option<&str>,
    key: Option<&str>,
    config: &crate::config::Config,
) -> Result<ResetScope, CliError> {
    let (provider, model) = match target {
        None => (None, None),
        Some(t) => match t.split_once('/') {
            Some((p, m)) => (Some(p.to_string()), Some(m.to_string())),
            None => (Some(t.to_string()), None),
        },
    };
    if let Some(p) = &provider
        && config.provider(p).is_none()
    {
        let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        return Err(
            CliError::usage(format!("`{p}` is not a configured provider"))
                .hint(format!("name one of: {}", names.join(", "))),
        );
    }
    if let (Some(p), Some(m)) = (&provider, &model) {
        let known = config
            .models
            .iter()
            .any(|s| &s.model.provider == p && &s.model.id == m);
        if !known {
            return Err(
                CliError::usage(format!("`{p}/{m}` is not a model rota knows"))
                    .hint("`rota status` lists every model of the pools"),
            );
        }
    }
    if let Some(k) = key {
        let k = k.trim_start_matches('…');
        if k.is_empty() || k.chars().count() > 4 {
            return Err(CliError::usage(
                "--key takes the last characters of a key as `rota keys list` shows them (1 to 4)",
            )
            .hint("e.g. rota reset groq --key a1b2"));
        }
    }
    Ok(ResetScope {
        provider,
        model,
        key_suffix: key.map(str::to_string),
    })
}

/// The lines `rota reset` prints.
pub fn describe(scope_label: &str, c: &Cleared) -> String {
    if c.is_empty() {
        return format!("nothing held {scope_label}: no cooldown, backoff or disabled key");
    }
    let mut parts = Vec::new();
    let n = |count: usize, one: &str, many: &str| {
        format!("{count} {}", if count == 1 { one } else { many })
    };
    if c.cooldowns > 0 {
        parts.push(n(c.cooldowns, "cooldown", "cooldowns"));
    }
    if c.provider_backoffs > 0 {
        parts.push(n(
            c.provider_backoffs,
            "provider backoff",
            "provider backoffs",
        ));
    }
    if c.models > 0 {
        parts.push(n(c.models, "unavailable model", "unavailable models"));
    }
    if !c.keys.is_empty() {
        parts.push(format!(
            "{} ({})",
            n(c.keys.len(), "disabled key", "disabled keys"),
            c.keys.join(", ")
        ));
    }
    format!("cleared {scope_label}: {}", parts.join(", "))
}

/// Runs `rota reset`.
pub fn run(global: &Global, target: Option<&str>, key: Option<&str>) -> Result<i32, CliError> {
    let rt = super::context::runtime()?;
    rt.block_on(async move {
        let ctx = Context::open_any(global).await?;
        ctx.print_notices();
        let router = &ctx.router;
        let scope = scope_of(target, key, router.config())?;
        let cleared = router
            .reset(scope)
            .await
            .map_err(|e| CliError::failed(format!("could not reset: {e}")))?;
        let label = match (target, key) {
            (None, None) => "everywhere".to_string(),
            (Some(t), None) => format!("for {t}"),
            (None, Some(k)) => format!("for key …{}", k.trim_start_matches('…')),
            (Some(t), Some(k)) => format!("for {t} key …{}", k.trim_start_matches('…')),
        };
        println!("{}", describe(&label, &cleared));
        Ok(exit::OK)
    })
}
