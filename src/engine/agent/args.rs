//! What an agent does with a model's replies that needs no board: the `partial` a plain
//! text reply becomes, the point ids a plain answer cites, capping tool output, and
//! compacting a conversation that no longer fits. Tool arguments are read by
//! `engine::point_args`, the same for every participant.

use crate::engine::protocol::PointDraft;
use crate::event::PointKind;
use crate::llm::{Message, Role};
use crate::text::clip;
use serde_json::Value;

/// Tool output longer than this is cut before it goes back to the model.
const MAX_TOOL_OUTPUT: usize = 16_000;

pub(crate) fn str_arg<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

fn truncate_words(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= max {
        return words.join(" ");
    }
    format!("{}…", words[..max].join(" "))
}

/// The `partial` point proposed for a plain-text task result.
pub(crate) fn plain_text_point(text: &str) -> PointDraft {
    let first = text
        .split_inclusive(['.', '\n'])
        .next()
        .unwrap_or(text)
        .trim();
    PointDraft {
        kind: PointKind::Partial,
        headline: truncate_words(first, 25),
        summary: truncate_words(text, 150),
        evidence: Vec::new(),
        supersedes: None,
        notes: Vec::new(),
    }
}

pub(crate) fn mentioned_ids(text: &str) -> Vec<String> {
    static POINT_ID: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\bP\d+\b").expect("a valid pattern"));
    let mut ids: Vec<String> = Vec::new();
    for m in POINT_ID.find_iter(text) {
        if !ids.iter().any(|id| id == m.as_str()) {
            ids.push(m.as_str().to_string());
        }
    }
    ids
}

pub(crate) fn cap_output(text: String) -> String {
    if text.len() <= MAX_TOOL_OUTPUT {
        return text;
    }
    let mut cut = MAX_TOOL_OUTPUT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}\n[output cut at {MAX_TOOL_OUTPUT} of {} bytes; ask for a narrower range]",
        &text[..cut],
        text.len()
    )
}

/// Longest message kept whole when a conversation is compacted (the task message excepted).
const COMPACT_MESSAGE_BYTES: usize = 8_000;

/// What a verdict tells the agent when its point is shared (see `Verdict::message`).
const SHARED_MARKER: &str = " verified and shared with the other agents.";

/// Make a conversation fit again: older tool outputs are replaced by a pointer to the
/// shared context, naming the points this conversation had verified (they survive there),
/// and overlong messages are clipped. The first message (the task) stays byte-identical,
/// so a provider's prompt cache keeps matching the head of the request.
pub(crate) fn compact(messages: &mut [Message]) {
    let verified: Vec<String> = messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .flat_map(|m| {
            m.content
                .match_indices(SHARED_MARKER)
                .filter_map(|(at, _)| {
                    let head = &m.content[..at];
                    let start = head
                        .rfind(|c: char| !c.is_ascii_alphanumeric())
                        .map_or(0, |p| p + 1);
                    let id = &head[start..];
                    (!id.is_empty()).then(|| id.to_string())
                })
                .collect::<Vec<_>>()
        })
        .fold(Vec::new(), |mut ids, id| {
            if !ids.contains(&id) {
                ids.push(id);
            }
            ids
        });
    let pointer = if verified.is_empty() {
        "[older tool output removed to fit the context window; the points recorded from it \
remain in the shared context]"
            .to_string()
    } else {
        format!(
            "[older tool output removed to fit the context window; the points verified on this \
task ({}) remain in the shared context]",
            verified.join(", ")
        )
    };
    let tool_positions: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::Tool)
        .map(|(i, _)| i)
        .collect();
    let keep_from = tool_positions.len().saturating_sub(2);
    for &i in &tool_positions[..keep_from] {
        messages[i].content = pointer.clone();
    }
    for m in messages.iter_mut().skip(1) {
        if m.content.len() > COMPACT_MESSAGE_BYTES {
            m.content = clip(&m.content, COMPACT_MESSAGE_BYTES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_mentioned_in_plain_answers() {
        assert_eq!(
            mentioned_ids("Per P3 and P12 (not XP4 or P5a), P3 again"),
            vec!["P3".to_string(), "P12".to_string()]
        );
    }

    #[test]
    fn compaction_keeps_recent_tool_outputs() {
        let mut msgs = vec![
            Message::user("task"),
            Message::tool("1", "old output"),
            Message::tool("2", "mid output"),
            Message::tool("3", "new output"),
        ];
        compact(&mut msgs);
        assert!(msgs[1].content.contains("removed"));
        assert_eq!(msgs[3].content, "new output");
    }

    #[test]
    fn compaction_keeps_the_task_whole_and_names_the_verified_points() {
        let task = format!("YOUR TASK T1: {}", "long detail ".repeat(2_000));
        let mut msgs = vec![
            Message::user(task.clone()),
            Message::tool("1", "P3 verified and shared with the other agents."),
            Message::tool("2", "x".repeat(20_000)),
            Message::tool(
                "3",
                "P7 verified and shared with the other agents. Verifier: ok",
            ),
            Message::tool("4", "P9 was REJECTED and is not shared: no quote."),
            Message::tool("5", "y".repeat(20_000)),
        ];
        compact(&mut msgs);
        assert_eq!(msgs[0].content, task, "the task message is never clipped");
        for old in &msgs[1..4] {
            assert!(old.content.contains("(P3, P7)"), "{}", old.content);
        }
        assert!(
            msgs[5].content.len() < 9_000,
            "a recent overlong output is clipped"
        );
    }
}
