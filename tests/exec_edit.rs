//! Commands and edits on a repository (`--allow-exec`, `--allow-edit`, `--apply`): the
//! fixture repository `tests/fixtures/repo` has a planted bug (a trailing comment with no
//! newline after it is dropped) and a failing test for it.
//!
//! The workspace is exercised directly (confinement, timeouts, the patch rule), and the real
//! binary runs a scripted agent that fixes the bug in its own worktree.

mod repo_run;
mod support;
mod swarm;

use delm::engine::tools::{self, SandboxKind, ToolContext, Workspace, WorkspaceOptions};
use delm::engine::verify;
use delm::event::{Evidence, Mode, Point, PointKind, PointStatus, RunState};
use repo_run::{
    self as repo, Home, alive, contents, gone_within, processes_running, text, unittest,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{MockLlm, RecordedRequest, Reply, Wire};
use swarm::repair::{BUG, Cites, FIX, GREEN_QUOTE, TEST_CMD, repair};
use swarm::*;

/// A copy of the fixture repository in a temp dir, with its gitignored `secrets.env` written
/// here (an ignored file is not in a clone of this repository).
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let (dir, repo) = repo::fixture("repo");
    std::fs::write(
        repo.join("secrets.env"),
        "# Local settings; never committed (ignored by .gitignore).\n\
         CALC_API_TOKEN=fixture-token-not-a-real-secret\n",
    )
    .unwrap();
    (dir, repo)
}

fn open(repo: &Path, exec: bool, edit: bool) -> Arc<dyn Workspace> {
    open_options(
        repo,
        WorkspaceOptions {
            allow_exec: exec,
            allow_edit: edit,
            ..WorkspaceOptions::default()
        },
    )
}

fn open_options(repo: &Path, options: WorkspaceOptions) -> Arc<dyn Workspace> {
    let mode = Mode::Repo {
        root: repo.to_string_lossy().into_owned(),
    };
    tools::open_with(&mode, &options).unwrap()
}

/// A workspace whose commands run in bubblewrap, or `None` (with the reason printed) when
/// bubblewrap cannot run on this machine. CI installs it, so there the tests run.
fn open_sandboxed(repo: &Path, edit: bool, allow_net: bool) -> Option<Arc<dyn Workspace>> {
    if !support::bwrap_can_run() {
        return None;
    }
    Some(open_options(
        repo,
        WorkspaceOptions {
            allow_exec: true,
            allow_edit: edit,
            sandbox: SandboxKind::Bwrap,
            allow_net,
            ..WorkspaceOptions::default()
        },
    ))
}

async fn call(
    ws: &Arc<dyn Workspace>,
    agent: &str,
    name: &str,
    args: Value,
) -> Result<String, String> {
    let ctx = ToolContext {
        agent: agent.into(),
        task: Some("T1".into()),
    };
    ws.call(&ctx, name, &args)
        .await
        .unwrap_or_else(|| panic!("`{name}` is not a tool of this workspace"))
}

fn finding(evidence: Vec<Evidence>) -> Point {
    Point {
        id: "P1".into(),
        kind: PointKind::Finding,
        headline: "Trailing comments are kept once tokenize stops dropping them".into(),
        summary: String::new(),
        evidence,
        author: "a1".into(),
        task: Some("T1".into()),
        supersedes: None,
    }
}

fn cite(source: &str, quote: &str) -> Evidence {
    Evidence {
        source: source.into(),
        quote: quote.into(),
        ..Evidence::default()
    }
}

