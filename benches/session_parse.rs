//! Session log lines: parsing one JSONL line into an `Envelope` (load, replay, resume) and
//! serialising one (every event the engine writes).

#[path = "../examples/bench/synthetic.rs"]
mod synthetic;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use delm::event::Envelope;
use delm::session::read_session_str;
use std::hint::black_box;

fn lines(c: &mut Criterion) {
    let events = synthetic::session_events(5_000);
    let text: String = events
        .iter()
        .map(|e| serde_json::to_string(e).expect("serialise") + "\n")
        .collect();
    let mut group = c.benchmark_group("session_line");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("parse_5k_lines", |b| {
        b.iter(|| black_box(read_session_str(black_box(&text))))
    });
    group.bench_function("serialise_5k_events", |b| {
        let mut buf = Vec::with_capacity(text.len());
        b.iter(|| {
            buf.clear();
            for e in &events {
                serde_json::to_writer(&mut buf, black_box(e)).expect("serialise");
                buf.push(b'\n');
            }
            black_box(buf.len())
        })
    });
    group.finish();
    // One line parsed on its own, for the per-event figure.
    let one = serde_json::to_string(&events[events.len() / 2]).expect("serialise");
    c.bench_function("session_line/parse_one", |b| {
        b.iter(|| black_box(serde_json::from_str::<Envelope>(black_box(&one)).expect("parse")))
    });
}

criterion_group!(benches, lines);
criterion_main!(benches);
