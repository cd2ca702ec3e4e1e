//! The record of command runs (`run_command`, with `--allow-exec`), and evidence that cites
//! one (`cmd:<id>`).
//!
//! Every run gets an id (`c1`, `c2`, ...) and is kept with its command line, where it ran,
//! how it ended and its output, so a point can cite it: the citation resolves when the run
//! exists and the quote is found in its output.

use super::exec::{self, Ending};
use super::quote;
use super::{ResolvedEvidence, ToolResult};
use crate::event::{CheckRun, Evidence};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The source prefix of command-run evidence.
pub(crate) const SOURCE_PREFIX: &str = "cmd:";
/// How much of a command's output goes back to the model.
const REPORT_OUTPUT: usize = 12_000;
/// How much of a check's output its record in the log keeps (the end: where test
/// summaries and errors are).
const CHECK_OUTPUT: usize = 2_000;
/// The `worktree` of the runs that check an assembled result (a fresh copy of its own; no
/// agent id has a space).
pub(crate) const RESULT_COPY: &str = "assembled result";
/// Lines shown around a quote in resolved evidence.
const CONTEXT_LINES: usize = 3;

pub(crate) fn is_command_source(source: &str) -> bool {
    source.trim_start().starts_with(SOURCE_PREFIX)
}

/// The reason a `cmd:` citation fails in a run that records no command runs.
pub(crate) fn no_runs_recorded() -> String {
    "no command runs are recorded in this run (commands need --allow-exec)".to_string()
}

/// One finished command run.
#[derive(Debug, Clone)]
pub(crate) struct CommandRun {
    /// `c1`, `c2`, ...
    pub id: String,
    pub agent: String,
    pub cmd: String,
    /// The agent whose worktree the command ran in; `None`: the repository itself.
    pub worktree: Option<String>,
    pub timeout: Duration,
    pub ending: Ending,
    pub duration: Duration,
    pub output: String,
    pub output_bytes: usize,
    /// The worktree contents (git tree ids) this run's result holds for: the tree it ran
    /// on, and the tree it left when it only added files (build or test artifacts). Empty
    /// outside a worktree.
    pub tested_trees: Vec<String>,
    /// Shipped by a worker (its id is `w2:c3`): the record is the worker's, the board did
    /// not run it.
    pub remote: bool,
}

impl CommandRun {
    pub fn green(&self) -> bool {
        self.ending == Ending::Exited(0)
    }

    /// "exited with 0 after 1.2 s", "was killed after 60 s (timeout)", ...
    pub fn ending_text(&self) -> String {
        let took = seconds(self.duration);
        match self.ending {
            Ending::Exited(code) => format!("exited with {code} after {took}"),
            Ending::Signaled(sig) => format!("was ended by signal {sig} after {took}"),
            Ending::TimedOut => format!(
                "was killed after {} (its timeout); it and every process it started were \
                 stopped",
                seconds(self.timeout)
            ),
        }
    }

    /// "exit 0", "timeout", "signal 9": the short form for resolved evidence.
    fn ending_label(&self) -> String {
        match self.ending {
            Ending::Exited(code) => format!("exit {code}"),
            Ending::Signaled(sig) => format!("signal {sig}"),
            Ending::TimedOut => "timed out".to_string(),
        }
    }

    /// The record of this run as a check that ran on `tree`, with the end of its output
    /// when `with_output`.
    pub fn check_run(&self, tree: &str, with_output: bool) -> CheckRun {
        CheckRun {
            run: self.id.clone(),
            cmd: self.cmd.clone(),
            tree: tree.to_string(),
            exit: match self.ending {
                Ending::Exited(code) => Some(code),
                Ending::Signaled(_) | Ending::TimedOut => None,
            },
            ending: self.ending_text(),
            timeout_s: self.timeout.as_secs(),
            reused: false,
            output: if with_output {
                tail(&self.output, CHECK_OUTPUT)
            } else {
                String::new()
            },
            remote: self.remote,
        }
    }

    fn place(&self) -> String {
        let place = match &self.worktree {
            Some(copy) if copy == RESULT_COPY => "a fresh copy holding the assembled result".into(),
            Some(agent) => format!("{agent}'s worktree"),
            None => "the repository".to_string(),
        };
        if self.remote {
            format!("{place} on its worker's machine")
        } else {
            place
        }
    }
}

