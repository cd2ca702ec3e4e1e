//! Figure 1: what the engine's own machinery costs per task, with a model that answers
//! instantly. Every task is claimed (prompt assembled with the shared context), records one
//! point (verified by the judge turn), and finishes; events go to a null sink.
//!
//! Per-task overhead is CPU time (all threads, `getrusage`) per finished task: at latency 0
//! the process does nothing but coordinate (the scripted model's string handling included).
//! The p99 is over windows of 100 consecutive finished tasks, so it shows how the cost grows
//! as the shared context fills up.

use super::figure::{
    Figure, Sizes, Target, mean, peak_rss_mib, process_cpu, quantile, reset_peak_rss,
};
use super::scripted_run::{NullSink, RunSpec, run};
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

fn one(tasks: usize, agents: usize) -> anyhow::Result<Vec<Figure>> {
    let script = Script {
        subtasks: tasks,
        plan_batch: 100,
        point: ScriptedPoint::Partial,
        latency: Duration::ZERO,
        ..Script::default()
    };
    let finished = Arc::new(AtomicU64::new(0));
    let samples: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(vec![process_cpu()]));
    let observe = {
        let finished = finished.clone();
        let samples = samples.clone();
        Arc::new(
            move |_: &delm::llm::ChatRequest, resp: &delm::llm::ChatResponse| {
                if resp.tool_calls.iter().any(|c| c.name == "finish_task") {
                    let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_multiple_of(WINDOW) {
                        let now = process_cpu();
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
    let secs = outcome.wall.as_secs_f64();
    let cpu_per_task_us = outcome.cpu.as_secs_f64() * 1e6 / done as f64;
    let mut windows: Vec<f64> = samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1e6 / WINDOW as f64)
        .collect();
    let window_mean = mean(&windows);
    let p99 = if windows.is_empty() {
        cpu_per_task_us
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
    Ok(vec![
        throughput,
        Figure::new(
            format!("engine_overhead.cpu_per_task_mean.{agents}_agents"),
            cpu_per_task_us,
            "µs",
            with(json!({"window_mean_us": window_mean})),
        )
        .target(Target::AtMost(100.0)),
        Figure::new(
            format!("engine_overhead.cpu_per_task_p99.{agents}_agents"),
            p99,
            "µs",
            with(json!({"window_tasks": WINDOW, "windows": windows.len()})),
        )
        .target(Target::AtMost(100.0)),
        Figure::new(
            format!("engine_overhead.peak_rss.{agents}_agents"),
            peak,
            "MiB",
            with(json!({"peak_reset_before_run": rss_reset})),
        ),
    ])
}
