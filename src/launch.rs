//! From parsed flags to a running engine: config, provider, workspace, session log, and the
//! headless or TUI front end. Over 600 lines because `run` and `resume` share most of their
//! steps here, so the two cannot drift apart; a board on NATS is `board_cmds`'s.

use crate::Failure;
use crate::board_cmds::{
    attach, board_sink, board_url, export_session, nats_auth, serve_and_drive, worker,
    workspace_is_here,
};
use crate::cli::{
    Cli, Command, CompareArgs, CoordinationArg, McpArgs, ModelArgs, ProviderArgs, ReplayArgs,
    ResumeArgs, RunArgs, SandboxArgs, ServeArgs, VerifyArg,
};
use delm::config::{self, Config, DEFAULT_MODEL};
use delm::engine::tools::{Workspace, WorkspaceOptions, delivery, patch};
use delm::engine::{EngineHandle, EventSink, PriceFn, RunBuilder, RunConfig, board, tools};
use delm::event::{
    Budgets, Coordination, Envelope, FinalAnswer, Mode, RunState, StoppedBy, VerifyMode,
};
use delm::llm::config::{ProviderConfig, Secret};
use delm::llm::pricing::Pricing;
use delm::llm::retry::{RetryPolicy, RetryingProvider};
use delm::llm::spec::{self, ModelSpec};
use delm::nats::BoardHost;
use delm::session::{self, SessionWriter};
use delm::sinks::{JsonLines, Story, Tee};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub async fn dispatch(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Run(args) => run(args).await,
        Command::Demo(args) => run(args.into_run_args().map_err(Failure::Run)?).await,
        Command::Replay(args) => replay(args).await,
        Command::Resume(args) => resume(args).await,
        Command::Sessions(args) => {
            // The default listing adds every indexed run (`--session FILE` runs elsewhere).
            let (dir, list) = match args.dir {
                Some(d) => (d.clone(), session::list_sessions(&d)),
                None => {
                    let d = sessions_dir()?;
                    (d.clone(), session::list_all_runs(&d))
                }
            };
            let list = list.map_err(|e| Failure::Run(e.to_string()))?;
            let width = terminal_width();
            print!("{}", session::format_sessions_listing(&dir, &list, width));
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare(args) => compare(args),
        Command::Mcp(args) => mcp_bridge(args).await,
        Command::Worker(args) => worker(args).await,
        Command::Attach(args) => attach(args).await,
        Command::Eval(args) => crate::eval_cmd::eval(args).await,
        Command::Runs(args) => {
            let url = board_url(&args.board)?;
            let listing = delm::nats::list_runs(&url, &nats_auth(&args.nats), terminal_width())
                .await
                .map_err(Failure::Run)?;
            print!("{listing}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(args) => {
            let path = config::config_path()
                .ok_or_else(|| Failure::Run("no home directory to keep a config in".into()))?;
            if args.path {
                println!("{}", path.display());
            } else {
                Config::load().map_err(Failure::Usage)?;
                match std::fs::read_to_string(&path) {
                    Ok(text) => print!("{text}"),
                    Err(_) => println!(
                        "# no config file yet; create {} (see README: Configuration)",
                        path.display()
                    ),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(feature = "tui")]
fn terminal_width() -> usize {
    crossterm::terminal::size()
        .map(|(w, _)| w as usize)
        .unwrap_or(100)
        .max(40)
}

/// Without the TUI there is no terminal library: `$COLUMNS`, else 100.
#[cfg(not(feature = "tui"))]
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100usize)
        .max(40)
}

fn sessions_dir() -> Result<PathBuf, Failure> {
    session::default_sessions_dir().ok_or_else(|| {
        Failure::Run("no home directory for the sessions folder; pass --session FILE".into())
    })
}

/// Tracing goes to a file, never to the terminal the TUI owns. Transport crates are held at
/// `warn` whatever the level, so request headers (keys) are never logged.
pub(crate) fn init_logging(level: Option<&str>) -> Option<PathBuf> {
    let dir = config::log_dir()?;
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("delm.log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    let base = level
        .map(str::to_string)
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_string());
    let filter = format!(
        "{base},hyper=warn,hyper_util=warn,reqwest=warn,h2=warn,rustls=warn,async_nats=warn"
    );
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()?;
    Some(path)
}

/// The resolved model: spec, endpoint, key.
pub(crate) struct Model {
    pub spec: ModelSpec,
    base_url: Option<String>,
    api_key: Option<Secret>,
    /// The variable named to hold the key (`--api-key-env`), kept from commands.
    key_env: Option<String>,
}

impl Model {
    /// The endpoint the run talks to, as `run_started` records it (no credentials).
    fn endpoint(&self) -> String {
        let url = self
            .base_url
            .as_deref()
            .unwrap_or(self.spec.default_base_url);
        delm::redact::redact(url).into_owned()
    }
}

/// What a resumed run recorded about its model: the spec and the endpoint it talked to.
pub(crate) struct Recorded<'a> {
    model: &'a str,
    endpoint: Option<&'a str>,
}

pub(crate) fn resolve_model(
    cfg: &Config,
    flags: &ModelArgs,
    recorded: Option<Recorded<'_>>,
) -> Result<Model, Failure> {
    let fallback = recorded.as_ref().map(|r| r.model);
    let name = flags
        .model
        .clone()
        .or_else(|| fallback.map(str::to_string))
        .or_else(|| cfg.model.clone())
        .unwrap_or_else(|| DEFAULT_MODEL.to_string());
    let alias = cfg.models.get(&name);
    let spec_text = alias.map(|a| a.spec.clone()).unwrap_or(name);
    let spec = spec::parse_model_spec(&spec_text).map_err(Failure::Usage)?;
    let recorded_endpoint = recorded.as_ref().and_then(|r| r.endpoint);
    let base_url = match (&flags.base_url, recorded_endpoint) {
        // A resumed run talks to the endpoint it started with: a key meant for a local
        // server must never go to another host because a flag was forgotten.
        (Some(flag), Some(endpoint)) if !same_endpoint(flag, endpoint) => {
            return Err(Failure::Usage(format!(
                "this run was started against {endpoint}, but --base-url says {}; resume \
                 without --base-url to continue against {endpoint}, or start a new run",
                delm::redact::redact(flag)
            )));
        }
        (Some(flag), _) => Some(flag.clone()),
        (None, Some(endpoint)) if endpoint != spec.default_base_url => Some(endpoint.to_string()),
        (None, Some(_)) => None,
        (None, None) => alias
            .and_then(|a| a.base_url.clone())
            .or_else(|| cfg.base_url.clone()),
    };
    let key_env = flags
        .api_key_env
        .clone()
        .or_else(|| alias.and_then(|a| a.api_key_env.clone()))
        .or_else(|| cfg.api_key_env.clone());
    let api_key = spec::resolve_api_key(&spec, key_env.as_deref(), base_url.is_some())
        .map_err(Failure::Usage)?;
    Ok(Model {
        spec,
        base_url,
        api_key,
        key_env,
    })
}

/// `--judge-model`: verify points with another model. A judge of the same provider as the
/// agents talks to the same endpoint with the same key.
fn with_judge(
    builder: RunBuilder,
    cfg: &Config,
    flags: &ProviderArgs,
    agents_model: &Model,
    agents: usize,
) -> Result<RunBuilder, Failure> {
    let Some(name) = &flags.judge_model else {
        return Ok(builder);
    };
    let same_provider = cfg
        .models
        .get(name)
        .map(|a| a.spec.as_str())
        .unwrap_or(name)
        .split(':')
        .next()
        .is_some_and(|p| p.eq_ignore_ascii_case(agents_model.spec.provider_label()));
    let judge_flags = ModelArgs {
        model: Some(name.clone()),
        base_url: same_provider
            .then(|| agents_model.base_url.clone())
            .flatten(),
        api_key_env: same_provider
            .then(|| agents_model.key_env.clone())
            .flatten(),
    };
    let judge = resolve_model(cfg, &judge_flags, None).map_err(|f| match f {
        Failure::Usage(m) => Failure::Usage(format!("--judge-model: {m}")),
        other => other,
    })?;
    let (llm, price) = build_llm(cfg, &judge, agents);
    Ok(builder.judge(llm, price))
}

/// Two spellings of one endpoint (a trailing slash, credentials the record left out).
fn same_endpoint(a: &str, b: &str) -> bool {
    let norm = |u: &str| {
        delm::redact::redact(u)
            .trim_end_matches('/')
            .to_ascii_lowercase()
    };
    norm(a) == norm(b)
}

pub(crate) fn build_llm(
    cfg: &Config,
    model: &Model,
    agents: usize,
) -> (delm::engine::Model, PriceFn) {
    let mut pc = ProviderConfig::from_spec(
        &model.spec,
        model.base_url.as_deref(),
        model.api_key.clone(),
    );
    let mut policy = RetryPolicy::default();
    cfg.apply_provider_keys(&mut pc, &mut policy);
    policy.max_concurrency = cfg.max_concurrency.unwrap_or(agents.clamp(1, 16));
    if let Ok(ms) = std::env::var("DELM_RETRY_BASE_MS")
        && let Ok(ms) = ms.parse::<u64>()
    {
        // For tests and impatient local setups: a smaller first backoff.
        policy.base_delay = Duration::from_millis(ms);
    }
    let llm = Arc::new(RetryingProvider::new(delm::llm::build_provider(pc), policy));
    let pricing = Pricing::default().with_overrides(cfg.pricing.clone());
    let label = model.spec.provider_label().to_string();
    let name = model.spec.model.clone();
    let price = Arc::new(move |usage| pricing.cost(&label, &name, usage));
    (llm, price)
}

fn verify_mode(arg: Option<VerifyArg>, cfg: &Config) -> Result<VerifyMode, Failure> {
    Ok(match arg {
        Some(VerifyArg::Judge) => VerifyMode::Judge,
        Some(VerifyArg::Evidence) => VerifyMode::Evidence,
        Some(VerifyArg::Off) => VerifyMode::Off,
        None => match cfg.verify.as_deref() {
            None | Some("judge") => VerifyMode::Judge,
            Some("evidence") => VerifyMode::Evidence,
            Some("off") => VerifyMode::Off,
            Some(other) => {
                return Err(Failure::Usage(format!(
                    "verify = \"{other}\" in the config file is not one of judge, evidence, off"
                )));
            }
        },
    })
}

fn mode_from(args: &RunArgs) -> Result<Mode, Failure> {
    let canonical = |p: &Path| -> Result<String, Failure> {
        let c = p.canonicalize().map_err(|_| {
            Failure::Usage(format!("{} does not exist: check the path", p.display()))
        })?;
        Ok(c.to_string_lossy().into_owned())
    };
    if let Some(repo) = &args.repo {
        if !repo.is_dir() {
            return Err(Failure::Usage(format!(
                "--repo {} is not a directory",
                repo.display()
            )));
        }
        return Ok(Mode::Repo {
            root: canonical(repo)?,
        });
    }
    if !args.docs.is_empty() {
        let roots = args
            .docs
            .iter()
            .map(|p| canonical(p))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Mode::Docs { roots });
    }
    Ok(Mode::Plain)
}

pub(crate) async fn run(args: RunArgs) -> Result<ExitCode, Failure> {
    let cfg = Config::load().map_err(Failure::Usage)?;
    if args.question.trim().is_empty() {
        return Err(Failure::Usage(
            "the question is empty: say what the swarm should do".into(),
        ));
    }
    let board = args.board.as_deref().map(board_url).transpose()?;
    let agents = args.agents.or(cfg.agents).unwrap_or(4);
    // A board on NATS may run no agents itself: workers bring them.
    let fewest = usize::from(board.is_none());
    if agents < fewest || agents > board::MAX_AGENTS {
        return Err(Failure::Usage(format!(
            "--agents must be between {fewest} and {}",
            board::MAX_AGENTS
        )));
    }
    if agents == 0 && args.coordination == CoordinationArg::Isolated {
        return Err(Failure::Usage(
            "--coordination isolated makes one attempt per board agent: give --agents N".into(),
        ));
    }
    if let Some(c) = args.max_cost
        && (c.is_nan() || c <= 0.0)
    {
        return Err(Failure::Usage(
            "--max-cost must be a positive amount in USD".into(),
        ));
    }
    let mode = mode_from(&args)?;
    let model = resolve_model(&cfg, &args.provider.model, None)?;
    let workspace = tools::open_with(&mode, &workspace_options(&args.sandbox, &model))
        .map_err(Failure::Usage)?;
    let outputs = RunOutputs::new(&workspace, &mode, &args.sandbox);
    let mut run_cfg = RunConfig::new(args.question.trim(), mode, model.spec.label.clone());
    if args.demo.is_some() {
        run_cfg.model_label = delm::demo::MODEL_LABEL.to_string();
    }
    run_cfg.agents = agents;
    run_cfg.verify = verify_mode(args.verify, &cfg)?;
    run_cfg.coordination = match args.coordination {
        CoordinationArg::Delm => Coordination::Delm,
        CoordinationArg::Central => Coordination::Central,
        CoordinationArg::Isolated => Coordination::Isolated,
    };
    run_cfg.endpoint = Some(model.endpoint());
    run_cfg.budgets = Budgets {
        max_cost_usd: args.max_cost,
        max_tokens: args.max_tokens,
        time_limit_secs: args.time_limit,
    };
    apply_tuning(&mut run_cfg, &cfg);
    apply_lease(&mut run_cfg, args.lease.lease.or(cfg.lease_secs));
    let session_path = match &args.session {
        Some(p) => p.clone(),
        None => sessions_dir()?.join(format!("{}.jsonl", run_cfg.run_id)),
    };
    check_tui(&args.provider, &cfg)?;
    let mcp_board = bind_board(&args.serve, &session_path, &run_cfg.run_id).await?;
    let mut host = match &board {
        Some(url) => Some(
            BoardHost::create(url, &nats_auth(&args.nats), &run_cfg)
                .await
                .map_err(Failure::Run)?,
        ),
        None => None,
    };
    let writer = SessionWriter::create(&session_path).map_err(|e| Failure::Usage(e.to_string()))?;
    index_run(&run_cfg.run_id, &session_path);
    let log_path = init_logging(args.provider.log_level.as_deref());
    tracing::info!(run = %run_cfg.run_id, model = %run_cfg.model_label, "starting run");
    let (llm, price) = match args.demo {
        Some(pace) => delm::demo::provider(agents, pace),
        None => build_llm(&cfg, &model, agents),
    };
    let sink = front_end_sink(&args.provider, Box::new(writer), RunState::default());
    let sink = board_sink(sink, host.as_mut());
    let settings = delm::mcp::BoardSettings::of(&run_cfg);
    let builder = with_judge(
        RunBuilder::new(run_cfg, llm, price, Arc::clone(&workspace)).sink(sink),
        &cfg,
        &args.provider,
        &model,
        agents,
    )?;
    let handle = builder.start().map_err(Failure::Run)?;
    let serving = serve_board(mcp_board, &handle, workspace, settings, &args.provider);
    let front = FrontEnd {
        flags: &args.provider,
        cfg: &cfg,
        session_path: &session_path,
        log_path,
        outputs,
        resume: None,
    };
    let outcome = serve_and_drive(handle, host, front).await;
    if let Some(serving) = serving {
        serving.shutdown().await;
    }
    outcome
}

/// `--serve`: bind before the run starts, so a taken port is a usage error and no run.
async fn bind_board(
    flags: &ServeArgs,
    session: &Path,
    run_id: &str,
) -> Result<Option<delm::mcp::Binding>, Failure> {
    let Some(addr) = &flags.serve else {
        return Ok(None);
    };
    let binding = delm::mcp::bind(addr, session, run_id)
        .await
        .map_err(Failure::Usage)?;
    Ok(Some(binding))
}

/// Serve the board once the run has started; the URL (never the token) goes to stderr.
fn serve_board(
    board: Option<delm::mcp::Binding>,
    handle: &EngineHandle,
    workspace: Arc<dyn Workspace>,
    settings: delm::mcp::BoardSettings,
    flags: &ProviderArgs,
) -> Option<delm::mcp::ServingBoard> {
    let serving = board?.serve(handle.clone(), workspace, settings);
    if flags.headless {
        eprintln!(
            "board: serving {} for outside agents (token in {})",
            serving.url(),
            serving.board_file().display()
        );
    }
    Some(serving)
}

/// How long an outside or remote participant may be silent with a claim: the flag, the
/// config, or 120 s.
fn apply_lease(run_cfg: &mut RunConfig, lease: Option<u64>) {
    if let Some(secs) = lease {
        run_cfg.lease = Duration::from_secs(secs.max(1));
    }
}

/// `delm mcp SESSION|RUN-ID`: a stdio MCP server for that live run's board.
async fn mcp_bridge(args: McpArgs) -> Result<ExitCode, Failure> {
    init_logging(None);
    let dir = session::default_sessions_dir().unwrap_or_default();
    let board_file = delm::mcp::resolve_board_file(&args.session, &dir).map_err(Failure::Usage)?;
    delm::mcp::bridge_stdio(&board_file)
        .await
        .map_err(Failure::Run)?;
    Ok(ExitCode::SUCCESS)
}

/// What a front end needs besides the engine: the flags, where the session is, and what
/// the run leaves behind.
pub(crate) struct FrontEnd<'a> {
    pub flags: &'a ProviderArgs,
    pub cfg: &'a Config,
    pub session_path: &'a Path,
    pub log_path: Option<PathBuf>,
    pub outputs: RunOutputs,
    /// What `delm resume` takes to continue this run: its session file, or its board.
    pub resume: Option<String>,
}