fn check(ws: &Arc<dyn Workspace>, evidence: Vec<Evidence>) -> Result<Vec<Evidence>, String> {
    verify::check_evidence(ws.as_ref(), &finding(evidence), &[]).map(|c| c.evidence)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_are_offered_only_with_the_flags() {
    let (_dir, repo) = fixture_copy();
    let names = |ws: &Arc<dyn Workspace>| -> Vec<String> {
        ws.tool_specs().into_iter().map(|t| t.name).collect()
    };
    let read_only = names(&open(&repo, false, false));
    assert_eq!(read_only, ["read_file", "list_dir", "grep"]);
    let exec = names(&open(&repo, true, false));
    assert!(exec.contains(&"run_command".to_string()));
    assert!(!exec.contains(&"edit_file".to_string()));
    let both = names(&open(&repo, true, true));
    for tool in ["run_command", "edit_file", "write_file", "show_patch"] {
        assert!(both.contains(&tool.to_string()), "{tool} missing: {both:?}");
    }
    // A read-only workspace does not run what it does not offer.
    let ws = open(&repo, false, false);
    let ctx = ToolContext::default();
    assert!(
        ws.call(&ctx, "run_command", &json!({"cmd": "true"}))
            .await
            .is_none()
    );
    // Documents have nothing to run or edit.
    let docs = Mode::Docs {
        roots: vec![repo.to_string_lossy().into_owned()],
    };
    let options = WorkspaceOptions {
        allow_exec: true,
        ..WorkspaceOptions::default()
    };
    let err = tools::open_with(&docs, &options).err().unwrap();
    assert!(err.contains("--repo"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_are_confined_to_the_agents_worktree() {
    let (dir, repo) = fixture_copy();
    let before = contents(&repo);
    let ws = open(&repo, true, true);
    // A link out of the worktree, made the way a model could make one.
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let out = call(
        &ws,
        "a1",
        "run_command",
        json!({"cmd": format!("ln -s {} escape && echo linked", outside.display())}),
    )
    .await
    .unwrap();
    assert!(
        out.contains("exited with 0") && out.contains("linked"),
        "{out}"
    );
    let attempts = [
        (
            "write_file",
            json!({"path": "../evil.py", "content": "x"}),
            "leaves the repository root",
        ),
        (
            "write_file",
            json!({"path": "/tmp/evil.py", "content": "x"}),
            "absolute path",
        ),
        (
            "write_file",
            json!({"path": "escape/evil.py", "content": "x"}),
            "symbolic link to a place outside",
        ),
        (
            "edit_file",
            json!({"path": "../calc-repo/calc/lexer.py", "old": "break", "new": "pass"}),
            "leaves the repository root",
        ),
        (
            "edit_file",
            json!({"path": "escape/../../x", "old": "a", "new": "b"}),
            "leaves the repository root",
        ),
        (
            "write_file",
            json!({"path": ".git/hooks/pre-commit", "content": "x"}),
            "version-control data",
        ),
    ];
    for (tool, args, why) in attempts {
        let err = call(&ws, "a1", tool, args.clone()).await.unwrap_err();
        assert!(err.contains(why), "{tool} {args}: {err}");
    }
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none());

    // A real edit lands in a1's worktree only: a1 reads it, a2 and the user's tree do not.
    call(
        &ws,
        "a1",
        "edit_file",
        json!({"path": "calc/lexer.py", "old": BUG, "new": FIX}),
    )
    .await
    .unwrap();
    call(
        &ws,
        "a1",
        "write_file",
        json!({"path": "calc/notes/why.txt", "content": "trailing comments\n"}),
    )
    .await
    .unwrap();
    let read = json!({"path": "calc/lexer.py", "start": 30, "end": 34});
    let mine = call(&ws, "a1", "read_file", read.clone()).await.unwrap();
    assert!(mine.contains("end = len(source)"), "{mine}");
    let theirs = call(&ws, "a2", "read_file", read).await.unwrap();
    assert!(
        theirs.contains("break") && !theirs.contains("len(source)"),
        "{theirs}"
    );
    let found = call(
        &ws,
        "a1",
        "grep",
        json!({"pattern": "trailing comments", "path": "calc"}),
    )
    .await
    .unwrap();
    assert!(found.contains("calc/notes/why.txt:1"), "{found}");
    // The gitignored secrets file was never copied into the worktree.
    let secret = call(&ws, "a1", "run_command", json!({"cmd": "cat secrets.env"}))
        .await
        .unwrap();
    assert!(!secret.contains("fixture-token"), "{secret}");
    // The link is part of a1's changes, and a patch with a link is refused.
    let err = ws
        .resolve(&cite("patch:a1", "end = len(source)"))
        .unwrap_err();
    assert!(err.contains("makes `escape` a symbolic link"), "{err}");
    call(&ws, "a1", "run_command", json!({"cmd": "rm escape"}))
        .await
        .unwrap();
    let patch = call(&ws, "a1", "show_patch", json!({})).await.unwrap();
    assert!(
        patch.contains("+                end = len(source)"),
        "{patch}"
    );
    assert!(patch.contains("2 files, +2 -1"), "{patch}");

    ws.cleanup();
    assert_eq!(contents(&repo), before, "the user's files changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_past_its_timeout_is_killed_with_its_children() {
    let (dir, repo) = fixture_copy();
    let ws = open(&repo, true, false);
    let pid_file = dir.path().join("bg.pid");
    let started = Instant::now();
    let out = call(
        &ws,
        "a1",
        "run_command",
        json!({"cmd": format!("echo begun; sleep 30 & echo $! > {}; wait", pid_file.display()), "timeout_s": 1}),
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(out.starts_with("c1: "), "{out}");
    assert!(
        out.contains("was killed after 1.0 s (its timeout)"),
        "{out}"
    );
    assert!(out.contains("begun"), "{out}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !alive(pid),
        "the background child {pid} survived the timeout"
    );
    // The run is recorded and citable: its output resolves, an unknown id does not.
    let resolved = ws.resolve(&cite("cmd:c1", "begun")).unwrap();
    assert_eq!(
        resolved.evidence.resolved.as_deref(),
        Some("cmd:c1 (timed out)")
    );
    assert!(
        ws.resolve(&cite("cmd:c2", "begun"))
            .unwrap_err()
            .contains("the only run is c1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setsid_escape_dies_with_the_command() {
    let (dir, repo) = fixture_copy();
    let ws = open(&repo, true, false);
    let read_pid = |file: &Path| -> i32 {
        std::fs::read_to_string(file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    // At the timeout (the escaped process is in its own session and process group), and
    // when the command ends by itself: what it left behind ends with it.
    for (then, timeout, ending) in [
        ("; sleep 30", 1, "was killed after 1.0 s"),
        ("", 60, "exited with 0"),
    ] {
        let pid_file = dir.path().join(format!("escaped-{timeout}.pid"));
        let cmd = format!("setsid sleep 1000 & echo $! > {}{then}", pid_file.display());
        let out = call(
            &ws,
            "a1",
            "run_command",
            json!({"cmd": cmd, "timeout_s": timeout}),
        )
        .await
        .unwrap();
        assert!(out.contains(ending), "{out}");
        let pid = read_pid(&pid_file);
        assert!(
            gone_within(pid, Duration::from_secs(30)),
            "the setsid process {pid} outlived its command ({ending})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_bwrap_only_the_copy_is_writable() {
    let (dir, repo) = fixture_copy();
    let Some(ws) = open_sandboxed(&repo, true, false) else {
        return;
    };
    let before = contents(&repo);
    // A file outside /tmp (the sandbox mounts its own), and one in the host's /tmp.
    let outside = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bwrap-outside-{}.txt", std::process::id()));
    std::fs::write(&outside, "untouched\n").unwrap();
    let in_tmp = dir.path().join("in-tmp.txt");
    std::fs::write(&in_tmp, "untouched\n").unwrap();
    let out = call(
        &ws,
        "a1",
        "run_command",
        json!({"cmd": format!(
            "echo changed > {repo}/README.md; echo \"repo:$?\"; echo changed > {outside}; \
             echo \"outside:$?\"; touch \"$HOME/delm-probe\"; echo \"home:$?\"; \
             echo changed > {in_tmp}; echo made > made.txt && cat made.txt; \
             echo tmp > /tmp/t && cat /tmp/t",
            repo = repo.display(),
            outside = outside.display(),
            in_tmp = in_tmp.display()
        )}),
    )
    .await
    .unwrap();
    assert!(out.contains("exited with 0"), "{out}");
    for refused in ["repo:", "outside:", "home:"] {
        let status = out
            .lines()
            .find_map(|l| l.strip_prefix(refused))
            .unwrap_or_else(|| panic!("no {refused} line: {out}"));
        assert_ne!(status.trim(), "0", "a write was allowed ({refused}): {out}");
    }
    assert!(out.contains("made") && out.contains("tmp"), "{out}");
    assert_eq!(contents(&repo), before, "the repository changed");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched\n");
    let _ = std::fs::remove_file(&outside);
    // The sandbox's /tmp is its own: the host's file is as it was.
    assert_eq!(std::fs::read_to_string(&in_tmp).unwrap(), "untouched\n");
    assert!(
        !Path::new(&std::env::var("HOME").unwrap_or_default())
            .join("delm-probe")
            .exists()
    );
    // The write landed in the copy: the patch shows it.
    let patch = call(&ws, "a1", "show_patch", json!({})).await.unwrap();
    assert!(patch.contains("made.txt"), "{patch}");
    // The copy's git history is read-only: the baseline cannot be rewritten.
    let out = call(
        &ws,
        "a1",
        "run_command",
        json!({"cmd": "touch .git/probe; echo \"git:$?\""}),
    )
    .await
    .unwrap();
    assert!(!out.contains("git:0"), "{out}");
    ws.cleanup();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_bwrap_there_is_no_network_unless_allowed() {
    let (_dir, repo) = fixture_copy();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The marker is printed in two halves, so the echoed command line never holds it.
    let probe = format!(
        "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); \
         print('CONN' + 'ECTED')\""
    );
    let Some(closed) = open_sandboxed(&repo, false, false) else {
        return;
    };
    let out = call(&closed, "a1", "run_command", json!({"cmd": probe}))
        .await
        .unwrap();
    assert!(
        !out.contains("CONNECTED"),
        "the sandbox reached the network: {out}"
    );
    assert!(out.contains("exited with 1"), "{out}");
    let open = open_sandboxed(&repo, false, true).unwrap();
    let out = call(&open, "a1", "run_command", json!({"cmd": probe}))
        .await
        .unwrap();
    assert!(
        out.contains("CONNECTED"),
        "--allow-net did not allow it: {out}"
    );
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_bwrap_proc_is_private_and_escapes_die_at_the_timeout() {
    let (_dir, repo) = fixture_copy();
    let Some(ws) = open_sandboxed(&repo, false, false) else {
        return;
    };
    let out = call(
        &ws,
        "a1",
        "run_command",
        json!({"cmd": "ls /proc | grep -cE '^[0-9]+$'; tr '\\0' '\\n' < /proc/$PPID/environ"}),
    )
    .await
    .unwrap();
    let count: usize = out
        .lines()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no process count: {out}"));
    assert!(count <= 6, "the sandbox sees {count} processes: {out}");
    assert!(!out.contains("CARGO_MANIFEST_DIR"), "{out}");
    let out = call(
        &ws,
        "a1",
        "run_command",
        json!({"cmd": "setsid sleep 1002 & sleep 30", "timeout_s": 1}),
    )
    .await
    .unwrap();
    assert!(out.contains("was killed after 1.0 s"), "{out}");
    let until = Instant::now() + Duration::from_secs(30);
    while !processes_running("sleep 1002").is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        processes_running("sleep 1002").is_empty(),
        "a sandboxed setsid process survived the timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_is_verified_only_with_a_green_run_on_exactly_its_code() {
    let (_dir, repo) = fixture_copy();
    let ws = open(&repo, true, true);
    let test = json!({"cmd": TEST_CMD});

    let red = call(&ws, "a1", "run_command", test.clone()).await.unwrap();
    assert!(
        red.contains("exited with 1") && red.contains("FAILED"),
        "{red}"
    );
    let red = run_id(&red);
    call(
        &ws,
        "a1",
        "edit_file",
        json!({"path": "calc/lexer.py", "old": BUG, "new": FIX}),
    )
    .await
    .unwrap();
    let patch = || cite("patch:a1", "end = len(source)");

    let err = check(&ws, vec![patch()]).unwrap_err();
    assert!(err.contains("no command run"), "{err}");
    let err = check(
        &ws,
        vec![patch(), cite(&format!("cmd:{red}"), "FAILED (failures=1)")],
    )
    .unwrap_err();
    assert!(err.contains(&format!("{red} exited with 1")), "{err}");

    let green = call(&ws, "a1", "run_command", test.clone()).await.unwrap();
    assert!(green.contains("exited with 0"), "{green}");
    let green = run_id(&green);
    let verified = check(
        &ws,
        vec![patch(), cite(&format!("cmd:{green}"), GREEN_QUOTE)],
    )
    .unwrap();
    let reference = verified[0].resolved.clone().unwrap();
    assert!(reference.starts_with("patch:a1@"), "{reference}");
    assert!(reference.ends_with("(1 file, +1 -1)"), "{reference}");
    // The pinned patch (for the log) holds the diff and the green run on exactly its files.
    let pinned = ws.pinned_patches(&"P1".to_string(), &verified);
    assert_eq!(pinned.len(), 1);
    assert!(
        pinned[0]
            .diff
            .contains("+                end = len(source)")
    );
    assert_eq!(pinned[0].reference, reference.split(' ').next().unwrap());
    assert_eq!(pinned[0].checks.len(), 1);
    assert_eq!(pinned[0].checks[0].run, green);
    assert_eq!(pinned[0].checks[0].tree, pinned[0].tree);
    assert!(pinned[0].checks[0].passed());

    // A run in another agent's worktree does not test a1's patch.
    let elsewhere = run_id(
        &call(
            &ws,
            "a2",
            "run_command",
            json!({"cmd": format!("echo {GREEN_QUOTE}")}),
        )
        .await
        .unwrap(),
    );
    let err = check(
        &ws,
        vec![patch(), cite(&format!("cmd:{elsewhere}"), GREEN_QUOTE)],
    )
    .unwrap_err();
    assert!(err.contains("did not run in a1's worktree"), "{err}");

    // Editing after the green run makes that run stale.
    call(&ws, "a1", "edit_file", json!({"path": "calc/lexer.py", "old": "end = len(source)\n", "new": "end = len(source)  # to the end\n"}))
        .await
        .unwrap();
    let err = check(
        &ws,
        vec![patch(), cite(&format!("cmd:{green}"), GREEN_QUOTE)],
    )
    .unwrap_err();
    assert!(err.contains("ran before a1's last change"), "{err}");

    // A quote that is not in the patch, and a patch that no longer applies, are refused.
    let again = run_id(&call(&ws, "a1", "run_command", test).await.unwrap());
    let err = check(
        &ws,
        vec![
            cite("patch:a1", "return None if not tokens"),
            cite(&format!("cmd:{again}"), GREEN_QUOTE),
        ],
    )
    .unwrap_err();
    assert!(err.contains("quote not found in a1's patch"), "{err}");
    check(
        &ws,
        vec![patch(), cite(&format!("cmd:{again}"), GREEN_QUOTE)],
    )
    .unwrap();
    let lexer = repo.join("calc/lexer.py");
    let changed = std::fs::read_to_string(&lexer)
        .unwrap()
        .replace(BUG, "            if end < 0:\n                break\n");
    std::fs::write(&lexer, changed).unwrap();
    let err = check(
        &ws,
        vec![patch(), cite(&format!("cmd:{again}"), GREEN_QUOTE)],
    )
    .unwrap_err();
    assert!(err.contains("does not apply cleanly"), "{err}");
    let err = check(
        &ws,
        vec![
            cite("patch:a3", "end = len(source)"),
            cite(&format!("cmd:{again}"), GREEN_QUOTE),
        ],
    )
    .unwrap_err();
    assert!(err.contains("a3 has no worktree"), "{err}");
}

// ---------------------------------------------------------------------------------------
// The real binary: a scripted agent fixes the bug.

const KEY: &str = "sk-live-SECRET-exec-edit-4c1d";
const SERVICE_TOKEN: &str = "svc-token-0a9f8e7d";
const KEY_VAR: &str = "MODEL_ACCESS";

/// A private home for the binary, and the flags every run here shares.
struct Binary {
    home: Home,
}

impl Binary {
    fn new() -> Binary {
        Binary { home: Home::new() }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.home.path(name)
    }
    fn tmp(&self) -> PathBuf {
        self.home.tmp()
    }
    fn run(&self, mock: &MockLlm, repo: &Path, session: &Path, extra: &[&str]) -> Output {
        self.run_with(mock, repo, session, extra, &[])
    }
    fn run_with(
        &self,
        mock: &MockLlm,
        repo: &Path,
        session: &Path,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Output {
        let mut cmd = self.home.delm();
        cmd.env(KEY_VAR, KEY)
            .env("OPENAI_API_KEY", KEY)
            .env("MY_SERVICE_TOKEN", SERVICE_TOKEN)
            .args([
                "run",
                "Why is a trailing comment dropped? Fix it.",
                "--headless",
            ])
            .args(["--agents", "1", "--verify", "evidence"])
            .args(["--base-url", &mock.base_url, "--api-key-env", KEY_VAR])
            .arg("--repo")
            .arg(repo)
            .arg("--session")
            .arg(session)
            .args(["--allow-exec", "--allow-edit"])
            .args(extra)
            .envs(envs.iter().copied());
        cmd.output().unwrap()
    }
}

#[test]
fn an_agent_fixes_the_bug_in_its_worktree_and_the_patch_is_written_next_to_the_session() {
    let bin = Binary::new();
    let (_dir, repo) = fixture_copy();
    let before = contents(&repo);
    let mock = MockLlm::start_blocking(Wire::OpenAi, repair(Cites::GreenRun));
    let session = bin.path("fix.jsonl");
    let out = bin.run(&mock, &repo, &session, &[]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);

    // The command environment had no secrets: not the provider key (under either
    // variable), not the service token.
    let requests = mock.requests();
    let env_output = requests
        .iter()
        .flat_map(|r| r.tool_results())
        .map(|(_, t)| t)
        .find(|t| t.starts_with("c1: `env`"))
        .expect("the env run's result");
    assert!(env_output.contains("PATH="), "{env_output}");
    for secret in [
        KEY,
        SERVICE_TOKEN,
        "MY_SERVICE_TOKEN",
        KEY_VAR,
        "OPENAI_API_KEY",
    ] {
        assert!(
            !env_output.contains(secret),
            "{secret} reached the command: {env_output}"
        );
    }
    // The test failed first, in the worktree.
    let red = requests
        .iter()
        .flat_map(|r| r.tool_results())
        .map(|(_, t)| t)
        .find(|t| t.starts_with("c2: "))
        .unwrap();
    assert!(
        red.contains("exited with 1") && red.contains("test_trailing_comment_is_kept"),
        "{red}"
    );

    // The finding was verified with both pieces of evidence resolved.
    let events = delm::session::read_session(&session).unwrap().events;
    let state = RunState::from_events(events.iter());
    let point = state
        .points
        .iter()
        .find(|p| p.point.headline.starts_with("tokenize dropped"))
        .expect("the finding");
    assert_eq!(point.status, PointStatus::Verified, "{:?}", point.note);
    let resolved: Vec<&str> = point
        .point
        .evidence
        .iter()
        .filter_map(|e| e.resolved.as_deref())
        .collect();
    assert!(resolved[0].starts_with("patch:a1@"), "{resolved:?}");
    assert_eq!(resolved[1], "cmd:c3 (exit 0)");
    assert!(
        state
            .answer
            .as_ref()
            .unwrap()
            .cited
            .contains(&point.point.id)
    );

    // The log keeps the pinned patch and the assembled result, right before run_finished.
    // The result's one check was cited again, not re-run: the assembled files are exactly
    // the ones it passed on.
    assert_eq!(state.patches.len(), 1);
    assert!(
        state.patches[0]
            .diff
            .contains("+                end = len(source)")
    );
    let result = state.result.as_ref().expect("result_assembled");
    assert_eq!(result.merged.len(), 1);
    assert_eq!(result.merged[0].point, point.point.id);
    assert!(result.verified(), "{result:?}");
    assert_eq!(result.tree, state.patches[0].tree);
    assert_eq!(result.checks.len(), 1);
    assert!(result.checks[0].reused && result.checks[0].run == "c3");
    let kinds: Vec<&str> = events.iter().map(|e| e.event.type_name()).collect();
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["result_assembled", "run_finished"]
    );

    // The patch sits next to the session, names itself on stderr, and fixes the bug.
    let patch_file = bin.path("fix.patch");
    let diff = std::fs::read_to_string(&patch_file).expect("fix.patch next to the session");
    assert!(
        diff.starts_with("# delm: the assembled result of run "),
        "{diff}"
    );
    assert!(
        diff.contains(&format!("#   {} by a1 (patch:a1@", point.point.id)),
        "{diff}"
    );
    assert!(diff.contains("reused: it exited with 0"), "{diff}");
    assert!(
        diff.contains("+                end = len(source)"),
        "{diff}"
    );
    assert!(diff.contains("--- a/calc/lexer.py"), "{diff}");
    assert!(
        stderr.contains(&format!("patch: {}", patch_file.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "verified in {}, cited by the answer",
            point.point.id
        )),
        "{stderr}"
    );
    assert!(stderr.contains("your files were not changed"), "{stderr}");

    // The user's repository is byte for byte as it was; the worktrees are gone.
    assert_eq!(contents(&repo), before, "the fixture repository changed");
    let left: Vec<_> = std::fs::read_dir(bin.tmp()).unwrap().collect();
    assert!(left.is_empty(), "worktrees left behind: {left:?}");

    // Nothing secret in the session either.
    let log = std::fs::read_to_string(&session).unwrap();
    assert!(!log.contains(KEY) && !log.contains(SERVICE_TOKEN));

    // And the patch really applies to (and fixes) a fresh copy.
    let (_fresh_dir, fresh) = fixture_copy();
    assert!(
        !unittest(&fresh).status.success(),
        "the fixture's test should fail"
    );
    let applied = repo::git_apply(&fresh, &patch_file);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    let after = unittest(&fresh);
    assert!(after.status.success(), "{}", text(&after.stderr));
}

/// Secrets of every shape the scrub must recognise, by name or by value.
const PLANTED: &[(&str, &str)] = &[
    (
        "SENTRY_DSN",
        "https://0123456789abcdef0123@o1.ingest.sentry.io/42",
    ),
    ("DB_PWD", "db-password-planted-77"),
    (
        "CI_JOB_JWT",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlcGxhbnRlZA",
    ),
    ("STRIPE_SK", "sk_live_planted0123456789abcdef"),
    (
        "SLACK_WEBHOOK_URL",
        "https://hooks.slack.com/services/T0PLANT/B0PLANT/xyzPLANTED",
    ),
    (
        "DATABASE_URL2",
        "postgres://db.internal/app?sslmode=require&password=pg-planted-88",
    ),
    // The provider key under a name that does not look secret.
    ("LLM_ALIAS", KEY),
];

/// An agent that prints delm's own environment (reversed, so redaction cannot hide what
/// is there: only sealing can) and the command's environment, then finishes.
fn environ_script(req: &RecordedRequest, _n: usize) -> Reply {
    if is_judge(req) {
        return approve();
    }
    if is_finalise(req) {
        return final_answer(req, "Looked at the environment.");
    }
    match assistant_turns(req) {
        0 => Reply::tool(
            "run_command",
            json!({"cmd": "tr '\\0' '\\n' < /proc/$PPID/environ | rev; echo =====; env | rev; echo =====; env"}),
        ),
        _ => finish("looked"),
    }
}

fn assert_no_secret_reaches_commands(extra: &[&str]) {
    let bin = Binary::new();
    let (_dir, repo) = fixture_copy();
    let mock = MockLlm::start_blocking(Wire::OpenAi, environ_script);
    let session = bin.path("environ.jsonl");
    let out = bin.run_with(&mock, &repo, &session, extra, PLANTED);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let output = mock
        .requests()
        .iter()
        .flat_map(|r| r.tool_results())
        .map(|(_, t)| t)
        .find(|t| t.starts_with("c1: "))
        .expect("the command's result");
    assert!(
        output.contains("=====") && output.contains("HTAP"),
        "{output}"
    );
    let reversed = |s: &str| s.chars().rev().collect::<String>();
    let mut secrets: Vec<&str> = PLANTED.iter().map(|(_, v)| *v).collect();
    secrets.extend([KEY, SERVICE_TOKEN]);
    for secret in secrets {
        assert!(
            !output.contains(secret) && !output.contains(&reversed(secret)),
            "{secret} reached a command: {output}"
        );
    }
    for name in [
        "SENTRY_DSN",
        "DB_PWD",
        "STRIPE_SK",
        "LLM_ALIAS",
        "OPENAI_API_KEY",
    ] {
        assert!(
            !output.lines().any(|l| l.starts_with(&format!("{name}="))),
            "{name} is in the command's environment: {output}"
        );
    }
    let log = std::fs::read_to_string(&session).unwrap();
    for (_, secret) in PLANTED {
        assert!(!log.contains(secret), "{secret} reached the session");
    }
}

#[test]
fn a_command_cannot_read_secrets_from_delms_environment() {
    assert_no_secret_reaches_commands(&[]);
}

#[test]
fn a_sandboxed_command_cannot_read_secrets_either() {
    if !support::bwrap_can_run() {
        return;
    }
    assert_no_secret_reaches_commands(&["--sandbox", "bwrap"]);
}

#[test]
fn apply_changes_the_repository_only_when_asked() {
    let bin = Binary::new();
    let (_dir, repo) = fixture_copy();
    let secrets_before = std::fs::read(repo.join("secrets.env")).unwrap();
    let mock = MockLlm::start_blocking(Wire::OpenAi, repair(Cites::GreenRun));
    let session = bin.path("apply.jsonl");
    let out = bin.run(&mock, &repo, &session, &["--apply"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    assert!(
        stderr.contains(&format!("applied the patch to {}", repo.display())),
        "{stderr}"
    );
    assert!(bin.path("apply.patch").exists());
    let tests = unittest(&repo);
    assert!(tests.status.success(), "{}", text(&tests.stderr));
    assert_eq!(
        std::fs::read(repo.join("secrets.env")).unwrap(),
        secrets_before
    );

    // --allow-edit without --allow-exec, and --apply without --allow-edit, are usage errors.
    let out = Command::new(env!("CARGO_BIN_EXE_delm"))
        .args(["run", "q", "--headless", "--allow-edit"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--allow-exec"),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_delm"))
        .args(["run", "q", "--headless", "--apply"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--allow-edit"),
        "{}",
        text(&out.stderr)
    );
}
