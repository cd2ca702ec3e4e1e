//! The benchmark harness (`examples/bench.rs`) at `--quick` sizes: every figure group runs
//! against the real engine, session log and TUI, and produces sane numbers.

/// The harness's own files, included as they are (see `examples/bench.rs`).
#[path = "../examples/bench"]
#[allow(dead_code)]
mod harness {
    pub mod claim;
    pub mod context_size;
    pub mod coordination;
    pub mod engine_overhead;
    pub mod figure;
    pub mod nats_board;
    #[path = "../../tests/support/nats_server.rs"]
    pub mod nats_server;
    pub mod scripted_run;
    pub mod session_log;
    pub mod suite;
    pub mod synthetic;
    pub mod tui_frame;
}

use harness::figure::{Figure, Sizes};
use harness::suite::{GROUPS, run_group};

/// Groups run one at a time: they measure process-wide CPU time and peak memory.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn figures(group: &str) -> Vec<Figure> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let found = run_group(group, &Sizes::quick())
        .unwrap_or_else(|e| panic!("the {group} figures failed: {e:#}"));
    assert!(!found.is_empty(), "the {group} group produced no figure");
    for f in &found {
        // A score or a score margin may be 0; every other figure is a positive amount.
        let may_be_zero = f.unit == "score";
        assert!(
            f.value.is_finite() && (f.value > 0.0 || (may_be_zero && f.value >= 0.0)),
            "{} = {} {} is not a positive finite number",
            f.name,
            f.value,
            f.unit
        );
        let json = f.to_json();
        for key in ["name", "value", "unit", "params"] {
            assert!(
                json.get(key).is_some(),
                "{} has no `{key}` in {json}",
                f.name
            );
        }
    }
    found
}

fn value(found: &[Figure], name: &str) -> f64 {
    found
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no figure {name}"))
        .value
}

#[test]
fn engine_overhead_runs_every_task_to_the_end() {
    let found = figures("engine");
    for agents in Sizes::quick().overhead_agents {
        let throughput = found
            .iter()
            .find(|f| f.name == format!("engine_overhead.throughput.{agents}_agents"))
            .expect("a throughput figure per agent count");
        // Every subtask, plus the planning task, finished and verified its point.
        assert!(
            throughput.params["tasks"].as_u64().unwrap() > Sizes::quick().overhead_tasks as u64
        );
        assert_eq!(
            throughput.params["points_verified"].as_u64().unwrap(),
            Sizes::quick().overhead_tasks as u64
        );
        // Coordination overhead is the process's CPU minus the scripted model's own.
        let raw = value(
            &found,
            &format!("engine_overhead.raw_cpu_per_task_mean.{agents}_agents"),
        );
        let model = value(
            &found,
            &format!("engine_overhead.model_cpu_per_task_mean.{agents}_agents"),
        );
        let coordination = value(
            &found,
            &format!("engine_overhead.coordination_per_task_mean.{agents}_agents"),
        );
        assert!(model < raw, "model {model} µs of raw {raw} µs");
        assert!(
            (raw - model - coordination).abs() < 0.01 * raw,
            "{raw} - {model} != {coordination}"
        );
    }
}

#[test]
fn budgeted_context_stays_flat_while_full_traces_grow() {
    let found = figures("context");
    let [small, large] = Sizes::quick().context_points[..] else {
        panic!("two sizes expected")
    };
    let budgeted = |n| value(&found, &format!("context_size.budgeted.{n}_points"));
    let full = |n| value(&found, &format!("context_size.full_trace.{n}_points"));
    assert!(budgeted(large) <= 2_100.0, "{}", budgeted(large));
    assert!(full(large) > full(small) * 5.0);
    assert!(full(large) > budgeted(large) * 10.0);
}

#[test]
fn coordination_modes_all_finish_with_an_answer() {
    let found = figures("coordination");
    for mode in harness::coordination::MODES {
        assert!(value(&found, &format!("coordination.model_calls.{mode}")) >= 3.0);
        let recorded = found
            .iter()
            .find(|f| f.name == format!("coordination.wall.{mode}"))
            .map(|f| f.params["coordination_recorded"].clone());
        assert_eq!(recorded, Some(serde_json::json!(mode)));
    }
}

