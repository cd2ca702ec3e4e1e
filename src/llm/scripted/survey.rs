//! The survey workload of the engine-overhead and coordination figures (1 and 3): a goal
//! made of `subtasks` independent parts, played by a cooperative agent that decides each
//! answer only from what the engine sent:
//!
//! - a verifier call (`purpose: judge`) approves;
//! - a work task titled `Subtask k of K: ...` records one point (when `record_point` is
//!   offered) and finishes; its result is short when the agent shares points, and a full
//!   report when `finish_task` is its only channel (a `central` worker is told the
//!   orchestrator sees only its result);
//! - any other work task is the whole goal: with `add_task` it is split into the `subtasks`
//!   parts (`plan_batch` per turn); without it (an `isolated` attempt) the agent does every
//!   part itself, one point per turn, and reports in full;
//! - a turn offering `final_answer` (the finalise turn, or a `central` orchestrator turn)
//!   first adds the parts not yet assigned when it may, and otherwise answers, citing the
//!   verified point ids it can see.
//!
//! Output tokens are fixed by the script, whatever the answer's length.

use super::{Decision, Policy, Prompt};
use crate::llm::{CallPurpose, ChatRequest};
use serde_json::json;
use std::time::Duration;

/// Titles of the parts the planner creates start with this.
const SUBTASK_PREFIX: &str = "Subtask ";

/// The kind of point each subtask records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptedPoint {
    /// Progress with open ends: verifies without a workspace.
    Partial,
    /// What was tried and why it failed: verifies without a workspace.
    Failure,
    /// A finding whose evidence quotes a verified point the agent can see (falls back to a
    /// `partial` while none is visible).
    FindingCitingPoint,
}

/// The survey workload and the cost model of the scripted agent.
#[derive(Debug, Clone)]
pub struct Script {
    /// Parts the goal splits into.
    pub subtasks: usize,
    /// `add_task` calls per planning turn.
    pub plan_batch: usize,
    pub point: ScriptedPoint,
    /// Time each call takes (see [`super::ScriptedModel::new`]).
    pub latency: Duration,
    /// Output tokens reported for a work or finalise turn.
    pub output_tokens: u64,
    /// Output tokens reported for a verifier verdict.
    pub judge_output_tokens: u64,
    /// Words in a full report (a `central` worker's result, an isolated attempt's answer).
    pub report_words: usize,
    /// Send the last point and `finish_task` in one turn (the engine allows it), instead of
    /// finishing in a turn of its own.
    pub record_and_finish: bool,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            subtasks: 4,
            plan_batch: 16,
            point: ScriptedPoint::Partial,
            latency: Duration::ZERO,
            output_tokens: 150,
            judge_output_tokens: 30,
            report_words: 250,
            record_and_finish: false,
        }
    }
}

impl Policy for Script {
    fn decide(&self, req: &ChatRequest) -> Decision {
        let seen = Prompt::of(req);
        if seen.purpose() == CallPurpose::Judge {
            let text = json!({"verdict": "approve", "reason": "the cited evidence supports it"})
                .to_string();
            return Decision::text(text).with_output_tokens(self.judge_output_tokens);
        }
        if seen.offers("final_answer") {
            return self.final_turn(&seen);
        }
        match seen.task_title() {
            Some(title) if title.starts_with(SUBTASK_PREFIX) => self.subtask_turn(&seen, title),
            Some(_) | None => self.whole_goal_turn(&seen),
        }
    }
}

impl Script {
    fn reply(&self, calls: Vec<(&str, serde_json::Value)>) -> Decision {
        Decision::calls(calls).with_output_tokens(self.output_tokens)
    }

    /// The next `plan_batch` parts not yet added, as `add_task` calls.
    fn plan_calls(&self, already: usize) -> Vec<(&'static str, serde_json::Value)> {
        let k = self.subtasks;
        let end = (already + self.plan_batch.max(1)).min(k);
        (already..end)
            .map(|i| {
                let (a, b) = topic(i);
                (
                    "add_task",
                    json!({
                        "title": format!("{SUBTASK_PREFIX}{} of {k}: examine the {a} {b} component", i + 1),
                        "detail": format!(
                            "Find out how the {a} {b} component contributes to the goal and record \
what you establish."
                        ),
                    }),
                )
            })
            .collect()
    }

