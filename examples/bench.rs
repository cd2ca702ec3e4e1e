//! The end-to-end benchmark harness of delm (issue 5): engine overhead, shared-context size,
//! coordination baselines, session log and TUI frame figures, with no network (an in-process
//! scripted model plays the agents).
//!
//!     cargo run --release --example bench -- [--json] [--quick] [--only engine,tui]
//!         [--wire anthropic|openai] [--seed N] [--seeds K] [--trace WORKLOAD:MODE]
//!
//! Prints a table, or with `--json` one object per figure: `{"name", "value", "unit",
//! "params"}`. `--quick` runs tiny sizes (the smoke test uses them). BENCHMARKS.md has the
//! published results and what each figure means.

/// The harness proper; `tests/bench_smoke.rs` includes the same files.
#[path = "bench"]
mod harness {
    pub mod claim;
    pub mod context_size;
    pub mod coordination;
    pub mod engine_overhead;
    pub mod figure;
    pub mod nats_board;
    #[path = "../../tests/support/nats_server.rs"]
    #[allow(dead_code)]
    pub mod nats_server;
    pub mod scripted_run;
    pub mod session_log;
    pub mod suite;
    pub mod synthetic;
    pub mod tui_frame;
}

use harness::figure::{self, Figure, Sizes};
use harness::suite;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo run --release --example bench -- [--json] [--quick] \
[--only GROUP,...] [--tasks N] [--wire anthropic|openai] [--seed N] [--seeds K]\n[--trace WORKLOAD:MODE]\ngroups: engine, context, \
coordination, claim, session, tui, nats (nats needs nats-server: DELM_NATS_SERVER or PATH)";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).is_some_and(|a| a == "--nats-worker") {
        // A worker process of the NATS figure (the harness starts it).
        return match harness::nats_board::worker_main(&argv[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("nats worker: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let mut json = false;
    let mut quick = false;
    let mut only: Option<Vec<String>> = None;
    let mut overhead_tasks: Option<usize> = None;
    let mut wire = None;
    let mut seed = None;
    let mut trace = None;
    let mut seeds = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--quick" => quick = true,
            "--only" => match args.next() {
                Some(list) => only = Some(list.split(',').map(|s| s.trim().to_string()).collect()),
                None => {
                    eprintln!("--only needs a comma-separated list of groups\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--tasks" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => overhead_tasks = Some(n),
                None => {
                    eprintln!("--tasks needs a number of tasks for the engine figures\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--wire" => match args
                .next()
                .map(|w| delm::llm::scripted::CacheWire::parse(&w))
            {
                Some(Ok(w)) => wire = Some(w),
                Some(Err(e)) => {
                    eprintln!("--wire: {e}\n{USAGE}");
                    return ExitCode::from(2);
                }
                None => {
                    eprintln!("--wire needs openai or anthropic\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--seed" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => seed = Some(n),
                None => {
                    eprintln!("--seed needs a number (the claim worlds' seed)\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--seeds" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => seeds = Some(n),
                None => {
                    eprintln!("--seeds needs a number of worlds per claim workload\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--trace" => match args.next() {
                Some(spec) => trace = Some(spec),
                None => {
                    eprintln!("--trace needs workload:mode, e.g. dead_ends:delm\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument `{other}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let mut sizes = if quick { Sizes::quick() } else { Sizes::full() };
    if let Some(n) = overhead_tasks {
        sizes.overhead_tasks = n;
    }
    if let Some(w) = wire {
        sizes.claim.wire = w;
    }
    sizes.claim.seed = seed;
    if let Some(n) = seeds {
        sizes.claim.seeds = n;
    }
    if let Some(spec) = trace {
        return match harness::claim::trace(&sizes.claim, &spec) {
            Ok(timeline) => {
                print!("{timeline}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let groups: Vec<String> =
        only.unwrap_or_else(|| suite::GROUPS.iter().map(|g| g.to_string()).collect());
    if let Some(bad) = groups.iter().find(|g| !suite::GROUPS.contains(&g.as_str())) {
        eprintln!("unknown figure group `{bad}`\n{USAGE}");
        return ExitCode::from(2);
    }
    if cfg!(debug_assertions) && !quick {
        eprintln!("note: this is a debug build; published figures come from `--release`");
    }
    let mut figures: Vec<Figure> = Vec::new();
    let mut failed = false;
    for group in &groups {
        if !json {
            eprintln!("measuring {group}…");
        }
        match suite::run_group(group, &sizes) {
            Ok(found) => {
                if json {
                    for f in &found {
                        println!("{}", f.to_json());
                    }
                }
                figures.extend(found);
            }
            Err(e) => {
                eprintln!("error: the {group} figures could not be measured: {e:#}");
                failed = true;
            }
        }
    }
    if !json {
        print!("{}", figure::table(&figures));
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The allocator the `delm` binary ships with (src/main.rs), so the figures are of what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
