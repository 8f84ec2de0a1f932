//! rota: a terminal LLM client with an in-process rotation manager.
//!
//! Layers, top to bottom (arrows point down only):
//! - faces: [`cli`] and [`tui`] parse input and render events; no limit logic;
//! - [`router`]: one request's life, emitting [`router::events::Event`]s;
//! - [`engine`] (pure decisions, takes `now`) and [`providers`] (HTTP, SSE, dialects);
//! - [`store`]: where engine state lives, atomically;
//! - [`config`], [`catalog`], [`tokens`], [`model`], [`secret`], [`duration`]: read by all.
//!
//! [`sim`] is a fleet of fake providers used by tests, benchmarks and `--demo`.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod duration;
pub mod engine;
pub mod model;
pub mod providers;
pub mod router;
pub mod secret;
pub mod sim;
pub mod store;
pub mod tokens;
pub mod transcribe;
pub mod tui;

/// The names under which [`engine::state`] re-exports the Fx hasher, now
/// [`rustc_hash`]'s; new code names `rustc_hash` directly.
#[doc(hidden)]
pub mod fxhash {
    /// rustc's Fx hasher: fast, for keys no attacker picks.
    pub use rustc_hash::FxHasher;
    /// A `HashMap` hasher builder for [`FxHasher`].
    pub type FxBuild = rustc_hash::FxBuildHasher;
}
