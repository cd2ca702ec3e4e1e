//! Figure 3: the same scripted workload under delm, central and isolated coordination. The
//! scripted model is the same for all three and decides from what the engine sends it, so
//! the differences in wall time, model calls and tokens come from coordination alone.

use super::claim::run::{billed_input, price_of, priced_as};
use super::figure::{Figure, Sizes};
use super::scripted_run::{NullSink, RunOutcome, RunSpec, run};
use delm::event::{CallPurpose, Event, PointStatus, StoppedBy, VerifyMode};
use delm::llm::scripted::{CacheWire, Script, ScriptedPoint};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub const MODES: [&str; 3] = ["delm", "central", "isolated"];

/// One run of the survey workload under `mode`, counted on `wire`, checked: it answered,
/// and the log accounts for every call the model answered.
fn one(
    sizes: &Sizes,
    mode: &'static str,
    wire: CacheWire,
    record_and_finish: bool,
) -> anyhow::Result<RunOutcome> {
    let script = Script {
        subtasks: sizes.coordination_subtasks,
        plan_batch: sizes.coordination_subtasks,
        point: ScriptedPoint::Partial,
        latency: sizes.coordination_latency,
        output_tokens: 150,
        judge_output_tokens: 30,
        report_words: 250,
        record_and_finish,
    };
    let outcome = run(
        RunSpec {
            script,
            agents: sizes.coordination_agents,
            coordination: mode,
            verify: VerifyMode::Judge,
            wire,
            price: match wire {
                CacheWire::Off => None,
                wire => Some(price_of(wire)?),
            },
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
    let seen = outcome.model.counts();
    anyhow::ensure!(
        seen.calls == state.totals.calls
            && seen.input_tokens == state.totals.tokens_in
            && seen.cache_read_tokens == state.totals.tokens_cached_read,
        "the {mode} log records {} calls / {} input tokens, the model answered {} / {}",
        state.totals.calls,
        state.totals.tokens_in,
        seen.calls,
        seen.input_tokens
    );
    Ok(outcome)
}

pub fn measure(sizes: &Sizes) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for mode in MODES {
        // Counted as figure 3 always was (prompt characters / 4, no caching).
        let outcome = one(sizes, mode, CacheWire::Off, false)?;
        let state = &outcome.state;
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
        // Issue 10: what a bill shows per subtask, on each provider's wire and cache; and
        // the same with a model that sends its point and `finish_task` in one turn.
        for (wire, one_turn) in [
            (CacheWire::Anthropic, false),
            (CacheWire::OpenAi, false),
            (CacheWire::Anthropic, true),
            (CacheWire::OpenAi, true),
        ] {
            let outcome = one(sizes, mode, wire, one_turn)?;
            let t = &outcome.state.totals;
            let price = price_of(wire)?;
            let billed = billed_input(
                &price,
                t.tokens_in,
                t.tokens_cached_read,
                t.tokens_cache_write,
            );
            let parts = sizes.coordination_subtasks.max(1) as f64;
            let (provider, model) = priced_as(wire);
            let mut by_purpose = serde_json::Map::new();
            for purpose in [CallPurpose::Work, CallPurpose::Judge, CallPurpose::Finalise] {
                let (mut calls, mut billed) = (0u64, 0f64);
                for e in &outcome.events {
                    if let Event::LlmCall {
                        purpose: p,
                        tokens_in,
                        tokens_cached_read,
                        tokens_cache_write,
                        ..
                    } = &e.event
                        && *p == purpose
                    {
                        calls += 1;
                        billed += billed_input(
                            &price,
                            *tokens_in,
                            *tokens_cached_read,
                            *tokens_cache_write,
                        );
                    }
                }
                by_purpose.insert(
                    format!("{purpose:?}").to_lowercase(),
                    json!({"calls": calls, "billed_input": billed.round()}),
                );
            }
            let suffix = if one_turn { "_one_turn" } else { "" };
            figures.push(Figure::new(
                format!(
                    "coordination.billed_input_per_subtask.{mode}.{}{suffix}",
                    wire.as_str()
                ),
                billed / parts,
                "tokens",
                json!({
                    "priced_as": format!("{provider}:{model}"),
                    "input_per_subtask": (t.tokens_in as f64 / parts).round(),
                    "cache_share": if t.tokens_in == 0 { 0.0 } else {
                        (t.tokens_cached_read as f64 / t.tokens_in as f64 * 1000.0).round() / 1000.0
                    },
                    "cost_per_subtask": (t.cost_usd / parts * 1e6).round() / 1e6,
                    "calls": t.calls,
                    "by_purpose": by_purpose,
                }),
            ));
        }
    }
    Ok(figures)
}
