//! A realistic recorded run built by hand, shared by the TUI tests: three agents work on a
//! repo question, one point is rejected, a model call is retried, the human pauses, adds a
//! constraint and a task, and the run finishes with an answer citing two points.

#![allow(dead_code)]

use delm::event::*;
use serde_json::json;
use std::path::Path;

pub const LEX_RS: &str = "\
pub struct Lexer<'a> {
    src: &'a str,
}
fn skip_ws(&mut self) {
    // comments are whitespace to the parser
    while self.peek() == '#' { self.skip_line(); }
}
fn skip_line(&mut self) {
    while !matches!(self.next(), None | Some('\\n')) {}
}
";

/// Write the small repo the evidence points at.
pub fn write_repo(root: &Path) {
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/lex.rs"), LEX_RS).unwrap();
}

fn ts(seq: u64) -> String {
    format!("2026-03-14T09:{:02}:{:02}Z", seq * 4 / 60, seq * 4 % 60)
}

fn finding(
    id: &str,
    kind: PointKind,
    author: &str,
    task: &str,
    headline: &str,
    summary: &str,
    evidence: Vec<Evidence>,
) -> Point {
    Point {
        id: id.into(),
        kind,
        headline: headline.into(),
        summary: summary.into(),
        evidence,
        author: author.into(),
        task: Some(task.into()),
        supersedes: None,
    }
}

fn file_evidence(source: &str, lines: &str, quote: &str) -> Evidence {
    Evidence {
        source: source.into(),
        lines: Some(lines.into()),
        quote: quote.into(),
        resolved: None,
    }
}

fn claimed(task: &str, agent: &str, attempt: u32) -> Event {
    Event::TaskClaimed {
        task: task.into(),
        agent: agent.into(),
        attempt,
    }
}

fn added(task: &str, title: &str, origin: Origin) -> Event {
    Event::TaskAdded {
        task: task.into(),
        title: title.into(),
        detail: format!("Detail for {title}."),
        origin,
    }
}

fn call(
    agent: &str,
    task: Option<&str>,
    purpose: CallPurpose,
    tin: u64,
    tout: u64,
    cost: f64,
) -> Event {
    Event::LlmCall {
        agent: agent.into(),
        task: task.map(Into::into),
        purpose,
        model: "gpt-4.1-mini".into(),
        tokens_in: tin,
        tokens_out: tout,
        tokens_cached_read: 0,
        tokens_cache_write: 0,
        cost_usd: Some(cost),
        latency_ms: 900,
    }
}

fn finished(task: &str, agent: &str, outcome: TaskOutcome, result: &str) -> Event {
    Event::TaskFinished {
        task: task.into(),
        agent: agent.into(),
        outcome,
        result: result.into(),
    }
}

fn status(agent: &str, status: AgentStatus, task: Option<&str>) -> Event {
    Event::AgentStatus {
        agent: agent.into(),
        status,
        task: task.map(Into::into),
    }
}

