//! Reducer throughput: folding a realistic event log through `RunState::apply`, the work
//! replay, resume and every live subscriber do per event.

#[path = "../examples/bench/synthetic.rs"]
mod synthetic;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use delm::event::RunState;
use std::hint::black_box;

fn fold(c: &mut Criterion) {
    let events = synthetic::session_events(20_000);
    let mut group = c.benchmark_group("reducer");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("fold_20k_events", |b| {
        b.iter(|| black_box(RunState::from_events(black_box(&events))))
    });
    group.finish();
}

criterion_group!(benches, fold);
criterion_main!(benches);
