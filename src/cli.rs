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
delm sessions\n  delm replay <id-or-file>\n  delm resume <id-or-file> --headless"
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

/// Provider and output flags shared by `run` and `resume`.
#[derive(Debug, Clone, Args)]
pub struct ProviderArgs {
    /// openai:NAME, anthropic:NAME, ollama:NAME, or a name from the config file.
    #[arg(long, value_name = "SPEC")]
    pub model: Option<String>,
    /// Point the adapter at another server (vLLM, LiteLLM, OpenRouter, llama.cpp, LM Studio).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The environment variable that holds the API key.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
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
    #[command(flatten)]
    pub sandbox: SandboxArgs,
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
            provider: ProviderArgs {
                model: Some(delm::demo::MODEL_SPEC.to_string()),
                base_url: None,
                api_key_env: None,
                judge_model: None,
                headless: self.headless,
                json: self.json,
                log_level: self.log_level,
                theme: self.theme,
            },
            demo: Some(self.pace),
        })
    }
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
    /// A session file, or a run id from `delm sessions`.
    pub session: String,
    /// Agent count for the continued run (default: as before).
    #[arg(long, value_name = "N")]
    pub agents: Option<usize>,
    // Permissions are not carried over from the interrupted run: they are granted again.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub provider: ProviderArgs,
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
