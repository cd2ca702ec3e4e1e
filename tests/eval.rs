//! `delm eval` with the real binary against the scripted server: the table, the files it
//! writes, and a suite's bad line.

mod support;
mod swarm;

use serde_json::Value;
use std::path::Path;
use std::process::Output;
use support::{MockLlm, Wire};

const KEY: &str = "sk-test-eval-0123456789";

fn eval<S: AsRef<std::ffi::OsStr>>(home: &Path, args: &[S]) -> Output {
    support::delm_command(env!("CARGO_BIN_EXE_delm"), home, KEY)
        .arg("eval")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `delm eval`'s arguments for `suite` under `modes` against the scripted server.
fn args(suite: &Path, modes: &str, agents: &str, mock: &MockLlm, out: &Path) -> Vec<String> {
    [
        suite.to_str().unwrap(),
        "--coordination",
        modes,
        "--agents",
        agents,
        "--model",
        "openai:gpt-4.1-mini",
        "--base-url",
        &mock.base_url,
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

/// A suite of `copies` times the one Acme revenue case, in `dir`.
fn acme_suite(dir: &Path, copies: usize) -> std::path::PathBuf {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docs/acme");
    let case = format!(
        "{{\"question\": \"What was Acme Corp's 2024 revenue?\", \"docs\": {:?}, \"expected\": \"412.5\"}}\n",
        docs.to_str().unwrap()
    );
    let suite = dir.join("suite.jsonl");
    std::fs::write(&suite, case.repeat(copies)).unwrap();
    suite
}

#[test]
fn the_example_suite_runs_offline_under_every_mode() {
    let home = tempfile::tempdir().unwrap();
    let mock = MockLlm::start_blocking(Wire::OpenAi, swarm::cooperative::script);
    let out = home.path().join("eval");
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/eval/suite.jsonl");
    let run = eval(
        home.path(),
        &args(&suite, "delm,central,isolated", "2", &mock, &out),
    );
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert!(run.status.success(), "exit {:?}\n{stderr}", run.status);
    // The table: a header and one row per mode, in the order asked.
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("3 case(s) × 1 repeat(s)"), "{stdout}");
    assert!(lines[1].contains("accuracy") && lines[1].contains("billed input tokens"));
    for (line, mode) in lines[2..].iter().zip(["delm", "central", "isolated"]) {
        assert!(line.starts_with(mode), "{stdout}");
        assert!(line.contains(" ± "), "{line}");
    }
    // gpt-4.1-mini has a list price: no footnote about unpriced calls.
    assert_eq!(lines.len(), 5, "{stdout}");
    // Progress on stderr, one line a run; the runs' own stories stay out of it.
    assert_eq!(stderr.matches("eval: [").count(), 9, "{stderr}");
    assert!(!stderr.contains("claimed T1"), "{stderr}");
    // Every run wrote its session; JSON and CSV hold every run and mode.
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 9);
    for r in runs {
        let session = r["session"].as_str().unwrap();
        let log = std::fs::read_to_string(session).unwrap();
        assert!(log.contains("\"type\":\"run_finished\""), "{session}");
        assert!(r["calls"].as_u64().unwrap() > 0, "{r}");
        assert!(
            r["accurate"].is_boolean(),
            "every example case is judged: {r}"
        );
    }
    // The check case ran in copies: the fixture itself is untouched.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/convert");
    let source = std::fs::read_to_string(fixture.join("convert/temperature.py")).unwrap();
    assert!(
        source.contains("* 5 / 8"),
        "the planted bug is still in the fixture"
    );
    assert!(out.join("work/fix-convert-delm-1/convert/tests").is_dir());
    assert_eq!(json["summary"].as_array().unwrap().len(), 3);
    let csv = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 10, "{csv}");
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("acme-revenue,delm,1,")
    );
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 4, "{summary}");
    // The key went to the provider only.
    for (name, s) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!s.contains(KEY), "the key leaked into {name}");
    }
    assert!(
        !std::fs::read_to_string(out.join("eval.json"))
            .unwrap()
            .contains(KEY)
    );
}

#[test]
fn repeats_give_a_deviation_and_a_used_directory_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let mock = MockLlm::start_blocking(Wire::OpenAi, swarm::cooperative::script);
    let suite = acme_suite(home.path(), 1);
    let out = home.path().join("eval");
    let mut args = args(&suite, "delm", "2", &mock, &out);
    args.extend(["--repeat".to_string(), "2".to_string()]);
    let run = eval(home.path(), &args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.starts_with("1 case(s) × 2 repeat(s)"), "{stdout}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 2);
    assert!(json["summary"][0]["calls"]["sd"].is_number());
    let again = eval(home.path(), &args);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already holds an eval"));
}