/// Commands and edits as the flags allow; the provider's key variables never reach a
/// command.
pub(crate) fn workspace_options(flags: &SandboxArgs, model: &Model) -> WorkspaceOptions {
    let mut secret_env = vec![
        "OPENAI_API_KEY".to_string(),
        "ANTHROPIC_API_KEY".to_string(),
    ];
    secret_env.extend(model.key_env.clone());
    WorkspaceOptions {
        allow_exec: flags.allow_exec,
        allow_edit: flags.allow_edit,
        secret_env,
        sandbox: flags.sandbox.map(Into::into).unwrap_or_default(),
        allow_net: flags.allow_net,
    }
}

/// What a run leaves besides its session (`--allow-edit`): the assembled result as
/// `<session>.patch` (a summary of whose work it holds, then the diff), the patches it kept
/// out as `<session>.conflicts`, and with `--apply` the patch applied to the repository.
pub(crate) struct RunOutputs {
    workspace: Arc<dyn Workspace>,
    /// The repository, when edits were allowed on one.
    repo: Option<PathBuf>,
    apply: bool,
}

impl RunOutputs {
    fn new(workspace: &Arc<dyn Workspace>, mode: &Mode, flags: &SandboxArgs) -> RunOutputs {
        let repo = match mode {
            Mode::Repo { root } if flags.allow_edit => Some(PathBuf::from(root)),
            _ => None,
        };
        RunOutputs {
            workspace: Arc::clone(workspace),
            repo,
            apply: flags.apply,
        }
    }