/// The whole run (41 events). `root` is the repo the evidence refers to.
pub fn sample_run(root: &Path) -> Vec<Envelope> {
    let by_agent = |a: &str| Origin::Agent { agent: a.into() };
    let events = vec![
        Event::RunStarted {
            run_id: "20260314-090000-a1b2".into(),
            goal: "Why does the parser drop trailing comments?".into(),
            mode: Mode::Repo {
                root: root.display().to_string(),
            },
            model: "openai:gpt-4.1-mini".into(),
            agents: 3,
            verify: VerifyMode::Judge,
            budgets: Budgets {
                max_cost_usd: Some(0.5),
                max_tokens: None,
                time_limit_secs: None,
            },
            coordination: delm::event::Coordination::Delm,
            endpoint: None,
        },
        added("T1", "plan: split the question", Origin::Initial),
        claimed("T1", "a1", 1),
        call("a1", Some("T1"), CallPurpose::Work, 1_850, 240, 0.0011),
        Event::ToolCall {
            agent: "a1".into(),
            task: Some("T1".into()),
            call_id: "c1".into(),
            tool: "list_dir".into(),
            args: json!({"path": "src"}),
            ok: true,
            output: "lex.rs\nparse.rs\nlib.rs".into(),
        },
        added("T2", "check lexer state around comments", by_agent("a1")),
        added("T3", "compare with the v1.2 parser", by_agent("a1")),
        added("T4", "find tests covering trailing comments", by_agent("a1")),
        finished("T1", "a1", TaskOutcome::Done, "Split into T2, T3 and T4."),
        claimed("T2", "a2", 1),
        claimed("T3", "a3", 1),
        claimed("T4", "a1", 1),
        Event::ToolCall {
            agent: "a2".into(),
            task: Some("T2".into()),
            call_id: "c2".into(),
            tool: "read_file".into(),
            args: json!({"path": "src/lex.rs", "start": 1, "end": 10}),
            ok: true,
            output: "pub struct Lexer<'a> {\n    src: &'a str,\n}".into(),
        },
        call("a2", Some("T2"), CallPurpose::Work, 3_400, 410, 0.0021),
        Event::AgentMessage {
            agent: "a2".into(),
            task: Some("T2".into()),
            text: "Reading src/lex.rs:1-10.\nskip_ws treats '#' as whitespace and skips the whole line.".into(),
        },
        Event::PointProposed {
            point: finding(
                "P1",
                PointKind::Finding,
                "a2",
                "T2",
                "comments are dropped in Lexer::skip_ws",
                "skip_ws treats a comment as whitespace: when it sees '#' it calls skip_line, so \
                 a trailing comment never becomes a token and the parser cannot keep it.",
                vec![file_evidence(
                    "src/lex.rs",
                    "4-6",
                    "while self.peek() == '#' { self.skip_line(); }",
                )],
            ),
        },
        status("a2", AgentStatus::Verifying, Some("T2")),
        Event::PointVerified {
            point: "P1".into(),
            note: Some("quote found at src/lex.rs:6; the claim follows from it".into()),
            evidence: Some(vec![Evidence {
                resolved: Some("src/lex.rs:6".into()),
                ..file_evidence("src/lex.rs", "4-6", "while self.peek() == '#' { self.skip_line(); }")
            }]),
        },
        status("a2", AgentStatus::Working, Some("T2")),
        Event::LlmRetry {
            agent: "a3".into(),
            attempt: 2,
            delay_ms: 6_000,
            reason: "429 rate limited".into(),
        },
        call("a3", Some("T3"), CallPurpose::Work, 2_900, 350, 0.0018),
        Event::ToolCall {
            agent: "a3".into(),
            task: Some("T3".into()),
            call_id: "c3".into(),
            tool: "grep".into(),
            args: json!({"pattern": "peek_buf", "path_glob": "src/*.rs"}),
            ok: false,
            output: "no matches".into(),
        },
        Event::PointProposed {
            point: finding(
                "P2",
                PointKind::Failure,
                "a3",
                "T3",
                "tried: bumping the peek buffer, no effect on comments",
                "A larger peek buffer does not change which characters skip_ws consumes.",
                vec![],
            ),
        },
        Event::PointVerified {
            point: "P2".into(),
            note: None,
            evidence: None,
        },
        Event::ConstraintAdded {
            point: Point {
                id: "C1".into(),
                kind: PointKind::Constraint,
                headline: "do not touch the public API".into(),
                summary: String::new(),
                evidence: vec![],
                author: HUMAN.into(),
                task: None,
                supersedes: None,
            },
        },
        Event::PointProposed {
            point: finding(
                "P3",
                PointKind::Partial,
                "a1",
                "T4",
                "no test covers a comment at end of file",
                "Searched tests/ for '#' at EOF.",
                vec![file_evidence("tests/lexer.rs", "10-12", "assert_eq!(lex(\"a # c\"), ...)")],
            ),
        },
        Event::PointRejected {
            point: "P3".into(),
            reason: "quote not found in tests/lexer.rs".into(),
        },
        Event::PointProposed {
            point: finding(
                "P4",
                PointKind::Finding,
                "a1",
                "T4",
                "the lexer tests never check a trailing comment",
                "None of the lexer tests ends its input with a comment, so the dropped token went unnoticed.",
                vec![file_evidence("src/lex.rs", "8-9", "fn skip_line(&mut self) {")],
            ),
        },
        Event::PointVerified {
            point: "P4".into(),
            note: None,
            evidence: None,
        },
        finished("T2", "a2", TaskOutcome::Done, "Comments are consumed by skip_ws (P1)."),
        finished("T4", "a1", TaskOutcome::Done, "No test has a trailing comment (P4)."),
        Event::Paused {},
        status("a1", AgentStatus::Paused, None),
        Event::Resumed {},
        Event::TaskAdded {
            task: "T5".into(),
            title: "check Windows line endings".into(),
            detail: "Does \\r\\n change anything?".into(),
            origin: Origin::Human,
        },
        claimed("T5", "a1", 1),
        finished("T3", "a3", TaskOutcome::Failed, "Could not build v1.2 to compare."),
        finished("T5", "a1", TaskOutcome::Done, "Line endings do not matter here."),
        Event::FinaliseStarted { agent: "a2".into() },
        call("a2", None, CallPurpose::Finalise, 5_200, 620, 0.0034),
        Event::RunFinished {
            answer: "The lexer drops trailing comments: Lexer::skip_ws treats '#' as whitespace and \
                     skips to the end of the line, so no comment token reaches the parser [P1]. \
                     No test covers the case [P4]."
                .into(),
            cited: vec!["P1".into(), "P4".into()],
            stopped_by: StoppedBy::Completed,
            totals: Totals {
                calls: 5,
                tokens_in: 15_350,
                tokens_out: 1_620,
                cost_usd: 0.0092,
                unpriced_calls: 0,
                elapsed_ms: 163_000,
                ..Totals::default()
            },
        },
    ];
    enveloped(events)
}

