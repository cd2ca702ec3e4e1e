//! A worker's records travel to a board that verifies them by its own rules: two
//! workspaces over the fixture repository play the worker and the board.

use super::*;
use crate::engine::tools::{self, ToolContext, Workspace, WorkspaceOptions};
use crate::engine::verify;
use crate::event::{Mode, Point, PointKind};
use serde_json::json;
use std::sync::Arc;

const AGENT: &str = "w1.a1";
const TEST_CMD: &str = "python3 -m unittest discover -s tests";
const BUG: &str = "            if end == -1:\n                break\n";
const FIX: &str = "            if end == -1:\n                end = len(source)\n";

fn open(exec: bool, edit: bool) -> Arc<dyn Workspace> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo");
    let mode = Mode::Repo {
        root: root.to_string_lossy().into_owned(),
    };
    let options = WorkspaceOptions {
        allow_exec: exec,
        allow_edit: edit,
        ..WorkspaceOptions::default()
    };
    tools::open_with(&mode, &options).unwrap()
}

async fn call(ws: &Arc<dyn Workspace>, name: &str, args: serde_json::Value) -> String {
    let ctx = ToolContext {
        agent: AGENT.into(),
        task: Some("T1".into()),
    };
    ws.call(&ctx, name, &args).await.unwrap().unwrap()
}

fn cite(source: &str, quote: &str) -> Evidence {
    Evidence {
        source: source.into(),
        quote: quote.into(),
        ..Evidence::default()
    }
}

/// The point as the board verifies it: the agent's own runs named as the board files them.
fn point(mut evidence: Vec<Evidence>) -> Point {
    for ev in &mut evidence {
        name_own_runs(AGENT, ev);
    }
    Point {
        id: "P1".into(),
        kind: PointKind::Finding,
        headline: "tokenize keeps a trailing comment once it reads to the end of the source".into(),
        summary: String::new(),
        evidence,
        author: AGENT.into(),
        task: Some("T1".into()),
        supersedes: None,
    }
}

/// On a worker: the test fails (c1), the fix, the test passes (c2). The evidence of the
/// fix, and what the worker ships for it.
async fn worker_fix() -> (Arc<dyn Workspace>, Vec<Evidence>, Records) {
    let worker = open(true, true);
    let red = call(&worker, "run_command", json!({"cmd": TEST_CMD})).await;
    assert!(
        red.starts_with("c1: ") && red.contains("exited with 1"),
        "{red}"
    );
    call(
        &worker,
        "edit_file",
        json!({"path": "calc/lexer.py", "old": BUG, "new": FIX}),
    )
    .await;
    let green = call(&worker, "run_command", json!({"cmd": TEST_CMD})).await;
    assert!(
        green.starts_with("c2: ") && green.contains("exited with 0"),
        "{green}"
    );
    let evidence = vec![
        cite(&format!("patch:{AGENT}"), "end = len(source)"),
        cite("cmd:c2", "Ran 5 tests"),
    ];
    let records = worker.export_records(AGENT, &evidence).unwrap();
    (worker, evidence, records)
}

