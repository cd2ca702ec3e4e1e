#![allow(dead_code)]
//! Test support shared by the integration test binaries (each uses a part of it).

pub mod mock_llm;

pub use mock_llm::{MockLlm, RecordedRequest, Reply, Wire};
