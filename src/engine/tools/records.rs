//! A worker's command runs and patches, shipped with its proposal (`delm worker
//! --allow-exec --allow-edit`). They happened on the worker's machine, so the worker
//! attaches what the points cite: each cited run's record (command, how it ended, its
//! output's start and end, the git trees it ran on, how long it took) and the agent's
//! patch (its diff against the workspace the worker unpacked). The board files them
//! beside its own, under ids of the worker's (`w2:c3`, so they never meet the board's own
//! `c3`), and verifies the points by the native rules (`sandbox`): a `cmd:` quote must be
//! in the shipped output; a `patch:` must apply to the board's repository (the board
//! applies it to a copy of its own and takes the git tree from there), and a point citing
//! it must cite a green run on exactly that tree.
//!
//! A shipped record is the worker's word: it never stands for a check of the assembled
//! result, which the board runs itself (`delivery`). Bounded on both sides: runs per
//! proposal, output kept, patch size, command length, ids; secrets are masked before a
//! record leaves the worker, and a patch or command line holding one is not sent.

use super::commands::{self, CommandRun};
use super::exec::{self, Ending};
use super::patch;
use super::sandbox::Sandbox;
use crate::event::Evidence;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::time::Duration;

/// Command runs one proposal may ship (a point cites at most 12 evidence items).
pub const MAX_RUNS: usize = 12;
/// The largest patch a worker ships (it travels inside one NATS message).
pub const MAX_PATCH_BYTES: usize = 384 * 1024;
/// The output a run's record keeps: its start and its end, more than the agent saw
/// (`run_command` shows 12,000 bytes), so every quote it could copy is in it.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024;
/// The longest command line a record may carry (the board may run it again).
const MAX_CMD_BYTES: usize = 4 * 1024;
/// Ids and agent names in a record.
const MAX_NAME: usize = 80;
/// The longest timeout a record may name (the board's own maximum).
const MAX_TIMEOUT_S: u64 = 600;

/// What a worker's proposal carries besides its points.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Records {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<ShippedPatch>,
}

impl Records {
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.patch.is_none()
    }
}

/// One command run as its worker recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Its id on the worker (`c3`).
    pub id: String,
    /// The worker's agent that ran it.
    pub agent: String,
    pub cmd: String,
    /// The agent whose copy it ran in; `None`: the workspace itself.
    #[serde(default)]
    pub worktree: Option<String>,
    pub timeout_s: u64,
    pub ending: Ending,
    pub duration_ms: u64,
    /// The start and the end of its output (secrets masked).
    pub output: String,
    /// How much it wrote in all.
    pub output_bytes: usize,
    /// The git trees of the files it ran on (see `CommandRun::tested_trees`).
    #[serde(default)]
    pub tested_trees: Vec<String>,
}

/// An agent's patch as its worker made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShippedPatch {
    pub agent: String,
    /// The git tree of the agent's copy with the patch in it, on the worker.
    pub tree: String,
    /// The diff against the workspace the worker unpacked (`git apply` input).
    pub diff: String,
}

/// Whether evidence cites a command run or a patch (records that live where they ran).
pub fn cites_records(evidence: &Evidence) -> bool {
    let source = evidence.source.trim();
    commands::is_command_source(source) || patch::is_patch_source(source)
}

/// The records of a workspace that keeps none (no `--allow-exec`): nothing to ship, and
/// evidence citing a run or a patch cannot be backed.
pub(crate) fn none_kept(evidence: &[Evidence]) -> Result<Records, String> {
    match evidence.iter().any(cites_records) {
        true => Err(commands::no_runs_recorded()),
        false => Ok(Records::default()),
    }
}

/// On the board: a worker agent's citation of its own run (`cmd:c3`) names the run by the
/// id the board files it under (`cmd:w2:c3`). Citations already in that form, and other
/// sources, are left as they are.
pub fn name_own_runs(agent: &str, evidence: &mut Evidence) {
    let Some(worker) = worker_of(agent) else {
        return;
    };
    if !commands::is_command_source(&evidence.source) {
        return;
    }
    let id = commands::run_id(&evidence.source);
    let number = commands::local_number(id);
    if !id.contains(':') && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
        evidence.source = format!("{}{worker}:c{number}", commands::SOURCE_PREFIX);
    }
}

/// `w2` for `w2.a1`; `None` for an agent that is not a worker's.
fn worker_of(agent: &str) -> Option<String> {
    crate::engine::scheduler::worker_agent(agent).map(|(w, _)| format!("w{w}"))
}

/// Whether the redaction registry masks part of `text` (it then cannot travel as it is).
fn holds_secret(text: &str) -> bool {
    matches!(crate::redact::redact(text), Cow::Owned(ref masked) if masked != text)
}

