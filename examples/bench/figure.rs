//! One measured figure, how it prints, and the process measurements the figures share
//! (CPU time, peak resident memory).

use serde_json::{Value, json};
use std::time::Duration;

/// A target a figure is held against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
    /// Strictly more.
    Above(f64),
}

impl Target {
    pub fn met_by(self, value: f64) -> bool {
        match self {
            Target::AtMost(t) => value <= t,
            Target::AtLeast(t) => value >= t,
            Target::Above(t) => value > t,
        }
    }
    fn describe(self) -> String {
        match self {
            Target::AtMost(t) => format!("<= {}", short(t)),
            Target::AtLeast(t) => format!(">= {}", short(t)),
            Target::Above(t) => format!("> {}", short(t)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub params: Value,
    pub target: Option<Target>,
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64, unit: &'static str, params: Value) -> Self {
        Figure {
            name: name.into(),
            value,
            unit,
            params,
            target: None,
        }
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// `{"name", "value", "unit", "params"}`, with the target in `params` when there is one.
    pub fn to_json(&self) -> Value {
        let mut params = self.params.clone();
        if let (Some(t), Value::Object(map)) = (self.target, &mut params) {
            map.insert("target".into(), json!(t.describe()));
            map.insert("target_met".into(), json!(t.met_by(self.value)));
        }
        json!({"name": self.name, "value": self.value, "unit": self.unit, "params": params})
    }
}

/// Sizes of every figure: the published ones, or tiny ones for the smoke test.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub overhead_tasks: usize,
    pub overhead_agents: Vec<usize>,
    pub context_points: Vec<usize>,
    pub coordination_subtasks: usize,
    pub coordination_agents: usize,
    pub coordination_latency: Duration,
    pub session_events: usize,
    pub tui_points: usize,
    pub tui_tasks: usize,
    pub tui_agents: usize,
    pub tui_frames: usize,
    pub claim: super::claim::ClaimSizes,
    /// Figure 6: tasks, agents and workers of the NATS board run, and whether the workers
    /// are processes (the published figure) or tasks of this process (the smoke test).
    pub nats_tasks: usize,
    pub nats_agents: usize,
    pub nats_workers: usize,
    pub nats_processes: bool,
}

impl Sizes {
    pub fn full() -> Self {
        Sizes {
            overhead_tasks: 10_000,
            overhead_agents: vec![64, 256],
            context_points: vec![100, 1_000, 10_000],
            coordination_subtasks: 16,
            coordination_agents: 8,
            coordination_latency: Duration::from_millis(300),
            session_events: 100_000,
            tui_points: 10_000,
            tui_tasks: 1_000,
            tui_agents: 64,
            tui_frames: 200,
            claim: super::claim::ClaimSizes {
                scale: super::claim::world::Scale::FULL,
                wire: delm::llm::scripted::CacheWire::Anthropic,
                seed: None,
                seeds: 16,
            },
            nats_tasks: 5_000,
            nats_agents: 256,
            nats_workers: 4,
            nats_processes: true,
        }
    }

    pub fn quick() -> Self {
        Sizes {
            overhead_tasks: 60,
            overhead_agents: vec![4, 8],
            context_points: vec![20, 200],
            coordination_subtasks: 3,
            coordination_agents: 2,
            coordination_latency: Duration::from_millis(5),
            session_events: 2_000,
            tui_points: 300,
            tui_tasks: 40,
            tui_agents: 6,
            tui_frames: 5,
            claim: super::claim::ClaimSizes {
                scale: super::claim::world::Scale::TINY,
                wire: delm::llm::scripted::CacheWire::Anthropic,
                seed: None,
                seeds: 1,
            },
            nats_tasks: 30,
            nats_agents: 8,
            nats_workers: 2,
            nats_processes: false,
        }
    }
}

/// CPU time of the whole process so far (user + system, all threads).
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time of the calling thread so far. Only meaningful around code that does not
/// suspend: a task that awaits may resume on another worker thread.
pub fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime only writes the struct we hand it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A field of `/proc/self/status` in KiB (`VmHWM` peak resident, `VmRSS` current).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn peak_rss_mib() -> Option<f64> {
    status_kib("VmHWM:").map(|k| k as f64 / 1024.0)
}

pub fn rss_mib() -> Option<f64> {
    status_kib("VmRSS:").map(|k| k as f64 / 1024.0)
}

/// Reset the peak-RSS mark to the current RSS (Linux >= 4.0), so each measurement reports
/// its own peak. Returns false where the kernel does not allow it: the peak then includes
/// earlier figures, which the caller says.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The `q`-quantile (0..=1) of `values`, nearest rank.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn short(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A plain table: figure, value, unit, target (✓ met, ✗ missed), parameters.
pub fn table(figures: &[Figure]) -> String {
    let name_w = figures
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(4)
        .max(6);
    let mut out = format!(
        "{:<name_w$}  {:>10}  {:<8}  {:<12}  params\n",
        "figure", "value", "unit", "target"
    );
    for f in figures {
        let target = match f.target {
            Some(t) => format!(
                "{} {}",
                if t.met_by(f.value) { "✓" } else { "✗" },
                t.describe()
            ),
            None => String::new(),
        };
        let params = match &f.params {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        };
        out.push_str(&format!(
            "{:<name_w$}  {:>10}  {:<8}  {:<12}  {params}\n",
            f.name,
            short(f.value),
            f.unit,
            target
        ));
    }
    out
}
