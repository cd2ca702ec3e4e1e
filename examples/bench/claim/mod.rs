//! The claim figures (issue 14): five small worlds with a hidden truth, each run under
//! delm, central and isolated coordination with the same scripted model, in virtual time
//! with a provider latency model and emulated prompt caching. Every figure is
//! `claim.<workload>.<metric>.<mode>`, the mean over `seeds` worlds of the workload (one
//! world decides, say, whether the root cause is in the first wave); the targets are the
//! `…_ratio` and `…_margin` figures comparing delm with central.

pub mod agent;
pub mod run;
pub mod score;
pub mod workspace;
pub mod world;

use super::figure::{Figure, Target, mean};
use agent::Wave;
use delm::event::{Coordination, PointStatus, TaskState, VerifyMode};
use delm::llm::scripted::{CacheWire, LatencyModel};
use run::{Options, Outcome, Spend};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use world::{Scale, Workload, World};

/// What one run of a world is: a coordination mode, how points are verified, and how a
/// central orchestrator sizes its waves. The three modes are the defaults (judge, one task
/// per worker per wave); two ablations show what a default costs: `delm_evidence` (delm
/// with the mechanical checks only: the judge's share) and `central_all` (an orchestrator
/// that assigns everything it knows at once: the waves' share).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub name: &'static str,
    pub mode: Coordination,
    pub verify: VerifyMode,
    pub wave: Wave,
}

const fn variant_of(
    name: &'static str,
    mode: Coordination,
    verify: VerifyMode,
    wave: Wave,
) -> Variant {
    Variant {
        name,
        mode,
        verify,
        wave,
    }
}

pub const VARIANTS: [Variant; 5] = [
    variant_of(
        "delm",
        Coordination::Delm,
        VerifyMode::Judge,
        Wave::PerWorker,
    ),
    variant_of(
        "central",
        Coordination::Central,
        VerifyMode::Judge,
        Wave::PerWorker,
    ),
    variant_of(
        "isolated",
        Coordination::Isolated,
        VerifyMode::Judge,
        Wave::PerWorker,
    ),
    variant_of(
        "delm_evidence",
        Coordination::Delm,
        VerifyMode::Evidence,
        Wave::PerWorker,
    ),
    variant_of(
        "central_all",
        Coordination::Central,
        VerifyMode::Judge,
        Wave::All,
    ),
];

fn variant(name: &str) -> Option<Variant> {
    VARIANTS.into_iter().find(|v| v.name == name)
}

/// What the claim group runs.
#[derive(Debug, Clone)]
pub struct ClaimSizes {
    pub scale: Scale,
    pub wire: CacheWire,
    /// The first seed; `None`: each workload's own.
    pub seed: Option<u64>,
    /// Worlds per workload (seeds `seed`, `seed + 1`, ...).
    pub seeds: usize,
}

fn options(sizes: &ClaimSizes) -> Options {
    Options {
        agents: sizes.scale.agents,
        wire: sizes.wire,
        latency: LatencyModel::provider(),
    }
}

fn seeds(sizes: &ClaimSizes, workload: Workload) -> impl Iterator<Item = u64> {
    let first = sizes.seed.unwrap_or(workload.default_seed());
    (0..sizes.seeds.max(1) as u64).map(move |i| first + i)
}

/// One workload: its worlds, and for each the runs of every variant (in [`VARIANTS`] order).
pub struct WorkloadRuns {
    pub workload: Workload,
    pub worlds: Vec<(Arc<World>, Vec<Outcome>)>,
}

impl WorkloadRuns {
    fn of(&self, variant: &'static str) -> impl Iterator<Item = &Outcome> {
        self.worlds
            .iter()
            .flat_map(move |(_, runs)| runs.iter().filter(move |o| o.variant == variant))
    }
}

