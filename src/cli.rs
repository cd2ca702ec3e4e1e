//! Command-line surface. The names here are a contract: scripts and tests rely on them.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "delm",
    version,
    about = "Run, watch and steer a decentralized swarm of LLM agents",
    long_about = "delm runs a swarm of LLM agents with no boss: agents claim tasks from a shared \
queue and publish compact, verified points into a shared context that every agent reads. \
Watch it live in the TUI, steer it (pause, inject constraints, re-enqueue tasks), and replay \
or resume any recorded session.",
    after_help = "Examples:\n  delm demo                       # the whole product, no key, no setup\n  delm run \"Which vendor had the higher 2024 revenue?\" --docs ./reports\n  \
delm run \"Why does test_parse_comments fail?\" --repo . --agents 6\n  \
delm sessions\n  delm replay <id-or-file>\n  delm resume <id-or-file> --headless\n  \
delm run \"...\" --docs ./reports --board nats://host:4222 --agents 0\n  \
delm worker --board nats://host:4222 --agents 8\n  delm attach nats://host:4222\n  \
delm eval suite.jsonl --coordination delm,central --repeat 3"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a run on a question, optionally over a repository or a set of documents.
    Run(RunArgs),
    /// Try delm with no key and no setup: a scripted demo model answers a question over
    /// built-in sample documents (clearly labelled; no model provider is called).
    Demo(DemoArgs),
    /// Open a recorded session read-only (TUI, or its story with --headless).
    Replay(ReplayArgs),
    /// Continue an interrupted session, appending to the same file.
    Resume(ResumeArgs),
    /// List recorded sessions: id, date, status, cost, goal.
    Sessions(SessionsArgs),
    /// Compare recorded runs side by side: tasks, calls, tokens, cost, time, points, answer.
    Compare(CompareArgs),
    /// Show where the config file is, or what it contains.
    Config(ConfigArgs),
    /// A stdio MCP server bridged to a live run's board (a run started with --serve).
    Mcp(McpArgs),
    /// Add agents on this machine to a run whose board lives on NATS.
    Worker(WorkerArgs),
    /// Watch and steer a run whose board lives on NATS (the TUI, or its events headless).
    Attach(AttachArgs),
    /// List the runs on a NATS board: id, start, status, events, goal.
    Runs(RunsArgs),
    /// Run a suite of cases (JSONL) under each coordination mode and compare accuracy,
    /// cost, billed tokens, wall time and calls.
    Eval(EvalArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyArg {
    /// Evidence resolution and an LLM judge.
    Judge,
    /// Mechanical evidence resolution only.
    Evidence,
    /// Publish points unchecked.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CoordinationArg {
    Delm,
    Central,
    Isolated,
}

/// Which model, on which server, with which key (`run`, `resume`, `worker`).
#[derive(Debug, Clone, Default, Args)]
pub struct ModelArgs {
    /// openai:NAME, anthropic:NAME, ollama:NAME, or a name from the config file.
    #[arg(long, value_name = "SPEC")]
    pub model: Option<String>,
    /// Point the adapter at another server (vLLM, LiteLLM, OpenRouter, llama.cpp, LM Studio).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The environment variable that holds the API key.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
}

/// Provider and output flags shared by `run` and `resume`.
#[derive(Debug, Clone, Default, Args)]
pub struct ProviderArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Verify points with this (cheaper) model instead of the agents' one: a spec or a
    /// config alias. Same provider: same --base-url and key.
    #[arg(long, value_name = "SPEC")]
    pub judge_model: Option<String>,
    /// No TUI: progress lines on stderr, the final answer on stdout.
    #[arg(long)]
    pub headless: bool,
    /// With --headless: stdout is the event stream as JSONL, ending with run_finished.
    #[arg(long, requires = "headless")]
    pub json: bool,
    /// Log level for the log file (error, warn, info, debug, trace); RUST_LOG also works.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Colour theme: dark, light, high-contrast, or a TOML file.
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,
    /// Set by `delm eval`: headless without the story on stderr or the answer on stdout
    /// (the eval reports each run itself).
    #[arg(skip)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The question or goal for the swarm.
    pub question: String,
    /// Work on a code repository (read-only tools confined to DIR).
    #[arg(long, value_name = "DIR", conflicts_with = "docs")]
    pub repo: Option<PathBuf>,
    /// Answer from documents (files or directories, searched recursively).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub docs: Vec<PathBuf>,
    /// Number of agents working in parallel (1-256).
    #[arg(long, value_name = "N")]
    pub agents: Option<usize>,
    /// How proposed points are checked before they are shared.
    #[arg(long, value_enum)]
    pub verify: Option<VerifyArg>,
    /// Stop claiming and finalise once this much is spent (USD).
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Stop claiming and finalise after this many tokens (in + out).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,
    /// Stop claiming and finalise after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<u64>,
    /// How agents coordinate: delm (shared queue and verified shared context), or the
    /// baselines central (orchestrator and workers) and isolated (independent attempts).
    #[arg(long, value_enum, default_value_t = CoordinationArg::Delm)]
    pub coordination: CoordinationArg,
    /// Write the session log here instead of the sessions directory.
    #[arg(long, value_name = "FILE")]
    pub session: Option<PathBuf>,
    /// Put the board on NATS JetStream (nats://host:4222) so `delm worker` processes on
    /// other machines add agents and `delm attach` watches; --agents 0 runs none here.
    #[arg(long, value_name = "URL")]
    pub board: Option<String>,
    #[command(flatten)]
    pub lease: LeaseArgs,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Launch coding-agent CLIs as workers on this run's board: KIND:N with KIND
    /// claude-code or codex (repeatable; N of 1 to 16). Each gets its own process, MCP
    /// token and private copy of the repository; implies --serve on loopback. With
    /// workers, --agents 0 is allowed (a native agent still writes the answer).
    #[arg(long = "worker", value_name = "KIND:N", value_parser = delm::workers::parse_spec)]
    pub workers: Vec<delm::workers::WorkerSpec>,
    #[command(flatten)]
    pub provider: ProviderArgs,
    /// Set by `delm demo`: the run's model is the in-process scripted demo model.
    #[arg(skip)]
    pub demo: Option<delm::demo::Pace>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of agents working in parallel.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub agents: usize,
    /// How fast the scripted model answers.
    #[arg(long, value_enum, default_value_t = delm::demo::Pace::Normal)]
    pub pace: delm::demo::Pace,
    /// Write the session log here instead of the sessions directory.
    #[arg(long, value_name = "FILE")]
    pub session: Option<PathBuf>,
    /// No TUI: progress lines on stderr, the final answer on stdout.
    #[arg(long)]
    pub headless: bool,
    /// With --headless: stdout is the event stream as JSONL.
    #[arg(long, requires = "headless")]
    pub json: bool,
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

impl DemoArgs {
    /// The demo as a docs run over the sample documents (written to the data dir).
    pub fn into_run_args(self) -> Result<RunArgs, String> {
        let docs = delm::demo::sample_docs()?;
        Ok(RunArgs {
            question: delm::demo::QUESTION.to_string(),
            repo: None,
            docs: vec![docs],
            agents: Some(self.agents),
            verify: Some(VerifyArg::Judge),
            max_cost: None,
            max_tokens: None,
            time_limit: None,
            coordination: CoordinationArg::Delm,
            session: self.session,
            sandbox: SandboxArgs::default(),
            serve: ServeArgs::default(),
            workers: Vec::new(),
            board: None,
            lease: LeaseArgs::default(),
            nats: NatsArgs::default(),
            provider: ProviderArgs {
                model: ModelArgs {
                    model: Some(delm::demo::MODEL_SPEC.to_string()),
                    ..ModelArgs::default()
                },
                judge_model: None,
                headless: self.headless,
                json: self.json,
                log_level: self.log_level,
                theme: self.theme,
                quiet: false,
            },
            demo: Some(self.pace),
        })
    }
}

/// Opening the board to outside agents over MCP.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Serve the board to outside MCP agents (Claude Code, Codex, Cursor) at
    /// http://ADDR/mcp while the run lives (default 127.0.0.1 and a free port). The URL and
    /// a bearer token go to <session>.board.json (mode 0600). An address beyond loopback
    /// exposes the board to the network (see README: Outside agents).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = delm::mcp::DEFAULT_ADDR)]
    pub serve: Option<String>,
}

