//! `add_task` calls run while the reply that makes them is still streaming.
//!
//! A planner that lists twenty tasks in one reply used to hold all of them until its last
//! token: the other agents sat idle through the whole decode. Each `add_task` now enters the
//! queue as soon as the stream has moved past it, and the finished reply's matching call
//! takes the output it already got instead of running again. Only `add_task` runs early: it
//! is what idle agents wait for, and its effect does not depend on the turn's other calls
//! (points are proposed together after the turn; workspace tools keep their order).
//!
//! A failed attempt may have streamed calls before it broke, and the retry streams them
//! again: a call runs early only if this attempt has streamed it more times than it has
//! run, so a retried reply adds nothing twice. A call that ran but is missing from the
//! finished reply (the retry wrote something else) is told to the model, not hidden.

use crate::llm::ToolCall;
use crate::text::clip;
use serde_json::Value;

/// The one tool that runs early.
pub(super) const EARLY_TOOL: &str = "add_task";

/// What the stream told the agent loop, in order.
pub(super) enum Streamed {
    /// A complete tool call (any tool: its position counts against the turn's call cap).
    Call(ToolCall),
    /// The call is being tried again (a retry, or a re-call after compaction).
    NewAttempt,
}

/// The early calls of one turn.
#[derive(Default)]
pub(super) struct EarlyCalls {
    /// Calls that ran early, with their outputs, not yet matched to the finished reply.
    ran: Vec<(ToolCall, Result<String, String>)>,
    /// The calls streamed in the current attempt, in order (any tool: a call's position
    /// counts against the turn's call cap).
    streamed: Vec<ToolCall>,
}

/// Whether two calls are the same call: name and arguments, as the finished reply repeats
/// them (an id may be filled in only then).
fn same(a: &ToolCall, b: &ToolCall) -> bool {
    a.name == b.name && a.arguments.trim() == b.arguments.trim()
}

impl EarlyCalls {
    /// A new turn: nothing ran yet.
    pub(super) fn start_turn(&mut self) {
        *self = EarlyCalls::default();
    }

    pub(super) fn new_attempt(&mut self) {
        self.streamed.clear();
    }

    /// Whether `call`, just streamed, should run now, and its arguments if so: an
    /// `add_task` within the turn's first `max_calls` calls, with a JSON object for
    /// arguments, that this attempt has streamed more often than it has run.
    pub(super) fn should_run(&mut self, call: &ToolCall, max_calls: usize) -> Option<Value> {
        let position = self.streamed.len();
        self.streamed.push(call.clone());
        if call.name != EARLY_TOOL || position >= max_calls {
            return None;
        }
        let seen = self.streamed.iter().filter(|c| same(c, call)).count();
        let ran = self.ran.iter().filter(|(c, _)| same(c, call)).count();
        if seen <= ran {
            return None;
        }
        serde_json::from_str::<Value>(&call.arguments)
            .ok()
            .filter(Value::is_object)
    }

    pub(super) fn ran(&mut self, call: ToolCall, output: Result<String, String>) {
        self.ran.push((call, output));
    }

    /// The output of the early run of `call` (the finished reply's), if it had one; each
    /// early run answers one call.
    pub(super) fn take(&mut self, call: &ToolCall) -> Option<Result<String, String>> {
        let at = self.ran.iter().position(|(c, _)| same(c, call))?;
        Some(self.ran.remove(at).1)
    }

    /// A note for the model on calls that ran early but are not in its finished reply
    /// (taken once: the list is cleared).
    pub(super) fn unmatched_note(&mut self) -> Option<String> {
        if self.ran.is_empty() {
            return None;
        }
        let lines: Vec<String> = std::mem::take(&mut self.ran)
            .into_iter()
            .map(|(call, out)| {
                let out = out.unwrap_or_else(|e| format!("ERROR: {e}"));
                format!("- {} {} → {}", call.name, clip(&call.arguments, 200), out)
            })
            .collect();
        Some(format!(
            "(An attempt of your last reply that broke off was retried; before it broke it \
had already made these calls, which stand though your reply no longer has them:\n{})",
            lines.join("\n")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &str) -> ToolCall {
        ToolCall {
            id: String::new(),
            name: name.into(),
            arguments: args.into(),
        }
    }

    #[test]
    fn only_add_task_within_the_cap_with_object_arguments_runs_early() {
        let mut early = EarlyCalls::default();
        assert!(
            early
                .should_run(&call("expand", r#"{"point":"P1"}"#), 4)
                .is_none()
        );
        assert!(early.should_run(&call("add_task", "not json"), 4).is_none());
        assert!(early.should_run(&call("add_task", "[1]"), 4).is_none());
        let args = early.should_run(&call("add_task", r#"{"title":"a"}"#), 4);
        assert_eq!(args.unwrap()["title"], "a");
        // The fifth call of the turn is past a cap of 4.
        assert!(
            early
                .should_run(&call("add_task", r#"{"title":"b"}"#), 4)
                .is_none()
        );
    }

    #[test]
    fn a_retried_attempt_does_not_run_a_call_twice_but_a_repeated_one_runs() {
        let mut early = EarlyCalls::default();
        let a = call("add_task", r#"{"title":"a"}"#);
        assert!(early.should_run(&a, 32).is_some());
        early.ran(a.clone(), Ok("Added T2 to the queue.".into()));
        // The same call twice in one attempt is two calls.
        assert!(early.should_run(&a, 32).is_some());
        early.ran(a.clone(), Ok("Added T3 to the queue.".into()));
        early.new_attempt();
        assert!(early.should_run(&a, 32).is_none());
        assert!(early.should_run(&a, 32).is_none());
        assert!(early.should_run(&a, 32).is_some());
        // The finished reply's calls take the outputs in order, once each.
        assert_eq!(early.take(&a).unwrap().unwrap(), "Added T2 to the queue.");
        assert_eq!(early.take(&a).unwrap().unwrap(), "Added T3 to the queue.");
        assert!(early.take(&a).is_none());
        assert!(early.unmatched_note().is_none());
    }

    #[test]
    fn a_call_the_finished_reply_lost_is_told() {
        let mut early = EarlyCalls::default();
        let a = call("add_task", r#"{"title":"a"}"#);
        early.should_run(&a, 32);
        early.ran(a, Ok("Added T2 to the queue.".into()));
        let note = early.unmatched_note().unwrap();
        assert!(
            note.contains(r#"add_task {"title":"a"} → Added T2"#),
            "{note}"
        );
        assert!(early.unmatched_note().is_none());
        early.start_turn();
        assert!(early.take(&call("add_task", r#"{"title":"a"}"#)).is_none());
    }
}
