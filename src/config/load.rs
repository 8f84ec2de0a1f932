//! Reading a config: the file (if any), then the environment, resolved into a [`Config`].

use super::error::{ConfigError, ConfigErrors, Sink, line_col};
use super::model_fields::{MODEL_FIELDS, apply};
use super::walk::Section;
use super::{Config, models, providers, sections};
use crate::catalog::ModelSpec;
use crate::model::ModelRef;
use std::path::Path;
use toml_edit::{Document, TableLike};

/// The top-level sections.
pub const SECTIONS: &[&str] = &[
    "defaults",
    "providers",
    "models",
    "pools",
    "transcription",
    "tools",
    "serve",
    "reasoning",
    "state",
    "ui",
];

/// Loads the config from `path`. A missing file is "no file yet" (built-ins and the
/// environment) unless `explicit` (the user named it), when it is an error.
pub fn load(
    path: Option<&Path>,
    explicit: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let Some(p) = path else {
        return parse("", "<no config file>", env);
    };
    let label = p.display().to_string();
    match std::fs::read_to_string(p) {
        Ok(text) => {
            let mut c = parse(&text, &label, env)?;
            c.path = Some(p.to_path_buf());
            Ok(c)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => parse("", &label, env),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigErrors::single(
            label,
            "no such file",
            Some("check the path, or create it with `rota config init`".into()),
        )),
        Err(e) => Err(ConfigErrors::single(
            label,
            format!("cannot read the config file: {e}"),
            Some("check its permissions (rota needs to read it)".into()),
        )),
    }
}

fn syntax_error(text: &str, label: &str, e: &toml_edit::TomlError) -> ConfigErrors {
    let (line, col) = line_col(text, e.span().map(|s| s.start).unwrap_or(0));
    ConfigErrors(vec![ConfigError {
        file: label.to_string(),
        line,
        col,
        message: format!("not valid TOML: {}", e.message().trim()),
        hint: Some(
            "fix the syntax here; see config.example.toml (`rota config init` writes it)".into(),
        ),
    }])
}

fn finish(sink: Sink) -> Result<(), ConfigErrors> {
    if sink.errors.is_empty() {
        return Ok(());
    }
    let mut errors = sink.errors;
    // Problems in the file in file order; those from the environment after them.
    errors.sort_by_key(|e| (e.line == 0, e.line, e.col));
    Err(ConfigErrors(errors))
}

/// Parses and resolves config text. `file_label` names the file in messages.
pub fn parse(
    text: &str,
    file_label: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let doc = Document::parse(text).map_err(|e| syntax_error(text, file_label, &e))?;
    let mut sink = Sink::new(text, file_label);
    let root = Section::new(doc.as_table() as &dyn TableLike, "", None);
    root.only(&mut sink, SECTIONS);
    let sec = |sink: &mut Sink, name: &str| root.table(sink, name);

    let defaults_sec = sec(&mut sink, "defaults");
    let defaults = sections::defaults(&mut sink, defaults_sec);
    let prov_sec = sec(&mut sink, "providers");
    let provs = providers::read(&mut sink, prov_sec, env);
    let mut all_models = crate::catalog::builtin();
    let entries = root.tables(&mut sink, "models");
    models::apply_overrides(&mut sink, entries, &mut all_models);
    all_models.extend(provs.custom_models);
    let providers = provs.providers;

    let mut pools = models::default_pools(&all_models, &providers);
    let pools_sec = sec(&mut sink, "pools");
    models::apply_pools(&mut sink, pools_sec, &all_models, &providers, &mut pools);

    let default_order = default_transcription_order(&all_models, &providers);
    let tr_sec = sec(&mut sink, "transcription");
    let transcription = sections::transcription(&mut sink, tr_sec, &providers, default_order);
    let tools_sec = sec(&mut sink, "tools");
    let tools = sections::tools(&mut sink, tools_sec, env);
    let serve_sec = sec(&mut sink, "serve");
    let serve = sections::serve(&mut sink, serve_sec);
    let reasoning_sec = sec(&mut sink, "reasoning");
    let reasoning_effort = sections::reasoning(&mut sink, reasoning_sec);
    let state_sec = sec(&mut sink, "state");
    let state = sections::state(&mut sink, state_sec, env);
    let ui_sec = sec(&mut sink, "ui");
    let theme = sections::theme(&mut sink, ui_sec);
    finish(sink)?;
    Ok(Config {
        path: None,
        defaults,
        providers,
        models: all_models,
        pools,
        transcription,
        tools,
        serve,
        reasoning_effort,
        state,
        theme,
    })
}

/// groq, openai, together, then custom providers that serve a transcription model.
fn default_transcription_order(
    models: &[ModelSpec],
    providers: &[super::ProviderConfig],
) -> Vec<String> {
    providers
        .iter()
        .filter(|p| {
            !p.name.starts_with("custom:")
                || models
                    .iter()
                    .any(|m| m.transcription && m.model.provider == p.name)
        })
        .map(|p| p.name.clone())
        .collect()
}

/// Parses a catalog file (`[[models]]` with `provider`, `id` and the model fields).
pub fn parse_catalog(text: &str, label: &str) -> Result<Vec<ModelSpec>, ConfigErrors> {
    let doc = Document::parse(text).map_err(|e| syntax_error(text, label, &e))?;
    let mut sink = Sink::new(text, label);
    let root = Section::new(doc.as_table() as &dyn TableLike, "", None);
    root.only(&mut sink, &["models"]);
    let mut out: Vec<ModelSpec> = Vec::new();
    for e in root.tables(&mut sink, "models") {
        let mut allowed = vec!["provider", "id"];
        allowed.extend_from_slice(MODEL_FIELDS);
        e.only(&mut sink, &allowed);
        let provider = e.str(&mut sink, "provider", "\"groq\"");
        let id = e.str(&mut sink, "id", "\"llama-3.1-8b-instant\"");
        let (Some(provider), Some(id)) = (provider, id) else {
            sink.at(
                e.span.clone(),
                format!("[{}] needs `provider` and `id`", e.name),
                (),
            );
            continue;
        };
        let m = ModelRef::new(provider, id);
        if out.iter().any(|s| s.model == m) {
            sink.at(
                e.span("id"),
                format!("model `{m}` is listed twice"),
                "keep one entry per model",
            );
            continue;
        }
        let mut spec = ModelSpec::bare(m);
        apply(&mut sink, &e, &mut spec);
        out.push(spec);
    }
    finish(sink)?;
    Ok(out)
}