/// The seq of the first event of type `kind` (1-based position).
pub fn position_of(events: &[Envelope], kind: &str) -> usize {
    events
        .iter()
        .position(|e| e.event.type_name() == kind)
        .expect("event in fixture")
        + 1
}

fn started(run_id: &str, goal: &str, mode: Mode, model: &str) -> Event {
    Event::RunStarted {
        run_id: run_id.into(),
        goal: goal.into(),
        mode,
        model: model.into(),
        agents: 2,
        verify: VerifyMode::Judge,
        budgets: Budgets::default(),
        coordination: delm::event::Coordination::Delm,
        endpoint: None,
    }
}

/// A successful tool call of a1 on T1.
fn tool(name: &str, args: serde_json::Value, output: &str) -> Event {
    Event::ToolCall {
        agent: "a1".into(),
        task: Some("T1".into()),
        call_id: format!("call-{name}"),
        tool: name.into(),
        args,
        ok: true,
        output: output.into(),
    }
}

/// Number events in order with the fixture's clock.
fn enveloped(events: Vec<Event>) -> Vec<Envelope> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Envelope {
            seq: i as u64 + 1,
            ts: ts(i as u64 + 1),
            event,
        })
        .collect()
}

pub const REPORT_MD: &str = "\
# Acme Corp annual report 2024

## Highlights

Acme Corp reported revenue of $412.5 million for 2024,
an increase of 4.2% over 2023.
Gross margin was 38.0%.
";

/// Write the documents the docs fixture cites.
pub fn write_docs(root: &Path) {
    std::fs::create_dir_all(root.join("acme")).unwrap();
    std::fs::write(root.join("acme/report.md"), REPORT_MD).unwrap();
}

/// A finished docs run whose answer is markdown long enough to scroll.
pub fn docs_run(root: &Path) -> Vec<Envelope> {
    let answer = "## Acme grew in 2024\n\nAcme's revenue rose **4.2%** to $412.5 million [P1], \
with a gross margin of *38.0%* [P2].\n\n| Measure | 2024 |\n|---|---:|\n| Revenue | $412.5M |\n| \
Growth | 4.2% |\n| Gross margin | 38.0% |\n\n### Why it matters\n\n- the growth came from new \
customers, not prices\n- margins held while costs rose\n  across the year\n1. first caveat: one \
year of data\n2. second caveat: `revenue` is not profit\n\n> The report is the only source.\n\n\
```\nrevenue 2024 = 412.5\n```\n\nThat is all the run could verify.";
    let events = vec![
        started(
            "20260314-100000-d0c5",
            "How did Acme do in 2024?",
            Mode::Docs {
                roots: vec![root.display().to_string()],
            },
            "anthropic:claude-sonnet-4",
        ),
        added("T1", "Read acme/report.md", Origin::Initial),
        claimed("T1", "a1", 1),
        tool("read_doc", json!({"doc": "acme/report.md"}), REPORT_MD),
        call("a1", Some("T1"), CallPurpose::Work, 1_200, 150, 0.004),
        Event::PointProposed {
            point: finding(
                "P1",
                PointKind::Finding,
                "a1",
                "T1",
                "Acme's 2024 revenue was $412.5 million, up 4.2%",
                "Revenue grew 4.2% in 2024.",
                vec![Evidence {
                    source: "acme/report.md".into(),
                    lines: None,
                    quote:
                        "Acme Corp reported revenue of $412.5 million for 2024, an increase of 4.2%"
                            .into(),
                    resolved: Some("acme/report.md@47+75".into()),
                }],
            ),
        },
        Event::PointVerified {
            point: "P1".into(),
            note: Some("judge: the quote states it".into()),
            evidence: None,
        },
        Event::PointProposed {
            point: finding(
                "P2",
                PointKind::Finding,
                "a1",
                "T1",
                "Acme's gross margin was 38.0%",
                "",
                vec![Evidence {
                    source: "acme/report.md".into(),
                    lines: None,
                    quote: "Gross margin was 38.0%.".into(),
                    resolved: None,
                }],
            ),
        },
        Event::PointVerified {
            point: "P2".into(),
            note: None,
            evidence: None,
        },
        finished("T1", "a1", TaskOutcome::Done, "Recorded P1 and P2."),
        Event::FinaliseStarted { agent: "a1".into() },
        call("a1", None, CallPurpose::Finalise, 900, 300, 0.006),
        Event::RunFinished {
            answer: answer.into(),
            cited: vec!["P1".into(), "P2".into()],
            stopped_by: StoppedBy::Completed,
            totals: Totals {
                calls: 2,
                tokens_in: 2_100,
                tokens_out: 450,
                cost_usd: 0.01,
                unpriced_calls: 0,
                elapsed_ms: 48_000,
                ..Totals::default()
            },
        },
    ];
    enveloped(events)
}