/// Every workload under every mode, in order.
pub fn outcomes(sizes: &ClaimSizes) -> anyhow::Result<Vec<WorkloadRuns>> {
    let opts = options(sizes);
    Workload::ALL
        .iter()
        .map(|&workload| {
            let worlds = seeds(sizes, workload)
                .map(|seed| {
                    let world = Arc::new(World::generate(workload, seed, sizes.scale));
                    let runs = VARIANTS
                        .iter()
                        .map(|&v| {
                            run::run(world.clone(), v, &opts).map_err(|e| {
                                anyhow::anyhow!(
                                    "{} (seed {seed}) under {}: {e:#}",
                                    workload.name(),
                                    v.name
                                )
                            })
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    Ok((world, runs))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(WorkloadRuns { workload, worlds })
        })
        .collect()
}

pub fn measure(sizes: &ClaimSizes) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for runs in outcomes(sizes)? {
        for v in VARIANTS {
            figures.extend(variant_figures(&runs, v, sizes));
        }
        figures.extend(targets(&runs));
    }
    Ok(figures)
}

/// The means of one variant over a workload's worlds.
struct Means {
    wall: f64,
    calls: f64,
    input: f64,
    cache_read: f64,
    cache_write: f64,
    output: f64,
    billed: f64,
    cost: f64,
    score: f64,
}

fn means(runs: &WorkloadRuns, variant: &'static str) -> Means {
    let of = |f: &dyn Fn(&Outcome) -> f64| mean(&runs.of(variant).map(f).collect::<Vec<_>>());
    Means {
        wall: of(&|o| o.wall.as_secs_f64()),
        calls: of(&|o| o.total.calls as f64),
        input: of(&|o| o.total.input as f64),
        cache_read: of(&|o| o.total.cache_read as f64),
        cache_write: of(&|o| o.total.cache_write as f64),
        output: of(&|o| o.total.output as f64),
        billed: of(&|o| o.total.billed_input),
        cost: of(&|o| o.total.cost),
        score: of(&|o| o.score.value),
    }
}

fn round(v: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (v * k).round() / k
}

fn spend_json(s: &Spend, n: f64) -> Value {
    json!({
        "calls": round(s.calls as f64 / n, 1),
        "input": (s.input as f64 / n).round(),
        "cache_read": (s.cache_read as f64 / n).round(),
        "cache_write": (s.cache_write as f64 / n).round(),
        "output": (s.output as f64 / n).round(),
        "billed_input": (s.billed_input / n).round(),
        "cost": round(s.cost / n, 4),
    })
}

/// The six figures of one variant (means over the worlds).
fn variant_figures(runs: &WorkloadRuns, v: Variant, sizes: &ClaimSizes) -> Vec<Figure> {
    let name = runs.workload.name();
    let m = means(runs, v.name);
    let n = runs.worlds.len().max(1) as f64;
    let parts = mean(
        &runs
            .worlds
            .iter()
            .map(|(w, _)| w.parts() as f64)
            .collect::<Vec<_>>(),
    );
    let (provider, model) = options(sizes).priced_as();
    let per_seed = |f: &dyn Fn(&Outcome) -> f64| -> Vec<f64> {
        runs.of(v.name).map(|o| round(f(o), 3)).collect()
    };
    let params = json!({
        "workload": name,
        "mode": v.mode.name(),
        "verify": format!("{:?}", v.verify).to_lowercase(),
        "seeds": runs.worlds.iter().map(|(w, _)| w.seed).collect::<Vec<_>>(),
        "agents": sizes.scale.agents,
        "wire": sizes.wire.as_str(),
        "priced_as": format!("{provider}:{model}"),
        "parts": parts,
        "pages": mean(&runs.worlds.iter().map(|(w, _)| w.pages() as f64).collect::<Vec<_>>()),
    });
    let with = |extra: Value| {
        let mut p = params.clone();
        if let (Some(map), Value::Object(more)) = (p.as_object_mut(), extra) {
            map.extend(more);
        }
        p
    };
    let mut roles: BTreeMap<String, Spend> = BTreeMap::new();
    for o in runs.of(v.name) {
        for (role, s) in &o.roles {
            roles.entry(role.clone()).or_default().add(s);
        }
    }
    let roles: serde_json::Map<String, Value> = roles
        .iter()
        .map(|(role, s)| (role.clone(), spend_json(s, n)))
        .collect();
    let figure = |metric: &str, value: f64, unit: &'static str, extra: Value| {
        Figure::new(
            format!("claim.{name}.{metric}.{}", v.name),
            value,
            unit,
            with(extra),
        )
    };
    let tasks_done = per_seed(&|o| {
        o.state
            .tasks
            .iter()
            .filter(|t| t.state == TaskState::Done)
            .count() as f64
    });
    let count_points = |status: PointStatus| {
        per_seed(&|o| o.state.points.iter().filter(|p| p.status == status).count() as f64)
    };
    vec![
        figure(
            "wall",
            m.wall,
            "s",
            json!({
                "clock": "virtual (latency model)",
                "per_seed": per_seed(&|o| o.wall.as_secs_f64()),
                "tasks_done": tasks_done,
            }),
        ),
        figure("calls", m.calls, "calls", json!({"by_role_mean": roles})),
        figure(
            "input_tokens",
            m.input,
            "tokens",
            json!({
                "cache_read": m.cache_read.round(),
                "cache_write": m.cache_write.round(),
                "cache_share": round(if m.input > 0.0 { m.cache_read / m.input } else { 0.0 }, 3),
                "output_tokens": m.output.round(),
            }),
        ),
        figure(
            "billed_input_tokens",
            m.billed.round(),
            "tokens",
            json!({
                "per_part": (m.billed / parts.max(1.0)).round(),
                "counted": "uncached + cache reads and writes at their price relative to input",
                "per_seed": per_seed(&|o| o.total.billed_input.round()),
            }),
        ),
        figure(
            "cost",
            m.cost,
            "USD",
            json!({"per_part": round(m.cost / parts.max(1.0), 5)}),
        ),
        figure(
            "score",
            m.score,
            "score",
            json!({
                "per_seed": per_seed(&|o| o.score.value),
                "wrong": per_seed(&|o| o.score.wrong as f64),
                "missing": per_seed(&|o| o.score.missing as f64),
                "points_verified": count_points(PointStatus::Verified),
                "points_rejected": count_points(PointStatus::Rejected),
            }),
        ),
    ]
}

/// The targets, as delm-versus-central figures (ratios of the means).
fn targets(runs: &WorkloadRuns) -> Vec<Figure> {
    let name = runs.workload.name();
    let (delm, central) = (means(runs, "delm"), means(runs, "central"));
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
    let wall = ratio(delm.wall, central.wall);
    let billed = ratio(delm.billed, central.billed);
    let margin = delm.score - central.score;
    let params = json!({"workload": name, "delm_over": "central", "of": "means over the seeds"});
    let fig = |metric: &str, value: f64, unit: &'static str, target: Option<Target>| {
        let f = Figure::new(
            format!("claim.{name}.{metric}.delm_vs_central"),
            value,
            unit,
            params.clone(),
        );
        match target {
            Some(t) => f.target(t),
            None => f,
        }
    };
    match runs.workload {
        Workload::DeadEnds | Workload::FollowUps | Workload::Stragglers => vec![
            fig("wall_ratio", wall, "×", Some(Target::AtMost(0.6))),
            fig("billed_input_ratio", billed, "×", Some(Target::AtMost(0.5))),
            fig("score_margin", margin, "score", Some(Target::AtLeast(0.0))),
        ],
        Workload::Fabrications => vec![
            fig("score_margin", margin, "score", Some(Target::Above(0.0))),
            fig("wall_ratio", wall, "×", None),
            fig("billed_input_ratio", billed, "×", None),
        ],
        Workload::Independent => vec![
            fig(
                "billed_input_ratio",
                billed,
                "×",
                Some(Target::AtMost(1.25)),
            ),
            fig("wall_ratio", wall, "×", None),
            fig("score_margin", margin, "score", None),
        ],
    }
}

/// The call timeline of one workload under one variant (`--trace workload:variant`, the
/// first seed): when each call ran on the virtual clock, what it was about, what it
/// carried and what it did.
pub fn trace(sizes: &ClaimSizes, spec: &str) -> anyhow::Result<String> {
    let (workload, mode) = spec
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("--trace takes workload:mode, e.g. dead_ends:delm"))?;
    let workload = Workload::ALL
        .into_iter()
        .find(|w| w.name() == workload)
        .ok_or_else(|| anyhow::anyhow!("unknown workload `{workload}`"))?;
    let v = variant(mode).ok_or_else(|| {
        let names: Vec<&str> = VARIANTS.iter().map(|v| v.name).collect();
        anyhow::anyhow!("unknown variant `{mode}`: use {}", names.join(", "))
    })?;
    let seed = sizes.seed.unwrap_or(workload.default_seed());
    let world = Arc::new(World::generate(workload, seed, sizes.scale));
    let o = run::run(world, v, &options(sizes))?;
    let mut out = String::new();
    for c in &o.calls {
        out.push_str(&format!(
            "{:>7.2}s {:>7.2}s {:<8} {:<40} in {:>6} (cached {:>6}) out {:>5} [{}]\n",
            c.start.as_secs_f64(),
            c.end.as_secs_f64(),
            format!("{:?}", c.purpose).to_lowercase(),
            c.about.chars().take(40).collect::<String>(),
            c.input,
            c.cache_read,
            c.output,
            c.tools.join(" ")
        ));
    }
    out.push_str(&format!(
        "wall {:.2}s, {} calls ({} judge), input {}, billed {:.0}, cost ${:.4}, score {:.2}\nanswer: {}\n",
        o.wall.as_secs_f64(),
        o.total.calls,
        o.answered.judge_calls,
        o.total.input,
        o.total.billed_input,
        o.total.cost,
        o.score.value,
        o.state
            .answer
            .as_ref()
            .map(|a| a.answer.as_str())
            .unwrap_or("")
    ));
    Ok(out)
}
