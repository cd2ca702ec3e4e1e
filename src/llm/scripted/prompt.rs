//! Reading a request the way a scripted policy needs it: the task the first message names,
//! the tools offered, the calls already made and what they returned, the point lines shown.
//! What only some answers need is read on demand: a planning conversation grows to
//! thousands of point lines, and re-reading them on every turn would make the test double,
//! not the engine, the cost a zero-latency benchmark measures.

use crate::llm::{CallPurpose, ChatRequest, Role, ToolCall};
use std::collections::HashSet;

/// A work task's first user message starts with this.
const TASK_MARKER: &str = "YOUR TASK ";
/// The first user message of the finalise turn starts with this.
const FINALISE_MARKER: &str = "FINALISE";

/// One tool call the conversation made and the answer it got (if any yet).
#[derive(Debug, Clone, Copy)]
pub struct ToolExchange<'a> {
    pub call: &'a ToolCall,
    pub result: Option<&'a str>,
}

impl ToolExchange<'_> {
    /// The call's arguments as JSON (`Null` when they do not parse).
    pub fn args(&self) -> serde_json::Value {
        serde_json::from_str(&self.call.arguments).unwrap_or(serde_json::Value::Null)
    }

    /// The answer was an error (`ERROR: ...`).
    pub fn failed(&self) -> bool {
        self.result.is_some_and(|r| r.starts_with("ERROR"))
    }
}

/// What a scripted policy reads off a request.
pub struct Prompt<'a> {
    req: &'a ChatRequest,
    first_user: &'a str,
    tools: Vec<&'a str>,
    /// Tool calls this conversation already made: (name, count), a handful of names.
    made: Vec<(&'a str, usize)>,
}

impl<'a> Prompt<'a> {
    pub fn of(req: &'a ChatRequest) -> Self {
        let first_user = req
            .messages
            .iter()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
            .unwrap_or("");
        let mut made: Vec<(&str, usize)> = Vec::new();
        for call in req.messages.iter().flat_map(|m| &m.tool_calls) {
            match made.iter_mut().find(|(name, _)| *name == call.name) {
                Some((_, n)) => *n += 1,
                None => made.push((&call.name, 1)),
            }
        }
        Prompt {
            req,
            first_user,
            tools: req.tools.iter().map(|t| t.name.as_str()).collect(),
            made,
        }
    }

    pub fn purpose(&self) -> CallPurpose {
        self.req.purpose
    }

    pub fn system(&self) -> &'a str {
        &self.req.system
    }

    pub fn first_user(&self) -> &'a str {
        self.first_user
    }

    /// The finalise turn of a `delm` or `isolated` run (not a `central` orchestrator's).
    pub fn is_finalise_turn(&self) -> bool {
        self.first_user.starts_with(FINALISE_MARKER)
    }

    /// `YOUR TASK T3: Read the parser` → ("T3", "Read the parser").
    pub fn task(&self) -> Option<(&'a str, &'a str)> {
        let line = self.first_user.strip_prefix(TASK_MARKER)?.lines().next()?;
        let (id, title) = line.split_once(": ")?;
        Some((id.trim(), title.trim()))
    }

    pub fn task_title(&self) -> Option<&'a str> {
        self.task().map(|(_, title)| title)
    }

    pub fn offers(&self, tool: &str) -> bool {
        self.tools.contains(&tool)
    }

    pub fn calls_made(&self, tool: &str) -> usize {
        self.made
            .iter()
            .find(|(name, _)| *name == tool)
            .map_or(0, |&(_, n)| n)
    }

    /// Every call to `tool` so far with its answer, in order.
    pub fn exchanges(&self, tool: &'a str) -> Vec<ToolExchange<'a>> {
        let messages = &self.req.messages;
        let mut out = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            for call in m.tool_calls.iter().filter(|c| c.name == tool) {
                let result = messages[i + 1..]
                    .iter()
                    .take_while(|r| r.role == Role::Tool)
                    .find(|r| r.tool_call_id.as_deref() == Some(call.id.as_str()))
                    .map(|r| r.content.as_str());
                out.push(ToolExchange { call, result });
            }
        }
        out
    }

    /// Messages that can show point lines and reports (the engine's, not the model's own).
    pub fn shown(&self) -> impl DoubleEndedIterator<Item = &'a str> + 'a {
        self.req
            .messages
            .iter()
            .filter(|m| m.role != Role::Assistant)
            .map(|m| m.content.as_str())
    }

    /// The user messages (task, updates, reports), in order.
    pub fn user_messages(&self) -> impl DoubleEndedIterator<Item = &'a str> + 'a {
        self.req
            .messages
            .iter()
            .filter(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
    }

    /// Point ids shown anywhere in the conversation as `P<n> [kind] ...`, in order.
    pub fn visible_points(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut ids = Vec::new();
        for text in self.shown() {
            for (id, _, _) in point_lines(text) {
                if seen.insert(id) {
                    ids.push(id.to_string());
                }
            }
        }
        ids
    }

    /// The last point line shown: (id, headline).
    pub fn latest_point(&self) -> Option<(String, String)> {
        self.shown().rev().find_map(|text| {
            point_lines(text)
                .last()
                .map(|(id, _, headline)| (id.to_string(), headline.to_string()))
        })
    }

    /// The board refused the ids of an earlier `final_answer`.
    pub fn citation_refused(&self) -> bool {
        self.req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::Tool)
            .is_some_and(|m| m.content.contains("not verified points"))
    }
}

/// Lines of the shared-context format `P12 [partial] headline (a1, T3)`: (id, kind,
/// headline).
pub fn point_lines(text: &str) -> impl Iterator<Item = (&str, &str, &str)> + '_ {
    text.lines().filter_map(|line| {
        let (id, rest) = line.trim_start().split_once(" [")?;
        let is_point =
            id.len() > 1 && id.starts_with('P') && id[1..].bytes().all(|b| b.is_ascii_digit());
        if !is_point {
            return None;
        }
        let (kind, after_kind) = rest.split_once("] ")?;
        let headline = match after_kind.rfind(" (") {
            Some(i) => &after_kind[..i],
            None => after_kind,
        };
        Some((id, kind, headline.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Message;

    #[test]
    fn reads_the_task_the_calls_and_their_answers() {
        let call = ToolCall {
            id: "c1".into(),
            name: "read".into(),
            arguments: r#"{"page": 2}"#.into(),
        };
        let req = ChatRequest::new(
            CallPurpose::Work,
            "sys",
            vec![
                Message::user("YOUR TASK T3: Read the parser\nmore"),
                Message::assistant("", vec![call]),
                Message::tool("c1", "page 2 of 3"),
                Message::user("[shared context update]\nP4 [failure] it broke (a2, T9)\n"),
            ],
            std::sync::Arc::from([]),
            10,
        );
        let p = Prompt::of(&req);
        assert_eq!(p.task(), Some(("T3", "Read the parser")));
        assert_eq!(p.calls_made("read"), 1);
        let reads = p.exchanges("read");
        assert_eq!(reads[0].result, Some("page 2 of 3"));
        assert_eq!(reads[0].args()["page"], 2);
        assert!(!reads[0].failed());
        assert_eq!(p.visible_points(), vec!["P4"]);
        assert_eq!(
            point_lines("P4 [failure] it broke (a2, T9)").next(),
            Some(("P4", "failure", "it broke"))
        );
        assert!(!p.is_finalise_turn());
    }
}