/// How long a remote agent may be silent while it holds a claim.
#[derive(Debug, Clone, Default, Args)]
pub struct LeaseArgs {
    /// Seconds a remote or outside agent may stay silent holding a claim before the claim
    /// expires and its task goes back to the queue (default 120; `lease_secs` in config).
    #[arg(long, value_name = "SECS", alias = "lease-secs")]
    pub lease: Option<u64>,
}

/// Authentication to a NATS board besides what its URL carries (nats://user:pw@host,
/// nats://token@host, or NATS_USER/NATS_PASSWORD, NATS_TOKEN in the environment).
#[derive(Debug, Clone, Default, Args)]
pub struct NatsArgs {
    /// A NATS credentials file (JWT and seed, as `nsc` writes it).
    #[arg(long, value_name = "FILE", env = "NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// Root certificates (PEM) to trust for TLS to the board.
    #[arg(long, value_name = "FILE", env = "NATS_CA")]
    pub nats_ca: Option<PathBuf>,
    /// A client certificate (PEM) for mutual TLS; needs --nats-key.
    #[arg(long, value_name = "FILE", env = "NATS_CERT")]
    pub nats_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", env = "NATS_KEY")]
    pub nats_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The board: nats://host:4222 (or nats://host:4222/RUN-ID).
    #[arg(long, value_name = "URL")]
    pub board: String,
    /// The run to join (default: the only live run on the board).
    #[arg(long, value_name = "RUN-ID")]
    pub run: Option<String>,
    /// Agents this worker runs (1-256).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub agents: usize,
    /// Unpack the run's workspace here (kept afterwards) instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Let this worker's agents run commands in the run's repository (see `delm run`); the
    /// runs a point cites go to the board with it (the board needs --allow-exec too).
    #[arg(long)]
    pub allow_exec: bool,
    /// Give each of this worker's agents a private copy of the repository to edit; a fix
    /// travels to the board with its passing run, is verified there and delivered with the
    /// run's result (the board needs --allow-exec --allow-edit: see README, Many machines).
    #[arg(long, requires = "allow_exec")]
    pub allow_edit: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Log level for the log file (error, warn, info, debug, trace); RUST_LOG also works.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    #[command(flatten)]
    pub nats: NatsArgs,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The board: nats://host:4222 (or nats://host:4222/RUN-ID).
    pub board: String,
    /// The run (default: the one in the URL, or the only live run on the board).
    pub run: Option<String>,
    /// No TUI: the run's progress on stderr and its answer on stdout, until it finishes.
    #[arg(long)]
    pub headless: bool,
    /// With --headless: stdout is the run's event stream as JSONL, ending with run_finished.
    #[arg(long, requires = "headless")]
    pub json: bool,
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,
    #[command(flatten)]
    pub nats: NatsArgs,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The board: nats://host:4222.
    #[arg(long, value_name = "URL")]
    pub board: String,
    #[command(flatten)]
    pub nats: NatsArgs,
}

