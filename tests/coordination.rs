//! The coordination baselines against the scripted server: `central` routes every worker
//! result through the orchestrator; `isolated` never shows one agent's points to another.

mod support;
mod swarm;

use delm::engine::{RunBuilder, RunConfig, tools};
use delm::event::{Coordination, Event, Mode, PointStatus, RunState, StoppedBy, VerifyMode};
use delm::llm::config::{ProviderConfig, ProviderKind};
use delm::llm::retry::{RetryPolicy, RetryingProvider};
use delm::session::{SessionWriter, read_session};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{MockLlm, RecordedRequest, Reply, Wire};
use swarm::*;

async fn run(
    mock: &MockLlm,
    coordination: &str,
    agents: usize,
) -> (RunState, Vec<delm::event::Envelope>) {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("s.jsonl");
    let pc = ProviderConfig::new(ProviderKind::OpenAi, "test-model", mock.base_url.clone());
    let policy = RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    let llm = Arc::new(RetryingProvider::new(delm::llm::build_provider(pc), policy));
    let mut cfg = RunConfig::new(
        "What are the three facts?",
        Mode::Plain,
        "openai:test-model",
    );
    cfg.agents = agents;
    cfg.verify = VerifyMode::Evidence;
    cfg.coordination = Coordination::parse(coordination).unwrap();
    let handle = RunBuilder::new(
        cfg,
        llm,
        Arc::new(|_| None),
        tools::open(&Mode::Plain).unwrap(),
    )
    .sink(Box::new(SessionWriter::create(&session).unwrap()))
    .start()
    .unwrap();
    let state = tokio::time::timeout(Duration::from_secs(60), handle.wait())
        .await
        .expect("run finished");
    (state, read_session(&session).unwrap().events)
}

fn is_orchestrator(req: &RecordedRequest) -> bool {
    system_text(req).starts_with("You are the orchestrator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_routes_every_worker_result_through_the_orchestrator() {
    let mock = MockLlm::start(Wire::OpenAi, |req: &RecordedRequest, _| {
        if is_orchestrator(req) {
            let text = req.prompt_text();
            return if text.contains("WAVE 1 RESULTS") {
                Reply::Tools(vec![(
                    "final_answer".into(),
                    json!({"answer": "facts: red, green, blue", "cited": []}),
                )])
            } else {
                Reply::Tools(vec![
                    (
                        "broadcast".into(),
                        json!({"context": "BRIEF-W1: colours only"}),
                    ),
                    (
                        "add_task".into(),
                        json!({"title": "fact one", "detail": "find colour 1"}),
                    ),
                    (
                        "add_task".into(),
                        json!({"title": "fact two", "detail": "find colour 2"}),
                    ),
                    (
                        "add_task".into(),
                        json!({"title": "fact three", "detail": "find colour 3"}),
                    ),
                ])
            };
        }
        let task = task_of(req).unwrap_or_default();
        Reply::Delay(
            Duration::from_millis(50),
            Box::new(finish(&format!("RESULT-{task}: a long, detailed report"))),
        )
    })
    .await;
    let (state, events) = run(&mock, "central", 3).await;
    let answer = state.answer.clone().unwrap();
    assert_eq!(answer.stopped_by, StoppedBy::Completed);
    assert_eq!(answer.answer, "facts: red, green, blue");
    assert_eq!(state.coordination, Coordination::Central);
    let reqs = mock.requests();
    let orch: Vec<&RecordedRequest> = reqs.iter().filter(|r| is_orchestrator(r)).collect();
    assert_eq!(orch.len(), 2, "plan + one aggregation");
    // The aggregation request carries every worker's full result, and its own earlier turn.
    let results: Vec<String> = state
        .tasks
        .iter()
        .map(|t| format!("RESULT-{}: a long, detailed report", t.id))
        .collect();
    assert_eq!(results.len(), 3);
    for r in &results {
        assert!(
            orch[1].prompt_text().contains(r),
            "{r} did not reach the orchestrator"
        );
    }
    assert!(orch[1].prompt_text().contains("Plan the first wave now."));
    // Workers see only what the orchestrator passed: the brief, never each other's results.
    for w in reqs.iter().filter(|r| !is_orchestrator(r)) {
        let text = w.prompt_text();
        assert!(text.contains("BRIEF-W1: colours only"));
        let own = format!("RESULT-{}", task_of(w).unwrap());
        for r in &results {
            assert!(!text.contains(r.as_str()) || r.starts_with(&own));
        }
        assert!(!w.tool_names().contains(&"record_point".to_string()));
    }
    // Worker tasks were added by the orchestrator and all claimed by workers.
    assert!(events.iter().all(|e| match &e.event {
        Event::TaskClaimed { agent, .. } => agent.starts_with('a'),
        _ => true,
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_never_shows_one_agents_points_to_another() {
    let mock = MockLlm::start(Wire::OpenAi, |req: &RecordedRequest, _| {
        if is_finalise(req) {
            return final_answer(req, "merged");
        }
        let agent = agent_of(req).unwrap_or_default();
        match assistant_turns(req) {
            0 => record(
                "partial",
                &format!("SECRET-OF-{agent} progress note"),
                "",
                "",
            ),
            1 => Reply::Delay(
                Duration::from_millis(200),
                Box::new(Reply::Tools(vec![(
                    "expand".into(),
                    json!({"point": "P1", "level": "summary"}),
                )])),
            ),
            _ => finish(&format!("attempt by {agent} done")),
        }
    })
    .await;
    let (state, _) = run(&mock, "isolated", 3).await;
    assert_eq!(state.answer.clone().unwrap().answer, "merged");
    assert_eq!(state.tasks.len(), 3);
    assert_eq!(state.count_points(None, PointStatus::Verified), 3);
    for req in mock.requests().iter().filter(|r| !is_finalise(r)) {
        let me = agent_of(req).unwrap();
        let text = req.prompt_text();
        for other in ["a1", "a2", "a3"].iter().filter(|a| **a != me) {
            assert!(
                !text.contains(&format!("SECRET-OF-{other}")),
                "{me} saw {other}'s point"
            );
        }
    }
    // The final agent merges: it sees every attempt.
    let fin = mock.requests().into_iter().find(is_finalise).unwrap();
    for a in ["a1", "a2", "a3"] {
        assert!(fin.prompt_text().contains(&format!("attempt by {a} done")));
    }
}