/// A repo run with `--allow-edit`: an agent edits, runs the test, and cites both.
pub fn patch_run(root: &Path) -> Vec<Envelope> {
    let events = vec![
        started(
            "20260314-110000-pa7c",
            "Fix the dropped trailing comment",
            Mode::Repo {
                root: root.display().to_string(),
            },
            "openai:gpt-4.1",
        ),
        added("T1", "fix skip_ws", Origin::Initial),
        claimed("T1", "a1", 1),
        tool(
            "edit_file",
            json!({
                "path": "src/lex.rs",
                "old": "    while self.peek() == '#' { self.skip_line(); }",
                "new": "    if self.peek() == '#' { return self.comment(); }",
            }),
            "Edited src/lex.rs (1 replacement).",
        ),
        tool(
            "run_command",
            json!({"cmd": "cargo test trailing_comment"}),
            "c1: `cargo test trailing_comment` exited with 0 after 4.1 s in a1's worktree. \
Cite this run as evidence with source \"cmd:c1\".\n--- output ---\ntest trailing_comment_is_kept ... ok",
        ),
        Event::PointProposed {
            point: finding(
                "P1",
                PointKind::Finding,
                "a1",
                "T1",
                "skip_ws now emits a comment token instead of skipping the line",
                "The fix returns a comment token; the failing test passes on the patched code.",
                vec![
                    Evidence {
                        source: "patch:a1".into(),
                        lines: None,
                        quote: "if self.peek() == '#' { return self.comment(); }".into(),
                        resolved: Some("patch:a1@3f2a1b9c0d (1 file, +1 -1)".into()),
                    },
                    Evidence {
                        source: "cmd:c1".into(),
                        lines: None,
                        quote: "test trailing_comment_is_kept ... ok".into(),
                        resolved: Some("cmd:c1 (exit 0)".into()),
                    },
                ],
            ),
        },
        Event::PointVerified {
            point: "P1".into(),
            note: None,
            evidence: None,
        },
        Event::PatchPinned(PinnedPatch {
            point: "P1".into(),
            agent: "a1".into(),
            reference: "patch:a1@3f2a1b9c0d".into(),
            tree: "3f2a1b9c0d5e6f708192a3b4c5d6e7f8091a2b3c".into(),
            diff: LEX_DIFF.into(),
            checks: vec![lex_check(false)],
        }),
        finished("T1", "a1", TaskOutcome::Done, "Fixed (P1)."),
        Event::ResultAssembled(AssembledResult {
            patch: LEX_DIFF.into(),
            tree: "3f2a1b9c0d5e6f708192a3b4c5d6e7f8091a2b3c".into(),
            merged: vec![PatchRef {
                point: "P1".into(),
                agent: "a1".into(),
                reference: "patch:a1@3f2a1b9c0d".into(),
            }],
            checks: vec![lex_check(true)],
            ..AssembledResult::default()
        }),
        Event::RunFinished {
            answer: "skip_ws drops comments; P1 fixes it.".into(),
            cited: vec!["P1".into()],
            stopped_by: StoppedBy::Completed,
            totals: Totals::default(),
        },
    ];
    enveloped(events)
}

const LEX_DIFF: &str = "diff --git a/src/lex.rs b/src/lex.rs
index 1111111..2222222 100644
--- a/src/lex.rs
+++ b/src/lex.rs
@@ -12,3 +12,3 @@ impl Lexer {
     fn skip_ws(&mut self) {
-    while self.peek() == '#' { self.skip_line(); }
+    if self.peek() == '#' { return self.comment(); }
     }
";

/// The run that verified the lexer patch, as pinned or as cited again for the result.
fn lex_check(reused: bool) -> CheckRun {
    CheckRun {
        run: "c1".into(),
        cmd: "cargo test trailing_comment".into(),
        tree: "3f2a1b9c0d5e6f708192a3b4c5d6e7f8091a2b3c".into(),
        exit: Some(0),
        ending: "exited with 0 after 4.1 s".into(),
        timeout_s: 60,
        reused,
        output: String::new(),
        remote: false,
    }
}