/// What agents may do to the repository beyond reading it (`--repo` runs only).
#[derive(Debug, Clone, Default, Args)]
pub struct SandboxArgs {
    /// Let agents run shell commands (tests, builds) with run_command: in the repository, or
    /// in their own worktree with --allow-edit. No stdin, secrets removed from the
    /// environment, killed with everything they started at the timeout.
    #[arg(long)]
    pub allow_exec: bool,
    /// Give each agent a private copy of the repository to edit. A change is accepted only
    /// with a command that passes on it (so this needs --allow-exec); every verified fix is
    /// merged into one result, written next to the session as <session>.patch (conflicts in
    /// <session>.conflicts), and your files are not changed.
    #[arg(long, requires = "allow_exec")]
    pub allow_edit: bool,
    /// At the end, apply the assembled result to the repository (git apply, all or nothing):
    /// only what merged cleanly and passed its checks; conflicts are never applied.
    #[arg(long, requires = "allow_edit")]
    pub apply: bool,
    /// Confine commands (with --allow-exec): none (default: they run as you), or bwrap
    /// (bubblewrap: the agent's copy is the only writable place, the rest of the file system
    /// is read-only, /proc and pids are private, no network unless --allow-net).
    #[arg(long, value_enum, value_name = "KIND")]
    pub sandbox: Option<SandboxArg>,
    /// With --sandbox bwrap: let commands use the network.
    #[arg(long)]
    pub allow_net: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxArg {
    None,
    Bwrap,
}

impl From<SandboxArg> for delm::engine::tools::SandboxKind {
    fn from(arg: SandboxArg) -> Self {
        match arg {
            SandboxArg::None => Self::None,
            SandboxArg::Bwrap => Self::Bwrap,
        }
    }
}

/// `delm eval`: every case of a suite under every mode, each run as `delm run` starts it.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The suite: JSONL, one case a line: `question`, optionally `docs` or `repo`, and an
    /// `expected` answer or a `check` command (see README: Evaluate on your own tasks).
    pub suite: PathBuf,
    /// The modes to compare, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "delm,central,isolated"
    )]
    pub coordination: Vec<CoordinationArg>,
    /// Run the whole suite this many times (1-20): the table shows mean ± sd.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: usize,
    /// Agents per run (as `delm run --agents`).
    #[arg(long, value_name = "N")]
    pub agents: Option<usize>,
    /// How each run verifies points (as `delm run --verify`).
    #[arg(long, value_enum)]
    pub verify: Option<VerifyArg>,
    /// Each run stops claiming and finalises once it has spent this much (USD).
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Each run stops claiming and finalises after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<u64>,
    /// Write the sessions, eval.json, runs.csv and summary.csv here (default:
    /// ./eval-<unix time>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A session file, or a run id from `delm sessions`.
    pub session: String,
    /// Print the run's story instead of opening the TUI.
    #[arg(long)]
    pub headless: bool,
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// A session file, a run id from `delm sessions`, or a run on a NATS board
    /// (nats://host:4222/RUN-ID: this process becomes its board).
    pub session: String,
    /// Agent count for the continued run (default: as before).
    #[arg(long, value_name = "N")]
    pub agents: Option<usize>,
    #[command(flatten)]
    pub lease: LeaseArgs,
    #[command(flatten)]
    pub nats: NatsArgs,
    // Permissions are not carried over from the interrupted run: they are granted again.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub provider: ProviderArgs,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The live run: its session file, its run id from `delm sessions`, or its board file.
    pub session: String,
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Look in this directory instead of the default one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the config file's path.
    #[arg(long)]
    pub path: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Two or more session files or run ids.
    #[arg(required = true, num_args = 2..)]
    pub sessions: Vec<String>,
}
