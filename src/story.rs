//! The run told as a story, one short line per thing that happened.
//!
//! `delm run --headless` prints these lines on stderr as the run goes, and
//! `delm replay --headless` prints the whole story of a recorded run. Each line is derived
//! from one event and the state *before* it, so it can name the task a claim is about or
//! tell a first claim from a retry.
//! Half of the file is its tests: one per kind of line, next to the wording they pin.

use crate::event::{
    CallPurpose, Envelope, Event, HUMAN, Mode, Origin, PointKind, PointStatus, RunState, StoppedBy,
    TaskOutcome, TaskState, Totals, parse_ts,
};
use crate::outcome::{RunOutcome, outcome};
use crate::text::{clip, escape_controls, one_line};

/// Longest free text (headlines, reasons, results) quoted in a story line, in characters.
const SNIPPET_CHARS: usize = 80;

/// The story line for `env`, or `None` for events that are noise in a narration (status
/// changes, streamed messages, individual model and tool calls). `state` is the run's state
/// before `env` is applied. Control characters in model-written text (headlines, results,
/// file names) are escaped, so a line never drives the terminal it is printed on.
pub fn describe(env: &Envelope, state: &RunState) -> Option<String> {
    let text = narrate(&env.event, state)?;
    Some(escape_controls(&format!(
        "[{}] {text}",
        elapsed_label(state, &env.ts)
    )))
}

