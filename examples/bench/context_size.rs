//! Figure 2: tokens of shared context per model call as a run grows, delm's budgeted compact
//! block versus sharing everything (every point's headline, summary and evidence, as a
//! "share the full trace" design would put in each prompt). Also the time to build the
//! block, which every claim pays.

use super::figure::{Figure, Target, mean};
use super::synthetic::{RunShape, run_events};
use delm::engine::context::BoardView;
use delm::engine::prompt::{context_block, estimate_tokens, expand_point};
use serde_json::json;
use std::time::Instant;

/// The default `context_budget_tokens` of a run.
const BUDGET: usize = 2_000;

pub fn measure(point_counts: &[usize]) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for &points in point_counts {
        let events = run_events(RunShape {
            tasks: (points / 10).max(1),
            points,
            agents: 8,
        });
        let view = BoardView::from_events(&events);
        let state = &view.state;
        let live: Vec<_> = state.live_points().collect();
        anyhow::ensure!(!live.is_empty(), "the synthetic run has no verified points");
        // Focus texts of real task messages: the goal plus a task's title and detail.
        let focuses: Vec<String> = state
            .tasks
            .iter()
            .rev()
            .take(16)
            .map(|t| format!("{} {} {}", state.goal, t.title, t.detail))
            .collect();
        let mut block_tokens = Vec::new();
        let started = Instant::now();
        for focus in &focuses {
            block_tokens.push(estimate_tokens(&context_block(&view, focus, BUDGET)) as f64);
        }
        let build_us = started.elapsed().as_secs_f64() * 1e6 / focuses.len() as f64;
        let budgeted = mean(&block_tokens);
        let headlines: usize = live
            .iter()
            .map(|p| {
                estimate_tokens(&format!(
                    "{} [{}] {}",
                    p.point.id,
                    p.point.kind.as_str(),
                    p.point.headline
                )) + 1
            })
            .sum();
        let full: usize = live
            .iter()
            .filter_map(|p| expand_point(p, "evidence").ok())
            .map(|text| estimate_tokens(&text))
            .sum();
        let params =
            json!({"points": points, "verified_live": live.len(), "budget_tokens": BUDGET});
        let with = |k: &str, v: serde_json::Value| {
            let mut p = params.clone();
            p[k] = v;
            p
        };
        figures.push(
            Figure::new(
                format!("context_size.budgeted.{points}_points"),
                budgeted,
                "tokens",
                params.clone(),
            )
            // Bounded by the budget (constraints may exceed it; there are none here).
            .target(Target::AtMost(BUDGET as f64 * 1.05)),
        );
        figures.push(Figure::new(
            format!("context_size.all_headlines.{points}_points"),
            headlines as f64,
            "tokens",
            params.clone(),
        ));
        let ratio = full as f64 / budgeted.max(1.0);
        figures.push(Figure::new(
            format!("context_size.full_trace.{points}_points"),
            full as f64,
            "tokens",
            with("full_over_budgeted", json!((ratio * 10.0).round() / 10.0)),
        ));
        let ratio_figure = Figure::new(
            format!("context_size.full_over_budgeted.{points}_points"),
            ratio,
            "x",
            params.clone(),
        );
        figures.push(if points == 1_000 {
            ratio_figure.target(Target::AtLeast(10.0))
        } else {
            ratio_figure
        });
        figures.push(Figure::new(
            format!("context_size.block_build.{points}_points"),
            build_us,
            "µs",
            with("calls", json!(focuses.len())),
        ));
    }
    Ok(figures)
}
