//! Real models' habits against the whole engine, on the loopback scripted server: lenient
//! in form (line ranges for documents, `./` paths, "Finding", record and finish in one
//! turn, whole calls with `finish_reason: "stop"`), strict in substance (numbers the quote
//! does not hold are rejected in every verify mode; derived figures are recomputed).

mod support;
mod swarm;

use delm::engine::{RunBuilder, RunConfig, tools};
use delm::event::{Envelope, Mode, PointStatus, RunState, StoppedBy, VerifyMode};
use delm::llm::config::{ProviderConfig, ProviderKind};
use delm::llm::retry::{RetryPolicy, RetryingProvider};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{Habits, MockLlm, RecordedRequest, Reply, Wire};
use swarm::*;

const ACME: &str = "Acme Corp annual report 2024.\n\nAcme Corp 2024 revenue was $412.5 million, \
up from $380.0 million in 2023.\n";
const GLOBEX: &str = "Globex Industries yearly summary.\n\nGlobex Industries reported 2024 \
revenue of $388.1 million.\n";

fn docs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.md"), ACME).unwrap();
    std::fs::write(dir.path().join("globex.md"), GLOBEX).unwrap();
    std::fs::write(dir.path().join("slides.pptx"), "not a document delm reads").unwrap();
    dir
}

async fn run(
    mock: &MockLlm,
    wire: Wire,
    dir: &tempfile::TempDir,
    agents: usize,
    verify: VerifyMode,
) -> (RunState, Vec<Envelope>) {
    let kind = match wire {
        Wire::Anthropic => ProviderKind::Anthropic,
        _ => ProviderKind::OpenAi,
    };
    let pc = ProviderConfig::new(kind, "test-model", mock.base_url.clone());
    let policy = RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    let llm = Arc::new(RetryingProvider::new(delm::llm::build_provider(pc), policy));
    let mode = Mode::Docs {
        roots: vec![dir.path().to_string_lossy().into_owned()],
    };
    let mut cfg = RunConfig::new(
        "Which vendor had the higher 2024 revenue?",
        mode.clone(),
        "m",
    );
    cfg.agents = agents;
    cfg.verify = verify;
    cfg.max_turns_per_task = 6;
    let handle = RunBuilder::new(cfg, llm, Arc::new(|_| None), tools::open(&mode).unwrap())
        .start()
        .unwrap();
    let state = tokio::time::timeout(Duration::from_secs(60), handle.wait())
        .await
        .expect("the run finishes");
    (state, handle.events_since(0))
}

/// The document a task is about, from its task line.
fn doc_of(req: &RecordedRequest) -> Option<&'static str> {
    let line = task_line(req);
    ["acme.md", "globex.md"]
        .into_iter()
        .find(|d| line.contains(d))
}

