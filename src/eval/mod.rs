//! `delm eval`: run every case of a suite under every coordination mode, as many times as
//! asked, and measure each run from its session: whether the answer is right (the case's
//! `expected` answer, or its `check` command), what it cost, the input tokens a bill
//! shows, wall time and model calls. The runs themselves are launched by the caller (the
//! binary starts each exactly as `delm run` would), so an eval measures the product as
//! users run it.

pub mod report;
pub mod suite;
mod workdir;

use crate::event::{Coordination, RunState, StoppedBy};
use crate::llm::Usage;
use crate::llm::pricing::Price;
use futures_util::future::LocalBoxFuture;
use report::RunResult;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use suite::{Case, Judge, Over};

/// The most repeats of a suite, and runs (cases × modes × repeats) in one eval.
pub const MAX_REPEATS: usize = 20;
pub const MAX_RUNS: usize = 2_000;

/// What to evaluate.
pub struct Plan {
    pub cases: Vec<Case>,
    pub modes: Vec<Coordination>,
    pub repeats: usize,
    /// Sessions go to `out/sessions`, repository copies to `out/work`.
    pub out: PathBuf,
    /// The agents' model's list price, to weigh cache reads and writes in billed input
    /// tokens (`None`: no price known, every input token counts 1).
    pub price: Option<Price>,
    /// Variables holding the provider's key: a check command never sees them.
    pub secret_env: Vec<String>,
}

impl Plan {
    /// Refuse a plan over the bounds, or an output directory that already holds an eval.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_REPEATS).contains(&self.repeats) {
            return Err(format!("--repeat must be between 1 and {MAX_REPEATS}"));
        }
        if self.modes.is_empty() {
            return Err("--coordination names no mode: use delm, central, isolated".into());
        }
        let runs = self.cases.len() * self.modes.len() * self.repeats;
        if runs > MAX_RUNS {
            return Err(format!(
                "{} cases × {} modes × {} repeats is {runs} runs; an eval makes at most \
{MAX_RUNS}",
                self.cases.len(),
                self.modes.len(),
                self.repeats
            ));
        }
        let sessions = self.out.join("sessions");
        if std::fs::read_dir(&sessions).is_ok_and(|mut d| d.next().is_some()) {
            return Err(format!(
                "{} already holds an eval's sessions; choose another --out",
                self.out.display()
            ));
        }
        Ok(())
    }
}

/// One run to start, as `delm run` flags would say it.
#[derive(Debug, Clone)]
pub struct Launch {
    pub question: String,
    pub over: Over,
    /// A `check` case: agents may run commands and edit a private copy, and the verified
    /// result is applied to `over`'s repository (itself a copy made for this run).
    pub edit: bool,
    pub mode: Coordination,
    pub session: PathBuf,
}

/// How a launched run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It ran to its end (an answer, a budget stop, or a failure the session records).
    Finished,
    /// It could not complete: why.
    Failed(String),
    /// The user interrupted it (Ctrl-C, a signal): the eval stops after it.
    Interrupted,
}

/// Starts one run and waits for it to end.
pub trait Launcher {
    fn launch<'a>(&'a self, run: &'a Launch) -> LocalBoxFuture<'a, Ended>;
    /// The user asked the eval to stop (a signal between runs): no further run starts.
    fn stop_requested(&self) -> bool {
        false
    }
}

/// What an eval ran, and whether the user stopped it before the end.
pub struct Evaluated {
    pub runs: Vec<RunResult>,
    pub interrupted: bool,
}

/// Run the plan, repeat by repeat, case by case, mode by mode; `progress` hears of each run
/// as it ends. An interrupted run ends the eval (it is reported with the others).
pub async fn evaluate(
    plan: &Plan,
    launcher: &dyn Launcher,
    progress: &mut dyn FnMut(&RunResult),
) -> Result<Evaluated, String> {
    plan.check()?;
    let mut runs = Vec::new();
    for repeat in 1..=plan.repeats {
        for case in &plan.cases {
            for &mode in &plan.modes {
                if launcher.stop_requested() {
                    return Ok(Evaluated {
                        runs,
                        interrupted: true,
                    });
                }
                let (result, interrupted) = run_case(plan, launcher, case, mode, repeat).await?;
                progress(&result);
                runs.push(result);
                if interrupted {
                    return Ok(Evaluated {
                        runs,
                        interrupted: true,
                    });
                }
            }
        }
    }
    Ok(Evaluated {
        runs,
        interrupted: false,
    })
}

