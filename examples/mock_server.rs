//! A scripted model server on loopback, for trying delm without an API key and for recording
//! the example session: it plays a cooperative agent in the OpenAI or Anthropic wire format.
//!
//!     cargo run --example mock_server -- --port 8089 [--wire anthropic] [--delay-ms 400]
//!     delm run "Which vendor had the higher 2024 revenue?" --docs tests/fixtures/docs \
//!         --base-url http://127.0.0.1:8089/v1 --api-key-env PATH
//!
//! Its "reasoning" is mechanical: it reads what the engine sent (task message, tool results)
//! and answers with tool calls: planning tasks split the goal, document tasks read their
//! document and record the first sentence with a number in it as a cited finding, the
//! finaliser cites every point it can see. It is a test double, not a model.

#[path = "../tests/support/mod.rs"]
mod support;
#[path = "../tests/swarm/mod.rs"]
mod swarm;

use serde_json::json;
use std::time::Duration;
use support::{MockLlm, RecordedRequest, Reply, Wire};
use swarm::*;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The first sentence in `text` that carries a digit, trimmed to a quotable length.
fn quotable_sentence(text: &str) -> Option<String> {
    text.split(['.', '\n'])
        .map(|s| {
            // Tool output lines may be prefixed with offsets or line numbers.
            s.trim()
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == ':' || c == '|')
                .trim()
        })
        .find(|s| s.len() > 20 && s.chars().any(|c| c.is_ascii_digit()) && !s.contains('@'))
        .map(|s| s.chars().take(160).collect())
}

fn script(req: &RecordedRequest, _n: usize) -> Reply {
    if is_judge(req) {
        return approve();
    }
    if is_finalise(req) {
        let points = visible_points(req);
        let answer = if points.is_empty() {
            "No point was verified, so there is no supported answer.".to_string()
        } else {
            format!(
                "Based on the verified points {}, see the cited evidence for the figures.",
                points.join(", ")
            )
        };
        return final_answer(req, &answer);
    }
    let line = task_line(req);
    let turn = assistant_turns(req);
    if line.contains("Plan") {
        return match turn {
            0 => Reply::Tools(vec![
                (
                    "add_task".into(),
                    json!({"title": "Collect the key facts", "detail": "Find the facts the goal depends on."}),
                ),
                (
                    "add_task".into(),
                    json!({"title": "Check for contradictions", "detail": "Look for facts that disagree."}),
                ),
                (
                    "finish_task".into(),
                    json!({"result": "Split the goal into two tasks."}),
                ),
            ]),
            _ => swarm::finish("planned"),
        };
    }
    // A document task names its document in the title, e.g. `Read alpha.txt`.
    let doc = line
        .split_whitespace()
        .find(|w| w.contains('.') && !w.ends_with('.'))
        .map(|w| {
            w.trim_matches(|c: char| c == '"' || c == ',' || c == ':')
                .to_string()
        });
    match (doc, turn) {
        (Some(doc), 0) => Reply::Tools(vec![("read_doc".into(), json!({"doc": doc}))]),
        (Some(doc), 1) => {
            let results = req.tool_results();
            let text = results.last().map(|(_, t)| t.as_str()).unwrap_or("");
            match quotable_sentence(text) {
                Some(quote) => record("finding", &quote, &doc, &quote),
                None => record(
                    "failure",
                    &format!("{doc} holds no figure that bears on the goal"),
                    "",
                    "",
                ),
            }
        }
        _ => swarm::finish("Recorded what this task found."),
    }
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
