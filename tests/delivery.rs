//! One result, delivered: the real binary runs two scripted agents on the fixture
//! `tests/fixtures/convert` (two functions with a planted bug each, and a failing test for
//! each), every agent in its own copy, and delm assembles one result from their verified
//! patches. Different functions merge into one patch whose checks pass on the assembled
//! files; the same lines changed two ways are a conflict, kept out and reported.
//!
//! The workspace is also exercised directly: patches that pass alone but fail together
//! are not delivered together.

mod repo_run;
mod support;
mod swarm;

use delm::engine::tools::{self, SandboxKind, ToolContext, Workspace, WorkspaceOptions};
use delm::engine::verify;
use delm::event::{AssembledResult, Envelope, Event, Evidence, Mode, Point, PointKind, RunState};
use repo_run::{self as repo, Home, contents, gone_within, processes_running, text};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{MockLlm, Wire};
use swarm::convert::{Fix, SOURCE, celsius, celsius_other_way, fahrenheit, two_agents};
use swarm::*;

const KEY: &str = "sk-live-SECRET-delivery-77aa";
/// `delm run` with two agents on `repo` against `mock`, commands and edits allowed.
fn delm_run(home: &Home, mock: &MockLlm, repo: &Path, session: &Path, extra: &[&str]) -> Command {
    let mut cmd = home.delm();
    cmd.env("OPENAI_API_KEY", KEY)
        .args(["run", "Fix the failing conversion tests", "--headless"])
        .args(["--agents", "2", "--verify", "evidence"])
        .args(["--base-url", &mock.base_url])
        .arg("--repo")
        .arg(repo)
        .arg("--session")
        .arg(session)
        .args(["--allow-exec", "--allow-edit"])
        .args(extra);
    cmd
}

fn run(home: &Home, mock: &MockLlm, repo: &Path, session: &Path, extra: &[&str]) -> Output {
    delm_run(home, mock, repo, session, extra).output().unwrap()
}

fn finished_state(session: &Path) -> (Vec<Envelope>, RunState) {
    let events = delm::session::read_session(session).unwrap().events;
    let state = RunState::from_events(events.iter());
    (events, state)
}

/// `fix`'s check passes in `repo`.
fn passes(repo: &Path, fix: &Fix) -> bool {
    Command::new("sh")
        .args(["-c", &fix.check])
        .current_dir(repo)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap()
        .status
        .success()
}

/// Whether the result's note (why its checks did not all run) says `what`.
fn noted(result: &AssembledResult, what: &str) -> bool {
    result.note.as_deref().is_some_and(|n| n.contains(what))
}

/// The tool results of every request, deduplicated by call id.
fn tool_results(mock: &MockLlm) -> Vec<String> {
    let mut seen = std::collections::BTreeMap::new();
    for req in mock.requests() {
        for (id, text) in req.tool_results() {
            seen.entry(id).or_insert(text);
        }
    }
    seen.into_values().collect()
}