fn seconds(d: Duration) -> String {
    if d.as_secs() >= 10 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Every command run of this run, in the order they finished, and the records workers
/// shipped with their proposals.
#[derive(Default)]
pub(crate) struct CommandLog {
    runs: Mutex<Vec<Arc<CommandRun>>>,
    /// Workers' runs by their board id (`w2:c3`), oldest first. Bounded: a proposal ships
    /// every run it cites again, so forgetting an old one loses nothing a proposal needs.
    remote: Mutex<Vec<Arc<CommandRun>>>,
}

/// Workers' command records a board keeps at once.
const MAX_REMOTE_RUNS: usize = 1024;

impl CommandLog {
    /// Keep a finished run, giving it the next id.
    pub fn record(&self, mut run: CommandRun) -> Arc<CommandRun> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        run.id = format!("c{}", runs.len() + 1);
        let run = Arc::new(run);
        runs.push(Arc::clone(&run));
        run
    }

    /// File a worker's run under its board id (`run.id`, `w2:c3`), replacing an earlier
    /// record of that id.
    pub fn file_remote(&self, run: CommandRun) {
        let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        remote.retain(|r| r.id != run.id);
        if remote.len() >= MAX_REMOTE_RUNS {
            remote.remove(0);
        }
        remote.push(Arc::new(run));
    }

    /// The run a `cmd:<id>` source names (`cmd:c3`, `cmd: c3` and `cmd:3` all work; a
    /// worker's run is `cmd:w2:c3`).
    pub fn get(&self, source: &str) -> Result<Arc<CommandRun>, String> {
        let id = run_id(source);
        if let Some((worker, local)) = id.split_once(':') {
            let wanted = format!("{}:c{}", worker.trim(), local_number(local));
            let remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
            return remote
                .iter()
                .rev()
                .find(|r| r.id == wanted)
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "`{}` is not a command run its worker shipped with the proposal; a \
                         worker's agent cites its own runs as \"cmd:c<number>\" from a \
                         run_command result, and the worker sends them along",
                        crate::engine::point_args::clip_echo(source.trim())
                    )
                });
        }
        let number = local_number(id);
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        number
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| runs.get(i).cloned())
            .ok_or_else(|| {
                let known = match runs.len() {
                    0 => "no command has run yet".to_string(),
                    1 => "the only run is c1".to_string(),
                    n => format!("runs are c1 to c{n}"),
                };
                format!(
                    "`{}` is not a recorded command run ({known}); cite a run as \
                     \"cmd:c<number>\" from a run_command result",
                    crate::engine::point_args::clip_echo(source.trim())
                )
            })
    }

    /// The latest run of exactly `cmd` that exited 0 on files whose git tree is `tree`: its
    /// result holds for any copy with those files, so it is cited again instead of re-run.
    /// Only this process's runs: a worker's record is its word, not a run the board saw.
    pub fn find_green(&self, cmd: &str, tree: &str) -> Option<Arc<CommandRun>> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.iter()
            .rev()
            .find(|r| r.green() && r.cmd == cmd && r.tested_trees.iter().any(|t| t == tree))
            .cloned()
    }

    /// Resolve `cmd:<id>` evidence: the run exists and the quote is in its output.
    pub fn resolve(&self, evidence: &Evidence) -> Result<ResolvedEvidence, String> {
        let run = self.get(&evidence.source)?;
        quote::check_quote(&evidence.quote)?;
        let Some((start, end)) = quote::find(&run.output, &evidence.quote) else {
            let hint = match quote::closest_line(&run.output, &evidence.quote) {
                Some((_, line)) => format!(
                    "the closest output line is `{}`",
                    crate::text::clip(line.trim(), 200)
                ),
                None => "copy the quote exactly from the command's output".to_string(),
            };
            return Err(format!(
                "quote not found in the output of {} (`{}`); {hint}",
                run.id,
                crate::text::clip(&run.cmd, 80)
            ));
        };
        let mut resolved = evidence.clone();
        resolved.source = format!("{SOURCE_PREFIX}{}", run.id);
        resolved.resolved = Some(format!(
            "{SOURCE_PREFIX}{} ({})",
            run.id,
            run.ending_label()
        ));
        Ok(ResolvedEvidence::exact(
            resolved,
            format!(
                "$ {}\n[{}, run by {}, {} in {}]\n{}",
                run.cmd,
                run.id,
                run.agent,
                run.ending_text(),
                run.place(),
                lines_around(&run.output, start, end)
            ),
        ))
    }

    /// What the model reads after `run_command`: the id first (so even the log's excerpt
    /// of the tool call carries it), how it ended, then the output.
    pub fn report(run: &CommandRun) -> ToolResult {
        let output = if run.output.trim().is_empty() {
            "(no output)".to_string()
        } else {
            exec::head_and_tail(&run.output, REPORT_OUTPUT)
        };
        let stored = if run.output_bytes > run.output.len() {
            format!(
                " The command wrote {} bytes; the start and the end are kept.",
                run.output_bytes
            )
        } else {
            String::new()
        };
        Ok(format!(
            "{}: `{}` {} in {}.{stored} Cite this run as evidence with source \"cmd:{}\" \
             and a quote copied from the output below.\n--- output ---\n{output}",
            run.id,
            crate::text::clip(&run.cmd, 200),
            run.ending_text(),
            run.place(),
            run.id,
        ))
    }
}

