//! Evidence that cites a command run (`cmd:<id>`).
//!
//! Command runs exist only when the run allows `run_command` (`--allow-exec`); each run is
//! then recorded and can be cited by id. Without a registry of runs, such a citation cannot
//! refer to anything, and resolution says why.

/// The source prefix of command-run evidence.
pub(crate) const SOURCE_PREFIX: &str = "cmd:";

pub(crate) fn is_command_source(source: &str) -> bool {
    source.trim_start().starts_with(SOURCE_PREFIX)
}

/// The reason a `cmd:` citation fails in a run that records no command runs.
pub(crate) fn no_runs_recorded() -> String {
    "no command runs are recorded in this run (commands need --allow-exec)".to_string()
}
