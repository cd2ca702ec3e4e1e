//! The `delm` binary: parse the command line, build the run, hand it to the TUI or run it
//! headless, and turn the outcome into an exit code (0 answer, 1 run failed, 2 usage).

mod board_cmds;
mod cli;
mod eval_cmd;
mod launch;
mod worker_cmds;

use clap::Parser;
use std::process::ExitCode;

/// Agents, the board and the session writer allocate small values on several threads and free
/// them on others; glibc's malloc made them wait on its arena locks (a third of the engine's
/// per-task CPU in the profile of BENCHMARKS.md figure 1). mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A failure at the binary's edge: one clear sentence and the exit code it maps to.
#[derive(Debug)]
pub enum Failure {
    /// Bad flags, paths, config or a missing key: exit 2.
    Usage(String),
    /// The run could not complete (provider unreachable, bad key, I/O): exit 1.
    Run(String),
}

impl Failure {
    fn exit(self) -> ExitCode {
        let (msg, code) = match self {
            Failure::Usage(m) => (m, 2),
            Failure::Run(m) => (m, 1),
        };
        eprintln!("delm: {msg}");
        ExitCode::from(code)
    }
}

fn main() -> ExitCode {
    // First, while this is the only thread: move every secret out of the process
    // environment (into delm's private store, registered for redaction), so no command an
    // agent runs can read it back from `/proc/<delm>/environ`.
    let key_env = delm::secrets::api_key_env_from_args(std::env::args_os());
    // SAFETY: nothing has started a thread yet: no runtime, no logger, no argument parsing;
    // `seal_environment` requires exactly that.
    unsafe { delm::secrets::seal_environment(key_env.as_slice()) };
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Failure::Run(format!("cannot start the async runtime: {e}")).exit(),
    };
    match runtime.block_on(launch::dispatch(cli)) {
        Ok(code) => code,
        Err(failure) => failure.exit(),
    }
}