impl RunRecord {
    /// The record of `run` to ship (its output cut to [`MAX_OUTPUT_BYTES`], secrets masked).
    fn of(run: &CommandRun) -> Result<RunRecord, String> {
        if run.cmd.len() > MAX_CMD_BYTES {
            return Err(format!(
                "{}'s command line is over {} KB; a worker ships shorter ones (put a long \
                 command in a script and run that)",
                run.id,
                MAX_CMD_BYTES / 1024
            ));
        }
        if holds_secret(&run.cmd) {
            return Err(format!(
                "{}'s command line holds a secret this worker knows, so it is not sent to the \
                 board; run the check without it and cite that run",
                run.id
            ));
        }
        Ok(RunRecord {
            id: run.id.clone(),
            agent: run.agent.clone(),
            cmd: run.cmd.clone(),
            worktree: run.worktree.clone(),
            timeout_s: run.timeout.as_secs(),
            ending: run.ending,
            duration_ms: run.duration.as_millis().min(u64::MAX as u128) as u64,
            output: crate::redact::redact_owned(exec::head_and_tail(&run.output, MAX_OUTPUT_BYTES)),
            output_bytes: run.output_bytes,
            tested_trees: run.tested_trees.clone(),
        })
    }

    /// The run as the board files it: checked against the bounds, named `w2:c3`, marked as
    /// a worker's.
    fn land(self, worker: &str) -> Result<CommandRun, String> {
        let bad = |why: String| Err(format!("the record of {}: {why}", clip(&self.id)));
        let number = commands::local_number(&self.id);
        if self.id.len() > MAX_NAME
            || number.is_empty()
            || !number.bytes().all(|b| b.is_ascii_digit())
        {
            return bad("a run id is `c<number>`".into());
        }
        let ours = |agent: &str| {
            agent.len() <= MAX_NAME
                && worker_of(agent).is_some_and(|w| w == worker)
                && agent.starts_with(&format!("{worker}."))
        };
        if !ours(&self.agent) || !self.worktree.as_deref().is_none_or(ours) {
            return bad(format!("it names an agent that is not one of {worker}'s"));
        }
        if self.cmd.trim().is_empty() || self.cmd.len() > MAX_CMD_BYTES {
            return bad(format!(
                "a command line is 1 byte to {} KB",
                MAX_CMD_BYTES / 1024
            ));
        }
        // The cut marker of `head_and_tail` comes on top of the bytes kept.
        if self.output.len() > MAX_OUTPUT_BYTES + 256 {
            return bad(format!(
                "its output is over the {} KB a record keeps",
                MAX_OUTPUT_BYTES / 1024
            ));
        }
        if self.tested_trees.len() > 2 || !self.tested_trees.iter().all(|t| is_tree_id(t)) {
            return bad("it names at most two git tree ids".into());
        }
        if self.timeout_s == 0 || self.timeout_s > MAX_TIMEOUT_S {
            return bad(format!("a timeout is 1 to {MAX_TIMEOUT_S} s"));
        }
        Ok(CommandRun {
            id: format!("{worker}:c{number}"),
            agent: self.agent,
            cmd: self.cmd,
            worktree: self.worktree,
            timeout: Duration::from_secs(self.timeout_s),
            ending: self.ending,
            duration: Duration::from_millis(self.duration_ms),
            output: crate::redact::redact_owned(self.output),
            output_bytes: self.output_bytes,
            tested_trees: self.tested_trees,
            remote: true,
        })
    }
}

