//! What an eval measured: one row per run, and per coordination mode the mean ± sd over
//! repeats of one pass over the suite (accuracy over the judged cases; cost, billed input
//! tokens, wall time and calls summed over the cases). As a table, JSON and CSV.

use serde::Serialize;
use serde_json::json;
use std::fmt::Write;
use std::path::PathBuf;

/// One case run once under one mode.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub case: String,
    pub mode: String,
    /// 1-based.
    pub repeat: usize,
    pub session: PathBuf,
    /// The run wrote a final answer (a failed run did not).
    pub answered: bool,
    /// `None`: the case has neither `expected` nor `check`.
    pub accurate: Option<bool>,
    pub calls: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens at the input rate's weight: uncached ones count 1, cache reads and
    /// writes count their price relative to the input price.
    pub billed_input_tokens: f64,
    pub cost_usd: f64,
    /// Calls whose price is unknown (their cost is not in `cost_usd`).
    pub unpriced_calls: u64,
    pub wall_secs: f64,
    /// Why the run, or its check, did not complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A mean and a (sample) standard deviation over repeats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub sd: f64,
}

impl Stat {
    pub fn of(values: &[f64]) -> Option<Stat> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = if values.len() < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        Some(Stat { mean, sd })
    }
}

/// One mode's figures over the repeats.
#[derive(Debug, Clone, Serialize)]
pub struct ModeSummary {
    pub mode: String,
    /// Share of the judged cases answered correctly (`None`: no case is judged).
    pub accuracy: Option<Stat>,
    pub cost_usd: Stat,
    pub billed_input_tokens: Stat,
    pub wall_secs: Stat,
    pub calls: Stat,
    /// Runs that failed (no answer, or a check that could not run).
    pub failed_runs: usize,
    /// Calls whose price is unknown, over every run of the mode (not in `cost_usd`).
    pub unpriced_calls: u64,
}

pub fn summarise(runs: &[RunResult], modes: &[String], repeats: usize) -> Vec<ModeSummary> {
    modes
        .iter()
        .map(|mode| {
            let of_mode: Vec<&RunResult> = runs.iter().filter(|r| &r.mode == mode).collect();
            let per_repeat = |f: &dyn Fn(&[&RunResult]) -> Option<f64>| -> Vec<f64> {
                (1..=repeats)
                    .filter_map(|k| {
                        let pass: Vec<&RunResult> =
                            of_mode.iter().copied().filter(|r| r.repeat == k).collect();
                        if pass.is_empty() { None } else { f(&pass) }
                    })
                    .collect()
            };
            let sum = |g: fn(&RunResult) -> f64| {
                let values = per_repeat(&|pass| Some(pass.iter().map(|r| g(r)).sum()));
                Stat::of(&values).unwrap_or(Stat { mean: 0.0, sd: 0.0 })
            };
            let accuracy = per_repeat(&|pass| {
                let judged: Vec<bool> = pass.iter().filter_map(|r| r.accurate).collect();
                (!judged.is_empty())
                    .then(|| judged.iter().filter(|a| **a).count() as f64 / judged.len() as f64)
            });
            ModeSummary {
                mode: mode.clone(),
                accuracy: Stat::of(&accuracy),
                cost_usd: sum(|r| r.cost_usd),
                billed_input_tokens: sum(|r| r.billed_input_tokens),
                wall_secs: sum(|r| r.wall_secs),
                calls: sum(|r| r.calls as f64),
                failed_runs: of_mode.iter().filter(|r| r.error.is_some()).count(),
                unpriced_calls: of_mode.iter().map(|r| r.unpriced_calls).sum(),
            }
        })
        .collect()
}

fn pm(s: &Stat, places: usize) -> String {
    format!("{:.places$} ± {:.places$}", s.mean, s.sd)
}

/// The table printed at the end of an eval.
pub fn table(summary: &[ModeSummary], cases: usize, repeats: usize) -> String {
    let mut out = format!(
        "{cases} case(s) × {repeats} repeat(s); per mode: accuracy over the judged cases, the \
rest summed over one pass of the suite; mean ± sd over repeats\n"
    );
    let _ = writeln!(
        out,
        "{:<10} {:>15} {:>19} {:>23} {:>17} {:>15} {:>7}",
        "mode", "accuracy", "cost (USD)", "billed input tokens", "wall (s)", "calls", "failed"
    );
    for m in summary {
        let accuracy = m.accuracy.as_ref().map_or("-".to_string(), |a| pm(a, 2));
        let _ = writeln!(
            out,
            "{:<10} {:>15} {:>19} {:>23} {:>17} {:>15} {:>7}",
            m.mode,
            accuracy,
            pm(&m.cost_usd, 4),
            pm(&m.billed_input_tokens, 0),
            pm(&m.wall_secs, 1),
            pm(&m.calls, 1),
            m.failed_runs
        );
    }
    let unpriced: u64 = summary.iter().map(|m| m.unpriced_calls).sum();
    if unpriced > 0 {
        let _ = writeln!(
            out,
            "cost leaves out {unpriced} call(s) of a model with no known price (add it under \
[pricing] in the config)"
        );
    }
    out
}

