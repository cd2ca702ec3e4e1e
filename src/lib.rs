//! delm: run, watch and steer a decentralized swarm of LLM agents (DeLM).
//!
//! `event` is the log and its reducer; `engine` runs the swarm (no UI imports); `llm` talks
//! to model providers; `session` reads and writes logs; `tui` draws and steers.

pub mod compare;
pub mod config;
pub mod engine;
pub mod event;
pub mod llm;
pub mod nats;
pub mod redact;
pub mod session;
pub mod sinks;
pub mod story;
pub mod text;
pub mod tui;