/// A model with real habits: it cites `./` paths and line ranges, writes `Finding`, and
/// sends `record_point` and `finish_task` together, each call whole, with "stop".
fn habitual_model(req: &RecordedRequest, _n: usize) -> Reply {
    let habits = Habits {
        whole_calls: true,
        finish_reason: Some("stop".into()),
        ..Habits::default()
    };
    if is_judge(req) {
        return approve();
    }
    if is_finalise(req) {
        return final_answer(
            req,
            "Acme Corp: $412.5 million against Globex's $388.1 million.",
        )
        .with(habits);
    }
    let Some(doc) = doc_of(req) else {
        return finish("nothing here").with(habits);
    };
    let (headline, quote) = match doc {
        "acme.md" => (
            "Acme Corp 2024 revenue was $412.5 million",
            "Acme Corp 2024 revenue was $412.5 million, up from $380.0 million in 2023.",
        ),
        _ => (
            "Globex Industries 2024 revenue was $388.1 million",
            "Globex Industries reported 2024 revenue of $388.1 million.",
        ),
    };
    Reply::Tools(vec![
        (
            "record_point".into(),
            json!({"kind": "Finding", "headline": headline, "summary": headline,
                   "evidence": [{"doc": format!("./{doc}"), "lines": "3-3", "quote": quote}]}),
        ),
        (
            "finish_task".into(),
            json!({"result": format!("recorded {doc}")}),
        ),
    ])
    .with(habits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docs_run_with_real_model_habits_verifies_with_one_call_per_document_task() {
    for wire in [Wire::OpenAi, Wire::Anthropic] {
        let dir = docs();
        let mock = MockLlm::start(wire, habitual_model).await;
        let (state, _) = run(&mock, wire, &dir, 2, VerifyMode::Evidence).await;
        assert_eq!(
            state.answer.as_ref().map(|a| a.stopped_by),
            Some(StoppedBy::Completed),
            "{wire:?}"
        );
        let verified: Vec<&str> = state
            .live_points()
            .map(|p| p.point.headline.as_str())
            .collect();
        assert_eq!(verified.len(), 2, "{wire:?}: {:?}", state.points);
        // One model call per document task: record and finish in the same turn.
        let work: Vec<RecordedRequest> = mock
            .requests()
            .into_iter()
            .filter(|r| !is_judge(r) && !is_finalise(r))
            .collect();
        let doc_tasks = state
            .tasks
            .iter()
            .filter(|t| t.title.contains(".md"))
            .count();
        assert_eq!(doc_tasks, 2);
        assert_eq!(
            work.len(),
            doc_tasks,
            "{wire:?}: one call per simple document task"
        );
        // The unsupported file is listed, not silently dropped.
        assert!(
            state
                .skipped_documents
                .iter()
                .any(|d| d.path.ends_with("slides.pptx")),
            "{:?}",
            state.skipped_documents
        );
    }
}

/// A model that inflates a number: "$41 million" where the quote says "$412.5 million".
fn fabricating_model(req: &RecordedRequest, _n: usize) -> Reply {
    if is_judge(req) {
        return approve();
    }
    if is_finalise(req) {
        return final_answer(req, "Unclear.");
    }
    match (doc_of(req), assistant_turns(req)) {
        (Some("acme.md"), 0) => record(
            "finding",
            "Acme Corp 2024 revenue was $41 million",
            "acme.md",
            "Acme Corp 2024 revenue was $412.5 million, up from $380.0 million in 2023.",
        ),
        _ => finish("done"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fabricated_numbers_are_rejected_in_every_verify_mode() {
    for verify in [VerifyMode::Evidence, VerifyMode::Judge] {
        let dir = docs();
        let mock = MockLlm::start(Wire::OpenAi, fabricating_model).await;
        let (state, _) = run(&mock, Wire::OpenAi, &dir, 1, verify).await;
        let p = state
            .points
            .iter()
            .find(|p| p.point.headline.contains("$41 million"))
            .expect("the inflated point was proposed");
        assert_eq!(p.status, PointStatus::Rejected, "{verify:?}");
        let why = p.note.as_deref().unwrap_or("");
        assert!(why.contains("41"), "{verify:?}: {why}");
        // In judge mode the judge was not even asked: the number check decided.
        assert!(
            !mock
                .requests()
                .iter()
                .any(|r| is_judge(r) && r.prompt_text().contains("$41 million")),
            "{verify:?}: a fabricated number never reaches the judge"
        );
    }
}

/// A model that derives the difference between two verified points.
fn deriving_model(claimed: &'static str) -> impl Fn(&RecordedRequest, usize) -> Reply {
    move |req, _| {
        if is_judge(req) {
            return approve();
        }
        if is_finalise(req) {
            return final_answer(req, "See the points.");
        }
        let Some(doc) = doc_of(req) else {
            return finish("nothing");
        };
        let visible = visible_points(req);
        match (doc, assistant_turns(req)) {
            ("acme.md", 0) => record(
                "finding",
                "Acme Corp 2024 revenue was $412.5 million",
                "acme.md",
                "Acme Corp 2024 revenue was $412.5 million, up from $380.0 million in 2023.",
            ),
            ("globex.md", 0) => record(
                "finding",
                "Globex Industries 2024 revenue was $388.1 million",
                "globex.md",
                "Globex Industries reported 2024 revenue of $388.1 million.",
            ),
            // With Acme's figure shared (and its own just verified), derive the gap.
            ("globex.md", 1) if visible.contains(&"P1".to_string()) => {
                let cite = |id: &str, quote: &str| json!({"source": id, "quote": quote});
                Reply::Tools(vec![(
                    "record_point".into(),
                    json!({"kind": "finding",
                           "headline": format!("Acme's 2024 revenue exceeded Globex's by {claimed}"),
                           "summary": "The difference of the two verified revenues.",
                           "evidence": [cite("P1", "Acme Corp 2024 revenue was $412.5 million"),
                                        cite("P2", "Globex Industries 2024 revenue was $388.1 million")]}),
                )])
            }
            _ => finish("done"),
        }
    }
}

async fn derived_point(claimed: &'static str) -> (PointStatus, String) {
    let dir = docs();
    let mock = MockLlm::start(Wire::OpenAi, deriving_model(claimed)).await;
    let (state, _) = run(&mock, Wire::OpenAi, &dir, 1, VerifyMode::Evidence).await;
    let p = state
        .points
        .iter()
        .find(|p| p.point.headline.contains("exceeded"))
        .expect("the derived point was proposed");
    (p.status, p.note.clone().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_derived_difference_verifies_and_a_wrong_one_does_not() {
    let (status, note) = derived_point("$24.4 million").await;
    assert_eq!(status, PointStatus::Verified, "{note}");
    assert!(
        note.contains("24.4"),
        "the verdict says how it was derived: {note}"
    );
    let (status, note) = derived_point("$34.4 million").await;
    assert_eq!(status, PointStatus::Rejected);
    assert!(note.contains("34.4"), "{note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_stating_a_number_no_cited_point_holds_is_flagged() {
    let dir = docs();
    let mock = MockLlm::start(Wire::OpenAi, |req: &RecordedRequest, n| {
        if is_finalise(req) {
            return final_answer(req, "Acme Corp led with $512.5 million in 2024.");
        }
        habitual_model(req, n)
    })
    .await;
    let (state, events) = run(&mock, Wire::OpenAi, &dir, 1, VerifyMode::Evidence).await;
    assert!(state.answer.is_some());
    assert_eq!(
        state.answer_unsupported_numbers,
        vec!["$512.5 million".to_string()]
    );
    // The story says so next to the answer.
    let story = delm::story::replay_story(&events);
    assert!(
        story.contains("no cited point supports") && story.contains("$512.5 million"),
        "{story}"
    );
}
