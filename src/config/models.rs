//! `[[models]]` (adjust or add models of built-in providers) and the pools: default ones
//! from the models' tasks, and `[pools]` replacing them.

use super::ProviderConfig;
use super::error::Sink;
use super::model_fields::{MODEL_FIELDS, apply};
use super::providers::BUILTIN_PROVIDERS;
use super::walk::Section;
use crate::catalog::ModelSpec;
use crate::model::{ModelRef, Task};
use std::collections::BTreeMap;

/// Applies every `[[models]]` entry to `models` (the catalog): a known id is adjusted, a new
/// id of a built-in provider is added.
pub(crate) fn apply_overrides(sink: &mut Sink, entries: Vec<Section>, models: &mut Vec<ModelSpec>) {
    let builtin: Vec<&str> = BUILTIN_PROVIDERS.iter().map(|(n, _)| *n).collect();
    for e in entries {
        let mut allowed = vec!["provider", "id"];
        allowed.extend_from_slice(MODEL_FIELDS);
        e.only(sink, &allowed);
        let provider = e.str(sink, "provider", "\"groq\"");
        let id = e.str(sink, "id", "\"openai/gpt-oss-20b\"");
        for (key, example) in [
            ("provider", "provider = \"groq\""),
            ("id", "id = \"openai/gpt-oss-20b\""),
        ] {
            if e.item(key).is_none() {
                sink.at(
                    e.span.clone(),
                    format!("[{}] has no `{key}`", e.name),
                    format!("add e.g. {example}"),
                );
            }
        }
        let (Some(provider), Some(id)) = (provider, id) else {
            continue;
        };
        if !builtin.contains(&provider.as_str()) {
            let hint = if provider.starts_with("custom:") {
                "models of a custom provider go under [[providers.custom.models]] of that provider"
                    .to_string()
            } else {
                format!("use one of: {}", builtin.join(", "))
            };
            sink.at(
                e.span("provider"),
                format!("`{provider}` in [{}] is not a built-in provider", e.name),
                hint,
            );
            continue;
        }
        if let Some(r) = crate::catalog::retired(&provider, &id) {
            sink.at(
                e.span("id"),
                format!(
                    "[{}] names `{provider}/{id}`, which its provider retired",
                    e.name
                ),
                r.hint(),
            );
            continue;
        }
        let m = ModelRef::new(provider, id);
        let idx = match models.iter().position(|s| s.model == m) {
            Some(i) => i,
            None => {
                models.push(ModelSpec::bare(m));
                models.len() - 1
            }
        };
        apply(sink, &e, &mut models[idx]);
    }
}

/// The default pool of each task: models with the task (vision: also image input), of
/// enabled providers, by priority then input cost. What one request needs beyond that (tools,
/// parallel tool calls) is matched per request by the engine.
pub fn default_pools(
    models: &[ModelSpec],
    providers: &[ProviderConfig],
) -> BTreeMap<Task, Vec<ModelRef>> {
    let enabled = |p: &str| providers.iter().any(|c| c.name == p && c.enabled);
    Task::POOLS
        .into_iter()
        .map(|task| {
            let mut list: Vec<&ModelSpec> = models
                .iter()
                .filter(|s| s.tasks.contains(&task) && enabled(&s.model.provider))
                .filter(|s| task != Task::Vision || s.vision)
                .collect();
            list.sort_by(|a, b| {
                a.priority
                    .cmp(&b.priority)
                    .then(a.input_cost_per_mtok.total_cmp(&b.input_cost_per_mtok))
            });
            (task, list.into_iter().map(|s| s.model.clone()).collect())
        })
        .collect()
}

/// Applies `[pools]`: each named pool's list replaces the default one.
pub(crate) fn apply_pools(
    sink: &mut Sink,
    sec: Option<Section>,
    models: &[ModelSpec],
    providers: &[ProviderConfig],
    pools: &mut BTreeMap<Task, Vec<ModelRef>>,
) {
    let Some(s) = sec else { return };
    let enabled = |p: &str| providers.iter().any(|c| c.name == p && c.enabled);
    for (name, _) in s.table.iter() {
        let task = match name.parse::<Task>() {
            Ok(Task::Auto) => {
                sink.at(
                    s.key_span(name),
                    "`auto` in [pools] has no pool: it picks one of the others",
                    "name fast, research, code or vision",
                );
                continue;
            }
            Ok(t) => t,
            Err(_) => {
                sink.at(
                    s.key_span(name),
                    format!("`{name}` in [pools] is not a task"),
                    "pools are fast, research, code and vision",
                );
                continue;
            }
        };
        let Some(list) = s.str_list(sink, name, "[\"groq/openai/gpt-oss-20b\"]") else {
            continue;
        };
        let mut out: Vec<ModelRef> = Vec::new();
        for (text, span) in list {
            let m = match text.parse::<ModelRef>() {
                Ok(m) => m,
                Err(e) => {
                    sink.at(
                        span,
                        format!("pool `{name}`: {e}"),
                        "write e.g. \"groq/openai/gpt-oss-20b\"",
                    );
                    continue;
                }
            };
            if let Some(r) = crate::catalog::retired(&m.provider, &m.id) {
                sink.at(
                    span,
                    format!("pool `{name}` names `{m}`, which its provider retired"),
                    r.hint(),
                );
                continue;
            }
            if !models.iter().any(|s| s.model == m) {
                let known: Vec<String> = models
                    .iter()
                    .filter(|s| s.tasks.contains(&task))
                    .map(|s| s.model.to_string())
                    .collect();
                sink.at(
                    span,
                    format!("pool `{name}` names `{m}`, which is not a known model"),
                    format!(
                        "declare it under [[models]] or [[providers.custom.models]], or use one of: {}",
                        known.join(", ")
                    ),
                );
                continue;
            }
            if out.contains(&m) {
                sink.at(
                    span,
                    format!("pool `{name}` lists `{m}` twice"),
                    "list each model once",
                );
                continue;
            }
            out.push(m);
        }
        pools.insert(
            task,
            out.into_iter().filter(|m| enabled(&m.provider)).collect(),
        );
    }
}
