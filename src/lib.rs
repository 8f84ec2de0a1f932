//! rota: a terminal LLM client with an in-process rotation manager.
//!
//! Layers, top to bottom (arrows point down only):
//! - faces: [`cli`] and [`tui`] parse input and render events; no limit logic;
//! - [`router`]: one request's life, emitting [`router::events::Event`]s;
//! - [`engine`] (pure decisions, takes `now`) and [`providers`] (HTTP, SSE, dialects);
//! - [`store`]: where engine state lives, atomically;
//! - [`config`], [`catalog`], [`tokens`], [`model`], [`message`], [`secret`], [`duration`], [`clock`]: read
//!   by all.
//!
//! [`sim`] is a fleet of fake providers used by tests, benchmarks and `--demo`.

pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod duration;
pub mod engine;
pub mod message;
pub mod model;
pub mod providers;
pub mod router;
pub mod secret;
pub mod serve;
pub mod sim;
pub mod store;
pub mod tokens;
pub mod tools;
pub mod transcribe;
pub mod tui;