    /// Write the result's files, apply the patch if asked, and remove the agents'
    /// worktrees. Messages go to stderr (the TUI has closed by now).
    fn deliver(&self, state: &RunState, session_path: &Path) -> Result<(), Failure> {
        let result = self.write_and_apply(state, session_path);
        self.workspace.cleanup();
        result
    }

    fn write_and_apply(&self, state: &RunState, session_path: &Path) -> Result<(), Failure> {
        let Some(repo) = &self.repo else {
            return Ok(());
        };
        let unchanged = if self.apply {
            " or applied; your files were not changed"
        } else {
            ""
        };
        let Some(result) = &state.result else {
            let why = if state.patches.is_empty() {
                "no change was verified in this run"
            } else {
                "the run ended before its verified changes were assembled"
            };
            eprintln!("delm: {why}, so no patch was written{unchanged}");
            return Ok(());
        };
        eprintln!(
            "result: {}",
            delm::text::escape_controls(&delivery::report::headline(result))
        );
        let written = |path: &Path, text: &str| {
            std::fs::write(path, text)
                .map_err(|e| Failure::Run(format!("cannot write {}: {e}", path.display())))
        };
        let conflicts = session_path.with_extension("conflicts");
        if !result.conflicts.is_empty() {
            written(
                &conflicts,
                &delivery::report::conflicts_report(result, state),
            )?;
            eprintln!(
                "conflicts: {} ({} kept out of the patch; --apply never applies them)",
                conflicts.display(),
                result.conflicts.len()
            );
        }
        if result.merged.is_empty() {
            eprintln!("delm: nothing merged, so no patch was written{unchanged}");
            return Ok(());
        }
        let path = session_path.with_extension("patch");
        let listed = (!result.conflicts.is_empty()).then(|| conflicts.display().to_string());
        let summary = delivery::report::summary(result, state, listed.as_deref());
        written(&path, &format!("{summary}{}", result.patch))?;
        eprintln!(
            "patch: {} ({}; verified in {}{})",
            path.display(),
            patch::diff_stats(&result.patch),
            result
                .merged
                .iter()
                .map(|m| m.point.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            cited_note(state, result)
        );
        if !self.apply {
            eprintln!(
                "delm: your files were not changed; apply it with `git apply {}` or run again with --apply",
                path.display()
            );
            return Ok(());
        }
        if !result.verified() {
            return Err(Failure::Run(format!(
                "--apply: the assembled result is not verified ({}); nothing was changed, the \
                 patch is at {}",
                delm::text::escape_controls(&delivery::report::checks_line(result)),
                path.display()
            )));
        }
        let applied =
            patch::apply_to(repo, &path).map_err(|e| Failure::Run(format!("--apply: {e}")))?;
        eprintln!(
            "applied the patch to {} ({applied}){}",
            repo.display(),
            if result.conflicts.is_empty() {
                String::new()
            } else {
                format!(
                    "; the conflicts in {} were not applied",
                    conflicts.display()
                )
            }
        );
        Ok(())
    }
}

/// ", cited by the answer" when the answer cites every merged point, else which it cites.
fn cited_note(state: &RunState, result: &delm::event::AssembledResult) -> String {
    let cited: &[String] = state.answer.as_ref().map_or(&[], |a| &a.cited);
    let merged: Vec<&str> = result.merged.iter().map(|m| m.point.as_str()).collect();
    let named: Vec<&str> = merged
        .iter()
        .copied()
        .filter(|p| cited.iter().any(|c| c == p))
        .collect();
    if named.len() == merged.len() {
        ", cited by the answer".to_string()
    } else if named.is_empty() {
        String::new()
    } else {
        format!(", the answer cites {}", named.join(", "))
    }
}

fn apply_tuning(run_cfg: &mut RunConfig, cfg: &Config) {
    if let Some(b) = cfg.context_budget {
        run_cfg.context_budget_tokens = b.max(200);
    }
    if let Some(t) = cfg.max_turns {
        run_cfg.max_turns_per_task = t.max(1);
    }
    if let Some(n) = cfg.max_tasks {
        run_cfg.max_tasks = n.max(1);
    }
}

/// The session writer plus whatever the headless front end prints.
fn front_end_sink(
    flags: &ProviderArgs,
    writer: Box<dyn EventSink>,
    prior: RunState,
) -> Box<dyn EventSink> {
    let mut sinks: Vec<Box<dyn EventSink>> = vec![writer];
    if flags.headless && !flags.quiet {
        sinks.push(Box::new(Story::with_state(std::io::stderr(), prior)));
        if flags.json {
            sinks.push(Box::new(JsonLines(std::io::stdout())));
        }
    }
    Box::new(Tee(sinks))
}

pub(crate) async fn drive(handle: EngineHandle, front: FrontEnd<'_>) -> Result<ExitCode, Failure> {
    let FrontEnd {
        flags,
        cfg,
        session_path,
        log_path,
        outputs,
        resume,
    } = front;
    // The exit code when the run is left unfinished: 130 for Ctrl-C or `q` in the TUI,
    // 128 + the signal for another one that stopped it.
    let mut unfinished_code: u8 = 130;
    let state = if flags.headless {
        let stopper = handle.clone();
        let stopped_by = Arc::new(std::sync::atomic::AtomicI32::new(0));
        let record = stopped_by.clone();
        // Ctrl-C, SIGTERM (a service manager, `timeout`) and SIGHUP (the terminal went away)
        // leave the run resumable: in-flight work is dropped, the log is synced.
        let listener = tokio::spawn(async move {
            let signal = termination_signal().await;
            eprintln!("delm: interrupted ({})", signal_name(signal));
            record.store(signal, std::sync::atomic::Ordering::SeqCst);
            stopper.detach();
        });
        let state = handle.wait().await;
        listener.abort();
        let signal = stopped_by.load(std::sync::atomic::Ordering::SeqCst);
        if signal > 0 {
            unfinished_code = u8::try_from(128 + signal).unwrap_or(130);
        }
        state
    } else {
        let ui = run_tui(Arc::new(handle.clone()), flags, cfg).await;
        // Quitting mid-run leaves the session resumable rather than finishing it.
        handle.detach();
        let state = handle.wait().await;
        if let Some(signal) = ui? {
            unfinished_code = u8::try_from(128 + signal).unwrap_or(130);
        }
        state
    };
    if !flags.quiet {
        eprintln!("session: {}", session_path.display());
    }
    if let Some(log) = log_path {
        tracing::info!("log file: {}", log.display());
    }
    let Some(answer) = &state.answer else {
        eprintln!(
            "delm: the run was left unfinished before its answer; continue it with `delm resume {}`",
            resume.unwrap_or_else(|| resume_arg(session_path))
        );
        return Ok(ExitCode::from(unfinished_code));
    };
    outputs.deliver(&state, session_path)?;
    finish(&state, answer, flags)
}

/// The first of SIGINT, SIGTERM and SIGHUP to arrive (only Ctrl-C where the others cannot
/// be listened to).
async fn termination_signal() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return libc::SIGINT;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => libc::SIGINT,
        _ = term.recv() => libc::SIGTERM,
        _ = hup.recv() => libc::SIGHUP,
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "Ctrl-C",
    }
}

