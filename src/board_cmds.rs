//! The command line of a board on NATS: `delm worker`, `delm attach`, and what `run` and
//! `resume` add with `--board` or a `nats://` run. The machinery is `delm::nats`; this
//! module turns flags into its calls, with the model and front ends `launch` builds.

use crate::Failure;
use crate::cli::{AttachArgs, NatsArgs, ProviderArgs, SandboxArgs, WorkerArgs};
use crate::launch::{
    FrontEnd, build_llm, check_tui, drive, finish, init_logging, resolve_model, run_tui,
    workspace_options,
};
use delm::config::Config;
use delm::engine::{EngineHandle, EventSink, board};
use delm::event::{Envelope, Mode};
use delm::nats::{BoardHost, BoardUrl, NatsAuth, WorkerEnd};
use delm::session::SessionWriter;
use delm::sinks::Tee;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub(crate) fn board_url(text: &str) -> Result<BoardUrl, Failure> {
    BoardUrl::parse(text).map_err(Failure::Usage)
}

pub(crate) fn nats_auth(flags: &NatsArgs) -> NatsAuth {
    NatsAuth {
        creds: flags.nats_creds.clone(),
        ca: flags.nats_ca.clone(),
        cert: flags.nats_cert.clone(),
        key: flags.nats_key.clone(),
    }
}

/// The session sink, plus the run's stream when the board lives on NATS.
pub(crate) fn board_sink(
    sink: Box<dyn EventSink>,
    host: Option<&mut BoardHost>,
) -> Box<dyn EventSink> {
    match host {
        Some(host) => Box::new(Tee(vec![sink, host.take_sink()])),
        None => sink,
    }
}

/// [`drive`], with the board served on NATS around it when it lives there.
pub(crate) async fn serve_and_drive(
    handle: EngineHandle,
    host: Option<BoardHost>,
    front: FrontEnd<'_>,
) -> Result<ExitCode, Failure> {
    let Some(mut host) = host else {
        return drive(handle, front).await;
    };
    host.serve(&handle).await.map_err(Failure::Run)?;
    let url = host.url();
    eprintln!("board: {url} (add agents: delm worker --board {url}; watch: delm attach {url})");
    let front = FrontEnd {
        resume: Some(url),
        ..front
    };
    let outcome = drive(handle, front).await;
    host.close()
        .await
        .map_err(|e| Failure::Run(format!("the board: {e}")))?;
    outcome
}

pub(crate) async fn worker(args: WorkerArgs) -> Result<ExitCode, Failure> {
    let cfg = Config::load().map_err(Failure::Usage)?;
    if args.agents == 0 || args.agents > board::MAX_AGENTS {
        return Err(Failure::Usage(format!(
            "--agents must be between 1 and {}",
            board::MAX_AGENTS
        )));
    }
    let mut url = board_url(&args.board)?;
    if let Some(run) = &args.run {
        url = board_url(&url.with_run(run).display())?;
    }
    let model = resolve_model(&cfg, &args.model, None)?;
    let sandbox = SandboxArgs {
        allow_exec: args.allow_exec,
        allow_edit: args.allow_edit,
        ..SandboxArgs::default()
    };
    init_logging(args.log_level.as_deref());
    let (llm, price) = build_llm(&cfg, &model, args.agents);
    let setup = delm::nats::WorkerSetup {
        url,
        auth: nats_auth(&args.nats),
        agents: args.agents,
        llm,
        price,
        model_label: model.spec.label.clone(),
        options: workspace_options(&sandbox, &model),
        workdir: args.workdir.clone(),
        max_turns_per_task: cfg.max_turns,
        context_budget_tokens: cfg.context_budget,
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        stop_signal().await;
        eprintln!("delm worker: stopping; open claims go back to the queue");
        stopper.cancel();
    });
    let report = delm::nats::worker::run(setup, shutdown)
        .await
        .map_err(Failure::Run)?;
    if !report.worker.is_empty() {
        eprintln!("delm worker {}: {}", report.worker, report.summary());
    }
    match report.end {
        WorkerEnd::Done => Ok(ExitCode::SUCCESS),
        WorkerEnd::Interrupted => Ok(ExitCode::from(130)),
        WorkerEnd::Failed(why) => Err(Failure::Run(why)),
    }
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

pub(crate) async fn attach(args: AttachArgs) -> Result<ExitCode, Failure> {
    let cfg = Config::load().map_err(Failure::Usage)?;
    let mut url = board_url(&args.board)?;
    if let Some(run) = &args.run {
        url = board_url(&url.with_run(run).display())?;
    }
    let flags = ProviderArgs {
        headless: args.headless,
        json: args.json,
        theme: args.theme.clone(),
        ..ProviderArgs::default()
    };
    check_tui(&flags, &cfg)?;
    init_logging(None);
    let engine = delm::nats::RemoteEngine::attach(&url, &nats_auth(&args.nats))
        .await
        .map_err(Failure::Run)?;
    if !args.headless {
        // Leaving the TUI leaves the remote run going.
        return Ok(match run_tui(Arc::new(engine), &flags, &cfg).await? {
            Some(signal) => ExitCode::from(128u8.saturating_add(signal as u8)),
            None => ExitCode::SUCCESS,
        });
    }
    let state = delm::nats::attach::follow_headless(&engine, args.json, stop_signal()).await;
    match &state.answer {
        Some(answer) => finish(&state, answer, &flags),
        None => {
            eprintln!(
                "delm: stopped watching run {}; it goes on (`delm attach {}` again)",
                engine.run_id(),
                url.with_run(engine.run_id()).display()
            );
            Ok(ExitCode::from(130))
        }
    }
}

/// Whether the paths a run recorded exist on this machine.
pub(crate) fn workspace_is_here(mode: &Mode) -> bool {
    match mode {
        Mode::Plain => true,
        Mode::Repo { root } => Path::new(root).is_dir(),
        Mode::Docs { roots } => roots.iter().all(|r| Path::new(r).exists()),
    }
}

/// The session file of a run resumed from its stream: the stream is the truth, so the
/// export is rewritten from it (atomically) and continued.
pub(crate) fn export_session(path: &Path, events: &[Envelope]) -> Result<SessionWriter, Failure> {
    let fail = |e: String| Failure::Run(format!("cannot write the session file: {e}"));
    let tmp = path.with_extension("jsonl.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut writer = SessionWriter::create(&tmp).map_err(|e| fail(e.to_string()))?;
    writer
        .write_batch(events)
        .and_then(|()| writer.sync())
        .map_err(|e| fail(e.to_string()))?;
    drop(writer);
    std::fs::rename(&tmp, path).map_err(|e| fail(e.to_string()))?;
    SessionWriter::append(path).map_err(|e| fail(e.to_string()))
}
