//! `delm run --worker KIND:N`: the checks before the run starts (kinds, counts, binaries,
//! what the flags combine with) and the launch once the board is served. The workers
//! themselves are `delm::workers`.

use crate::Failure;
use crate::cli::{CoordinationArg, RunArgs};
use delm::config::Config;
use delm::engine::EngineHandle;
use delm::engine::tools::Workspace;
use delm::event::Mode;
use delm::mcp::ServingBoard;
use delm::workers::{self, Allowed, Kind, MAX_WORKERS, Setup, Workers};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The workers a run will launch, checked.
pub(crate) struct WorkerPlan(Setup);

/// Check `--worker` against the other flags and find each kind's binary: a usage error
/// before anything starts. `None` without `--worker`.
pub(crate) fn plan(
    args: &RunArgs,
    cfg: &Config,
    mode: &Mode,
) -> Result<Option<WorkerPlan>, Failure> {
    if args.workers.is_empty() {
        return Ok(None);
    }
    let total: usize = args.workers.iter().map(|w| w.count).sum();
    if total > MAX_WORKERS {
        return Err(Failure::Usage(format!(
            "--worker: {total} workers asked for, at most {MAX_WORKERS} per run"
        )));
    }
    if args.coordination != CoordinationArg::Delm {
        return Err(Failure::Usage(
            "--worker needs the default coordination (delm): workers claim from the shared queue"
                .into(),
        ));
    }
    if args.board.is_some() {
        return Err(Failure::Usage(
            "--worker cannot be combined with --board yet: launch the workers on a run without \
             --board, or add agents with `delm worker`"
                .into(),
        ));
    }
    let mut commands = HashMap::new();
    for kind in Kind::ALL {
        if args.workers.iter().any(|w| w.kind == kind) {
            let configured = cfg
                .workers
                .get(kind.name())
                .and_then(|w| w.command.as_deref());
            let path = workers::resolve_command(kind, configured).map_err(Failure::Usage)?;
            commands.insert(kind, path);
        }
    }
    let repo = match mode {
        Mode::Repo { root } => Some(PathBuf::from(root)),
        _ => None,
    };
    Ok(Some(WorkerPlan(Setup {
        specs: args.workers.clone(),
        commands,
        allow: Allowed {
            read: repo.is_some(),
            exec: args.sandbox.allow_exec,
            edit: args.sandbox.allow_edit,
        },
        repo,
        goal: args.question.trim().to_string(),
        env: Vec::new(),
    })))
}

/// Launch the planned workers on the served board.
pub(crate) fn start(
    plan: Option<WorkerPlan>,
    handle: &EngineHandle,
    serving: Option<&Arc<ServingBoard>>,
    workspace: Arc<dyn Workspace>,
    headless: bool,
) -> Option<Workers> {
    let (WorkerPlan(setup), serving) = (plan?, serving?);
    if headless {
        let names: Vec<String> = setup
            .specs
            .iter()
            .map(|s| format!("{}:{}", s.kind.name(), s.count))
            .collect();
        eprintln!("workers: {} on the board", names.join(", "));
    }
    Some(workers::start(
        setup,
        handle.clone(),
        Arc::clone(serving),
        workspace,
    ))
}

/// Stop the workers (kill their process groups, revoke their tokens), then the board.
pub(crate) async fn stop(workers: Option<Workers>, serving: Option<Arc<ServingBoard>>) {
    if let Some(workers) = workers {
        workers.shutdown().await;
    }
    if let Some(serving) = serving
        && let Ok(serving) = Arc::try_unwrap(serving)
    {
        serving.shutdown().await;
    }
}