/// The TUI on a live run; `Some(signal)` when a termination signal ended it.
#[cfg(feature = "tui")]
pub(crate) async fn run_tui(
    client: Arc<dyn delm::engine::EngineClient>,
    flags: &ProviderArgs,
    cfg: &Config,
) -> Result<Option<i32>, Failure> {
    let opts = tui_options(flags.theme.clone().or_else(|| cfg.theme.clone()), cfg);
    match delm::tui::run_live(client, opts).await {
        Ok(delm::tui::TuiExit::Quit) => Ok(None),
        Ok(delm::tui::TuiExit::Signal(n)) => Ok(Some(n)),
        Err(e) => Err(Failure::Run(format!("the terminal UI failed: {e:#}"))),
    }
}

#[cfg(not(feature = "tui"))]
pub(crate) async fn run_tui(
    _client: Arc<dyn delm::engine::EngineClient>,
    _flags: &ProviderArgs,
    _cfg: &Config,
) -> Result<Option<i32>, Failure> {
    Err(Failure::Usage(NO_TUI.into()))
}

/// What a TUI command says when delm was built without the `tui` feature.
#[cfg(not(feature = "tui"))]
const NO_TUI: &str = "this delm was built without the terminal UI (cargo feature `tui`); add \
--headless, or rebuild with the default features";