    fn final_turn(&self, seen: &Prompt) -> Decision {
        let planned = seen.calls_made("add_task");
        let orchestrating = !seen.is_finalise_turn();
        if orchestrating && seen.offers("add_task") && planned < self.subtasks {
            let mut calls = Vec::new();
            if planned > 0 && seen.offers("broadcast") {
                calls.push((
                    "broadcast",
                    json!({"context": format!("The first {planned} parts are reported; build on \
their results.")}),
                ));
            }
            calls.extend(self.plan_calls(planned));
            return self.reply(calls);
        }
        let cited = if seen.citation_refused() {
            Vec::new()
        } else {
            seen.visible_points()
        };
        let answer = format!(
            "All {} parts of the goal are covered. {}",
            self.subtasks,
            filler(self.report_words / 2, 0)
        );
        self.reply(vec![(
            "final_answer",
            json!({"answer": answer, "cited": cited}),
        )])
    }

    fn subtask_turn(&self, seen: &Prompt, title: &str) -> Decision {
        let part = part_number(title);
        let recording = seen.offers("record_point") && seen.calls_made("record_point") == 0;
        if recording && !self.record_and_finish {
            let point = self.point_args(seen, part);
            return self.reply(vec![("record_point", point)]);
        }
        let result = if seen.offers("record_point") {
            // Points carry the substance; the result just names them.
            format!("Recorded the outcome of part {part} as a point; nothing left open.")
        } else {
            // The result is the only channel to whoever reads it: report in full.
            format!(
                "Full report on part {part}: {}",
                filler(self.report_words, part)
            )
        };
        let finish = ("finish_task", json!({"result": result}));
        if recording {
            return self.reply(vec![("record_point", self.point_args(seen, part)), finish]);
        }
        self.reply(vec![finish])
    }

    /// A task that is the whole goal: split it when possible, otherwise do every part.
    fn whole_goal_turn(&self, seen: &Prompt) -> Decision {
        let k = self.subtasks;
        if seen.offers("add_task") {
            let planned = seen.calls_made("add_task");
            if planned < k {
                return self.reply(self.plan_calls(planned));
            }
            let result = format!("Split the goal into {k} parts, one task each.");
            return self.reply(vec![("finish_task", json!({"result": result}))]);
        }
        let done = seen.calls_made("record_point");
        let last = done + 1 == k && self.record_and_finish;
        if seen.offers("record_point") && done < k && !last {
            let point = self.point_args(seen, done + 1);
            return self.reply(vec![("record_point", point)]);
        }
        let result = format!(
            "Full answer from all {k} parts: {}",
            filler(self.report_words, k)
        );
        let finish = ("finish_task", json!({"result": result}));
        if seen.offers("record_point") && last {
            return self.reply(vec![("record_point", self.point_args(seen, k)), finish]);
        }
        self.reply(vec![finish])
    }

    fn point_args(&self, seen: &Prompt, part: usize) -> serde_json::Value {
        let (a, b) = topic(part.saturating_sub(1));
        let summary = filler(60, part);
        let cite = (self.point == ScriptedPoint::FindingCitingPoint)
            .then(|| seen.latest_point())
            .flatten();
        if let Some((id, headline)) = cite {
            // No digits in a finding's headline: the verifier requires every number in it to
            // appear in the evidence.
            let quote: String = headline
                .split_whitespace()
                .take(6)
                .collect::<Vec<_>>()
                .join(" ");
            return json!({
                "kind": "finding",
                "headline": format!("The {a} {b} component confirms an earlier point: {quote}"),
                "summary": summary,
                "evidence": [{"source": id, "quote": quote}],
            });
        }
        let (kind, headline) = match self.point {
            ScriptedPoint::Failure => (
                "failure",
                format!("Part {part}: probing the {a} {b} component directly gave nothing usable"),
            ),
            _ => (
                "partial",
                format!(
                    "Part {part}: the {a} {b} component behaves as documented; edge cases remain"
                ),
            ),
        };
        json!({"kind": kind, "headline": headline, "summary": summary})
    }
}