async fn run_case(
    plan: &Plan,
    launcher: &dyn Launcher,
    case: &Case,
    mode: Coordination,
    repeat: usize,
) -> Result<(RunResult, bool), String> {
    let name = format!("{}-{}-{repeat}", case.id, mode.name());
    let session = plan.out.join("sessions").join(format!("{name}.jsonl"));
    let edit = matches!(case.judge, Judge::Check { .. });
    let over = match (&case.over, edit) {
        (Over::Repo(repo), true) => Over::Repo(workdir::copy_repo(
            repo,
            &plan.out.join("work").join(&name),
        )?),
        (over, _) => over.clone(),
    };
    let launch = Launch {
        question: case.question.clone(),
        over,
        edit,
        mode,
        session,
    };
    let started = Instant::now();
    let ended = launcher.launch(&launch).await;
    let measured = started.elapsed();
    let state = read_state(&launch.session);
    let interrupted = ended == Ended::Interrupted;
    let mut error = match ended {
        Ended::Finished => None,
        Ended::Failed(why) => Some(why),
        Ended::Interrupted => Some("interrupted before its answer".to_string()),
    };
    let answer = state
        .as_ref()
        .and_then(|s| s.answer.as_ref())
        .filter(|a| a.stopped_by != StoppedBy::Error);
    let accurate = match (&case.judge, &launch.over) {
        (Judge::None, _) => None,
        // An interrupted run is not judged: its check would only measure the interruption.
        _ if interrupted => None,
        (Judge::Expected { answer: want, how }, _) => {
            Some(answer.is_some_and(|a| suite::matches(&a.answer, want, *how)))
        }
        (
            Judge::Check {
                command,
                timeout_secs,
            },
            Over::Repo(dir),
        ) => Some(
            check(command, dir, *timeout_secs, &plan.secret_env)
                .await
                .unwrap_or_else(|e| {
                    error.get_or_insert(e);
                    false
                }),
        ),
        (Judge::Check { .. }, _) => Some(false),
    };
    if error.is_none() && state.is_none() {
        error = Some(format!(
            "the run left no readable session at {}",
            launch.session.display()
        ));
    }
    let totals = state.as_ref().map(|s| s.totals.clone()).unwrap_or_default();
    let usage = Usage {
        input_tokens: totals.tokens_in,
        output_tokens: totals.tokens_out,
        cache_read_tokens: totals.tokens_cached_read,
        cache_write_tokens: totals.tokens_cache_write,
    };
    let billed = plan
        .price
        .map_or(usage.input_tokens as f64, |p| p.billed_input_tokens(usage));
    let wall = state
        .as_ref()
        .and_then(crate::compare::wall_ms)
        .map_or(measured, Duration::from_millis);
    let result = RunResult {
        case: case.id.clone(),
        mode: mode.name().to_string(),
        repeat,
        session: launch.session.clone(),
        answered: answer.is_some(),
        accurate,
        calls: totals.calls,
        input_tokens: totals.tokens_in,
        cached_input_tokens: totals.tokens_cached_read,
        output_tokens: totals.tokens_out,
        billed_input_tokens: billed,
        cost_usd: totals.cost_usd,
        unpriced_calls: totals.unpriced_calls,
        wall_secs: wall.as_secs_f64(),
        error,
    };
    Ok((result, interrupted))
}

fn read_state(session: &Path) -> Option<RunState> {
    let log = crate::session::read_session(session).ok()?;
    (!log.events.is_empty()).then(|| RunState::from_events(log.events.iter()))
}

/// Run a case's check in the run's copy: `Ok(true)` when it exits 0.
async fn check(
    command: &str,
    dir: &Path,
    timeout_secs: u64,
    secret_env: &[String],
) -> Result<bool, String> {
    let ending = crate::engine::tools::run_command_outside(
        command,
        dir,
        Duration::from_secs(timeout_secs),
        secret_env,
    )
    .await
    .map_err(|e| format!("the check could not run: {e}"))?;
    if ending.timed_out {
        return Err(format!("the check ran past its {timeout_secs} s timeout"));
    }
    Ok(ending.exit_code == Some(0))
}