/// What happened in `event`, in a few words and without the time: the text of a story line
/// (also the TUI's events pane). `None` for noise; not escaped (the caller prints it).
pub fn narrate(event: &Event, state: &RunState) -> Option<String> {
    let text = match event {
        Event::RunStarted {
            run_id,
            goal,
            mode,
            model,
            agents,
            verify,
            ..
        } => format!(
            "run {run_id} started: {} · {} · {model} · {agents} agent{} · verify {}",
            quoted(goal),
            describe_mode(mode),
            plural(*agents),
            serde_plain(verify),
        ),
        Event::RunResumed { model, agents } => {
            let mut line = "run resumed".to_string();
            if !model.is_empty() {
                line.push_str(&format!(" · {model}"));
            }
            if *agents > 0 {
                line.push_str(&format!(" · {agents} agent{}", plural(*agents)));
            }
            line
        }
        Event::TaskAdded {
            task,
            title,
            origin,
            ..
        } => match origin {
            Origin::Initial => format!("{task} added: {}", quoted(title)),
            Origin::Agent { agent } => format!("{agent} added {task} {}", quoted(title)),
            Origin::Human => format!("human added {task} {}", quoted(title)),
        },
        Event::TaskClaimed {
            task,
            agent,
            attempt,
        } => {
            let mut line = format!("{agent} claimed {task}");
            if let Some(t) = state.task(task) {
                line.push_str(&format!(" {}", quoted(&t.title)));
            }
            if *attempt > 1 {
                line.push_str(&format!(" (attempt {attempt})"));
            }
            line
        }
        Event::TaskFinished {
            task,
            agent,
            outcome,
            result,
        } => {
            let still_claimed = state
                .task(task)
                .is_none_or(|t| matches!(&t.state, TaskState::Claimed { agent: a } if a == agent));
            if !still_claimed {
                // The human re-enqueued or cancelled it meanwhile; this is the agent letting go.
                format!("{agent} stopped working on {task}")
            } else {
                let verb = match outcome {
                    TaskOutcome::Done => "finished",
                    TaskOutcome::Failed => "failed",
                };
                with_detail(format!("{agent} {verb} {task}"), result)
            }
        }
        Event::TaskRequeued { task, by, note } => {
            with_detail(format!("{task} requeued by {by}"), note_text(note))
        }
        Event::TaskCancelled { task, by, note } => {
            with_detail(format!("{task} cancelled by {by}"), note_text(note))
        }
        Event::PointProposed { point } => {
            let mut line = format!(
                "{} proposed {} {}",
                point.author,
                point.id,
                point.kind.as_str()
            );
            if let Some(old) = &point.supersedes {
                line.push_str(&format!(" (supersedes {old})"));
            }
            with_detail(line, &point.headline)
        }
        Event::PointVerified { point, .. } => format!("{point} verified"),
        Event::PointRejected { point, reason } => with_detail(format!("{point} rejected"), reason),
        Event::ConstraintAdded { point } => {
            let who = if point.author == HUMAN {
                "human".to_string()
            } else {
                point.author.clone()
            };
            with_detail(format!("{who} constraint {}", point.id), &point.headline)
        }
        Event::LlmRetry {
            agent,
            attempt,
            delay_ms,
            reason,
        } => format!(
            "retry {agent} in {:.1}s (attempt {attempt}: {})",
            *delay_ms as f64 / 1000.0,
            snippet(reason)
        ),
        Event::LlmCall {
            agent,
            purpose: CallPurpose::Finalise,
            tokens_in,
            tokens_out,
            ..
        } => format!(
            "{agent} finalise call: {} in / {} out",
            format_tokens(*tokens_in),
            format_tokens(*tokens_out)
        ),
        Event::BoardServing { url } => format!("board served at {url}"),
        Event::BudgetReached { why } => format!("budget: {}", escape_controls(why)),
        Event::DocumentsSkipped { documents } => {
            let list: Vec<String> = documents
                .iter()
                .take(8)
                .map(|d| format!("{} ({})", d.path, d.reason))
                .collect();
            let more = documents.len().saturating_sub(8);
            format!(
                "skipped {} document(s): {}{}",
                documents.len(),
                list.join(", "),
                if more > 0 {
                    format!(", and {more} more")
                } else {
                    String::new()
                }
            )
        }
        Event::AnswerChecked {
            unsupported_numbers,
        } if unsupported_numbers.is_empty() => {
            "the answer's numbers match the points it cites".to_string()
        }
        Event::AnswerChecked {
            unsupported_numbers,
        } => format!(
            "warning: the answer states {} that no cited point supports",
            unsupported_numbers.join(", ")
        ),
        Event::AgentJoined { agent, name, kind } => {
            format!("{agent} joined ({kind}: {})", clip(&one_line(name), 60))
        }
        Event::Broadcast { agent, context } => {
            format!("{agent} broadcast: {}", clip(&one_line(context), 100))
        }
        Event::ClaimExpired {
            task,
            agent,
            attempt,
        } => format!("{agent}'s claim on {task} (attempt {attempt}) expired: it went silent"),
        Event::PatchPinned(p) => {
            let checks: Vec<String> = p
                .checks
                .iter()
                .map(|c| format!("{} `{}`", c.run, clip(&one_line(&c.cmd), 60)))
                .collect();
            format!(
                "{}'s patch in {} pinned ({}), passed {}",
                p.agent,
                p.point,
                crate::engine::tools::patch::diff_stats(&p.diff),
                if checks.is_empty() {
                    "no cited check".to_string()
                } else {
                    checks.join(", ")
                }
            )
        }
        Event::ResultAssembled(result) => format!(
            "result assembled: {}",
            crate::engine::tools::delivery::report::headline(result)
        ),
        Event::Paused {} => "paused by human".to_string(),
        Event::Resumed {} => "resumed by human".to_string(),
        Event::AgentsChanged { count } => {
            format!("agent count set to {count} (was {})", state.desired_agents)
        }
        Event::FinaliseStarted { agent } => format!("finalising ({agent})"),
        Event::Error {
            agent,
            task,
            message,
        } => {
            let place = [agent.as_deref(), task.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let label = if place.is_empty() {
                "error".to_string()
            } else {
                format!("error ({place})")
            };
            with_detail(label, message)
        }
        Event::RunFinished {
            stopped_by, totals, ..
        } => finished_line(state, *stopped_by, totals),
        Event::AgentStatus { .. }
        | Event::AgentMessage { .. }
        | Event::LlmCall { .. }
        | Event::ToolCall { .. } => return None,
    };
    Some(text)
}

/// The closing block: the answer, the points it cites, and what the run cost. Escaped like
/// every story line.
pub fn final_summary(state: &RunState) -> String {
    escape_controls(&summary_text(state))
}

fn summary_text(state: &RunState) -> String {
    let mut out = String::new();
    match &state.answer {
        Some(answer) => {
            out.push_str(&format!("Answer ({}):\n", outcome(state)));
            for line in answer.answer.trim().lines() {
                out.push_str(&format!("  {line}\n"));
            }
            if !answer.cited.is_empty() {
                out.push_str("Cited points:\n");
                for id in &answer.cited {
                    match state.point(id) {
                        Some(p) => out.push_str(&format!(
                            "  {id} {}: {}\n",
                            p.point.kind.as_str(),
                            one_line(&p.point.headline)
                        )),
                        None => out.push_str(&format!("  {id} (not in the log)\n")),
                    }
                }
            }
        }
        None => out.push_str(
            "INTERRUPTED, no answer: the log ends before the run finished (continue it with \
             `delm resume` on its session file).\n",
        ),
    }
    let done = state.count_tasks(|s| *s == TaskState::Done);
    let failed = state.count_tasks(|s| *s == TaskState::Failed);
    let agent_points = |status| {
        state
            .points
            .iter()
            .filter(|p| p.status == status && p.point.kind != PointKind::Constraint)
            .count()
    };
    let constraints = state
        .points
        .iter()
        .filter(|p| p.point.kind == PointKind::Constraint && p.status == PointStatus::Verified)
        .count();
    let t = &state.totals;
    out.push_str(&format!(
        "Tasks: {} ({done} done, {failed} failed) · points: {} verified, {} rejected · \
         constraints: {constraints}\n",
        state.tasks.len(),
        agent_points(PointStatus::Verified),
        agent_points(PointStatus::Rejected),
    ));
    let cached = crate::text::cached_share(t.tokens_cached_read, t.tokens_in)
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    out.push_str(&format!(
        "Calls: {} · tokens: {} in{cached} / {} out · {} · elapsed: {}\n",
        t.calls,
        format_tokens(t.tokens_in),
        format_tokens(t.tokens_out),
        format_cost(t),
        format_duration_ms(elapsed_ms(state)),
    ));
    out
}

/// The whole story of a recorded run: one line per interesting event, then the summary.
pub fn replay_story(events: &[Envelope]) -> String {
    let mut teller = StoryTeller::default();
    let mut out = String::new();
    for env in events {
        if let Some(line) = teller.tell(env) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.push_str(&teller.ending());
    out
}

/// [`replay_story`] one event at a time, for a log read as a stream: the lines come out as
/// the events go in, and only the folded state is kept.
#[derive(Default)]
pub struct StoryTeller {
    state: RunState,
    told: bool,
}

impl StoryTeller {
    /// The line `env` adds to the story, if any.
    pub fn tell(&mut self, env: &Envelope) -> Option<String> {
        let line = describe(env, &self.state);
        self.state.apply(env);
        self.told |= line.is_some();
        line
    }

    /// The closing summary (after a blank line when anything was told).
    pub fn ending(&self) -> String {
        let summary = final_summary(&self.state);
        if self.told {
            format!("\n{summary}")
        } else {
            summary
        }
    }
}

fn finished_line(state: &RunState, stopped_by: StoppedBy, totals: &Totals) -> String {
    let verified = state
        .points
        .iter()
        .filter(|p| p.status == PointStatus::Verified && p.point.kind != PointKind::Constraint)
        .count();
    format!(
        "run finished ({}): {} task{} · {verified} point{} verified · {} calls · {}",
        outcome_of(stopped_by),
        state.tasks.len(),
        plural(state.tasks.len()),
        plural(verified),
        totals.calls,
        format_cost(totals),
    )
}

/// The outcome a `run_finished` with this `stopped_by` gives (the event is not folded yet).
fn outcome_of(stopped_by: StoppedBy) -> RunOutcome {
    match stopped_by {
        StoppedBy::Completed => RunOutcome::Done,
        StoppedBy::Budget => RunOutcome::StoppedByBudget,
        StoppedBy::Cancelled => RunOutcome::Cancelled,
        StoppedBy::Error => RunOutcome::Failed,
    }
}

fn describe_mode(mode: &Mode) -> String {
    match mode {
        Mode::Plain => "plain".to_string(),
        Mode::Repo { root } => format!("repo {root}"),
        Mode::Docs { roots } => format!("docs {}", roots.join(", ")),
    }
}

/// A unit enum's serde name (`judge`, `evidence`, `off`), as the user typed it.
fn serde_plain(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn note_text(note: &Option<String>) -> &str {
    note.as_deref().unwrap_or("")
}

/// `head: detail…`, or just `head` when there is no detail.
fn with_detail(head: String, detail: &str) -> String {
    let detail = snippet(detail);
    if detail.is_empty() {
        head
    } else {
        format!("{head}: {detail}")
    }
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", snippet(text))
}

fn snippet(text: &str) -> String {
    let flat = one_line(text);
    if flat.chars().count() <= SNIPPET_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(SNIPPET_CHARS - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Time since the run's first event, as `mm:ss` (or `h:mm:ss` past an hour).
fn elapsed_label(state: &RunState, ts: &str) -> String {
    let ms = match (state.started_ts.as_deref().and_then(parse_ts), parse_ts(ts)) {
        (Some(start), Some(now)) => (now - start).whole_milliseconds().max(0) as u64,
        _ => 0,
    };
    format_clock(ms)
}

/// `mm:ss`, or `h:mm:ss` past an hour.
pub fn format_clock(ms: u64) -> String {
    let secs = ms / 1000;
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{:02}:{:02}", secs / 60, secs % 60)
    }
}

/// The engine's own measure when the run finished, else the span of the log's timestamps.
fn elapsed_ms(state: &RunState) -> u64 {
    if state.totals.elapsed_ms > 0 {
        return state.totals.elapsed_ms;
    }
    match (
        state.started_ts.as_deref().and_then(parse_ts),
        state.last_ts.as_deref().and_then(parse_ts),
    ) {
        (Some(start), Some(end)) => (end - start).whole_milliseconds().max(0) as u64,
        _ => 0,
    }
}

fn format_duration_ms(ms: u64) -> String {
    let secs = ms / 1000;
    if secs >= 3600 {
        format!("{}h{:02}m{:02}s", secs / 3600, secs / 60 % 60, secs % 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// `41.2k`, `3.9k`, `1.2M`; exact below a thousand.
pub fn format_tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

/// The run's cost as every front end shows it (see [`cost_text`]).
pub fn format_cost(t: &Totals) -> String {
    cost_text(t.cost_usd, t.calls, t.unpriced_calls)
}

/// The one rendering of a cost: `$0.021`, `<$0.001`, `cost unknown` when no call had a known
/// price (never a made-up `$0.000`), and `$0.021 + unknown` when only some had one.
pub fn cost_text(cost_usd: f64, calls: u64, unpriced_calls: u64) -> String {
    if calls > 0 && unpriced_calls >= calls {
        return UNKNOWN_COST.to_string();
    }
    let known = money(cost_usd);
    if unpriced_calls > 0 {
        format!("{known} + unknown")
    } else {
        known
    }
}

/// What an unknown cost reads as, everywhere.
pub const UNKNOWN_COST: &str = "cost unknown";

/// An amount of dollars: `<$0.001` below a tenth of a cent, three decimals below $10.
pub fn money(usd: f64) -> String {
    if usd > 0.0 && usd < 0.001 {
        "<$0.001".to_string()
    } else if usd < 10.0 {
        format!("${usd:.3}")
    } else {
        format!("${usd:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AgentStatus, Budgets, Evidence, Point, VerifyMode};

    fn at(seq: u64, secs: u64, event: Event) -> Envelope {
        Envelope {
            seq,
            ts: format!("2026-05-01T09:{:02}:{:02}.250Z", secs / 60, secs % 60),
            event,
        }
    }

    fn point(id: &str, kind: PointKind, author: &str, task: &str, headline: &str) -> Point {
        Point {
            id: id.into(),
            kind,
            headline: headline.into(),
            summary: "summary".into(),
            evidence: vec![Evidence {
                source: "src/lex.rs".into(),
                lines: Some("141-150".into()),
                quote: "fn skip_ws".into(),
                resolved: None,
            }],
            author: author.into(),
            task: Some(task.into()),
            supersedes: None,
        }
    }

    fn run_started() -> Event {
        Event::RunStarted {
            run_id: "20260501-090000-ab12".into(),
            goal: "Why does the parser drop trailing comments?".into(),
            mode: Mode::Repo {
                root: "/src/myproj".into(),
            },
            model: "openai:gpt-4.1-mini".into(),
            agents: 3,
            verify: VerifyMode::Judge,
            budgets: Budgets::default(),
            coordination: crate::event::Coordination::Delm,
            endpoint: None,
        }
    }

    fn llm_call(agent: &str, purpose: CallPurpose, cost: Option<f64>) -> Event {
        Event::LlmCall {
            agent: agent.into(),
            task: None,
            purpose,
            model: "gpt-4.1-mini".into(),
            tokens_in: 20_600,
            tokens_out: 1_950,
            tokens_cached_read: 0,
            tokens_cache_write: 0,
            cost_usd: cost,
            latency_ms: 900,
        }
    }

    fn finished_run() -> Vec<Envelope> {
        vec![
            at(1, 0, run_started()),
            at(
                2,
                0,
                Event::TaskAdded {
                    task: "T1".into(),
                    title: "plan".into(),
                    detail: String::new(),
                    origin: Origin::Initial,
                },
            ),
            at(
                3,
                1,
                Event::TaskClaimed {
                    task: "T1".into(),
                    agent: "a1".into(),
                    attempt: 1,
                },
            ),
            at(
                4,
                2,
                Event::AgentStatus {
                    agent: "a1".into(),
                    status: AgentStatus::Working,
                    task: Some("T1".into()),
                },
            ),
            at(5, 4, llm_call("a1", CallPurpose::Work, Some(0.0105))),
            at(
                6,
                5,
                Event::TaskAdded {
                    task: "T2".into(),
                    title: "check lexer state".into(),
                    detail: "look at skip_ws".into(),
                    origin: Origin::Agent { agent: "a1".into() },
                },
            ),
            at(
                7,
                6,
                Event::TaskFinished {
                    task: "T1".into(),
                    agent: "a1".into(),
                    outcome: TaskOutcome::Done,
                    result: "split into one task:\nthe lexer".into(),
                },
            ),
            at(
                8,
                12,
                Event::TaskClaimed {
                    task: "T2".into(),
                    agent: "a2".into(),
                    attempt: 1,
                },
            ),
            at(
                9,
                15,
                Event::PointProposed {
                    point: point(
                        "P1",
                        PointKind::Finding,
                        "a2",
                        "T2",
                        "comments are dropped in Lexer::skip_ws because the peek buffer is \
                         cleared before the comment token is emitted",
                    ),
                },
            ),
            at(
                10,
                16,
                Event::PointVerified {
                    point: "P1".into(),
                    note: Some("quote found".into()),
                    evidence: None,
                },
            ),
            at(
                11,
                16,
                Event::PointProposed {
                    point: point(
                        "P2",
                        PointKind::Finding,
                        "a2",
                        "T2",
                        "the parser never sees comments",
                    ),
                },
            ),
            at(
                12,
                17,
                Event::PointRejected {
                    point: "P2".into(),
                    reason: "quote not found in src/parse.rs:10-20".into(),
                },
            ),
            at(
                13,
                20,
                Event::LlmRetry {
                    agent: "a2".into(),
                    attempt: 2,
                    delay_ms: 2000,
                    reason: "HTTP 429".into(),
                },
            ),
            at(
                14,
                30,
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
            ),
            at(
                15,
                40,
                Event::TaskFinished {
                    task: "T2".into(),
                    agent: "a2".into(),
                    outcome: TaskOutcome::Done,
                    result: "found it".into(),
                },
            ),
            at(16, 62, Event::FinaliseStarted { agent: "a2".into() }),
            at(17, 70, llm_call("a2", CallPurpose::Finalise, None)),
            at(
                18,
                71,
                Event::RunFinished {
                    answer: "Lexer::skip_ws clears the peek buffer before emitting the comment \
                             token (P1).\nFix: emit first, then clear."
                        .into(),
                    cited: vec!["P1".into()],
                    stopped_by: StoppedBy::Completed,
                    totals: Totals {
                        calls: 2,
                        tokens_in: 41_200,
                        tokens_out: 3_900,
                        cost_usd: 0.0105,
                        unpriced_calls: 1,
                        elapsed_ms: 71_000,
                        ..Totals::default()
                    },
                },
            ),
        ]
    }

    #[test]
    fn story_of_a_finished_run() {
        insta::assert_snapshot!(replay_story(&finished_run()));
    }

    #[test]
    fn interrupted_run_says_how_to_continue() {
        let mut events = finished_run();
        events.truncate(12);
        let story = replay_story(&events);
        insta::assert_snapshot!(story);
    }

    #[test]
    fn requeue_and_late_finish_read_as_what_happened() {
        let mut events = finished_run();
        events.truncate(8);
        events.push(at(
            9,
            20,
            Event::TaskRequeued {
                task: "T2".into(),
                by: HUMAN.into(),
                note: Some("look at the parser instead".into()),
            },
        ));
        events.push(at(
            10,
            21,
            Event::TaskFinished {
                task: "T2".into(),
                agent: "a2".into(),
                outcome: TaskOutcome::Failed,
                result: "cancelled".into(),
            },
        ));
        events.push(at(
            11,
            25,
            Event::TaskClaimed {
                task: "T2".into(),
                agent: "a3".into(),
                attempt: 2,
            },
        ));
        let lines: Vec<String> = {
            let mut state = RunState::default();
            events
                .iter()
                .filter_map(|e| {
                    let line = describe(e, &state);
                    state.apply(e);
                    line
                })
                .collect()
        };
        assert_eq!(
            &lines[lines.len() - 3..],
            [
                "[00:20] T2 requeued by human: look at the parser instead",
                "[00:21] a2 stopped working on T2",
                "[00:25] a3 claimed T2 \"check lexer state\" (attempt 2)",
            ]
        );
    }

    #[test]
    fn noise_is_skipped_and_long_text_is_cut() {
        let state = RunState::default();
        let status = at(
            1,
            0,
            Event::AgentStatus {
                agent: "a1".into(),
                status: AgentStatus::Idle,
                task: None,
            },
        );
        assert_eq!(describe(&status, &state), None);
        let long = "word ".repeat(40);
        let rejected = at(
            2,
            0,
            Event::PointRejected {
                point: "P9".into(),
                reason: long,
            },
        );
        let line = describe(&rejected, &state).unwrap();
        assert!(line.ends_with('…'), "{line}");
        let head = "[00:00] P9 rejected: ";
        assert_eq!(line.chars().count(), head.len() + SNIPPET_CHARS, "{line}");
    }

    #[test]
    fn cost_reads_as_unknown_only_when_nothing_was_priced() {
        let mut t = Totals {
            calls: 3,
            unpriced_calls: 3,
            ..Totals::default()
        };
        assert_eq!(format_cost(&t), "cost unknown");
        t.unpriced_calls = 0;
        t.cost_usd = 0.0213;
        assert_eq!(format_cost(&t), "$0.021");
        t.cost_usd = 0.0004;
        assert_eq!(format_cost(&t), "<$0.001");
        assert_eq!(format_clock(3_723_000), "1:02:03");
        assert_eq!(format_tokens(41_234), "41.2k");
    }

    #[test]
    fn model_written_text_cannot_drive_the_terminal() {
        let mut events = finished_run();
        let hostile = "cleared\u{1b}[2J and copied\u{1b}]52;c;cm0gLXJmIH4=\u{7}";
        if let Event::PointProposed { point } = &mut events[8].event {
            point.headline = hostile.into();
        }
        if let Event::RunFinished { answer, .. } = &mut events[17].event {
            answer.push_str(hostile);
        }
        let story = replay_story(&events);
        assert!(
            !story.contains('\u{1b}') && !story.contains('\u{7}'),
            "{story:?}"
        );
        assert!(story.contains("cleared^[[2J and copied^[]52;c;cm0gLXJmIH4=^G"));
    }
}