/// The id part of a `cmd:<id>` source (`c3`, `w2:c3`).
pub(crate) fn run_id(source: &str) -> &str {
    source
        .trim()
        .strip_prefix(SOURCE_PREFIX)
        .unwrap_or(source)
        .trim()
}

/// The number of a local run id: `c3`, `C3` and `3` are all 3.
pub(crate) fn local_number(id: &str) -> &str {
    id.trim().trim_start_matches(['c', 'C'])
}

/// The last `max` bytes of `text` or so (cut at a line start when one is near).
fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let rest = &text[start..];
    let rest = rest.find('\n').map_or(rest, |i| &rest[i + 1..]);
    format!("[... {} bytes cut ...]\n{rest}", text.len() - rest.len())
}

/// The lines of `text` that hold bytes `start..end`, with a few lines around them.
fn lines_around(text: &str, start: usize, end: usize) -> String {
    let first = text[..start].matches('\n').count();
    let last = first + text[start..end].matches('\n').count();
    let from = first.saturating_sub(CONTEXT_LINES);
    text.lines()
        .skip(from)
        .take(last + CONTEXT_LINES + 1 - from)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(output: &str, ending: Ending) -> CommandRun {
        CommandRun {
            id: String::new(),
            agent: "a1".into(),
            cmd: "make test".into(),
            worktree: Some("a1".into()),
            timeout: Duration::from_secs(60),
            ending,
            duration: Duration::from_millis(1500),
            output: output.into(),
            output_bytes: output.len(),
            tested_trees: Vec::new(),
            remote: false,
        }
    }

    fn cite(source: &str, quote: &str) -> Evidence {
        Evidence {
            source: source.into(),
            quote: quote.into(),
            ..Evidence::default()
        }
    }

    #[test]
    fn runs_get_ids_and_resolve_by_quote() {
        let log = CommandLog::default();
        let first = log.record(run("compiling\nRan 5 tests\n\nOK\n", Ending::Exited(0)));
        assert_eq!(first.id, "c1");
        let second = log.record(run("FAILED (failures=1)\n", Ending::Exited(1)));
        assert_eq!(second.id, "c2");
        let r = log.resolve(&cite("cmd:c1", "Ran 5 tests")).unwrap();
        assert_eq!(r.evidence.resolved.as_deref(), Some("cmd:c1 (exit 0)"));
        assert!(r.context.starts_with("$ make test"), "{}", r.context);
        assert!(r.context.contains("Ran 5 tests"));
        assert_eq!(
            log.resolve(&cite("cmd: 2", "failures=1"))
                .unwrap()
                .evidence
                .resolved
                .as_deref(),
            Some("cmd:c2 (exit 1)")
        );
    }

    #[test]
    fn unknown_runs_and_missing_quotes_are_explained() {
        let log = CommandLog::default();
        let err = log.resolve(&cite("cmd:c1", "OK")).unwrap_err();
        assert!(err.contains("no command has run yet"), "{err}");
        log.record(run("Ran 5 tests\nOK\n", Ending::Exited(0)));
        let err = log.resolve(&cite("cmd:c9", "OK")).unwrap_err();
        assert!(err.contains("the only run is c1"), "{err}");
        let err = log
            .resolve(&cite("cmd:c1", "all 6 tests passed"))
            .unwrap_err();
        assert!(err.contains("quote not found in the output of c1"), "{err}");
    }

    #[test]
    fn report_names_the_id_and_the_timeout() {
        let mut r = run("partial", Ending::TimedOut);
        r.id = "c4".into();
        let text = CommandLog::report(&r).unwrap();
        assert!(
            text.starts_with("c4: `make test` was killed after 60 s"),
            "{text}"
        );
        assert!(text.contains("cmd:c4"));
    }
}
