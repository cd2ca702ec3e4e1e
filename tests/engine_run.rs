//! The engine end to end, in process, against the scripted mock server on loopback: shared
//! context between agents, verification, retries, both wire formats, and the human controls.

mod support;
mod swarm;

use delm::engine::{EngineHandle, RunBuilder, RunConfig, tools};
use delm::event::{
    AgentStatus, Envelope, Event, Mode, PointStatus, RunState, StoppedBy, TaskState, VerifyMode,
};
use delm::llm::config::{ProviderConfig, ProviderKind, Secret};
use delm::llm::retry::{RetryPolicy, RetryingProvider};
use delm::llm::{ChatRequest, ChatResponse, DeltaSink, LlmError, Provider};
use delm::session::{SessionWriter, read_session};
use futures_util::future::BoxFuture;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{MockLlm, RecordedRequest, Reply, Wire};
use swarm::*;

const KEY: &str = "sk-test-DO-NOT-LEAK-7f3a9c";

struct Run {
    handle: EngineHandle,
    session: PathBuf,
    _dir: tempfile::TempDir,
}

fn docs_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("alpha.txt"),
        "Annual report of Alpha Corp.\n\nAlpha Corp 2024 revenue was 12.5 million dollars, up \
from 10.1 million in 2023.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("beta.txt"),
        "Beta Ltd yearly summary.\n\nBeta Ltd 2024 revenue was 9.8 million dollars.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("gamma.txt"),
        "Gamma notes.\n\nGamma did not publish revenue figures for 2024.\n",
    )
    .unwrap();
    dir
}

fn start(mock: &MockLlm, wire: Wire, mode: Mode, agents: usize, verify: VerifyMode) -> Run {
    start_with(mock, wire, mode, agents, verify, |_| {})
}

fn start_with(
    mock: &MockLlm,
    wire: Wire,
    mode: Mode,
    agents: usize,
    verify: VerifyMode,
    tweak: impl FnOnce(&mut RunConfig),
) -> Run {
    start_wrapped(mock, wire, mode, agents, verify, tweak, |p| p)
}

/// [`start_with`], with the provider wrapped (to inject faults the HTTP server cannot).
fn start_wrapped(
    mock: &MockLlm,
    wire: Wire,
    mode: Mode,
    agents: usize,
    verify: VerifyMode,
    tweak: impl FnOnce(&mut RunConfig),
    wrap: impl FnOnce(Arc<dyn Provider>) -> Arc<dyn Provider>,
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("session.jsonl");
    let kind = match wire {
        Wire::OpenAi | Wire::Ollama => ProviderKind::OpenAi,
        Wire::Anthropic => ProviderKind::Anthropic,
        Wire::Responses => unreachable!("delm's agents do not speak the Responses wire"),
    };
    let mut pc = ProviderConfig::new(kind, "test-model", mock.base_url.clone());
    pc.api_key = Some(Secret::new(KEY));
    let policy = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_concurrency: 8,
        ..RetryPolicy::default()
    };
    let llm = Arc::new(RetryingProvider::new(
        wrap(delm::llm::build_provider(pc)),
        policy,
    ));
    let mut cfg = RunConfig::new(
        "Which vendor had the higher 2024 revenue?",
        mode.clone(),
        "openai:test-model",
    );
    cfg.agents = agents;
    cfg.verify = verify;
    cfg.max_turns_per_task = 8;
    tweak(&mut cfg);
    let price: delm::engine::PriceFn =
        Arc::new(|u: delm::llm::Usage| Some((u.input_tokens + u.output_tokens) as f64 * 1e-6));
    let writer = SessionWriter::create(&session).unwrap();
    let handle = RunBuilder::new(cfg, llm, price, tools::open(&mode).unwrap())
        .sink(Box::new(writer))
        .start()
        .unwrap();
    Run {
        handle,
        session,
        _dir: dir,
    }
}

async fn run_to_end(run: &Run) -> RunState {
    tokio::time::timeout(Duration::from_secs(60), run.handle.wait())
        .await
        .expect("the run did not finish within 60 s")
}

fn events(path: &Path) -> Vec<Envelope> {
    read_session(path).unwrap().events
}

/// Doc name a docs-mode task is about, from its task line.
fn doc_of(req: &RecordedRequest) -> &'static str {
    let line = task_line(req);
    ["alpha.txt", "beta.txt", "gamma.txt"]
        .into_iter()
        .find(|d| line.contains(d))
        .unwrap_or("")
}

