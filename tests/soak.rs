//! The soak: the real `delm` binary with 256 agents working through a tree of tasks (the
//! goal splits into F parts, each part into F pieces, each piece records a point), against a
//! scripted provider that fails a steady share of calls the ways real ones do (429 with
//! Retry-After, 500, a stream cut mid-answer). The run must finish with nothing lost: every
//! answered call is one `llm_call`, every injected fault one `llm_retry`, every task
//! finished, every piece's point verified, the sequence strictly increasing, `run_finished`
//! once. Memory is sampled and printed, not asserted (figures belong in BENCHMARKS.md, not
//! in a timed test).
//!
//! `cargo test --release --test soak -- --nocapture` prints the figures; `DELM_SOAK_FANOUT=F`
//! sets the tree's width (default 16: 1 + 16 + 256 tasks).

mod support;
mod swarm;

use delm::event::Event;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{MockLlm, RecordedRequest, Reply, Wire};
use swarm::{approve, assistant_turns, finish, is_finalise, is_judge, record, task_line};

const KEY: &str = "sk-soak-SECRET-5f4dcc3b5aa765d6";
const AGENTS: &str = "256";

/// What the provider did with the requests it was sent.
#[derive(Default)]
struct Faults {
    /// Tasks each split adds.
    fanout: usize,
    /// How many times each distinct request body was seen (a retry repeats its body).
    seen: Mutex<HashMap<u64, u32>>,
    injected: AtomicU64,
    answered: AtomicU64,
}

impl Faults {
    /// The first time a request is seen, one in four fails (which way depends on the
    /// request); its retry is answered. Every call therefore succeeds on its second attempt
    /// at worst, so the run's outcome does not hang on luck.
    fn play(&self, req: &RecordedRequest, n: usize) -> Reply {
        let mut hasher = DefaultHasher::new();
        req.body.to_string().hash(&mut hasher);
        let hash = hasher.finish();
        let first = {
            let mut seen = self.seen.lock().unwrap();
            let count = seen.entry(hash).or_insert(0);
            *count += 1;
            *count == 1
        };
        if first && hash.is_multiple_of(4) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return match (hash / 4) % 3 {
                0 => Reply::Status {
                    code: 429,
                    headers: vec![("retry-after".into(), "0".into())],
                    body: r#"{"error":{"message":"rate limited","type":"rate_limit"}}"#.into(),
                },
                1 => Reply::error(500, "internal error"),
                _ => Reply::CutStream("Looking at the document".into()),
            };
        }
        self.answered.fetch_add(1, Ordering::SeqCst);
        self.work(req, n)
    }

    /// The work itself, decided from the request: the goal splits into parts, a part into
    /// pieces, a piece records one point and finishes.
    fn work(&self, req: &RecordedRequest, _n: usize) -> Reply {
        if is_judge(req) {
            return approve();
        }
        if is_finalise(req) {
            return swarm::final_answer(req, "Every piece was measured.");
        }
        let line = task_line(req);
        let title = line.split_once(": ").map_or("", |(_, t)| t.trim());
        let turn = assistant_turns(req);
        let split = |prefix: &str| {
            let mut calls: Vec<(String, serde_json::Value)> = (1..=self.fanout)
                .map(|j| {
                    (
                        "add_task".to_string(),
                        serde_json::json!({
                            "title": format!("{prefix}{j}"),
                            "detail": "Measure this piece and record what you find."
                        }),
                    )
                })
                .collect();
            calls.push(("finish_task".into(), serde_json::json!({"result": "split"})));
            Reply::Tools(calls)
        };
        match title.strip_prefix("Part ") {
            _ if turn > 0 && !title.contains('.') => finish("split"),
            None => split("Part "),
            Some(part) if !part.contains('.') => split(&format!("Part {part}.")),
            Some(piece) => match turn {
                0 => record(
                    "partial",
                    &format!("Piece {piece} measures {} units", piece.len() * 7),
                    "",
                    "",
                ),
                _ => finish("measured"),
            },
        }
    }
}

