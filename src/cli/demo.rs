//! `--demo`: the simulated fleet in-process on an ephemeral loopback port, a config that
//! points groq/openai/together at it with its keys and limits, and state in a temporary
//! directory. It never reads or writes the user's real keys or state.

use super::error::CliError;
use crate::config::{Backend, Config};
use crate::sim::{Scenario, SimHandle};

/// A running demo fleet and the config that uses it. Dropping it stops the fleet and
/// deletes the temporary state.
pub struct Demo {
    /// The config pointing at the fleet.
    pub config: Config,
    /// The fleet.
    pub sim: SimHandle,
    /// Temporary state dir, deleted on drop.
    _dir: tempfile::TempDir,
}

impl Demo {
    /// Starts the default fleet and builds its config.
    pub async fn start() -> Result<Self, CliError> {
        let sim = crate::sim::start(Scenario::default_fleet(), ([127, 0, 0, 1], 0).into())
            .await
            .map_err(|e| CliError::failed(format!("could not start the demo fleet: {e}")))?;
        let dir = tempfile::Builder::new()
            .prefix("rota-demo-")
            .tempdir()
            .map_err(|e| CliError::failed(format!("could not make a temporary state dir: {e}")))?;
        let config = demo_config(&sim, dir.path())?;
        Ok(Self {
            config,
            sim,
            _dir: dir,
        })
    }
}

/// The built-in config (no file, no environment) pointed at a running fleet, with the
/// fleet's limits as known limits.
pub fn demo_config(sim: &SimHandle, state_dir: &std::path::Path) -> Result<Config, CliError> {
    let no_env = |_: &str| None;
    let mut config = crate::config::parse("", "(demo)", &no_env)
        .map_err(|e| CliError::failed(format!("the built-in config does not load: {e}")))?;
    config.path = None;
    config.providers = sim.provider_configs();
    let specs: Vec<_> = sim
        .scenario()
        .providers
        .iter()
        .flat_map(|p| p.model_specs())
        .collect();
    // Keep the catalog's capabilities and prices; take the fleet's limits and windows.
    let mut models = Vec::new();
    for spec in specs {
        let mut m = config
            .models
            .iter()
            .find(|c| c.model == spec.model)
            .cloned()
            .unwrap_or_else(|| spec.clone());
        m.limits = spec.limits;
        m.context_window = spec.context_window.or(m.context_window);
        if spec.audio.is_some() {
            m.audio = spec.audio.clone();
        }
        models.push(m);
    }
    let served: std::collections::HashSet<_> = models.iter().map(|m| m.model.clone()).collect();
    for pool in config.pools.values_mut() {
        pool.retain(|m| served.contains(m));
    }
    for (task, pool) in crate::config::default_pools(&models, &config.providers) {
        let entry = config.pools.entry(task).or_default();
        if entry.is_empty() {
            *entry = pool;
        }
    }
    config.models = models;
    // Research searches the sim's Tavily and reads its pages (on loopback).
    config.tools.tavily_key = Some(crate::secret::ApiKey::new("tvly-sim-demo"));
    config.tools.tavily_url = sim.tavily_url();
    config.tools.allow_private_urls = true;
    config
        .transcription
        .order
        .retain(|p| config.providers.iter().any(|c| &c.name == p));
    config.state.backend = Backend::Local;
    config.state.data_dir = Some(state_dir.to_path_buf());
    Ok(config)
}
