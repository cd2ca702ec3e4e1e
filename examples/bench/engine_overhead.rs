//! Figure 1: what the engine's own machinery costs per task, with a model that answers
//! instantly. Every task is claimed (prompt assembled with the shared context), records one
//! point (verified by the judge turn), and finishes; events go to a null sink and nobody
//! subscribes to them.
//!
//! What is counted:
//! - raw CPU per task: process CPU time (all threads, `getrusage`) from the start of the run
//!   to the model's last `final_answer`, divided by the finished tasks. It includes the
//!   scripted model, which runs in the same process;
//! - model CPU per task: the calling thread's CPU time inside the scripted model's `chat`
//!   (deciding the answer, counting the prompt's tokens, building the response). Exact here
//!   because at latency 0 that call never suspends;
//! - coordination overhead per task = raw − model: claims, prompt and context assembly,
//!   requests and retries wrapper, tool handling, verification, publication, events, the
//!   tokio scheduling of all of it, and the planning and finalise turns' engine side.
//!
//! The p99 is over windows of 100 consecutive finished tasks, so it shows how the cost grows
//! as the shared context fills up.

use super::figure::{
    Figure, Sizes, Target, mean, peak_rss_mib, process_cpu, quantile, reset_peak_rss,
};
use super::scripted_run::{ModelTime, NullSink, RunSpec, run};
use delm::event::{CallPurpose, PointStatus, TaskState, VerifyMode};
use delm::llm::scripted::{Script, ScriptedPoint};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WINDOW: u64 = 100;

pub fn measure(sizes: &Sizes) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for &agents in &sizes.overhead_agents {
        figures.extend(one(sizes.overhead_tasks, agents)?);
    }
    Ok(figures)
}

/// One sample at a window boundary: process CPU and model CPU so far.
#[derive(Clone, Copy)]
struct Sample {
    process: Duration,
    model: Duration,
}

fn one(tasks: usize, agents: usize) -> anyhow::Result<Vec<Figure>> {
    let script = Script {
        subtasks: tasks,
        plan_batch: 100,
        point: ScriptedPoint::Partial,
        latency: Duration::ZERO,
        ..Script::default()
    };
    let finished = Arc::new(AtomicU64::new(0));
    let start = Sample {
        process: process_cpu(),
        model: Duration::ZERO,
    };
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::new(Mutex::new(vec![start]));
    let observe = {
        let finished = finished.clone();
        let samples = samples.clone();
        Arc::new(
            move |_: &delm::llm::ChatRequest, resp: &delm::llm::ChatResponse, model: ModelTime| {
                if resp.tool_calls.iter().any(|c| c.name == "finish_task") {
                    let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_multiple_of(WINDOW) {
                        let now = Sample {
                            process: process_cpu(),
                            model: model.cpu,
                        };
                        samples.lock().unwrap_or_else(|e| e.into_inner()).push(now);
                    }
                }
            },
        )
    };
    let rss_reset = reset_peak_rss();
    let outcome = run(
        RunSpec {
            script,
            agents,
            coordination: "delm",
            verify: VerifyMode::Judge,
            wire: delm::llm::scripted::CacheWire::Off,
            price: None,
            timeout: Duration::from_secs(600),
        },
        Box::new(NullSink),
        observe,
    )?;
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    let state = &outcome.state;
    let done = state
        .tasks
        .iter()
        .filter(|t| t.state == TaskState::Done)
        .count();
    anyhow::ensure!(
        done >= tasks,
        "only {done} of {tasks} tasks finished (answer: {:?})",
        state.answer.as_ref().map(|a| &a.answer)
    );
    let verified = state
        .points
        .iter()
        .filter(|p| p.status == PointStatus::Verified)
        .count();
    let per_task_us = |d: Duration| d.as_secs_f64() * 1e6 / done as f64;
    let secs = outcome.wall.as_secs_f64();
    let raw_us = per_task_us(outcome.cpu);
    let model_us = per_task_us(outcome.model_time.cpu);
    let coordination_us = per_task_us(outcome.cpu.saturating_sub(outcome.model_time.cpu));
    let mut windows: Vec<f64> = samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .windows(2)
        .map(|w| {
            let process = w[1].process.saturating_sub(w[0].process);
            let model = w[1].model.saturating_sub(w[0].model);
            process.saturating_sub(model).as_secs_f64() * 1e6 / WINDOW as f64
        })
        .collect();
    let window_mean = mean(&windows);
    // Which window was the worst (0 = the first 100 tasks): says where the tail comes from.
    let worst_window = windows
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    let p99 = if windows.is_empty() {
        coordination_us
    } else {
        quantile(&mut windows, 0.99)
    };
    let params = json!({
        "agents": agents,
        "agents_effective": state.agents.len(),
        "tasks": done,
        "points_verified": verified,
        "events": outcome.events.len(),
        "model_calls": state.totals.calls,
        "judge_calls": outcome.calls_for(CallPurpose::Judge),
        "latency_ms": 0,
        "wall_s": (secs * 1000.0).round() / 1000.0,
    });
    let with = |extra: serde_json::Value| {
        let mut p = params.clone();
        if let (Some(map), serde_json::Value::Object(more)) = (p.as_object_mut(), extra) {
            map.extend(more);
        }
        p
    };
    let mut throughput = Figure::new(
        format!("engine_overhead.throughput.{agents}_agents"),
        done as f64 / secs,
        "tasks/s",
        params.clone(),
    );
    if agents >= 256 {
        throughput = throughput.target(Target::AtLeast(20_000.0));
    }
    let rounded = |us: f64| (us * 10.0).round() / 10.0;
    Ok(vec![
        throughput,
        Figure::new(
            format!("engine_overhead.coordination_per_task_mean.{agents}_agents"),
            coordination_us,
            "µs",
            with(json!({
                "counted": "process CPU − scripted model CPU",
                "raw_cpu_us": rounded(raw_us),
                "model_cpu_us": rounded(model_us),
                "window_mean_us": rounded(window_mean),
            })),
        )
        .target(Target::AtMost(100.0)),
        Figure::new(
            format!("engine_overhead.coordination_per_task_p99.{agents}_agents"),
            p99,
            "µs",
            with(json!({
                "window_tasks": WINDOW,
                "windows": windows.len(),
                "worst_window": worst_window,
            })),
        )
        .target(Target::AtMost(100.0)),
        Figure::new(
            format!("engine_overhead.raw_cpu_per_task_mean.{agents}_agents"),
            raw_us,
            "µs",
            with(json!({"counted": "process CPU, scripted model included"})),
        ),
        Figure::new(
            format!("engine_overhead.model_cpu_per_task_mean.{agents}_agents"),
            model_us,
            "µs",
            with(json!({
                "counted": "thread CPU inside the scripted model's chat",
                "model_calls_timed": outcome.model_time.calls,
                "model_wall_ms": outcome.model_time.wall.as_millis() as u64,
            })),
        ),
        Figure::new(
            format!("engine_overhead.peak_rss.{agents}_agents"),
            peak,
            "MiB",
            with(json!({"peak_reset_before_run": rss_reset})),
        ),
    ])
}
