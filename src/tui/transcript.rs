//! An agent's whole transcript, across every task it took, read from the event log: what
//! it was asked, what it wrote, the tools it called (arguments and outputs), the verdicts
//! on its points, retries and errors.

use super::log::EventLog;
use crate::event::{CallPurpose, Event, RunState};

#[derive(Debug, Clone, PartialEq)]
pub enum TranscriptEntry {
    /// A task (or the finalise turn) begins.
    Task { title: String },
    /// Something the run did around the agent (retry, proposal, verdict, requeue).
    Note {
        text: String,
        /// A rejection, an error or a failure: shown as a warning.
        bad: bool,
    },
    /// A finished assistant message of a work or finalise turn.
    Message(String),
    /// The judge's verdict on one of the agent's points, as the judge wrote it.
    Verdict(String),
    Tool {
        tool: String,
        args: String,
        ok: bool,
        output: String,
    },
}

/// The transcript of `agent` over the first `upto` events of `log`.
pub fn transcript(
    log: &EventLog,
    run: &RunState,
    agent: &str,
    upto: usize,
) -> Vec<TranscriptEntry> {
    let mut out = Vec::new();
    let mut purpose = None;
    for &pos in log.agent_events(agent, upto) {
        let event = &log.events()[pos].event;
        let entry = match event {
            Event::TaskClaimed { task, attempt, .. } => {
                let title = run.task(task).map(|t| t.title.as_str()).unwrap_or("");
                let again = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                TranscriptEntry::Task {
                    title: format!("{task} {title}{again}"),
                }
            }
            Event::FinaliseStarted { .. } => TranscriptEntry::Task {
                title: "finalise: writing the answer".into(),
            },
            Event::LlmCall { purpose: p, .. } => {
                purpose = Some(*p);
                continue;
            }
            Event::AgentMessage { text, .. } => {
                if purpose == Some(CallPurpose::Judge) {
                    TranscriptEntry::Verdict(verdict_text(text))
                } else {
                    TranscriptEntry::Message(text.clone())
                }
            }
            Event::ToolCall {
                tool,
                args,
                ok,
                output,
                ..
            } => TranscriptEntry::Tool {
                tool: tool.clone(),
                args: compact_args(args),
                ok: *ok,
                output: output.clone(),
            },
            Event::LlmRetry {
                attempt,
                delay_ms,
                reason,
                ..
            } => TranscriptEntry::Note {
                text: format!(
                    "model call failed ({reason}); retry {attempt} after {:.1} s",
                    *delay_ms as f64 / 1000.0
                ),
                bad: false,
            },
            Event::PointProposed { point } => TranscriptEntry::Note {
                text: format!(
                    "proposed {} {}: {}",
                    point.id,
                    point.kind.as_str(),
                    point.headline
                ),
                bad: false,
            },
            Event::PointVerified { point, note, .. } => TranscriptEntry::Note {
                text: match note {
                    Some(n) if !n.trim().is_empty() => format!("{point} verified: {n}"),
                    _ => format!("{point} verified"),
                },
                bad: false,
            },
            Event::PointRejected { point, reason } => TranscriptEntry::Note {
                text: format!("{point} rejected: {reason}"),
                bad: true,
            },
            Event::TaskFinished {
                task,
                outcome,
                result,
                ..
            } => TranscriptEntry::Note {
                text: format!(
                    "{} {task}: {}",
                    match outcome {
                        crate::event::TaskOutcome::Done => "finished",
                        crate::event::TaskOutcome::Failed => "failed",
                    },
                    crate::text::clip(&crate::text::one_line(result), 300)
                ),
                bad: *outcome == crate::event::TaskOutcome::Failed,
            },
            Event::TaskRequeued { task, by, note } => TranscriptEntry::Note {
                text: match note {
                    Some(n) => format!("{task} taken back by {by}: {n}"),
                    None => format!("{task} taken back by {by}"),
                },
                bad: false,
            },
            Event::TaskCancelled { task, by, .. } => TranscriptEntry::Note {
                text: format!("{task} cancelled by {by}"),
                bad: false,
            },
            Event::Error { message, .. } => TranscriptEntry::Note {
                text: format!("error: {message}"),
                bad: true,
            },
            _ => continue,
        };
        out.push(entry);
    }
    out
}

/// The transcript as plain text (what `y` copies).
pub fn plain_text(entries: &[TranscriptEntry]) -> String {
    entries
        .iter()
        .map(|e| match e {
            TranscriptEntry::Task { title } => format!("== {title}"),
            TranscriptEntry::Note { text, .. } => format!("-- {text}"),
            TranscriptEntry::Message(m) => m.clone(),
            TranscriptEntry::Verdict(v) => format!("verdict: {v}"),
            TranscriptEntry::Tool {
                tool,
                args,
                ok,
                output,
            } => format!(
                "[{tool} {args}] {}\n{output}",
                if *ok { "ok" } else { "failed" }
            ),
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A judge reply in words: `approve: the quote supports it` from its JSON, else as written.
fn verdict_text(text: &str) -> String {
    let trimmed = text.trim();
    let json = trimmed
        .find('{')
        .and_then(|a| trimmed.rfind('}').map(|b| &trimmed[a..=b]))
        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok());
    match json {
        Some(v) => {
            let verdict = v.get("verdict").and_then(|x| x.as_str()).unwrap_or("?");
            match v.get("reason").and_then(|x| x.as_str()) {
                Some(reason) => format!("{verdict}: {reason}"),
                None => verdict.to_string(),
            }
        }
        None => crate::text::one_line(trimmed),
    }
}

/// Tool arguments on one line: `path=src/lex.rs start=120 end=180`.
pub fn compact_args(args: &serde_json::Value) -> String {
    match args {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={}", crate::text::one_line(s)),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_read_as_words() {
        assert_eq!(
            verdict_text(r#"{"reason":"the quote supports it","verdict":"approve"}"#),
            "approve: the quote supports it"
        );
        assert_eq!(verdict_text("looks fine"), "looks fine");
    }
}
