//! Figure 3: the same scripted workload under delm, central and isolated coordination. The
//! scripted model is the same for all three and decides from what the engine sends it, so
//! the differences in wall time, model calls and tokens come from coordination alone.

use super::figure::{Figure, Sizes};
use super::scripted_run::{NullSink, RunSpec, run};
use delm::event::{CallPurpose, PointStatus, StoppedBy, VerifyMode};
use delm::llm::scripted::{Script, ScriptedPoint};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub const MODES: [&str; 3] = ["delm", "central", "isolated"];

pub fn measure(sizes: &Sizes) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for mode in MODES {
        let script = Script {
            subtasks: sizes.coordination_subtasks,
            plan_batch: sizes.coordination_subtasks,
            point: ScriptedPoint::Partial,
            latency: sizes.coordination_latency,
            output_tokens: 150,
            judge_output_tokens: 30,
            report_words: 250,
        };
        let outcome = run(
            RunSpec {
                script,
                agents: sizes.coordination_agents,
                coordination: mode,
                verify: VerifyMode::Judge,
                timeout: Duration::from_secs(300),
            },
            Box::new(NullSink),
            Arc::new(|_, _, _| {}),
        )?;
        let state = &outcome.state;
        let answer = state
            .answer
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the {mode} run ended without an answer"))?;
        anyhow::ensure!(
            answer.stopped_by == StoppedBy::Completed,
            "the {mode} run stopped early ({:?}): {}",
            answer.stopped_by,
            answer.answer
        );
        // The log must account for every call the model answered.
        let seen = outcome.model.counts();
        anyhow::ensure!(
            seen.calls == state.totals.calls && seen.input_tokens == state.totals.tokens_in,
            "the {mode} log records {} calls / {} input tokens, the model answered {} / {}",
            state.totals.calls,
            state.totals.tokens_in,
            seen.calls,
            seen.input_tokens
        );
        let params = json!({
            "coordination": mode,
            "coordination_recorded": state.coordination,
            "agents": sizes.coordination_agents,
            "subtasks": sizes.coordination_subtasks,
            "latency_ms": sizes.coordination_latency.as_millis() as u64,
            "tasks": state.tasks.len(),
            "work_calls": outcome.calls_for(CallPurpose::Work),
            "judge_calls": outcome.calls_for(CallPurpose::Judge),
            "finalise_calls": outcome.calls_for(CallPurpose::Finalise),
            "points_verified": state.points.iter().filter(|p| p.status == PointStatus::Verified).count(),
            "tokens_out": state.totals.tokens_out,
        });
        figures.push(Figure::new(
            format!("coordination.wall.{mode}"),
            outcome.wall.as_secs_f64(),
            "s",
            params.clone(),
        ));
        figures.push(Figure::new(
            format!("coordination.model_calls.{mode}"),
            state.totals.calls as f64,
            "calls",
            params.clone(),
        ));
        figures.push(Figure::new(
            format!("coordination.input_tokens.{mode}"),
            state.totals.tokens_in as f64,
            "tokens",
            params,
        ));
    }
    Ok(figures)
}
