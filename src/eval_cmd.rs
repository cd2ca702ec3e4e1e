//! `delm eval` at the binary's edge: the suite and flags become a [`Plan`], and each run is
//! started exactly as `delm run` starts it ([`crate::launch::run`], headless and quiet, its
//! session written into the eval's directory). The measuring is `delm::eval`'s.

use crate::Failure;
use crate::cli::{
    CoordinationArg, EvalArgs, LeaseArgs, NatsArgs, ProviderArgs, RunArgs, SandboxArgs, ServeArgs,
};
use crate::launch::{resolve_model, workspace_options};
use delm::config::Config;
use delm::eval::report::{self, RunResult};
use delm::eval::suite::Over;
use delm::eval::{Ended, Launch, Launcher, Plan, evaluate};
use delm::event::Coordination;
use delm::llm::pricing::Pricing;
use futures_util::future::LocalBoxFuture;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub async fn eval(args: EvalArgs) -> Result<ExitCode, Failure> {
    let cases = delm::eval::suite::load(&args.suite).map_err(Failure::Usage)?;
    // What every run would refuse is refused once, before any run.
    if let Some(n) = args.agents
        && !(1..=delm::engine::board::MAX_AGENTS).contains(&n)
    {
        return Err(Failure::Usage(format!(
            "--agents must be between 1 and {}",
            delm::engine::board::MAX_AGENTS
        )));
    }
    if let Some(c) = args.max_cost
        && (c.is_nan() || c <= 0.0)
    {
        return Err(Failure::Usage(
            "--max-cost must be a positive amount in USD".into(),
        ));
    }
    let cfg = Config::load().map_err(Failure::Usage)?;
    // A bad model spec or a missing key is a usage error before any run starts.
    let model = resolve_model(&cfg, &args.model, None)?;
    let price = Pricing::default()
        .with_overrides(cfg.pricing.clone())
        .price(model.spec.provider_label(), &model.spec.model);
    let mut modes: Vec<Coordination> = Vec::new();
    for arg in &args.coordination {
        let mode = match arg {
            CoordinationArg::Delm => Coordination::Delm,
            CoordinationArg::Central => Coordination::Central,
            CoordinationArg::Isolated => Coordination::Isolated,
        };
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    let out = args.out.clone().unwrap_or_else(default_out);
    let plan = Plan {
        cases,
        modes,
        repeats: args.repeat,
        out: out.clone(),
        price,
        secret_env: workspace_options(&SandboxArgs::default(), &model).secret_env,
    };
    plan.check().map_err(Failure::Usage)?;
    let total = plan.cases.len() * plan.modes.len() * plan.repeats;
    let mut done = 0usize;
    // A signal between runs (during a check, say) would otherwise go unheard: the runs
    // listen for it only while they run.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch_signals(Arc::clone(&stop)));
    let launcher = RunLauncher { args: &args, stop };
    let evaluated = evaluate(&plan, &launcher, &mut |r| {
        done += 1;
        eprintln!("eval: [{done}/{total}] {}", progress_line(r));
    })
    .await
    .map_err(Failure::Run);
    watcher.abort();
    let evaluated = evaluated?;
    let runs = evaluated.runs;
    let names: Vec<String> = plan.modes.iter().map(|m| m.name().to_string()).collect();
    let summary = report::summarise(&runs, &names, plan.repeats);
    let json = report::to_json(
        &args.suite.display().to_string(),
        plan.cases.len(),
        plan.repeats,
        &summary,
        &runs,
    );
    let write = |name: &str, text: String| -> Result<PathBuf, Failure> {
        let path = out.join(name);
        std::fs::write(&path, text)
            .map_err(|e| Failure::Run(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    };
    std::fs::create_dir_all(&out)
        .map_err(|e| Failure::Run(format!("cannot create {}: {e}", out.display())))?;
    let json_path = write("eval.json", format!("{json:#}\n"))?;
    write("runs.csv", report::runs_csv(&runs))?;
    write("summary.csv", report::summary_csv(&summary))?;
    print!(
        "{}",
        report::table(&summary, plan.cases.len(), plan.repeats)
    );
    eprintln!(
        "eval: sessions in {}; {}, runs.csv and summary.csv beside it",
        out.join("sessions").display(),
        json_path.display()
    );
    if evaluated.interrupted {
        eprintln!(
            "eval: interrupted after {} of {total} runs; the table covers those",
            runs.len()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

/// `./eval-<unix time>`.
fn default_out() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from(format!("eval-{secs}"))
}

fn progress_line(r: &RunResult) -> String {
    let verdict = match r.accurate {
        Some(true) => "right",
        Some(false) => "wrong",
        None => "not judged",
    };
    let mut line = format!(
        "{} under {} (repeat {}): {}, {verdict}, {} calls, ${:.4}, {:.1} s",
        r.case,
        r.mode,
        r.repeat,
        if r.answered { "answered" } else { "no answer" },
        r.calls,
        r.cost_usd,
        r.wall_secs
    );
    if let Some(e) = &r.error {
        line.push_str(&format!(
            "; {}",
            delm::text::escape_controls(&delm::text::clip(e, 300))
        ));
    }
    line
}

/// Sets `stop` at SIGINT (Ctrl-C), SIGTERM or SIGHUP, as often as they come.
async fn watch_signals(stop: Arc<AtomicBool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        stop.store(true, Ordering::SeqCst);
    }
}

/// Starts each run as `delm run` with the eval's flags would.
struct RunLauncher<'a> {
    args: &'a EvalArgs,
    /// Set by a signal: the run in progress stops on it too (it listens itself).
    stop: Arc<AtomicBool>,
}

impl Launcher for RunLauncher<'_> {
    fn launch<'a>(&'a self, run: &'a Launch) -> LocalBoxFuture<'a, Ended> {
        Box::pin(async move {
            match crate::launch::run(self.run_args(run)).await {
                Ok(code) if code == ExitCode::SUCCESS => Ended::Finished,
                // A headless run ends unfinished only when a signal (Ctrl-C) stopped it.
                Ok(_) => Ended::Interrupted,
                Err(Failure::Usage(m) | Failure::Run(m)) => Ended::Failed(m),
            }
        })
    }

    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

impl RunLauncher<'_> {
    fn run_args(&self, run: &Launch) -> RunArgs {
        let a = self.args;
        let (repo, docs) = match &run.over {
            Over::Nothing => (None, Vec::new()),
            Over::Docs(docs) => (None, docs.clone()),
            Over::Repo(repo) => (Some(repo.clone()), Vec::new()),
        };
        RunArgs {
            question: run.question.clone(),
            repo,
            docs,
            agents: a.agents,
            verify: a.verify,
            max_cost: a.max_cost,
            max_tokens: None,
            time_limit: a.time_limit,
            coordination: match run.mode {
                Coordination::Delm => CoordinationArg::Delm,
                Coordination::Central => CoordinationArg::Central,
                Coordination::Isolated => CoordinationArg::Isolated,
            },
            session: Some(run.session.clone()),
            board: None,
            lease: LeaseArgs::default(),
            nats: NatsArgs::default(),
            // A `check` case fixes its own copy of the repository: the verified result is
            // applied there, and the check runs there.
            sandbox: SandboxArgs {
                allow_exec: run.edit,
                allow_edit: run.edit,
                apply: run.edit,
                ..SandboxArgs::default()
            },
            serve: ServeArgs::default(),
            provider: ProviderArgs {
                model: a.model.clone(),
                headless: true,
                quiet: true,
                ..ProviderArgs::default()
            },
            demo: None,
        }
    }
}
