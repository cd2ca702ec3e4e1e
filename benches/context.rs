//! `prompt::context_block`, built on every claim: the budgeted shared-context block at 1k and
//! 10k points.

#[path = "../examples/bench/synthetic.rs"]
#[allow(dead_code)] // the log-sized generator serves the other benches
mod synthetic;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use delm::engine::context::BoardView;
use delm::engine::prompt::context_block;
use std::hint::black_box;

fn block(c: &mut Criterion) {
    let mut group = c.benchmark_group("context_block");
    for points in [1_000, 10_000] {
        let view = BoardView::from_events(&synthetic::run_events(synthetic::RunShape {
            tasks: points / 10,
            points,
            agents: 8,
        }));
        let task = view.state.tasks.last().expect("tasks");
        let focus = format!("{} {} {}", view.state.goal, task.title, task.detail);
        group.bench_with_input(BenchmarkId::from_parameter(points), &view, |b, view| {
            b.iter(|| black_box(context_block(view, black_box(&focus), 2_000)))
        });
    }
    group.finish();
}

criterion_group!(benches, block);
criterion_main!(benches);