#[test]
fn two_agents_fixing_two_functions_deliver_one_patch_checked_on_the_assembled_files() {
    let home = Home::new();
    let (_dir, repo) = repo::fixture("convert");
    let before = contents(&repo);
    std::fs::create_dir(home.path("sync")).unwrap();
    let mock = MockLlm::start_blocking(
        Wire::OpenAi,
        two_agents([celsius(), fahrenheit()], home.path("sync")),
    );
    let session = home.path("two.jsonl");
    let out = run(&home, &mock, &repo, &session, &[]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);

    // Both tests failed first, each in its own agent's copy.
    let results = tool_results(&mock);
    for fix in [celsius(), fahrenheit()] {
        let cmd = fix.check;
        assert!(
            results
                .iter()
                .any(|r| r.contains(&format!("`{cmd}` exited with 1"))),
            "{cmd} never failed: {results:#?}"
        );
    }

    // Two agents pinned one patch each; the result merged both, and re-ran both checks
    // on the assembled files (neither agent's run covers them), which passed.
    let (events, state) = finished_state(&session);
    let agents: Vec<&str> = state.patches.iter().map(|p| p.agent.as_str()).collect();
    assert_eq!(agents.len(), 2, "{agents:?}");
    assert_ne!(agents[0], agents[1]);
    let result: &AssembledResult = state.result.as_ref().expect("result_assembled");
    assert_eq!(result.merged.len(), 2, "{result:#?}");
    assert!(result.conflicts.is_empty() && result.left_out.is_empty());
    assert!(result.verified(), "{result:#?}");
    let mut checked: Vec<&str> = result.checks.iter().map(|c| c.cmd.as_str()).collect();
    checked.sort();
    assert_eq!(checked, [celsius().check, fahrenheit().check]);
    for check in &result.checks {
        assert!(!check.reused && check.passed(), "{check:?}");
        assert_eq!(check.tree, result.tree);
        assert!(check.output.contains("OK"), "{}", check.output);
        assert!(state.patches.iter().all(|p| p.tree != check.tree));
    }
    assert!(result.patch.contains(celsius().new) && result.patch.contains(fahrenheit().new));
    let kinds: Vec<&str> = events.iter().map(|e| e.event.type_name()).collect();
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["result_assembled", "run_finished"]
    );
    assert!(stderr.contains("result: 2 patches merged"), "{stderr}");

    // `<session>.patch`: whose work it holds, then one diff with both fixes, which makes
    // the whole suite pass on a fresh copy.
    let patch_file = home.path("two.patch");
    let written = std::fs::read_to_string(&patch_file).unwrap();
    for m in &result.merged {
        assert!(
            written.contains(&format!("#   {} by {} ({})", m.point, m.agent, m.reference)),
            "{written}"
        );
    }
    assert!(written.contains("verified by c"), "{written}");
    assert!(written.ends_with(&result.patch));
    assert!(!home.path("two.conflicts").exists());
    let (_fresh_dir, fresh) = repo::fixture("convert");
    assert!(!repo::unittest(&fresh).status.success());
    let applied = repo::git_apply(&fresh, &patch_file);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    let suite = repo::unittest(&fresh);
    assert!(suite.status.success(), "{}", text(&suite.stderr));

    // The user's files are untouched (no --apply), the copies are gone, no key leaked.
    assert_eq!(contents(&repo), before);
    assert!(std::fs::read_dir(home.tmp()).unwrap().next().is_none());
    assert!(!std::fs::read_to_string(&session).unwrap().contains(KEY));
}

#[test]
fn the_same_lines_changed_twice_are_a_conflict_and_apply_takes_only_what_merged() {
    let home = Home::new();
    let (_dir, repo) = repo::fixture("convert");
    std::fs::create_dir(home.path("sync")).unwrap();
    let mock = MockLlm::start_blocking(
        Wire::OpenAi,
        two_agents([celsius(), celsius_other_way()], home.path("sync")),
    );
    let session = home.path("clash.jsonl");
    let out = run(&home, &mock, &repo, &session, &["--apply"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);

    // The finaliser was told the two patches overlap and that its citations decide.
    let finalise = mock
        .requests()
        .into_iter()
        .find(is_finalise)
        .expect("a finalise request");
    let prompt = finalise.prompt_text();
    assert!(
        prompt.contains("change the same lines") && prompt.contains(SOURCE),
        "{prompt}"
    );

    // The patch the answer cites first is delivered; the other is a conflict with git's
    // markers naming both sides.
    let (_, state) = finished_state(&session);
    let result = state.result.as_ref().expect("result_assembled");
    assert_eq!(result.merged.len(), 1, "{result:#?}");
    assert_eq!(result.conflicts.len(), 1, "{result:#?}");
    let cited = &state.answer.as_ref().unwrap().cited;
    let first_patch = cited
        .iter()
        .find(|c| state.patches.iter().any(|p| &p.point == *c))
        .unwrap();
    assert_eq!(&result.merged[0].point, first_patch);
    let conflict = &result.conflicts[0];
    assert!(
        conflict.reason.contains("same lines as"),
        "{}",
        conflict.reason
    );
    assert_eq!(conflict.files[0].path, SOURCE);
    let marked = &conflict.files[0].text;
    for marker in ["<<<<<<< ", "||||||| the repository", "=======", ">>>>>>> "] {
        assert!(marked.contains(marker), "{marker} missing: {marked}");
    }
    assert!(marked.contains(celsius().new) && marked.contains(celsius_other_way().new));
    // One patch: its own check covers exactly the assembled files and is cited again.
    assert!(result.verified(), "{result:#?}");
    assert!(result.checks.iter().all(|c| c.reused));

    // The conflicts report is beside the session; --apply applied only the merged patch.
    let report = std::fs::read_to_string(home.path("clash.conflicts")).unwrap();
    assert!(report.contains(marked.as_str()), "{report}");
    assert!(report.contains("its patch:"), "{report}");
    assert!(stderr.contains("conflicts: "), "{stderr}");
    assert!(stderr.contains("were not applied"), "{stderr}");
    let source = std::fs::read_to_string(repo.join(SOURCE)).unwrap();
    let delivered = [celsius(), celsius_other_way()]
        .into_iter()
        .filter(|f| source.contains(f.new))
        .count();
    assert_eq!(delivered, 1, "{source}");
    assert!(!source.contains("<<<<<<<"), "{source}");
    assert!(passes(&repo, &celsius()));
    assert!(!passes(&repo, &fahrenheit()), "nobody fixed to_fahrenheit");
}

/// Poll `ready` until it holds (a generous deadline for a slow machine).
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(240);
    while !ready() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn interrupting_the_result_checks_stops_them_and_apply_refuses_the_unchecked_result() {
    let home = Home::new();
    let (_dir, repo) = repo::fixture("convert");
    let before = contents(&repo);
    std::fs::create_dir(home.path("sync")).unwrap();
    // Celsius's check is slow only on files that hold both fixes: the assembled result.
    let started = home.path("slow-check-started");
    let slow = Fix {
        check: format!(
            "{} && {{ if grep -q '+ FREEZING_F$' {SOURCE}; then touch '{}'; sleep 117; fi; true; }}",
            celsius().check,
            started.display()
        ),
        ..celsius()
    };
    let mock = MockLlm::start_blocking(
        Wire::OpenAi,
        two_agents([slow, fahrenheit()], home.path("sync")),
    );
    let session = home.path("stopped.jsonl");
    let child = delm_run(&home, &mock, &repo, &session, &["--apply"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the result's slow check runs", || {
        started.exists() && !processes_running("sleep 117").is_empty()
    });
    let sleeping = processes_running("sleep 117");
    // SAFETY: kill only sends a signal to the child this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("interrupted (Ctrl-C)"), "{stderr}");
    for pid in sleeping {
        assert!(
            gone_within(pid, Duration::from_secs(60)),
            "the check's sleep {pid} outlived the run"
        );
    }
    // Both patches merged; the result records that its checks did not all run, so it is
    // not verified (and --apply would leave the repository alone).
    let (_, state) = finished_state(&session);
    let result = state.result.as_ref().expect("result_assembled");
    assert_eq!(result.merged.len(), 2, "{result:#?}");
    assert!(!result.verified());
    assert!(noted(result, "stopped while they ran"), "{result:#?}");
    assert!(stderr.contains("not verified together"), "{stderr}");
    // --apply refuses a result whose checks did not all pass: the files stay as they were.
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--apply: the assembled result is not verified"),
        "{stderr}"
    );
    assert!(home.path("stopped.patch").exists());
    assert_eq!(contents(&repo), before);
}

