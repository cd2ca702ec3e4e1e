//! Synthetic but realistic event logs for the benchmarks that need a big run without running
//! one: the shared-context figure, the session log figure, the TUI frame and the criterion
//! micro-benchmarks. Deterministic (a fixed-seed generator), so runs are comparable.
//!
//! The shape follows a real session: tasks are added and claimed, each task makes model and
//! tool calls and proposes points (most verified, some rejected) with cited evidence, and
//! finishes; the last `agents` tasks are still in progress when the log ends.

use delm::event::{
    AgentStatus, Budgets, CallPurpose, Envelope, Event, Evidence, Mode, Origin, Point, PointKind,
    TaskOutcome, VerifyMode,
};
use serde_json::json;

/// The size of a synthetic run.
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    pub tasks: usize,
    /// Points proposed in total (spread over the tasks).
    pub points: usize,
    /// Agents working; the last `agents` tasks are left claimed.
    pub agents: usize,
}

const WORDS: [&str; 64] = [
    "lexer", "parser", "token", "buffer", "comment", "newline", "state", "cache", "index", "query",
    "revenue", "margin", "vendor", "report", "quarter", "growth", "latency", "request", "retry",
    "timeout", "socket", "handler", "config", "default", "schema", "field", "column", "value",
    "range", "offset", "length", "error", "panic", "branch", "commit", "merge", "thread", "lock",
    "queue", "worker", "module", "import", "export", "symbol", "scope", "closure", "iterator",
    "stream", "frame", "render", "widget", "layout", "border", "theme", "keymap", "action",
    "event", "reducer", "session", "replay", "resume", "budget", "token", "verify",
];

/// xorshift64*: deterministic, fast, good enough to vary the text.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn words(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n * 8);
        for i in 0..n {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(WORDS[self.below(WORDS.len())]);
        }
        out
    }
}

/// A point as an agent would record it: headline ~16 words, summary ~80, one or two cited
/// file spans.
pub fn point(rng: &mut Rng, id: usize, agent: &str, task: &str) -> Point {
    let kind = match rng.below(10) {
        0..=6 => PointKind::Finding,
        7 | 8 => PointKind::Partial,
        _ => PointKind::Failure,
    };
    let evidence = (0..1 + rng.below(2))
        .map(|_| {
            let start = 1 + rng.below(400);
            let file = format!("src/{}/{}.rs", WORDS[rng.below(64)], WORDS[rng.below(64)]);
            let lines = format!("{start}-{}", start + 4 + rng.below(20));
            Evidence {
                resolved: Some(format!("{file}:{lines}")),
                source: file,
                lines: Some(lines),
                quote: rng.words(18),
            }
        })
        .collect();
    Point {
        id: format!("P{id}"),
        kind,
        headline: rng.words(16),
        summary: rng.words(80),
        evidence,
        author: agent.to_string(),
        task: Some(task.to_string()),
        supersedes: None,
    }
}

/// Events of a run of the given shape, numbered from seq 1, with timestamps 10 ms apart.
pub fn run_events(shape: RunShape) -> Vec<Envelope> {
    let mut rng = Rng::new(0x5eed_0001);
    let mut out: Vec<Envelope> = Vec::with_capacity(shape.points * 5 + shape.tasks * 8);
    let mut push = |event: Event| {
        let seq = out.len() as u64 + 1;
        let ms = seq * 10;
        out.push(Envelope {
            seq,
            ts: format!(
                "2026-05-01T{:02}:{:02}:{:02}.{:03}Z",
                (ms / 3_600_000) % 24,
                (ms / 60_000) % 60,
                (ms / 1000) % 60,
                ms % 1000
            ),
            event,
        });
    };
    push(Event::RunStarted {
        run_id: "bench".into(),
        goal: "Why does the parser drop trailing comments at the end of a file?".into(),
        mode: Mode::Plain,
        model: "scripted".into(),
        agents: shape.agents,
        verify: VerifyMode::Judge,
        budgets: Budgets::default(),
        coordination: delm::event::Coordination::Delm,
        endpoint: None,
    });
    let tasks = shape.tasks.max(1);
    let agents = shape.agents.max(1);
    let mut next_point = 1;
    for t in 1..=tasks {
        let task = format!("T{t}");
        let agent = format!("a{}", (t - 1) % agents + 1);
        push(Event::TaskAdded {
            task: task.clone(),
            title: format!("examine the {} {}", rng.words(2), rng.words(1)),
            detail: rng.words(30),
            origin: if t == 1 {
                Origin::Initial
            } else {
                Origin::Agent { agent: "a1".into() }
            },
        });
        push(Event::TaskClaimed {
            task: task.clone(),
            agent: agent.clone(),
            attempt: 1,
        });
        push(Event::AgentStatus {
            agent: agent.clone(),
            status: AgentStatus::Working,
            task: Some(task.clone()),
        });
        // Spread the points evenly: task t gets its share of the total.
        let share = shape.points * t / tasks - shape.points * (t - 1) / tasks;
        for _ in 0..share {
            push(Event::LlmCall {
                agent: agent.clone(),
                task: Some(task.clone()),
                purpose: CallPurpose::Work,
                model: "scripted".into(),
                tokens_in: 2_000 + rng.below(6_000) as u64,
                tokens_out: 100 + rng.below(400) as u64,
                tokens_cached_read: 0,
                tokens_cache_write: 0,
                cost_usd: Some(0.001),
                latency_ms: 300 + rng.below(2_000) as u64,
            });
            let p = point(&mut rng, next_point, &agent, &task);
            next_point += 1;
            push(Event::ToolCall {
                agent: agent.clone(),
                task: Some(task.clone()),
                call_id: format!("call_{}", p.id),
                tool: "record_point".into(),
                args: json!({"kind": p.kind.as_str(), "headline": p.headline}),
                ok: true,
                output: format!("{} verified and shared with the other agents.", p.id),
            });
            let id = p.id.clone();
            let evidence = p.evidence.clone();
            push(Event::PointProposed { point: p });
            if rng.below(20) == 0 {
                push(Event::PointRejected {
                    point: id,
                    reason: "the quote is not in the cited lines".into(),
                });
            } else {
                push(Event::PointVerified {
                    point: id,
                    note: Some("judge: the cited lines support it".into()),
                    evidence: Some(evidence),
                });
            }
        }
        if t + agents <= tasks {
            push(Event::TaskFinished {
                task: task.clone(),
                agent: agent.clone(),
                outcome: TaskOutcome::Done,
                result: format!("recorded its points; {}", rng.words(20)),
            });
            push(Event::AgentStatus {
                agent,
                status: AgentStatus::Idle,
                task: None,
            });
        }
    }
    out
}

/// A session of exactly `n` events (a run cut off mid-way, as an interrupted log would be).
pub fn session_events(n: usize) -> Vec<Envelope> {
    let mut events = run_events(RunShape {
        tasks: n / 40 + 1,
        points: n / 4 + 1,
        agents: 16,
    });
    events.truncate(n);
    events
}
