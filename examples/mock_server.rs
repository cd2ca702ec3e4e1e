//! A scripted model server on loopback, for trying delm without an API key and for recording
//! the example session: it plays a cooperative agent in the OpenAI or Anthropic wire format.
//!
//!     cargo run --example mock_server -- --port 8089 [--wire anthropic] [--delay-ms 400]
//!     delm run "Which vendor had the higher 2024 revenue?" --docs tests/fixtures/docs \
//!         --model openai:scripted --base-url http://127.0.0.1:8089/v1
//!
//! It plays the cooperative scripted agent of the tests (`tests/swarm/cooperative.rs`): a
//! test double, not a model.

#[path = "../tests/support/mod.rs"]
mod support;
#[path = "../tests/swarm/mod.rs"]
mod swarm;

use std::time::Duration;
use support::{MockLlm, RecordedRequest, Reply, Wire};
use swarm::cooperative::script;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(8089);
    let delay = Duration::from_millis(
        arg("--delay-ms")
            .and_then(|d| d.parse().ok())
            .unwrap_or(300),
    );
    let wire = match arg("--wire").as_deref() {
        Some("anthropic") => Wire::Anthropic,
        _ => Wire::OpenAi,
    };
    let mock = MockLlm::start_blocking_on(port, wire, move |req: &RecordedRequest, n| {
        Reply::Delay(delay, Box::new(script(req, n)))
    });
    eprintln!(
        "scripted {wire:?} server on {} (delay {} ms); Ctrl-C to stop",
        mock.base_url,
        delay.as_millis()
    );
    loop {
        std::thread::park();
    }
}
