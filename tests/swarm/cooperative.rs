//! The cooperative scripted agent: the "model" behind `examples/mock_server.rs` and the
//! multi-process tests. Its reasoning is mechanical: it reads what the engine sent (task
//! message, tool results) and answers with tool calls: planning tasks split the goal,
//! document tasks read their document and record the first sentence with a number in it as
//! a cited finding, the finaliser cites every point it can see. It is a test double, not a
//! model.

use super::*;
use crate::support::{RecordedRequest, Reply};
use serde_json::json;

/// The first sentence of the document body (after read_doc's header and index) that carries
/// a digit, cut at a word boundary to a quotable length.
fn quotable_sentence(text: &str, goal: &str) -> Option<String> {
    let body = match text.find("\n[") {
        Some(i) => &text[i + 2..],
        None => text,
    };
    let body = body.split_once("]\n").map_or(body, |(_, rest)| rest);
    let goal_words: Vec<String> = goal
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3)
        .map(str::to_lowercase)
        .collect();
    let overlap = |s: &str| {
        let lower = s.to_lowercase();
        goal_words
            .iter()
            .filter(|w| lower.contains(w.as_str()))
            .count()
    };
    body.split(". ")
        .flat_map(|s| s.split('\n'))
        .map(|s| s.trim().trim_start_matches('#').trim())
        .filter(|s| s.len() > 20 && s.chars().any(|c| c.is_ascii_digit()))
        // The sentence that shares most words with the goal; the earliest on a tie.
        .fold(None::<(usize, &str)>, |best, s| match best {
            Some((score, _)) if score >= overlap(s) => best,
            _ => Some((overlap(s), s)),
        })
        .map(|(_, s)| {
            let mut quote = String::new();
            for word in s.split_whitespace() {
                if quote.len() + word.len() > 140 {
                    break;
                }
                if !quote.is_empty() {
                    quote.push(' ');
                }
                quote.push_str(word);
            }
            quote.trim_end_matches([',', ';', ':']).to_string()
        })
}

/// The goal, as the system prompt states it.
fn goal_of(req: &RecordedRequest) -> String {
    let sys = system_text(req);
    sys.split("GOAL: ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .unwrap_or("")
        .to_string()
}

pub fn script(req: &RecordedRequest, _n: usize) -> Reply {
    if is_judge(req) {
        return approve();
    }
    if system_text(req).starts_with("You are the orchestrator") {
        // `--coordination central`: plan one wave, then answer from the workers' reports.
        let text = req.prompt_text();
        return if text.contains("WAVE 1 RESULTS") {
            let reports = text.split("WAVE 1 RESULTS").nth(1).unwrap_or("").trim();
            Reply::Tools(vec![(
                "final_answer".into(),
                json!({"answer": format!("From the workers' reports:\n{reports}"), "cited": []}),
            )])
        } else {
            Reply::Tools(vec![
                (
                    "broadcast".into(),
                    json!({"context": "Report every figure with its source."}),
                ),
                (
                    "add_task".into(),
                    json!({"title": "Collect the key facts", "detail": "Find the facts the goal depends on."}),
                ),
                (
                    "add_task".into(),
                    json!({"title": "Check for contradictions", "detail": "Look for facts that disagree."}),
                ),
            ])
        };
    }
    if is_finalise(req) {
        let points = visible_points(req);
        // A scripted server cannot reason: it restates the verified headlines it was shown.
        let text = req.prompt_text();
        let lines: Vec<String> = points
            .iter()
            .filter_map(|id| {
                let marker = format!("{id} [");
                let at = text.find(&marker)?;
                let line = text[at..].lines().next()?;
                let headline = line.split_once("] ")?.1;
                let headline = headline.rsplit_once(" (").map_or(headline, |(h, _)| h);
                Some(format!("- {headline} ({id})"))
            })
            .collect();
        let answer = if lines.is_empty() {
            "No point was verified, so there is no supported answer.".to_string()
        } else {
            format!("What the swarm verified:\n{}", lines.join("\n"))
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
            _ => finish("planned"),
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
            match quotable_sentence(text, &goal_of(req)) {
                Some(quote) => record("finding", &quote, &doc, &quote),
                None => record(
                    "failure",
                    &format!("{doc} holds no figure that bears on the goal"),
                    "",
                    "",
                ),
            }
        }
        _ => finish("Recorded what this task found."),
    }
}
