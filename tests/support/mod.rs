#![allow(dead_code, unused_imports)]
//! Test support shared by the integration test binaries (each uses a part of it).

pub mod mock_llm;
pub mod nats_server;

pub use mock_llm::{Gate, MockLlm, RecordedRequest, Reply, Wire};