// ---------------------------------------------------------------------------------------
// The workspace directly: patches that pass alone but fail together.

async fn call(ws: &Arc<dyn Workspace>, agent: &str, name: &str, args: Value) -> String {
    let ctx = ToolContext {
        agent: agent.into(),
        task: Some("T1".into()),
    };
    ws.call(&ctx, name, &args).await.unwrap().unwrap()
}

/// `agent` edits `path`, runs `check` green and has the point verified; the events that
/// record it (proposed, verified, pinned).
async fn verified_fix(
    ws: &Arc<dyn Workspace>,
    id: &str,
    agent: &str,
    path: &str,
    check: &str,
) -> Vec<Event> {
    call(
        ws,
        agent,
        "write_file",
        json!({"path": path, "content": "changed by its agent\n"}),
    )
    .await;
    let green = run_id(&call(ws, agent, "run_command", json!({"cmd": check})).await);
    let point = Point {
        id: id.into(),
        kind: PointKind::Finding,
        headline: format!("{path} changed"),
        summary: String::new(),
        evidence: vec![
            Evidence {
                source: format!("patch:{agent}"),
                quote: "changed by its agent".into(),
                ..Evidence::default()
            },
            Evidence {
                source: format!("cmd:{green}"),
                quote: "the check passes here".into(),
                ..Evidence::default()
            },
        ],
        author: agent.into(),
        task: None,
        supersedes: None,
    };
    let checked = verify::check_evidence(ws.as_ref(), &point, &[]).unwrap();
    let mut events = vec![
        Event::PointProposed {
            point: point.clone(),
        },
        Event::PointVerified {
            point: id.into(),
            note: None,
            evidence: Some(checked.evidence.clone()),
        },
    ];
    events.extend(
        ws.pinned_patches(&id.to_string(), &checked.evidence)
            .into_iter()
            .map(Event::PatchPinned),
    );
    events
}

/// A repository with `a.txt` and `b.txt`, opened for commands and edits in `sandbox`.
fn two_files(sandbox: SandboxKind) -> (tempfile::TempDir, Arc<dyn Workspace>) {
    let dir = tempfile::tempdir().unwrap();
    for f in ["a.txt", "b.txt"] {
        std::fs::write(dir.path().join(f), "original\n").unwrap();
    }
    let ws = open_repo(dir.path(), sandbox);
    (dir, ws)
}