#[test]
fn a_worker_agents_own_runs_are_named_under_its_worker() {
    let named = |agent: &str, source: &str| {
        let mut ev = cite(source, "q");
        name_own_runs(agent, &mut ev);
        ev.source
    };
    assert_eq!(named("w2.a1", "cmd:c3"), "cmd:w2:c3");
    assert_eq!(named("w2.a1", " cmd: 3"), "cmd:w2:c3");
    assert_eq!(
        named("w2.a1", "cmd:w1:c4"),
        "cmd:w1:c4",
        "named by the board already"
    );
    assert_eq!(named("w2.a1", "patch:w2.a1"), "patch:w2.a1");
    assert_eq!(named("w2.a1", "src/a.rs"), "src/a.rs");
    assert_eq!(
        named("a1", "cmd:c3"),
        "cmd:c3",
        "a native agent's runs are the board's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_fix_verifies_on_the_board_by_the_native_rules() {
    let (_worker, evidence, records) = worker_fix().await;
    assert_eq!(records.runs.len(), 1, "only the cited run travels");
    assert_eq!(records.runs[0].id, "c2");
    let patch = records.patch.as_ref().unwrap();
    assert!(patch.diff.contains("+                end = len(source)"));
    assert!(serde_json::to_vec(&records).unwrap().len() < 64 * 1024);

    let board = open(true, true);
    board.import_records(AGENT, records.clone()).unwrap();
    let checked = verify::check_evidence(board.as_ref(), &point(evidence.clone()), &[]).unwrap();
    let resolved: Vec<&str> = checked
        .evidence
        .iter()
        .filter_map(|e| e.resolved.as_deref())
        .collect();
    assert!(resolved[0].starts_with("patch:w1.a1@"), "{resolved:?}");
    assert_eq!(resolved[1], "cmd:w1:c2 (exit 0)");
    let pinned = board.pinned_patches(&"P1".to_string(), &checked.evidence);
    assert_eq!(pinned.len(), 1);
    assert_eq!(pinned[0].agent, AGENT);
    assert_eq!(
        pinned[0].tree, patch.tree,
        "the board's tree is the worker's"
    );
    let check = &pinned[0].checks[0];
    assert!(
        check.remote && check.passed() && check.run == "w1:c2",
        "{check:?}"
    );

    // A quote that is not in the shipped output fails as a native one does.
    let wrong = vec![evidence[0].clone(), cite("cmd:c2", "Ran 6 tests")];
    let err = verify::check_evidence(board.as_ref(), &point(wrong), &[]).unwrap_err();
    assert!(
        err.contains("quote not found in the output of w1:c2"),
        "{err}"
    );
    // A run the worker did not ship is not the board's c2.
    let unshipped = vec![evidence[0].clone(), cite("cmd:c7", "Ran 5 tests")];
    let err = verify::check_evidence(board.as_ref(), &point(unshipped), &[]).unwrap_err();
    assert!(
        err.contains("not a command run its worker shipped"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_failing_records_are_rejected_with_the_reason() {
    let (worker, evidence, records) = worker_fix().await;
    let board = open(true, true);

    // The cited run failed: the native rule says so.
    let red = worker
        .export_records(AGENT, &[cite("cmd:c1", "test_trailing_comment_is_kept")])
        .unwrap();
    let mut failing = records.clone();
    failing.runs = red.runs;
    board.import_records(AGENT, failing).unwrap();
    let err = verify::check_evidence(
        board.as_ref(),
        &point(vec![
            evidence[0].clone(),
            cite("cmd:c1", "test_trailing_comment_is_kept"),
        ]),
        &[],
    )
    .unwrap_err();
    assert!(
        err.contains("w1:c1 exited with 1") && err.contains("exits 0"),
        "{err}"
    );

    // A green record that names other files than the patched ones.
    let mut forged = records.clone();
    forged.runs[0].tested_trees = vec!["4b825dc642cb6eb9a060e54bf8d69288fbee4904".into()];
    board.import_records(AGENT, forged).unwrap();
    let err = verify::check_evidence(board.as_ref(), &point(evidence.clone()), &[]).unwrap_err();
    assert!(err.contains("other than the patched ones"), "{err}");

    // A patch whose reported tree is not what it gives on the board's files.
    let mut lying = records.clone();
    lying.patch.as_mut().unwrap().tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904".into();
    let err = board.import_records(AGENT, lying).unwrap_err();
    assert!(err.contains("gives files whose git tree is"), "{err}");

    // A patch that does not apply to the board's repository.
    let mut stale = records.clone();
    let p = stale.patch.as_mut().unwrap();
    p.diff = p.diff.replace("break", "continue");
    let err = board.import_records(AGENT, stale).unwrap_err();
    assert!(err.contains("does not apply cleanly"), "{err}");

    // Records of another worker's agent, an oversized batch, a board that takes none.
    let mut stranger = records.clone();
    stranger.runs[0].agent = "w2.a1".into();
    let err = board.import_records(AGENT, stranger).unwrap_err();
    assert!(err.contains("not one of w1's"), "{err}");
    let mut many = records.clone();
    many.runs = vec![records.runs[0].clone(); MAX_RUNS + 1];
    assert!(board.import_records(AGENT, many).is_err());
    let err = open(false, false)
        .import_records(AGENT, records.clone())
        .unwrap_err();
    assert!(err.contains("without --allow-exec"), "{err}");
    let err = open(true, false)
        .import_records(AGENT, records)
        .unwrap_err();
    assert!(err.contains("without --allow-edit"), "{err}");

    // A worker ships only its own agent's patch.
    let err = worker
        .export_records(AGENT, &[cite("patch:w1.a2", "end = len(source)")])
        .unwrap_err();
    assert!(err.contains("cites its own changes"), "{err}");
}