/// Resident set size of `pid` in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn soak_256_agents_through_provider_faults_loses_nothing() {
    let fanout: usize = std::env::var("DELM_SOAK_FANOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let tasks = 1 + fanout + fanout * fanout;
    let home = tempfile::tempdir().unwrap();
    // Room for the whole tree.
    let config = home.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), format!("max_tasks = {tasks}\n")).unwrap();

    let faults = Arc::new(Faults {
        fanout,
        ..Faults::default()
    });
    let play = faults.clone();
    let mock = MockLlm::start_blocking(Wire::OpenAi, move |req, n| play.play(req, n));
    let session = home.path().join("soak.jsonl");
    // Stderr (the headless story) goes to a file: a pipe nobody reads would fill and stop
    // the run.
    let stderr_path = home.path().join("stderr.txt");
    let stderr_file = std::fs::File::create(&stderr_path).unwrap();
    let started = Instant::now();
    let mut child = support::delm_command(env!("CARGO_BIN_EXE_delm"), home.path(), KEY)
        .args([
            "run",
            "Measure every piece of the system.",
            "--headless",
            "--agents",
            AGENTS,
            "--base-url",
            &mock.base_url,
            "--session",
            session.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(stderr_file)
        .spawn()
        .unwrap();

    // Memory, sampled until the process exits.
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut samples: Vec<(Duration, u64)> = Vec::new();
            let start = Instant::now();
            while !done.load(Ordering::SeqCst) {
                if let Some(kib) = rss_kib(pid) {
                    samples.push((start.elapsed(), kib));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        })
    };
    let status = child.wait().unwrap();
    done.store(true, Ordering::SeqCst);
    let samples = sampler.join().unwrap();
    let wall = started.elapsed();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(status.success(), "the soak run failed: {status}\n{stderr}");

    let log = delm::session::read_session(&session).unwrap();
    assert!(log.bad_lines.is_empty() && !log.torn_tail);
    let seqs: Vec<u64> = log.events.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "seq must increase by one"
    );
    let count =
        |pred: &dyn Fn(&Event) -> bool| log.events.iter().filter(|e| pred(&e.event)).count();
    assert_eq!(count(&|e| matches!(e, Event::RunFinished { .. })), 1);
    let calls = count(&|e| matches!(e, Event::LlmCall { .. })) as u64;
    let retries = count(&|e| matches!(e, Event::LlmRetry { .. })) as u64;
    let injected = faults.injected.load(Ordering::SeqCst);
    let answered = faults.answered.load(Ordering::SeqCst);
    assert!(injected > 0, "the provider injected no fault");
    assert_eq!(calls, answered, "every answered call is one llm_call");
    assert_eq!(retries, injected, "every injected fault is one llm_retry");
    let added = count(&|e| matches!(e, Event::TaskAdded { .. }));
    let finished: std::collections::HashSet<_> = log
        .events
        .iter()
        .filter_map(|e| match &e.event {
            Event::TaskFinished { task, .. } => Some(task.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(added, tasks, "the whole tree was added");
    assert_eq!(finished.len(), tasks, "every task finishes");
    let verified = count(&|e| matches!(e, Event::PointVerified { .. }));
    assert_eq!(verified, fanout * fanout, "every piece's point is verified");
    let all = std::fs::read_to_string(&session).unwrap();
    assert!(
        !all.contains(KEY) && !stderr.contains(KEY),
        "the key leaked"
    );

    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let at = |share: f64| {
        samples
            .iter()
            .find(|(t, _)| t.as_secs_f64() >= wall.as_secs_f64() * share)
            .map_or(0, |s| s.1)
    };
    println!(
        "soak: {tasks} tasks, {AGENTS} agents, {} events, {calls} calls answered, {injected} \
         faults injected and retried, wall {:.1} s; RSS KiB at 25% {} / 50% {} / 75% {} of the \
         run, peak {peak}; session {} KiB",
        log.events.len(),
        wall.as_secs_f64(),
        at(0.25),
        at(0.5),
        at(0.75),
        all.len() / 1024,
    );
}
