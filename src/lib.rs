//! delm: run, watch and steer a decentralized swarm of LLM agents (DeLM).
//!
//! `event` is the log and its reducer; `engine` runs the swarm (no UI imports); `llm` talks
//! to model providers; `session` reads and writes logs; `tui` draws and steers.

pub mod compare;
pub mod config;
pub mod demo;
pub mod engine;
pub mod eval;
pub mod event;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod llm;
pub mod mcp;
pub mod nats;
pub mod outcome;
pub mod redact;
pub mod secrets;
pub mod session;
pub mod sinks;
pub mod story;
pub mod text;
#[cfg(feature = "tui")]
pub mod tui;