#[test]
fn a_bad_line_is_a_usage_error_with_its_number_and_reason() {
    let home = tempfile::tempdir().unwrap();
    let suite = home.path().join("suite.jsonl");
    std::fs::write(
        &suite,
        "{\"question\": \"Fine?\"}\n{\"question\": \"Where?\", \"docs\": \"no/such/dir\"}\n",
    )
    .unwrap();
    let run = eval(
        home.path(),
        &[suite.to_str().unwrap(), "--model", "openai:gpt-4.1-mini"],
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 2: `docs`"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(run.stdout.is_empty(), "no table for a bad suite");
    // A flag every run would refuse is refused once, before any run.
    std::fs::write(&suite, "{\"question\": \"Fine?\"}\n").unwrap();
    let run = eval(
        home.path(),
        &[
            suite.to_str().unwrap(),
            "--agents",
            "0",
            "--model",
            "openai:gpt-4.1-mini",
        ],
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("--agents must be between 1 and"));
}

/// The cooperative agent, each answer a second late: slow enough to interrupt a run.
fn slow_script(req: &support::RecordedRequest, n: usize) -> support::Reply {
    support::Reply::Delay(
        std::time::Duration::from_millis(1000),
        Box::new(swarm::cooperative::script(req, n)),
    )
}

/// Start `delm eval` on `suite` (delm only, one agent), wait until `session` holds `needle`,
/// send it `signal`, and return how it ended and its stderr.
fn interrupted_eval(
    home: &Path,
    suite: &Path,
    mock: &MockLlm,
    session: &str,
    needle: &str,
    signal: &str,
) -> (Output, String) {
    let out = home.join("eval");
    let mut child = support::delm_command(env!("CARGO_BIN_EXE_delm"), home, KEY)
        .arg("eval")
        .args(args(suite, "delm", "1", mock, &out))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let session = out.join("sessions").join(session);
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&session)
        .unwrap_or_default()
        .contains(needle)
    {
        assert!(started.elapsed().as_secs() < 30, "{needle} never came");
        assert!(child.try_wait().unwrap().is_none(), "the eval ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let run = child.wait_with_output().unwrap();
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted after 1 of 2 runs"), "{stderr}");
    (run, stderr)
}

fn eval_json(home: &Path) -> Value {
    let text = std::fs::read_to_string(home.join("eval/eval.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn ctrl_c_ends_the_eval_after_the_run_in_progress() {
    let home = tempfile::tempdir().unwrap();
    let mock = MockLlm::start_blocking(Wire::OpenAi, slow_script);
    let suite = acme_suite(home.path(), 2);
    // Once the first run has made a model call, interrupt it as Ctrl-C would.
    let (run, _) = interrupted_eval(
        home.path(),
        &suite,
        &mock,
        "case1-delm-1.jsonl",
        "\"type\":\"llm_call\"",
        "INT",
    );
    let json = eval_json(home.path());
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "the second case never started");
    assert!(
        runs[0]["accurate"].is_null(),
        "an interrupted run is not judged"
    );
    assert!(text(&run.stdout).starts_with("2 case(s) × 1 repeat(s)"));
}

#[test]
fn a_signal_between_runs_ends_the_eval_before_the_next_one() {
    let home = tempfile::tempdir().unwrap();
    let mock = MockLlm::start_blocking(Wire::OpenAi, swarm::cooperative::script);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/convert");
    // The check outlasts the run: the signal lands while it runs, between two runs.
    let case = format!(
        "{{\"question\": \"Fix the tests.\", \"repo\": {:?}, \"check\": \"sleep 2\"}}\n",
        repo.to_str().unwrap()
    );
    let suite = home.path().join("suite.jsonl");
    std::fs::write(&suite, case.repeat(2)).unwrap();
    interrupted_eval(
        home.path(),
        &suite,
        &mock,
        "case1-delm-1.jsonl",
        "\"type\":\"run_finished\"",
        "TERM",
    );
    assert!(
        !home
            .path()
            .join("eval/sessions/case2-delm-1.jsonl")
            .exists()
    );
    // The first run was whole: its check ran to its end (and passed: `sleep` exits 0).
    assert_eq!(
        eval_json(home.path())["runs"][0]["accurate"],
        Value::Bool(true)
    );
}