/// Everything as one JSON document.
pub fn to_json(
    suite: &str,
    cases: usize,
    repeats: usize,
    summary: &[ModeSummary],
    runs: &[RunResult],
) -> serde_json::Value {
    json!({
        "suite": suite,
        "cases": cases,
        "repeats": repeats,
        "summary": summary,
        "runs": runs,
    })
}

/// A CSV field, quoted when it must be.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One row per run.
pub fn runs_csv(runs: &[RunResult]) -> String {
    let mut out = String::from(
        "case,mode,repeat,answered,accurate,calls,input_tokens,cached_input_tokens,\
output_tokens,billed_input_tokens,cost_usd,unpriced_calls,wall_secs,session,error\n",
    );
    for r in runs {
        let accurate = r.accurate.map_or(String::new(), |a| a.to_string());
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{:.0},{:.6},{},{:.3},{},{}",
            field(&r.case),
            field(&r.mode),
            r.repeat,
            r.answered,
            accurate,
            r.calls,
            r.input_tokens,
            r.cached_input_tokens,
            r.output_tokens,
            r.billed_input_tokens,
            r.cost_usd,
            r.unpriced_calls,
            r.wall_secs,
            field(&r.session.display().to_string()),
            field(r.error.as_deref().unwrap_or(""))
        );
    }
    out
}

/// One row per mode: each figure's mean and sd.
pub fn summary_csv(summary: &[ModeSummary]) -> String {
    let mut out = String::from(
        "mode,accuracy_mean,accuracy_sd,cost_usd_mean,cost_usd_sd,billed_input_tokens_mean,\
billed_input_tokens_sd,wall_secs_mean,wall_secs_sd,calls_mean,calls_sd,failed_runs\n",
    );
    for m in summary {
        let (am, asd) = m.accuracy.map_or((String::new(), String::new()), |a| {
            (format!("{:.4}", a.mean), format!("{:.4}", a.sd))
        });
        let _ = writeln!(
            out,
            "{},{am},{asd},{:.6},{:.6},{:.1},{:.1},{:.3},{:.3},{:.2},{:.2},{}",
            field(&m.mode),
            m.cost_usd.mean,
            m.cost_usd.sd,
            m.billed_input_tokens.mean,
            m.billed_input_tokens.sd,
            m.wall_secs.mean,
            m.wall_secs.sd,
            m.calls.mean,
            m.calls.sd,
            m.failed_runs
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: &str, repeat: usize, accurate: Option<bool>, cost: f64) -> RunResult {
        RunResult {
            case: "c".into(),
            mode: mode.into(),
            repeat,
            session: "s.jsonl".into(),
            answered: true,
            accurate,
            calls: 3,
            input_tokens: 100,
            cached_input_tokens: 50,
            output_tokens: 10,
            billed_input_tokens: 55.0,
            cost_usd: cost,
            unpriced_calls: 0,
            wall_secs: 1.0,
            error: None,
        }
    }

    #[test]
    fn means_and_deviations_are_over_repeats_of_the_whole_suite() {
        let runs = vec![
            run("delm", 1, Some(true), 1.0),
            run("delm", 1, Some(false), 1.0),
            run("delm", 2, Some(true), 2.0),
            run("delm", 2, Some(true), 2.0),
            run("central", 1, None, 1.0),
        ];
        let modes = vec!["delm".to_string(), "central".to_string()];
        let s = summarise(&runs, &modes, 2);
        let acc = s[0].accuracy.unwrap();
        assert_eq!(acc.mean, 0.75);
        assert!((acc.sd - 0.353_553).abs() < 1e-5);
        assert_eq!(s[0].cost_usd.mean, 3.0);
        assert_eq!(s[0].calls.mean, 6.0);
        assert!(s[1].accuracy.is_none(), "no judged case");
        let t = table(&s, 2, 2);
        assert!(t.contains("0.75 ± 0.35"), "{t}");
        assert!(
            t.lines()
                .any(|l| l.starts_with("central") && l.contains(" - "))
        );
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let mut r = run("delm", 1, Some(true), 0.5);
        r.error = Some("bad, \"very\"\nbad".into());
        let csv = runs_csv(&[r]);
        assert!(csv.contains("\"bad, \"\"very\"\"\nbad\""), "{csv}");
        assert_eq!(csv.lines().next().unwrap().split(',').count(), 15);
    }
}