/// A git object id (SHA-1 or SHA-256, hex).
fn is_tree_id(id: &str) -> bool {
    matches!(id.len(), 40 | 64) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn clip(text: &str) -> String {
    crate::engine::point_args::clip_echo(text)
}

impl Sandbox {
    /// A worker's side: the records `agent`'s evidence cites, to ship with its proposal.
    /// Blocking (a patch's diff is taken with git).
    pub(crate) fn export_records(
        &self,
        agent: &str,
        evidence: &[Evidence],
    ) -> Result<Records, String> {
        let mut records = Records::default();
        for ev in evidence {
            let source = ev.source.trim();
            if commands::is_command_source(source) {
                if !self.allows_exec() {
                    return Err(commands::no_runs_recorded());
                }
                // A run named by the board (`cmd:w2:c3`) is the board's to resolve.
                if commands::run_id(source).contains(':') {
                    continue;
                }
                let run = self.command_log().get(source)?;
                if records.runs.iter().any(|r| r.id == run.id) {
                    continue;
                }
                if records.runs.len() == MAX_RUNS {
                    return Err(format!(
                        "a worker's proposal carries at most {MAX_RUNS} command runs; cite fewer"
                    ));
                }
                records.runs.push(RunRecord::of(&run)?);
            } else if patch::is_patch_source(source) && records.patch.is_none() {
                records.patch = Some(self.ship_patch(agent, source)?);
            }
        }
        Ok(records)
    }

    fn ship_patch(&self, agent: &str, source: &str) -> Result<ShippedPatch, String> {
        if !self.allows_edit() {
            return Err("patches exist only when edits are allowed (--allow-edit)".into());
        }
        let named = patch::cited_agent(source);
        if named != agent {
            return Err(format!(
                "a worker's agent cites its own changes: source \"patch:{agent}\" (its copy \
                 lives on this worker; `{}` is not it)",
                clip(named)
            ));
        }
        let snap = self.changes_of(agent)?;
        if snap.diff.len() > MAX_PATCH_BYTES {
            return Err(format!(
                "{agent}'s patch is {} KB; a worker sends the board at most {} KB (keep build \
                 output and generated files out of the worktree, and cite a focused change)",
                snap.diff.len() / 1024,
                MAX_PATCH_BYTES / 1024
            ));
        }
        if holds_secret(&snap.diff) {
            return Err(format!(
                "{agent}'s patch holds a secret this worker knows, so it is not sent to the \
                 board; take the secret out of the change"
            ));
        }
        Ok(ShippedPatch {
            agent: agent.to_string(),
            tree: snap.tree,
            diff: snap.diff,
        })
    }

    /// The board's side: file what worker agent `agent` shipped, so its evidence resolves
    /// here by the native rules. Its patch goes into a copy of the board's repository of its
    /// own (made on first use), and must give exactly the files the worker reports. Nothing
    /// is filed unless all of it is valid. Blocking (it may copy the repository).
    pub(crate) fn import_records(&self, agent: &str, records: Records) -> Result<(), String> {
        let worker =
            worker_of(agent).ok_or_else(|| format!("`{}` is not a worker's agent", clip(agent)))?;
        if !records.runs.is_empty() && !self.allows_exec() {
            return Err(NO_RUNS_HERE.into());
        }
        if records.patch.is_some() && !self.allows_edit() {
            return Err(NO_PATCHES_HERE.into());
        }
        if records.runs.len() > MAX_RUNS {
            return Err(format!(
                "a worker's proposal carries at most {MAX_RUNS} command runs"
            ));
        }
        let runs = records
            .runs
            .into_iter()
            .map(|r| r.land(&worker))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(patch) = records.patch {
            self.land_patch(agent, patch)?;
        }
        for run in runs {
            self.command_log().file_remote(run);
        }
        Ok(())
    }

    fn land_patch(&self, agent: &str, shipped: ShippedPatch) -> Result<(), String> {
        if shipped.agent != agent {
            return Err(format!(
                "{agent} shipped a patch of `{}`; an agent ships its own",
                clip(&shipped.agent)
            ));
        }
        if shipped.diff.len() > MAX_PATCH_BYTES {
            return Err(format!(
                "{agent}'s patch is over the {} KB a worker may send",
                MAX_PATCH_BYTES / 1024
            ));
        }
        if !is_tree_id(&shipped.tree) {
            return Err(format!("{agent}'s patch names no git tree id"));
        }
        if let Some(link) = patch::symlink_in(&shipped.diff) {
            return Err(format!(
                "{agent}'s patch makes `{link}` a symbolic link; a patch may only change regular \
                 files (a link could lead out of the repository)"
            ));
        }
        let wt = self.worktree_or_create(agent)?;
        wt.replace_changes(&shipped.diff).map_err(|e| {
            format!(
                "{agent}'s patch does not apply cleanly to the board's repository ({e}); the \
                 files it changes may have changed since the run started"
            )
        })?;
        let tree = wt.tree()?;
        if tree != shipped.tree {
            return Err(format!(
                "{agent}'s patch, applied to the board's repository, gives files whose git tree \
                 is {}, not {} as on its worker, so no run on the worker tested these files \
                 (the worker's copy of the workspace differs from the board's)",
                short(&tree),
                short(&shipped.tree)
            ));
        }
        Ok(())
    }
}

/// Why a board refuses a worker's command runs or patches.
pub(crate) const NO_RUNS_HERE: &str = "this board runs without --allow-exec, so it takes no \
command runs from workers: cite files instead, or start the board with --allow-exec";
pub(crate) const NO_PATCHES_HERE: &str = "this board runs without --allow-edit, so it takes no \
patches from workers: start the board with --allow-exec --allow-edit to deliver them";

fn short(tree: &str) -> &str {
    &tree[..tree.len().min(10)]
}

#[cfg(test)]
mod tests;