/// A cooperative docs agent: alpha records a cited finding, beta first searches (slowly) and
/// then records its own, gamma records a failure.
fn docs_script(req: &RecordedRequest, _n: usize) -> Reply {
    if is_judge(req) {
        return approve();
    }
    if is_finalise(req) {
        return final_answer(
            req,
            "Alpha Corp had the higher 2024 revenue (12.5M vs 9.8M).",
        );
    }
    let turn = assistant_turns(req);
    match (doc_of(req), turn) {
        ("alpha.txt", 0) => record(
            "finding",
            "Alpha Corp 2024 revenue was 12.5 million dollars",
            "alpha.txt",
            "Alpha Corp 2024 revenue was 12.5 million dollars",
        ),
        ("beta.txt", 0) => Reply::Delay(
            Duration::from_millis(600),
            Box::new(Reply::Tools(vec![(
                "search_docs".into(),
                json!({"query": "Beta 2024 revenue"}),
            )])),
        ),
        ("beta.txt", 1) => record(
            "finding",
            "Beta Ltd 2024 revenue was 9.8 million dollars",
            "beta.txt",
            "Beta Ltd 2024 revenue was 9.8 million dollars",
        ),
        ("gamma.txt", 0) => record(
            "failure",
            "Gamma publishes no 2024 revenue; looking for it there is a dead end",
            "",
            "",
        ),
        _ => finish("done; see my points"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_point_from_one_agent_reaches_another_agents_prompt() {
    let docs = docs_dir();
    let mock = MockLlm::start(Wire::OpenAi, docs_script).await;
    let mode = Mode::Docs {
        roots: vec![docs.path().to_string_lossy().into_owned()],
    };
    let run = start(&mock, Wire::OpenAi, mode, 3, VerifyMode::Evidence);
    let state = run_to_end(&run).await;
    let answer = state.answer.clone().expect("answer");
    assert_eq!(answer.stopped_by, StoppedBy::Completed);
    assert!(answer.answer.contains("Alpha Corp"));

    let alpha = state
        .points
        .iter()
        .find(|p| p.point.headline.contains("Alpha Corp 2024"))
        .expect("alpha point proposed");
    assert_eq!(alpha.status, PointStatus::Verified, "{:?}", alpha.note);
    let alpha_line = format!("{} [finding] Alpha Corp 2024 revenue", alpha.point.id);
    let author = alpha.point.author.clone();
    // Another agent's later request carries the point (task message or context update).
    let seen_by_other = mock.requests().iter().any(|r| {
        !is_judge(r)
            && agent_of(r).is_some_and(|a| a != author)
            && r.prompt_text().contains(&alpha_line)
    });
    assert!(seen_by_other, "no other agent saw {alpha_line}");
    // The gamma failure is shared too.
    let failure = state
        .points
        .iter()
        .find(|p| p.point.headline.starts_with("Gamma publishes no"))
        .unwrap();
    assert_eq!(failure.status, PointStatus::Verified);
    let failure_line = format!("{} [failure]", failure.point.id);
    assert!(
        mock.requests()
            .iter()
            .any(|r| agent_of(r).is_some_and(|a| a != failure.point.author)
                && r.prompt_text().contains(&failure_line)),
        "the failure point never reached another agent"
    );
    // The answer cites verified points, and the session log matches the live state.
    assert!(!answer.cited.is_empty());
    let replayed = RunState::from_events(events(&run.session).iter());
    assert_eq!(replayed.answer, state.answer);
    assert_eq!(replayed.points.len(), state.points.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolvable_quote_is_rejected_and_never_shared() {
    let docs = docs_dir();
    let bogus = "Alpha Corp 2024 revenue was 99 million dollars";
    let mock = MockLlm::start(Wire::OpenAi, move |req: &RecordedRequest, _| {
        if is_finalise(req) {
            return final_answer(req, "Unclear.");
        }
        match (doc_of(req), assistant_turns(req)) {
            ("alpha.txt", 0) => record("finding", bogus, "alpha.txt", bogus),
            (_, 0) => Reply::Delay(
                Duration::from_millis(300),
                Box::new(Reply::Tools(vec![(
                    "search_docs".into(),
                    json!({"query": "revenue"}),
                )])),
            ),
            (_, 1) => Reply::Tools(vec![("search_docs".into(), json!({"query": "2024"}))]),
            _ => finish("nothing more"),
        }
    })
    .await;
    let mode = Mode::Docs {
        roots: vec![docs.path().to_string_lossy().into_owned()],
    };
    let run = start(&mock, Wire::OpenAi, mode, 3, VerifyMode::Evidence);
    let state = run_to_end(&run).await;
    let p = state
        .points
        .iter()
        .find(|p| p.point.headline == bogus)
        .unwrap();
    assert_eq!(p.status, PointStatus::Rejected);
    assert!(
        p.note.as_deref().unwrap_or("").contains("quote"),
        "{:?}",
        p.note
    );
    // Only the author's own task conversation ever mentions it.
    let author_task = p.point.task.clone().unwrap();
    for r in mock.requests() {
        if r.prompt_text().contains(bogus) {
            assert_eq!(task_of(&r).as_deref(), Some(author_task.as_str()));
        }
    }
    // The author was told why.
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.prompt_text().contains("was REJECTED"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judge_mode_asks_the_judge_and_honours_a_reject() {
    let docs = docs_dir();
    let mock = MockLlm::start(Wire::OpenAi, |req: &RecordedRequest, _| {
        if is_judge(req) {
            // Reject the beta claim, approve the rest: the verdict must follow the judge.
            return if req.prompt_text().contains("Beta Ltd") {
                Reply::Text(r#"{"verdict":"reject","reason":"qualifier missing"}"#.into())
            } else {
                approve()
            };
        }
        docs_script(req, 0)
    })
    .await;
    let mode = Mode::Docs {
        roots: vec![docs.path().to_string_lossy().into_owned()],
    };
    let run = start(&mock, Wire::OpenAi, mode, 2, VerifyMode::Judge);
    let state = run_to_end(&run).await;
    let status = |needle: &str| {
        state
            .points
            .iter()
            .find(|p| p.point.headline.contains(needle))
            .map(|p| p.status)
    };
    assert_eq!(status("Alpha Corp"), Some(PointStatus::Verified));
    assert_eq!(status("Beta Ltd"), Some(PointStatus::Rejected));
    let judge_calls = events(&run.session)
        .iter()
        .filter(|e| matches!(&e.event, Event::LlmCall { purpose, .. } if *purpose == delm::event::CallPurpose::Judge))
        .count();
    assert!(
        judge_calls >= 2,
        "judge calls are counted like any other: {judge_calls}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_of_one_turn_are_judged_in_one_call() {
    let docs = docs_dir();
    let mock = MockLlm::start(Wire::OpenAi, |req: &RecordedRequest, _| {
        if is_judge(req) {
            // Every point id the batch shows, approved, in the batch answer form.
            let text = req.prompt_text();
            let ids: Vec<String> = (1..=9)
                .map(|n| format!("P{n}"))
                .filter(|id| text.contains(id.as_str()))
                .collect();
            let verdicts: Vec<_> = ids
                .iter()
                .map(|id| json!({"point": id, "verdict": "approve", "reason": "quoted"}))
                .collect();
            return Reply::Text(json!({ "verdicts": verdicts }).to_string());
        }
        if is_finalise(req) {
            return final_answer(req, "Alpha Corp had the higher 2024 revenue.");
        }
        match (doc_of(req), assistant_turns(req)) {
            // Three points in one turn.
            ("alpha.txt", 0) => Reply::Tools(
                [
                    "Alpha Corp 2024 revenue was 12.5 million dollars",
                    "up from 10.1 million in 2023",
                    "Annual report of Alpha Corp",
                ]
                .iter()
                .map(|quote| {
                    (
                        "record_point".to_string(),
                        json!({"kind": "finding", "headline": quote, "summary": quote,
                               "evidence": [{"source": "alpha.txt", "quote": quote}]}),
                    )
                })
                .collect(),
            ),
            _ => finish("done"),
        }
    })
    .await;
    let mode = Mode::Docs {
        roots: vec![docs.path().to_string_lossy().into_owned()],
    };
    let run = start(&mock, Wire::OpenAi, mode, 1, VerifyMode::Judge);
    let state = run_to_end(&run).await;
    let verified = state
        .points
        .iter()
        .filter(|p| p.status == PointStatus::Verified)
        .count();
    assert_eq!(verified, 3, "every point of the turn is verified");
    let judge_requests = mock.requests().iter().filter(|r| is_judge(r)).count();
    assert_eq!(
        judge_requests, 1,
        "one judge call for the turn's three points"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_429_500_and_cut_stream_then_succeeds() {
    let mock = MockLlm::start(Wire::OpenAi, |req: &RecordedRequest, n| match n {
        0 => Reply::Status {
            code: 429,
            headers: vec![("Retry-After".into(), "1".into())],
            body: r#"{"error":{"message":"rate limited"}}"#.into(),
        },
        1 => Reply::Status {
            code: 500,
            headers: vec![],
            body: r#"{"error":{"message":"boom"}}"#.into(),
        },
        2 => Reply::CutStream("The answer is".into()),
        _ if is_finalise(req) => Reply::Text("Final: 42.".into()),
        _ => Reply::Text("The answer is 42.".into()),
    })
    .await;
    let run = start(&mock, Wire::OpenAi, Mode::Plain, 1, VerifyMode::Evidence);
    let state = run_to_end(&run).await;
    assert_eq!(
        state.answer.as_ref().unwrap().stopped_by,
        StoppedBy::Completed
    );
    let retries: Vec<(u32, u64)> = events(&run.session)
        .iter()
        .filter_map(|e| match &e.event {
            Event::LlmRetry {
                attempt, delay_ms, ..
            } => Some((*attempt, *delay_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 3, "{retries:?}");
    assert!(retries[0].1 >= 1000, "Retry-After: 1 honoured: {retries:?}");
    assert_eq!(state.retries, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_wire_end_to_end() {
    let docs = docs_dir();
    let mock = MockLlm::start(Wire::Anthropic, docs_script).await;
    let mode = Mode::Docs {
        roots: vec![docs.path().to_string_lossy().into_owned()],
    };
    let run = start(&mock, Wire::Anthropic, mode, 2, VerifyMode::Judge);
    let state = run_to_end(&run).await;
    let answer = state.answer.clone().unwrap();
    assert_eq!(answer.stopped_by, StoppedBy::Completed);
    assert!(answer.answer.contains("Alpha Corp"));
    let reqs = mock.requests();
    assert!(reqs.iter().all(|r| r.path.ends_with("/messages")));
    assert!(reqs.iter().all(|r| r.header("x-api-key") == Some(KEY)));
    assert!(state.count_points(None, PointStatus::Verified) >= 2);
    assert!(state.totals.tokens_in > 0 && state.totals.tokens_out > 0);
}

/// A slow, endless-ish worker: each task takes several tool turns.
fn slow_script(req: &RecordedRequest, _n: usize) -> Reply {
    if is_finalise(req) {
        return final_answer(req, "done");
    }
    if let Some(task) = task_of(req)
        && task == "T1"
        && assistant_turns(req) == 0
    {
        return Reply::Tools(vec![
            (
                "add_task".into(),
                json!({"title": "look at part one", "detail": ""}),
            ),
            (
                "add_task".into(),
                json!({"title": "look at part two", "detail": ""}),
            ),
            ("finish_task".into(), json!({"result": "split in two"})),
        ]);
    }
    if assistant_turns(req) < 4 {
        Reply::Delay(
            Duration::from_millis(150),
            Box::new(Reply::Tools(vec![(
                "expand".into(),
                json!({"point": "P1", "level": "summary"}),
            )])),
        )
    } else {
        finish("looked")
    }
}

async fn wait_for(run: &Run, what: &str, pred: impl Fn(&RunState) -> bool) -> RunState {
    for _ in 0..400 {
        let s = run.handle.snapshot();
        if pred(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_model_calls_until_resume() {
    let mock = MockLlm::start(Wire::OpenAi, slow_script).await;
    let run = start(&mock, Wire::OpenAi, Mode::Plain, 2, VerifyMode::Evidence);
    wait_for(&run, "two working agents", |s| {
        s.count_tasks(|t| matches!(t, TaskState::Claimed { .. })) == 2
    })
    .await;
    run.handle.pause();
    // PAUSED: the pause is logged and no agent is mid-step any more.
    wait_for(&run, "PAUSED", |s| {
        s.paused
            && !s.agents.values().any(|a| {
                matches!(
                    a.status,
                    AgentStatus::Working
                        | AgentStatus::Verifying
                        | AgentStatus::Retrying
                        | AgentStatus::Finalising
                )
            })
    })
    .await;
    let calls = mock.call_count();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        mock.call_count(),
        calls,
        "a model call was made while paused"
    );
    run.handle.resume();
    let state = run_to_end(&run).await;
    assert_eq!(state.answer.unwrap().stopped_by, StoppedBy::Completed);
    assert!(mock.call_count() > calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_constraint_reaches_every_working_agent_next_request() {
    let mock = MockLlm::start(Wire::OpenAi, slow_script).await;
    let run = start(&mock, Wire::OpenAi, Mode::Plain, 2, VerifyMode::Evidence);
    let s = wait_for(&run, "two working agents", |s| {
        s.count_tasks(|t| matches!(t, TaskState::Claimed { .. })) == 2
    })
    .await;
    let working: Vec<String> = s
        .agents
        .values()
        .filter(|a| a.status == AgentStatus::Working)
        .map(|a| a.id.clone())
        .collect();
    let before = mock.call_count();
    run.handle.inject_constraint("Do not touch the public API");
    let state = run_to_end(&run).await;
    let c = state
        .points
        .iter()
        .find(|p| p.point.id == "C1")
        .expect("constraint point");
    assert_eq!(c.status, PointStatus::Verified);
    let reqs = mock.requests();
    for agent in working {
        let next_work = reqs[before..]
            .iter()
            .filter(|r| agent_of(r).as_deref() == Some(agent.as_str()))
            .find(|r| assistant_turns(r) > 0 || is_finalise(r));
        let next_work = next_work.unwrap_or_else(|| panic!("{agent} made no later request"));
        assert!(
            next_work
                .prompt_text()
                .contains("Do not touch the public API"),
            "{agent}'s next request lacks the constraint"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeued_task_is_claimed_again() {
    let mock = MockLlm::start(Wire::OpenAi, slow_script).await;
    let run = start(&mock, Wire::OpenAi, Mode::Plain, 1, VerifyMode::Evidence);
    let s = wait_for(&run, "T2 claimed", |s| {
        s.task("T2")
            .is_some_and(|t| matches!(t.state, TaskState::Claimed { .. }))
    })
    .await;
    assert_eq!(s.task("T2").unwrap().attempts, 1);
    run.handle
        .requeue("T2", Some("try again, more carefully".into()));
    let state = run_to_end(&run).await;
    let t2 = state.task("T2").unwrap();
    assert_eq!(t2.state, TaskState::Done);
    assert_eq!(t2.attempts, 2);
    assert_eq!(t2.note.as_deref(), Some("try again, more carefully"));
    // The second attempt's prompt carries the human's note.
    assert!(mock.requests().iter().any(|r| {
        task_of(r).as_deref() == Some("T2")
            && r.prompt_text()
                .contains("Note from the human: try again, more carefully")
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tool_arguments_get_an_error_message_not_a_crash() {
    let mock = MockLlm::start(Wire::OpenAi, |req: &RecordedRequest, _| {
        if is_finalise(req) {
            return Reply::Text("answer anyway".into());
        }
        match assistant_turns(req) {
            0 => Reply::RawTools(vec![(
                "record_point".into(),
                "{\"kind\": \"finding\", ".into(),
            )]),
            _ => finish("ok"),
        }
    })
    .await;
    let run = start(&mock, Wire::OpenAi, Mode::Plain, 1, VerifyMode::Evidence);
    let state = run_to_end(&run).await;
    assert_eq!(state.answer.unwrap().answer, "answer anyway");
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.prompt_text().contains("not valid JSON"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_budget_stops_claiming_and_finalises() {
    let mock = MockLlm::start(Wire::OpenAi, slow_script).await;
    let run = start_with(
        &mock,
        Wire::OpenAi,
        Mode::Plain,
        1,
        VerifyMode::Evidence,
        |cfg| {
            cfg.budgets.max_tokens = Some(1);
        },
    );
    let state = run_to_end(&run).await;
    let answer = state.answer.unwrap();
    assert_eq!(answer.stopped_by, StoppedBy::Budget);
    // After the first call nothing more was claimed: one work call, then the finalise call.
    let purposes: Vec<delm::event::CallPurpose> = events(&run.session)
        .iter()
        .filter_map(|e| match &e.event {
            Event::LlmCall { purpose, .. } => Some(*purpose),
            _ => None,
        })
        .collect();
    assert_eq!(
        purposes,
        vec![
            delm::event::CallPurpose::Work,
            delm::event::CallPurpose::Finalise
        ]
    );
    assert!(mock.requests().last().map(is_finalise).unwrap_or(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_add_task_and_agent_count_are_events_the_swarm_follows() {
    let mock = MockLlm::start(Wire::OpenAi, slow_script).await;
    let run = start(&mock, Wire::OpenAi, Mode::Plain, 1, VerifyMode::Evidence);
    wait_for(&run, "T2 and T3 added", |s| s.tasks.len() >= 3).await;
    run.handle.cancel_task("T3", Some("not needed".into()));
    run.handle.add_task("human task", "look at part three");
    run.handle.set_agents(3);
    let s = wait_for(&run, "three agents", |s| {
        s.agents.keys().filter(|a| a.starts_with('a')).count() >= 3
    })
    .await;
    assert_eq!(s.desired_agents, 3);
    run.handle.set_agents(1);
    let state = run_to_end(&run).await;
    assert_eq!(
        state.answer.clone().unwrap().stopped_by,
        StoppedBy::Completed
    );
    let t3 = state.task("T3").unwrap();
    assert_eq!(t3.state, TaskState::Cancelled);
    assert_eq!(t3.note.as_deref(), Some("not needed"));
    let human = state
        .tasks
        .iter()
        .find(|t| t.title == "human task")
        .expect("the human's task");
    assert_eq!(human.origin, delm::event::Origin::Human);
    assert_eq!(human.state, TaskState::Done);
    let kinds: Vec<&str> = events(&run.session)
        .iter()
        .map(|e| e.event.type_name())
        .collect();
    assert!(kinds.contains(&"task_cancelled"));
    assert_eq!(kinds.iter().filter(|k| **k == "agents_changed").count(), 2);
    // No cancelled task was worked on after the cancel.
    assert!(
        !mock
            .requests()
            .iter()
            .any(|r| task_of(r).as_deref() == Some("T3") && r.prompt_text().contains("not needed"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_and_time_budgets_finalise_early() {
    let mock = MockLlm::start(Wire::OpenAi, slow_script).await;
    // Calls cost a millionth of a dollar per token here: one call spends the budget.
    let run = start_with(
        &mock,
        Wire::OpenAi,
        Mode::Plain,
        1,
        VerifyMode::Evidence,
        |cfg| {
            cfg.budgets.max_cost_usd = Some(0.000_01);
        },
    );
    let state = run_to_end(&run).await;
    assert_eq!(state.answer.unwrap().stopped_by, StoppedBy::Budget);

    let slower = MockLlm::start(Wire::OpenAi, |req: &RecordedRequest, n| {
        Reply::Delay(Duration::from_millis(400), Box::new(slow_script(req, n)))
    })
    .await;
    let run = start_with(
        &slower,
        Wire::OpenAi,
        Mode::Plain,
        2,
        VerifyMode::Evidence,
        |cfg| {
            cfg.budgets.time_limit_secs = Some(1);
        },
    );
    let state = run_to_end(&run).await;
    let answer = state.answer.clone().unwrap();
    assert_eq!(answer.stopped_by, StoppedBy::Budget);
    assert!(
        state
            .budget_reached
            .as_deref()
            .is_some_and(|w| w.contains("time limit"))
    );
    assert!(
        state.errors.is_empty(),
        "a budget stop is not an error: {:?}",
        state.errors
    );
    // Unfinished work is back in the queue, not silently dropped.
    assert!(state.tasks.iter().any(|t| t.state == TaskState::Queued));
}

/// A provider whose first work call panics inside the agent's task (a bug in a provider
/// adapter, a tool, the agent loop itself: anything that unwinds an agent).
struct PanicsOnce {
    inner: Arc<dyn Provider>,
    calls: AtomicUsize,
}

impl Provider for PanicsOnce {
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("injected panic in the first model call");
        }
        self.inner.chat(req, on_delta)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_panics_mid_task_hands_its_task_back_and_the_run_ends() {
    let docs = docs_dir();
    let mock = MockLlm::start(Wire::OpenAi, docs_script).await;
    let mode = Mode::Docs {
        roots: vec![docs.path().to_string_lossy().into_owned()],
    };
    let run = start_wrapped(
        &mock,
        Wire::OpenAi,
        mode,
        2,
        VerifyMode::Evidence,
        |_| {},
        |inner| {
            Arc::new(PanicsOnce {
                inner,
                calls: AtomicUsize::new(0),
            })
        },
    );
    let state = run_to_end(&run).await;
    assert_eq!(
        state.answer.as_ref().map(|a| a.stopped_by),
        Some(StoppedBy::Completed),
        "the run must end with an answer"
    );
    assert!(
        state
            .errors
            .iter()
            .any(|e| e.contains("crashed") && e.contains("injected panic")),
        "the crash is an error event: {:?}",
        state.errors
    );
    let log = events(&run.session);
    let requeued = log.iter().any(|e| {
        matches!(&e.event, Event::TaskRequeued { note: Some(n), .. } if n.contains("injected panic"))
    });
    assert!(requeued, "the crashed agent's task went back to the queue");
    // Every task still finished, none twice.
    for t in &state.tasks {
        assert_eq!(t.state, TaskState::Done, "{} ended {:?}", t.id, t.state);
    }
}

/// One document task whose model records a point and finishes in the same turn. The first
/// time its quote is wrong: the task must stay open and the model must hear why.
fn record_and_finish_script(req: &RecordedRequest, _n: usize) -> Reply {
    if is_judge(req) {
        return approve();
    }
    if is_finalise(req) {
        return final_answer(req, "Alpha Corp reported 12.5 million.");
    }
    let turns = assistant_turns(req);
    let quote = if turns == 0 {
        "Alpha Corp 2024 revenue was 99 million dollars"
    } else {
        "Alpha Corp 2024 revenue was 12.5 million dollars"
    };
    Reply::Tools(vec![
        (
            "record_point".into(),
            json!({"kind": "finding", "headline": "Alpha Corp 2024 revenue was 12.5 million",
                   "summary": "From the annual report.",
                   "evidence": [{"source": "alpha.txt", "quote": quote}]}),
        ),
        (
            "finish_task".into(),
            json!({"result": "recorded the revenue"}),
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_point_keeps_a_record_and_finish_turn_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("alpha.txt"),
        "Alpha Corp 2024 revenue was 12.5 million dollars, up from 10.1 million in 2023.\n",
    )
    .unwrap();
    let mock = MockLlm::start(Wire::OpenAi, record_and_finish_script).await;
    let mode = Mode::Docs {
        roots: vec![dir.path().to_string_lossy().into_owned()],
    };
    let run = start(&mock, Wire::OpenAi, mode, 1, VerifyMode::Evidence);
    let state = run_to_end(&run).await;
    let points: Vec<_> = state
        .points
        .iter()
        .map(|p| (p.point.id.clone(), p.status))
        .collect();
    assert_eq!(
        points,
        vec![
            ("P1".to_string(), PointStatus::Rejected),
            ("P2".to_string(), PointStatus::Verified)
        ],
        "the first quote is not in the document, the second is"
    );
    let task = &state.tasks[0];
    assert_eq!(task.state, TaskState::Done);
    assert_eq!(task.attempts, 1, "the task stayed open: no second claim");
    // The model was told the finish did not happen, and why.
    let second = mock
        .requests()
        .into_iter()
        .find(|r| !is_judge(r) && !is_finalise(r) && assistant_turns(r) == 1)
        .expect("a second work turn");
    let text = second.prompt_text();
    assert!(text.contains("finish_task was not performed"), "{text}");
    assert!(text.contains("P1 was REJECTED"), "{text}");
    // One proposal per turn: the finish of the second turn went through.
    let finished = events(&run.session)
        .iter()
        .filter(|e| matches!(e.event, Event::TaskFinished { .. }))
        .count();
    assert_eq!(finished, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_text_reply_gets_one_reminder_before_it_becomes_the_result() {
    let mock = MockLlm::start(Wire::OpenAi, |req: &RecordedRequest, _| {
        if is_judge(req) {
            return approve();
        }
        if is_finalise(req) {
            return Reply::text("The answer is in the task result.");
        }
        Reply::text("I think the answer is forty-two.")
    })
    .await;
    let run = start(&mock, Wire::OpenAi, Mode::Plain, 1, VerifyMode::Off);
    let state = run_to_end(&run).await;
    let work: Vec<RecordedRequest> = mock
        .requests()
        .into_iter()
        .filter(|r| !is_judge(r) && !is_finalise(r))
        .collect();
    assert_eq!(work.len(), 2, "one reminder, then the text is the result");
    assert!(work[1].prompt_text().contains("Please use the tools"));
    assert_eq!(
        state.tasks[0].result.as_deref(),
        Some("I think the answer is forty-two.")
    );
    // The text became a partial point, with its author and task stamped by the board.
    let p = &state.points[0].point;
    assert_eq!((p.author.as_str(), p.task.as_deref()), ("a1", Some("T1")));
}

/// Fails its first call with a transient error once the test opens `cut` (a stream that
/// broke mid-reply), whatever the server had sent by then; later calls pass through.
struct CutFirstCall {
    inner: Arc<dyn Provider>,
    cut: support::Gate,
    calls: AtomicUsize,
}

impl Provider for CutFirstCall {
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        let first = self.calls.fetch_add(1, Ordering::SeqCst) == 0;
        Box::pin(async move {
            if !first {
                return self.inner.chat(req, on_delta).await;
            }
            tokio::select! {
                r = self.inner.chat(req, on_delta) => r,
                () = self.cut.opened() => Err(LlmError::Transient {
                    message: "the stream broke (cut by the test)".into(),
                    retry_after: None,
                }),
            }
        })
    }
}

/// A planner's `add_task` calls enter the queue while its reply is still streaming (here
/// the stream stalls after the first call: another agent does that task meanwhile), and
/// when the broken reply is retried, the calls it streamed again are not run twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_task_runs_as_the_reply_streams_and_a_retry_adds_nothing_twice() {
    let stalled = support::Gate::new();
    let planned = Arc::new(AtomicUsize::new(0));
    let script = {
        let stalled = stalled.clone();
        let planned = Arc::clone(&planned);
        move |req: &RecordedRequest, _n: usize| {
            if is_finalise(req) {
                return final_answer(req, "done");
            }
            if task_of(req).as_deref() == Some("T1") && assistant_turns(req) == 0 {
                let plan = Reply::Tools(
                    ["part A", "part B", "part C"]
                        .iter()
                        .map(|t| ("add_task".to_string(), json!({"title": t, "detail": ""})))
                        .chain([("finish_task".to_string(), json!({"result": "split"}))])
                        .collect(),
                );
                return if planned.fetch_add(1, Ordering::SeqCst) == 0 {
                    Reply::StallMidStream(stalled.clone(), Box::new(plan))
                } else {
                    plan
                };
            }
            finish("looked")
        }
    };
    let mock = MockLlm::start(Wire::OpenAi, script).await;
    let cut = support::Gate::new();
    let run = start_wrapped(
        &mock,
        Wire::OpenAi,
        Mode::Plain,
        2,
        VerifyMode::Evidence,
        |_| {},
        |inner| {
            Arc::new(CutFirstCall {
                inner,
                cut: cut.clone(),
                calls: AtomicUsize::new(0),
            })
        },
    );
    // The planner's reply is stuck half-way; its first task is done by the other agent.
    wait_for(&run, "part A done while the plan streams", |s| {
        s.tasks
            .iter()
            .any(|t| t.title == "part A" && t.state == TaskState::Done)
    })
    .await;
    assert!(stalled.is_open(), "the plan's stream is stalled mid-reply");
    assert_eq!(
        planned.load(Ordering::SeqCst),
        1,
        "the plan was not retried yet"
    );
    cut.open();
    let state = run_to_end(&run).await;
    assert_eq!(state.answer.unwrap().stopped_by, StoppedBy::Completed);
    for title in ["part A", "part B", "part C"] {
        let n = state.tasks.iter().filter(|t| t.title == title).count();
        assert_eq!(n, 1, "{title} is in the queue {n} times: {:?}", state.tasks);
    }
    assert!(state.tasks.iter().all(|t| t.state == TaskState::Done));
    let log = events(&run.session);
    let at = |pred: &dyn Fn(&Event) -> bool| log.iter().position(|e| pred(&e.event));
    let added_a = at(&|e| matches!(e, Event::TaskAdded { title, .. } if title == "part A"));
    let retried = at(&|e| matches!(e, Event::LlmRetry { .. }));
    assert!(
        added_a.unwrap() < retried.expect("the broken plan was retried"),
        "part A was added before the broken reply was retried"
    );
    // The retried reply's add_task calls were answered with what the early runs returned.
    let answers: Vec<String> = log
        .iter()
        .filter_map(|e| match &e.event {
            Event::ToolCall { tool, output, .. } if tool == "add_task" => Some(output.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(
        answers.iter().all(|a| a.starts_with("Added T")),
        "{answers:?}"
    );
}
