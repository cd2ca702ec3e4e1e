//! The figure groups of the suite, in the order they are published.

use super::figure::{Figure, Sizes};
use super::tui_frame::TuiShape;
use super::{
    claim, context_size, coordination, engine_overhead, nats_board, session_log, tui_frame,
};

/// Group names, as `--only` takes them.
pub const GROUPS: [&str; 7] = [
    "engine",
    "context",
    "coordination",
    "claim",
    "session",
    "tui",
    "nats",
];

/// Measure one group.
pub fn run_group(group: &str, sizes: &Sizes) -> anyhow::Result<Vec<Figure>> {
    match group {
        "engine" => engine_overhead::measure(sizes),
        "context" => context_size::measure(&sizes.context_points),
        "coordination" => coordination::measure(sizes),
        "claim" => claim::measure(&sizes.claim),
        "session" => session_log::measure(sizes.session_events),
        "tui" => tui_frame::measure(TuiShape {
            points: sizes.tui_points,
            tasks: sizes.tui_tasks,
            agents: sizes.tui_agents,
            frames: sizes.tui_frames,
        }),
        "nats" => nats_board::measure(sizes),
        other => anyhow::bail!("unknown figure group `{other}`: use {}", GROUPS.join(", ")),
    }
}
