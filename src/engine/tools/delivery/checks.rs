//! The checks of an assembled result: every distinct command that verified a merged patch,
//! on the assembled files, in the fresh copy that holds them and through the run's own
//! sandbox. A check result is reusable: when a run of the same command on identical files
//! (the same git tree of the visible files) is recorded, in this process or in the log, it
//! is cited again instead of run (with one patch merged, its own check always is).

use crate::engine::tools::sandbox::Sandbox;
use crate::engine::tools::worktree::{self, Worktree};
use crate::event::{CheckRun, PinnedPatch};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// At most this many distinct commands check one result; more are not run, and the
/// result says so (it is then not verified).
const MAX_CHECKS: usize = 16;
/// Who the record of a check run names as having run it.
const CHECKER: &str = "delm";

/// One command to run on the result.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Spec {
    pub cmd: String,
    /// The longest timeout any of its runs had.
    pub timeout: Duration,
}

/// The distinct commands that verified `merged`, in merge order.
pub(super) fn specs(merged: &[Arc<PinnedPatch>]) -> Vec<Spec> {
    let mut specs: Vec<Spec> = Vec::new();
    for check in merged.iter().flat_map(|p| &p.checks) {
        let timeout = Duration::from_secs(check.timeout_s.max(1));
        match specs.iter_mut().find(|s| s.cmd == check.cmd) {
            Some(spec) => spec.timeout = spec.timeout.max(timeout),
            None => specs.push(Spec {
                cmd: check.cmd.clone(),
                timeout,
            }),
        }
    }
    specs
}

/// What the checks gave: each check, and why not all of them ran when they did not.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub checks: Vec<CheckRun>,
    pub note: Option<String>,
}

/// What running the checks needs.
pub(super) struct Checker<'a> {
    pub sandbox: &'a Sandbox,
    /// The copy holding the assembled files (committed: a check's leftovers are reset).
    pub copy: &'a Arc<Worktree>,
    /// The git tree of the assembled files.
    pub tree: &'a str,
    /// The checks the log records (each pinned patch's).
    pub known: &'a [CheckRun],
    /// Whether commands may run (else only earlier runs are cited).
    pub execute: bool,
    pub stop: &'a CancellationToken,
}

impl Checker<'_> {
    /// Check the result with `specs`: cite earlier runs on identical files, run the rest,
    /// and stop at the first failure (the caller decides what to leave out).
    pub async fn run(&self, specs: &[Spec]) -> Outcome {
        let mut out = Outcome::default();
        let mut dirty = false;
        let mut not_run = specs.len().saturating_sub(MAX_CHECKS);
        for spec in specs.iter().take(MAX_CHECKS) {
            if let Some(earlier) = self.reusable(&spec.cmd) {
                out.checks.push(earlier);
                continue;
            }
            if !self.execute || self.stop.is_cancelled() {
                not_run += 1;
                continue;
            }
            if dirty && let Err(e) = self.reset().await {
                out.note = Some(format!("the copy could not be reset between checks: {e}"));
                return out;
            }
            dirty = true;
            let running = self.sandbox.execute(
                CHECKER,
                spec.cmd.clone(),
                spec.timeout,
                Some(Arc::clone(self.copy)),
            );
            let run = tokio::select! {
                run = running => run,
                // Dropping the run kills the command and everything it started.
                _ = self.stop.cancelled() => {
                    not_run += 1;
                    continue;
                }
            };
            match run {
                Ok(run) => {
                    let check = run.check_run(self.tree, true);
                    let failed = !check.passed();
                    out.checks.push(check);
                    if failed {
                        return out;
                    }
                }
                Err(e) => {
                    out.note = Some(format!(
                        "`{}` could not be run on the assembled files: {e}",
                        crate::text::clip(&spec.cmd, 120)
                    ));
                    return out;
                }
            }
        }
        if not_run > 0 {
            let why = if !self.execute {
                "the run was stopped, so only earlier runs on identical files are cited"
            } else if self.stop.is_cancelled() {
                "the run was stopped while they ran"
            } else {
                "a result is checked with at most 16 commands"
            };
            out.note = Some(format!(
                "{not_run} check{} not run on the assembled files: {why}",
                if not_run == 1 { " was" } else { "s were" }
            ));
        }
        out
    }

    /// A green run of `cmd` on exactly the assembled files, already recorded by this board
    /// (a worker's record is its word: what is delivered passed checks the board ran).
    fn reusable(&self, cmd: &str) -> Option<CheckRun> {
        let earlier = self
            .sandbox
            .find_green(cmd, self.tree)
            .map(|run| run.check_run(self.tree, false))
            .or_else(|| {
                self.known
                    .iter()
                    .find(|c| !c.remote && c.passed() && c.cmd == cmd && c.tree == self.tree)
                    .cloned()
            })?;
        Some(CheckRun {
            reused: true,
            ..earlier
        })
    }

    /// Put the copy back to the assembled files (a check may write to it).
    async fn reset(&self) -> Result<(), String> {
        let copy = Arc::clone(self.copy);
        tokio::task::spawn_blocking(move || {
            worktree::git(copy.path(), &["reset", "-q", "--hard", "HEAD"])?;
            worktree::git(copy.path(), &["clean", "-fdq"]).map(|_| ())
        })
        .await
        .map_err(|e| format!("the reset failed unexpectedly: {e}"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cmd: &str, timeout_s: u64) -> CheckRun {
        CheckRun {
            run: "c1".into(),
            cmd: cmd.into(),
            tree: "t".into(),
            exit: Some(0),
            ending: "exited with 0 after 0.1 s".into(),
            timeout_s,
            reused: false,
            output: String::new(),
            remote: false,
        }
    }

    #[test]
    fn specs_are_the_distinct_commands_with_their_longest_timeout() {
        let patch = |checks| {
            Arc::new(PinnedPatch {
                point: "P1".into(),
                agent: "a1".into(),
                reference: "patch:a1@1".into(),
                tree: "t".into(),
                diff: String::new(),
                checks,
            })
        };
        let merged = vec![
            patch(vec![check("make test", 60), check("make lint", 30)]),
            patch(vec![check("make test", 120)]),
        ];
        assert_eq!(
            specs(&merged),
            vec![
                Spec {
                    cmd: "make test".into(),
                    timeout: Duration::from_secs(120)
                },
                Spec {
                    cmd: "make lint".into(),
                    timeout: Duration::from_secs(30)
                },
            ]
        );
    }
}
