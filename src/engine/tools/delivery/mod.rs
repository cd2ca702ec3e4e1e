//! One result, delivered (`--allow-edit`). Every agent and worker edits a private copy and
//! publishes verified patches (`patch_pinned` in the log: the diff and the checks that
//! passed on exactly its files). When the answer is in, before `run_finished`, the board
//! asks for the run's one result:
//!
//! 1. [`plan`]: which patches are candidates, in which order (the answer's citations
//!    first: the finaliser decides which side of an overlap is delivered);
//! 2. [`merge`]: a fresh copy of the repository, each candidate merged in whole with
//!    git's three-way merge, or kept out as a conflict with its conflicting regions;
//! 3. [`checks`]: every command that verified a merged patch, on the assembled files,
//!    through the run's sandbox, unless an earlier run covers exactly these files; if they
//!    fail, the last merged patch is left out and the rest is assembled and checked again
//!    (at most [`MAX_ROUNDS`] times), so what is delivered passed its checks together.
//!
//! The result is the `result_assembled` event; [`report`] words it for the patch file, the
//! conflicts report and the terminal.

mod checks;
mod merge;
pub(crate) mod plan;
pub mod report;

use super::sandbox::Sandbox;
use crate::event::{AssembledResult, CheckRun, PatchLeftOut, PointId, RunState};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Assemble-and-check rounds before the result is delivered as it is (checks failing).
const MAX_ROUNDS: usize = 3;

/// The delivery of `state`'s verified patches, or `None` when none was pinned.
pub(crate) fn deliver(
    sandbox: Arc<Sandbox>,
    state: &RunState,
    cited: &[PointId],
    run_checks: bool,
    stop: CancellationToken,
) -> Option<BoxFuture<'static, AssembledResult>> {
    if state.patches.is_empty() {
        return None;
    }
    let plan = plan::plan(state, cited);
    let known: Vec<CheckRun> = state
        .patches
        .iter()
        .flat_map(|p| p.checks.iter().cloned())
        .collect();
    let execute = run_checks && sandbox.allows_exec();
    Some(Box::pin(async move {
        let result = assemble(&sandbox, plan, &known, execute, &stop).await;
        tracing::info!(
            merged = result.merged.len(),
            conflicts = result.conflicts.len(),
            verified = result.verified(),
            "result assembled"
        );
        result
    }))
}

async fn assemble(
    sandbox: &Arc<Sandbox>,
    plan: plan::Plan,
    known: &[CheckRun],
    execute: bool,
    stop: &CancellationToken,
) -> AssembledResult {
    let mut result = AssembledResult {
        left_out: plan.left_out,
        ..AssembledResult::default()
    };
    let mut candidates = plan.candidates;
    for round in 1..=MAX_ROUNDS {
        let dir = match sandbox.scratch_dir(&format!("result-{round}")) {
            Ok(dir) => dir,
            Err(e) => return unassembled(result, e),
        };
        let (source, files) = sandbox.source();
        let (source, files, todo) = (source.to_path_buf(), files.to_vec(), candidates.clone());
        let at = dir.clone();
        let assembly =
            tokio::task::spawn_blocking(move || merge::assemble(&at, &source, &files, &todo))
                .await
                .map_err(|e| format!("it failed unexpectedly: {e}"))
                .and_then(|r| r);
        let assembly = match assembly {
            Ok(a) => a,
            Err(e) => {
                remove(dir).await;
                return unassembled(result, e);
            }
        };
        result.patch = assembly.snapshot.diff.clone();
        result.tree = assembly.snapshot.tree.clone();
        result.merged = assembly.merged.iter().map(|p| plan::patch_ref(p)).collect();
        result.conflicts = assembly.conflicts;
        if assembly.merged.is_empty() {
            result.tree.clear();
            remove(dir).await;
            return result;
        }
        let outcome = checks::Checker {
            sandbox,
            copy: &assembly.copy,
            tree: &result.tree,
            known,
            execute,
            stop,
        }
        .run(&checks::specs(&assembly.merged))
        .await;
        drop(assembly.copy);
        remove(dir).await;
        result.checks = outcome.checks;
        result.note = outcome.note;
        let failed = result.checks.iter().find(|c| !c.passed()).cloned();
        let (Some(check), Some(last)) = (failed, assembly.merged.last()) else {
            return result;
        };
        if assembly.merged.len() < 2 || round == MAX_ROUNDS || stop.is_cancelled() {
            return result;
        }
        // Each patch passed its checks alone; together they fail. The last merged is the
        // one the answer ranks lowest: leave it out and try the rest.
        candidates.retain(|c| c.reference != last.reference);
        result.left_out.push(PatchLeftOut {
            patch: plan::patch_ref(last),
            reason: format!(
                "the checks failed with it in the result: {} `{}` {}",
                check.run,
                crate::text::clip(&check.cmd, 120),
                check.ending
            ),
            files: Vec::new(),
        });
    }
    result
}

/// The result when no copy could be assembled: nothing merged, and why.
fn unassembled(mut result: AssembledResult, why: String) -> AssembledResult {
    tracing::warn!("the result could not be assembled: {why}");
    result.patch.clear();
    result.tree.clear();
    result.merged.clear();
    result.checks.clear();
    result.note = Some(format!("the result could not be assembled: {why}"));
    result
}

/// Remove a scratch copy (off the async workers: it can be a large tree).
async fn remove(dir: std::path::PathBuf) {
    let _ = tokio::task::spawn_blocking(move || {
        if dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            tracing::warn!(dir = %dir.display(), "cannot remove the result's copy: {e}");
        }
    })
    .await;
}