/// The repository at `dir` opened (again) for commands and edits in `sandbox`.
fn open_repo(dir: &Path, sandbox: SandboxKind) -> Arc<dyn Workspace> {
    tools::open_with(
        &Mode::Repo {
            root: dir.to_string_lossy().into_owned(),
        },
        &WorkspaceOptions {
            allow_exec: true,
            allow_edit: true,
            sandbox,
            ..WorkspaceOptions::default()
        },
    )
    .unwrap()
}

/// a1 changes `a.txt` and a2 `b.txt`, each verified with `check`: the run's state.
async fn two_verified_fixes(ws: &Arc<dyn Workspace>, check: &str) -> RunState {
    let mut events = verified_fix(ws, "P1", "a1", "a.txt", check).await;
    events.extend(verified_fix(ws, "P2", "a2", "b.txt", check).await);
    let mut state = RunState::default();
    for (seq, event) in (1..).zip(events) {
        let ts = "2026-01-01T00:00:00Z".to_string();
        state.apply(&Envelope { seq, ts, event });
    }
    assert_eq!(state.patches.len(), 2);
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_that_fail_together_are_not_delivered_together() {
    let (dir, ws) = two_files(SandboxKind::None);
    // The check passes unless both files changed: each patch passes it alone.
    let check = "if grep -q changed a.txt && grep -q changed b.txt; then echo both changed; \
                 exit 1; fi; echo the check passes here";
    let state = two_verified_fixes(&ws, check).await;

    let result = ws
        .deliver(
            &state,
            &["P1".into(), "P2".into()],
            true,
            Default::default(),
        )
        .expect("a delivery")
        .await;
    // Together they failed (that run is recorded as left-out's reason); P2, ranked
    // lower, was left out, and P1 alone is delivered with its own run cited again.
    let merged: Vec<&str> = result.merged.iter().map(|m| m.point.as_str()).collect();
    assert_eq!(merged, ["P1"], "{result:#?}");
    assert_eq!(result.left_out.len(), 1);
    assert_eq!(result.left_out[0].patch.point, "P2");
    assert!(
        result.left_out[0]
            .reason
            .contains("the checks failed with it in the result"),
        "{}",
        result.left_out[0].reason
    );
    assert!(result.verified(), "{result:#?}");
    assert!(result.checks[0].reused);
    assert_eq!(result.tree, state.patches[0].tree);
    assert!(result.patch.contains("+changed by its agent") && result.patch.contains("a.txt"));
    assert!(!result.patch.contains("b.txt"));

    // A resumed run's workspace knows none of these runs or copies: the log alone is
    // enough to assemble, check and fall back the same way (P1's pinned check is reused).
    let fresh = open_repo(dir.path(), SandboxKind::None);
    let again = fresh
        .deliver(
            &state,
            &["P1".into(), "P2".into()],
            true,
            Default::default(),
        )
        .unwrap()
        .await;
    assert_eq!(again.merged, result.merged);
    assert!(again.verified() && again.checks[0].reused, "{again:#?}");
    assert_eq!(again.patch, result.patch);
    fresh.cleanup();

    // Stopped by the human: nothing runs, earlier runs on identical files are cited.
    let stopped = ws
        .deliver(&state, &["P2".into()], false, Default::default())
        .unwrap()
        .await;
    assert_eq!(stopped.merged.len(), 2);
    assert!(!stopped.verified());
    assert!(
        noted(&stopped, "not run on the assembled files"),
        "{stopped:#?}"
    );
    ws.cleanup();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checks_of_a_result_run_in_the_runs_sandbox() {
    if !support::bwrap_can_run() {
        return;
    }
    let (dir, ws) = two_files(SandboxKind::Bwrap);
    // It passes only where the repository cannot be written: inside the sandbox.
    let check = format!(
        "if touch '{}/escaped' 2>/dev/null; then echo not confined; exit 1; fi; echo the \
         check passes here",
        dir.path().display()
    );
    let state = two_verified_fixes(&ws, &check).await;
    let result = ws
        .deliver(&state, &[], true, Default::default())
        .unwrap()
        .await;
    assert_eq!(result.merged.len(), 2, "{result:#?}");
    assert!(result.verified(), "{result:#?}");
    assert!(!result.checks[0].reused, "two patches: the check ran again");
    assert!(!dir.path().join("escaped").exists());
    ws.cleanup();
}