#[test]
fn session_log_round_trips() {
    let found = figures("session");
    assert!(value(&found, "session_log.append") > 100.0);
    assert!(value(&found, "session_log.load_and_fold") > 100.0);
}

#[test]
fn tui_frames_render() {
    let found = figures("tui");
    assert!(value(&found, "tui.frame_steady") < 1_000.0);
}

#[test]
fn claim_figures_cover_every_workload_metric_and_mode() {
    let found = figures("claim");
    for workload in harness::claim::world::Workload::ALL {
        for metric in [
            "wall",
            "calls",
            "input_tokens",
            "billed_input_tokens",
            "cost",
            "score",
        ] {
            for mode in ["delm", "central", "isolated"] {
                let name = format!("claim.{}.{metric}.{mode}", workload.name());
                let v = value(&found, &name);
                if metric == "score" {
                    assert!((0.0..=1.0).contains(&v), "{name} = {v}");
                }
            }
        }
        // The targets are there too, with whether they are met.
        let ratio = found
            .iter()
            .find(|f| {
                f.name.starts_with(&format!("claim.{}.", workload.name())) && f.target.is_some()
            })
            .unwrap_or_else(|| panic!("no target figure for {}", workload.name()));
        assert!(ratio.to_json()["params"]["target_met"].is_boolean());
    }
}

#[test]
fn claim_runs_account_for_every_call_and_repeat_exactly() {
    let sizes = Sizes::quick().claim;
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let first = harness::claim::outcomes(&sizes).expect("the claim workloads run");
    let second = harness::claim::outcomes(&sizes).expect("the claim workloads run again");
    for (a, b) in first.iter().zip(&second) {
        for ((_, runs_a), (_, runs_b)) in a.worlds.iter().zip(&b.worlds) {
            for (x, y) in runs_a.iter().zip(runs_b) {
                let what = format!("{} under {}", a.workload.name(), x.variant);
                // The log accounts for every call the model answered, token for token.
                let t = &x.state.totals;
                let answered = &x.answered;
                assert_eq!(
                    (
                        t.calls,
                        t.tokens_in,
                        t.tokens_cached_read,
                        t.tokens_cache_write,
                        t.tokens_out
                    ),
                    (
                        answered.calls,
                        answered.input_tokens,
                        answered.cache_read_tokens,
                        answered.cache_write_tokens,
                        answered.output_tokens
                    ),
                    "{what}"
                );
                assert!(
                    (0.0..=1.0).contains(&x.score.value),
                    "{what}: {}",
                    x.score.value
                );
                assert!(x.state.answer.is_some(), "{what} answered");
                // The same seed gives the same figures, wall time included (virtual clock).
                assert_eq!(x.wall, y.wall, "{what}");
                assert_eq!(x.total, y.total, "{what}");
                assert_eq!(x.score, y.score, "{what}");
            }
        }
    }
}

#[test]
fn the_board_on_jetstream_and_in_process_finish_the_same_run() {
    let found = figures("nats");
    for setup in harness::nats_board::SETUPS {
        let events = found
            .iter()
            .find(|f| f.name == format!("nats_board.events_per_s.{setup}"))
            .expect("an events figure per setup");
        assert!(events.params["claims"].as_u64().unwrap() > Sizes::quick().nats_tasks as u64);
        let p50 = value(&found, &format!("nats_board.claim_latency_p50.{setup}"));
        let p99 = value(&found, &format!("nats_board.claim_latency_p99.{setup}"));
        assert!(p50 <= p99, "{setup}: p50 {p50} ms > p99 {p99} ms");
    }
}

#[test]
fn every_group_is_known() {
    assert_eq!(GROUPS.len(), 7);
    assert!(run_group("nope", &Sizes::quick()).is_err());
}