/// Record the run in the run index, so `delm sessions` lists it wherever its file lives.
fn index_run(run_id: &str, session_path: &Path) {
    if let Err(e) = session::index::record(run_id, session_path) {
        tracing::warn!("cannot record the run in the run index: {e}");
    }
}

/// A bad `--theme` or keymap is a usage error, caught before the run starts.
pub(crate) fn check_tui(flags: &ProviderArgs, cfg: &Config) -> Result<(), Failure> {
    if flags.headless {
        return Ok(());
    }
    #[cfg(feature = "tui")]
    return tui_options(flags.theme.clone().or_else(|| cfg.theme.clone()), cfg)
        .check()
        .map_err(|e| Failure::Usage(format!("{e:#}")));
    #[cfg(not(feature = "tui"))]
    {
        let _ = cfg;
        Err(Failure::Usage(NO_TUI.into()))
    }
}

#[cfg(feature = "tui")]
pub(crate) fn tui_options(theme: Option<String>, cfg: &Config) -> delm::tui::TuiOptions {
    delm::tui::TuiOptions {
        theme,
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        config_dir: config::config_dir(),
        notify: cfg.notify.clone(),
    }
}

/// Print the answer (headless, not --json) and map the outcome to the exit code.
pub(crate) fn finish(
    state: &RunState,
    answer: &FinalAnswer,
    flags: &ProviderArgs,
) -> Result<ExitCode, Failure> {
    match answer.stopped_by {
        StoppedBy::Error => {
            let why = state
                .errors
                .last()
                .cloned()
                .unwrap_or_else(|| answer.answer.clone());
            Err(Failure::Run(format!(
                "the run failed: {}",
                delm::text::escape_controls(&why)
            )))
        }
        _ => {
            // On stdout in the TUI too (it has closed by now), so `| tee` and the shell's
            // scrollback keep the answer; control characters escaped.
            if !flags.json && !flags.quiet {
                println!("{}", delm::text::escape_controls(answer.answer.trim()));
                if !answer.cited.is_empty() {
                    println!("\ncited: {}", answer.cited.join(", "));
                }
            }
            if answer.stopped_by == StoppedBy::Cancelled {
                eprintln!(
                    "delm: the run was stopped before it finished; `delm resume` can't continue a stopped run, start a new one"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_session(arg: &str) -> Result<(PathBuf, Vec<Envelope>), Failure> {
    let path = session_path_of(arg);
    let log = session::read_session(&path).map_err(|e| Failure::Usage(e.to_string()))?;
    report_bad_lines(&path, &log.bad_lines);
    Ok((path, log.events))
}

/// The shortest argument that names this session for `delm resume`: its id when it lives in
/// the sessions directory (found from any directory), else its path.
fn resume_arg(session: &Path) -> String {
    let in_default_dir = session::default_sessions_dir()
        .zip(session.parent())
        .is_some_and(|(dir, parent)| dir == parent);
    match session.file_stem().and_then(|s| s.to_str()) {
        Some(id) if in_default_dir => id.to_string(),
        _ => session.display().to_string(),
    }
}

/// The session file a `replay` / `resume` / `compare` argument names (a path or an id).
fn session_path_of(arg: &str) -> PathBuf {
    let dir = session::default_sessions_dir().unwrap_or_default();
    session::resolve_session_arg(arg, &dir)
}

fn report_bad_lines(path: &Path, bad_lines: &[session::BadLine]) {
    for bad in bad_lines {
        eprintln!(
            "delm: {}: line {} skipped: {}",
            path.display(),
            bad.line,
            delm::text::escape_controls(&bad.error)
        );
    }
}

async fn replay(args: ReplayArgs) -> Result<ExitCode, Failure> {
    if args.headless {
        return replay_headless(&args.session);
    }
    let (_, events) = load_session(&args.session)?;
    let cfg = Config::load().map_err(Failure::Usage)?;
    init_logging(None);
    #[cfg(feature = "tui")]
    {
        let opts = tui_options(args.theme.or(cfg.theme.clone()), &cfg);
        opts.check().map_err(|e| Failure::Usage(format!("{e:#}")))?;
        delm::tui::run_replay(events, opts)
            .await
            .map_err(|e| Failure::Run(format!("the terminal UI failed: {e:#}")))?;
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "tui"))]
    {
        let _ = (cfg, args.theme, events);
        Err(Failure::Usage(NO_TUI.into()))
    }
}

/// The story of a recorded run, printed as the log is read: memory stays flat whatever
/// the file's size.
fn replay_headless(arg: &str) -> Result<ExitCode, Failure> {
    use std::io::Write;
    let path = session_path_of(arg);
    let mut teller = delm::story::StoryTeller::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut broken_pipe = false;
    let read = session::stream_session(&path, |env| {
        if let Some(line) = teller.tell(&env)
            && !broken_pipe
            && writeln!(out, "{line}").is_err()
        {
            // `delm replay --headless | head`: stop printing; the rest of the file is still
            // read (and its damaged lines reported) and the exit stays clean.
            broken_pipe = true;
        }
    })
    .map_err(|e| Failure::Usage(e.to_string()))?;
    if !broken_pipe {
        let _ = write!(out, "{}", teller.ending());
    }
    let _ = out.flush();
    report_bad_lines(&path, &read.bad_lines);
    Ok(ExitCode::SUCCESS)
}

async fn resume(args: ResumeArgs) -> Result<ExitCode, Failure> {
    let cfg = Config::load().map_err(Failure::Usage)?;
    // A run on a NATS board is read from its stream (this process becomes its board);
    // any other is read from its session file.
    let (path, events, mut host) = if delm::nats::is_board_url(&args.session) {
        let url = board_url(&args.session)?;
        let (host, events) = BoardHost::resume(&url, &nats_auth(&args.nats))
            .await
            .map_err(Failure::Run)?;
        let path = sessions_dir()?.join(format!("{}.jsonl", host.run_id()));
        (path, events, Some(host))
    } else {
        let (path, events) = load_session(&args.session)?;
        (path, events, None)
    };
    let prior = RunState::from_events(events.iter());
    // A run that failed (provider unreachable, key rejected) can be resumed once fixed;
    // one that answered, hit its budget or was stopped cannot.
    if prior
        .answer
        .as_ref()
        .is_some_and(|a| a.stopped_by != StoppedBy::Error)
    {
        return Err(Failure::Usage(format!(
            "{} already finished; open it with `delm replay {}`",
            path.display(),
            path.display()
        )));
    }
    let demo = delm::demo::is_demo_model(&prior.model);
    let recorded = Recorded {
        model: if demo {
            delm::demo::MODEL_SPEC
        } else {
            &prior.model
        },
        endpoint: if demo {
            None
        } else {
            prior.endpoint.as_deref()
        },
    };
    let model = resolve_model(&cfg, &args.provider.model, Some(recorded))?;
    // A board resuming on another machine fetches the workspace the run started with.
    let mode = match &host {
        Some(host) if !workspace_is_here(&prior.mode) => host
            .fetch_workspace(&path.with_extension("workspace"))
            .await
            .map_err(Failure::Run)?,
        _ => prior.mode.clone(),
    };
    let workspace = tools::open_with(&mode, &workspace_options(&args.sandbox, &model))
        .map_err(|e| Failure::Usage(format!("the run's workspace cannot be opened again: {e}")))?;
    let outputs = RunOutputs::new(&workspace, &mode, &args.sandbox);
    let fewest = usize::from(host.is_none());
    let agents = args.agents.unwrap_or(prior.desired_agents.max(fewest));
    let mut run_cfg = RunConfig::new(
        prior.goal.clone(),
        prior.mode.clone(),
        model.spec.label.clone(),
    );
    run_cfg.agents = agents.clamp(fewest, board::MAX_AGENTS);
    run_cfg.endpoint = Some(model.endpoint());
    apply_tuning(&mut run_cfg, &cfg);
    apply_lease(&mut run_cfg, args.lease.lease.or(cfg.lease_secs));
    check_tui(&args.provider, &cfg)?;
    let mcp_board = bind_board(&args.serve, &path, &prior.run_id).await?;
    let writer = match &mut host {
        Some(host) => {
            host.set_lease(run_cfg.lease);
            export_session(&path, &events)?
        }
        None => SessionWriter::append(&path).map_err(|e| Failure::Usage(e.to_string()))?,
    };
    index_run(&prior.run_id, &path);
    let log_path = init_logging(args.provider.log_level.as_deref());
    let agents = run_cfg.agents;
    let (llm, price) = if demo {
        run_cfg.model_label = prior.model.clone();
        delm::demo::provider(agents, delm::demo::Pace::Normal)
    } else {
        build_llm(&cfg, &model, agents)
    };
    let settings = delm::mcp::BoardSettings::of(&run_cfg);
    let sink = front_end_sink(&args.provider, Box::new(writer), prior);
    let sink = board_sink(sink, host.as_mut());
    let builder = with_judge(
        RunBuilder::new(run_cfg, llm, price, Arc::clone(&workspace)).sink(sink),
        &cfg,
        &args.provider,
        &model,
        agents,
    )?;
    let handle = builder.resume(events).start().map_err(Failure::Usage)?;
    let serving = serve_board(mcp_board, &handle, workspace, settings, &args.provider);
    let front = FrontEnd {
        flags: &args.provider,
        cfg: &cfg,
        session_path: &path,
        log_path,
        outputs,
        resume: None,
    };
    let outcome = serve_and_drive(handle, host, front).await;
    if let Some(serving) = serving {
        serving.shutdown().await;
    }
    outcome
}

fn compare(args: CompareArgs) -> Result<ExitCode, Failure> {
    let mut runs = Vec::new();
    for arg in &args.sessions {
        let (path, events) = load_session(arg)?;
        runs.push((path, RunState::from_events(events.iter())));
    }
    print!("{}", delm::compare::table(&runs, terminal_width()));
    Ok(ExitCode::SUCCESS)
}