/// `Subtask 7 of 16: ...` → 7 (0 when the title does not say).
fn part_number(title: &str) -> usize {
    title
        .strip_prefix(SUBTASK_PREFIX)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

const TOPICS: [&str; 16] = [
    "lexer",
    "parser",
    "cache",
    "index",
    "scheduler",
    "network",
    "storage",
    "planner",
    "renderer",
    "allocator",
    "resolver",
    "encoder",
    "decoder",
    "router",
    "journal",
    "monitor",
];

/// Two topic words for part `i`, so parts differ in vocabulary (relevance ranking has
/// something to rank).
fn topic(i: usize) -> (&'static str, &'static str) {
    (
        TOPICS[i % TOPICS.len()],
        TOPICS[(i / TOPICS.len() + 7 * i + 3) % TOPICS.len()],
    )
}

/// Deterministic prose of about `words` words, without digits (a number in a point must be
/// in its evidence).
pub fn filler(words: usize, seed: usize) -> String {
    const SENTENCE: [&str; 12] = [
        "the",
        "observed",
        "behaviour",
        "matches",
        "the",
        "documented",
        "contract",
        "under",
        "normal",
        "load",
        "and",
        "input",
    ];
    let mut out = String::with_capacity(words * 8);
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        if i % 12 == 11 {
            out.push_str(TOPICS[(seed + i / 12) % TOPICS.len()]);
        } else {
            out.push_str(SENTENCE[i % 12]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::ScriptedModel;
    use super::*;
    use crate::llm::{ChatResponse, Message, Provider, ToolSpec};

    fn tool(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters: json!({"type": "object"}),
        }
    }

    fn req(system: &str, messages: Vec<Message>, tools: &[&str]) -> ChatRequest {
        ChatRequest::new(
            CallPurpose::Work,
            system,
            messages,
            tools.iter().map(|t| tool(t)).collect::<Vec<_>>().into(),
            100,
        )
    }

    fn names(resp: &ChatResponse) -> Vec<&str> {
        resp.tool_calls.iter().map(|c| c.name.as_str()).collect()
    }

    const WORK_TOOLS: [&str; 4] = ["expand", "record_point", "add_task", "finish_task"];

    #[test]
    fn planner_adds_parts_in_batches_then_finishes() {
        let m = ScriptedModel::new(Script {
            subtasks: 5,
            plan_batch: 3,
            ..Script::default()
        });
        let mut msgs = vec![Message::user("YOUR TASK T1: Plan: split it\n")];
        let first = m.respond(&req("sys", msgs.clone(), &WORK_TOOLS));
        assert_eq!(names(&first), vec!["add_task"; 3]);
        let args: serde_json::Value = serde_json::from_str(&first.tool_calls[2].arguments).unwrap();
        assert!(
            args["title"]
                .as_str()
                .unwrap()
                .starts_with("Subtask 3 of 5:")
        );
        msgs.push(Message::assistant("", first.tool_calls));
        let second = m.respond(&req("sys", msgs.clone(), &WORK_TOOLS));
        assert_eq!(names(&second), vec!["add_task"; 2]);
        msgs.push(Message::assistant("", second.tool_calls));
        assert_eq!(
            names(&m.respond(&req("sys", msgs, &WORK_TOOLS))),
            vec!["finish_task"]
        );
    }

    #[test]
    fn subtask_records_then_finishes_briefly_but_reports_in_full_without_points() {
        let m = ScriptedModel::new(Script::default());
        let mut msgs = vec![Message::user("YOUR TASK T4: Subtask 3 of 4: examine x\n")];
        let first = m.respond(&req("sys", msgs.clone(), &WORK_TOOLS));
        assert_eq!(names(&first), vec!["record_point"]);
        let point: serde_json::Value =
            serde_json::from_str(&first.tool_calls[0].arguments).unwrap();
        assert_eq!(point["kind"], "partial");
        assert!(point["headline"].as_str().unwrap().starts_with("Part 3:"));
        msgs.push(Message::assistant("", first.tool_calls));
        let brief = m.respond(&req("sys", msgs, &WORK_TOOLS));
        assert_eq!(names(&brief), vec!["finish_task"]);

        let worker = m.respond(&req(
            "sys",
            vec![Message::user("YOUR TASK T4: Subtask 3 of 4: examine x\n")],
            &["finish_task"],
        ));
        assert_eq!(names(&worker), vec!["finish_task"]);
        assert!(worker.tool_calls[0].arguments.len() > brief.tool_calls[0].arguments.len() * 4);
    }

    #[test]
    fn the_last_point_and_the_finish_may_share_a_turn() {
        let m = ScriptedModel::new(Script {
            record_and_finish: true,
            ..Script::default()
        });
        let msgs = vec![Message::user("YOUR TASK T4: Subtask 3 of 4: examine x\n")];
        let r = m.respond(&req("sys", msgs, &WORK_TOOLS));
        assert_eq!(names(&r), vec!["record_point", "finish_task"]);
    }

    #[test]
    fn isolated_attempt_does_every_part_itself() {
        let m = ScriptedModel::new(Script {
            subtasks: 2,
            ..Script::default()
        });
        let tools = ["expand", "record_point", "finish_task"];
        let mut msgs = vec![Message::user(
            "YOUR TASK T1: Attempt 1 of 3: the whole goal\n",
        )];
        for _ in 0..2 {
            let r = m.respond(&req("sys", msgs.clone(), &tools));
            assert_eq!(names(&r), vec!["record_point"]);
            msgs.push(Message::assistant("", r.tool_calls));
        }
        assert_eq!(
            names(&m.respond(&req("sys", msgs, &tools))),
            vec!["finish_task"]
        );
    }

    #[test]
    fn judge_approves_and_finaliser_cites_visible_points() {
        let m = ScriptedModel::new(Script::default());
        let judge = ChatRequest {
            purpose: CallPurpose::Judge,
            ..req("You check points of a swarm", vec![], &[])
        };
        let verdict = m.respond(&judge);
        assert!(verdict.text.contains("approve") && verdict.tool_calls.is_empty());

        let finalise = Message::user(
            "FINALISE: ...\n\nSHARED CONTEXT:\nP1 [partial] Part 1: a (a1, T2)\nP4 [failure] x (a2, T3)\n",
        );
        let r = m.respond(&req(
            "sys",
            vec![finalise.clone()],
            &["expand", "final_answer"],
        ));
        let args: serde_json::Value = serde_json::from_str(&r.tool_calls[0].arguments).unwrap();
        assert_eq!(args["cited"], json!(["P1", "P4"]));

        let refused = vec![
            finalise,
            Message::assistant("", r.tool_calls.clone()),
            Message::tool("call_0", "ERROR: these ids are not verified points: P4"),
        ];
        let again = m.respond(&req("sys", refused, &["expand", "final_answer"]));
        let args: serde_json::Value = serde_json::from_str(&again.tool_calls[0].arguments).unwrap();
        assert_eq!(args["cited"], json!([]));
    }

    #[test]
    fn orchestrator_assigns_every_part_before_answering() {
        let m = ScriptedModel::new(Script {
            subtasks: 3,
            plan_batch: 2,
            ..Script::default()
        });
        let tools = ["add_task", "broadcast", "final_answer"];
        let mut msgs = vec![Message::user("You are the orchestrator of 2 workers")];
        let wave1 = m.respond(&req("sys", msgs.clone(), &tools));
        assert_eq!(names(&wave1), vec!["add_task", "add_task"]);
        msgs.push(Message::assistant("", wave1.tool_calls));
        msgs.push(Message::user("WAVE 1 RESULTS ..."));
        let wave2 = m.respond(&req("sys", msgs.clone(), &tools));
        assert_eq!(names(&wave2), vec!["broadcast", "add_task"]);
        msgs.push(Message::assistant("", wave2.tool_calls));
        msgs.push(Message::user("WAVE 2 RESULTS ..."));
        assert_eq!(
            names(&m.respond(&req("sys", msgs, &tools))),
            vec!["final_answer"]
        );
    }

    #[test]
    fn finding_cites_the_latest_visible_point_without_numbers_in_the_headline() {
        let m = ScriptedModel::new(Script {
            point: ScriptedPoint::FindingCitingPoint,
            ..Script::default()
        });
        let msg = Message::user(
            "YOUR TASK T9: Subtask 8 of 9: examine x\n\nSHARED CONTEXT:\nP2 [partial] Part 1: the lexer cache component behaves (a1, T2)\n",
        );
        let r = m.respond(&req("sys", vec![msg], &WORK_TOOLS));
        let p: serde_json::Value = serde_json::from_str(&r.tool_calls[0].arguments).unwrap();
        assert_eq!(p["kind"], "finding");
        assert_eq!(p["evidence"][0]["source"], "P2");
        let quote = p["evidence"][0]["quote"].as_str().unwrap();
        assert!("Part 1: the lexer cache component behaves".contains(quote));
        // Every number in the headline must be in the evidence, or the verifier rejects it.
        let headline = p["headline"].as_str().unwrap();
        for number in headline
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
        {
            assert!(quote.contains(number), "{headline} / {quote}");
        }
    }

    #[tokio::test]
    async fn usage_counts_prompt_characters() {
        let m = ScriptedModel::new(Script {
            output_tokens: 77,
            ..Script::default()
        });
        let r = req(
            &"s".repeat(400),
            vec![Message::user("YOUR TASK T1: Plan\n")],
            &[],
        );
        let resp = m.chat(&r, &|_| {}).await.unwrap();
        assert!(resp.usage.input_tokens >= 100);
        assert_eq!(resp.usage.output_tokens, 77);
        assert_eq!(m.counts().calls, 1);
    }
}
