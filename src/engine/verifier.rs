//! Verification runs on the board's side: whoever proposed a point (a native agent, an
//! outside agent over MCP, a remote worker), the board resolves its evidence against the
//! workspace it owns, checks its numbers against the quotes, and in `judge` mode asks the
//! judge model, once for all points of one proposal, before anyone else can see them. So
//! no participant can publish an unverified point.

use super::client::Signals;
use super::model_call;
use super::protocol::Report;
use super::scheduler::{Outcome, VerifyJob};
use super::store::{self, SharedView};
use super::tools::Workspace;
use super::verify::{self, CheckedEvidence, JudgeItem, JudgeVerdict, NumberCheck};
use super::{Model, PriceFn, prompt};
use crate::event::{
    CallPurpose, Point, PointId, PointKind, PointStatus, PointView, TaskId, VerifyMode,
};
use crate::llm::{ChatRequest, LlmError, Message};
use crate::text::clip;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A report the verifier makes on behalf of a point's author (its judge calls).
pub type AuthorReport = (String, Option<TaskId>, Report);

/// The judge answers in short JSON; the rest of the cap is room for a reasoning model's
/// thinking, which counts against the same limit, and for a batch of several points.
const JUDGE_MAX_TOKENS: u32 = 4_096;
/// Related points shown to the judge for its redundancy check, per proposal.
const RELATED_SHOWN: usize = 5;

pub struct Verifier {
    pub mode: VerifyMode,
    /// The run's goal: the judge checks relevance against it.
    pub goal: String,
    /// The run id: the judge's prompt prefix is the same for every proposal of a run.
    pub cache_key: String,
    pub workspace: Arc<dyn Workspace>,
    pub judge: Model,
    pub judge_price: PriceFn,
    pub view: SharedView,
    pub signals: Signals,
    pub reports: mpsc::UnboundedSender<AuthorReport>,
}

/// The provider cannot be used for judging: the run fails with this message.
pub struct Fatal(pub String);

/// What verifying one job gives: each point's outcome, or the reason the run must fail.
pub type JobResult = Result<Vec<(PointId, Outcome)>, Fatal>;

/// A point that passed the mechanical checks and waits for the judge.
struct Pending {
    index: usize,
    checked: CheckedEvidence,
    numbers: NumberCheck,
}

impl Verifier {
    /// Verify every point of `job`: the mechanical checks point by point, then one judge
    /// call for all that need it.
    pub async fn run(&self, job: &VerifyJob) -> JobResult {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; job.points.len()];
        let mut pending: Vec<Pending> = Vec::new();
        for (index, point) in job.points.iter().enumerate() {
            match self.mechanical(point) {
                Err(reason) => outcomes[index] = Some(Err(reason)),
                Ok((checked, numbers)) if !self.needs_judge(point) => {
                    outcomes[index] = Some(Ok(accepted(checked, &numbers, None)));
                }
                Ok((checked, numbers)) => pending.push(Pending {
                    index,
                    checked,
                    numbers,
                }),
            }
        }
        if !pending.is_empty() {
            for (index, outcome) in self.judge(job, pending).await? {
                outcomes[index] = Some(outcome);
            }
        }
        Ok(job
            .points
            .iter()
            .zip(outcomes)
            .map(|(p, o)| {
                let o = o.unwrap_or_else(|| Err("the verifier reached no verdict".into()));
                (p.id.clone(), o)
            })
            .collect())
    }

    /// Evidence resolution and the number check (every mode but `off`).
    fn mechanical(&self, point: &Point) -> Result<(CheckedEvidence, NumberCheck), String> {
        if self.mode == VerifyMode::Off {
            let checked = CheckedEvidence {
                evidence: point.evidence.clone(),
                ..CheckedEvidence::default()
            };
            return Ok((checked, NumberCheck::default()));
        }
        let cited: Vec<PointView> = {
            let view = store::read(&self.view);
            point
                .evidence
                .iter()
                .filter_map(|e| view.state.point(e.source.trim()))
                .filter(|p| p.status == PointStatus::Verified)
                .cloned()
                .collect()
        };
        let checked = verify::check_evidence(self.workspace.as_ref(), point, &cited)?;
        let numbers = verify::check_numbers(point, &checked);
        if let Some(reason) = numbers.reason() {
            return Err(reason);
        }
        Ok((checked, numbers))
    }

    /// The judge reads findings, partials and agent constraints. A failure gets the light
    /// check only (what it cites must resolve): it reports what did not work, not a fact
    /// about the sources.
    fn needs_judge(&self, point: &Point) -> bool {
        self.mode == VerifyMode::Judge && point.kind != PointKind::Failure
    }

    /// One judge call for every pending point of the job; its verdicts by point index.
    async fn judge(
        &self,
        job: &VerifyJob,
        pending: Vec<Pending>,
    ) -> Result<Vec<(usize, Outcome)>, Fatal> {
        let related = self.related(job, &pending);
        let items: Vec<JudgeItem> = pending
            .iter()
            .map(|p| JudgeItem {
                point: &job.points[p.index],
                checked: &p.checked,
                numbers: Some(&p.numbers),
            })
            .collect();
        let mut req = ChatRequest::new(
            CallPurpose::Judge,
            verify::JUDGE_SYSTEM,
            vec![Message::user(verify::judge_batch_prompt(
                &self.goal, &items, &related,
            ))],
            Arc::from([]),
            JUDGE_MAX_TOKENS,
        );
        req.temperature = Some(0.0);
        req.cache_key = Some(self.cache_key.clone());
        let Some(text) = self.judge_call(job, &req).await? else {
            let stopped = "verification was stopped before the judge answered";
            return Ok(pending
                .into_iter()
                .map(|p| (p.index, Err(stopped.to_string())))
                .collect());
        };
        let ids: Vec<&str> = pending
            .iter()
            .map(|p| job.points[p.index].id.as_str())
            .collect();
        let verdicts = verify::parse_judge_batch(&text, &ids);
        Ok(pending
            .into_iter()
            .zip(verdicts)
            .map(|(p, verdict)| {
                let outcome = match verdict {
                    Some(JudgeVerdict::Approve(reason)) => {
                        let note = (!reason.is_empty()).then(|| format!("judge: {reason}"));
                        Ok(accepted(p.checked, &p.numbers, note))
                    }
                    Some(JudgeVerdict::Reject(reason)) => {
                        Err(format!("the judge rejected it: {reason}"))
                    }
                    Some(JudgeVerdict::Redundant { of, reason }) => Err(format!(
                        "redundant with {}: {reason}",
                        if of.is_empty() {
                            "an existing point"
                        } else {
                            &of
                        }
                    )),
                    // An unreadable judge answer must not publish a point it did not approve.
                    None => Err(format!(
                        "the judge's answer gave no verdict on it (\"{}\"); record the point again",
                        clip(text.trim(), 120)
                    )),
                };
                (p.index, outcome)
            })
            .collect())
    }

    /// The live points closest to the proposal's points (the judge's redundancy check).
    fn related(&self, job: &VerifyJob, pending: &[Pending]) -> Vec<PointView> {
        let view = store::read(&self.view);
        let mut related: Vec<PointView> = Vec::new();
        for p in pending {
            for r in prompt::related_points(&view, &job.points[p.index], 3) {
                if related.len() < RELATED_SHOWN
                    && !related.iter().any(|x| x.point.id == r.point.id)
                {
                    related.push(r);
                }
            }
        }
        related
    }

    /// One judge call, waiting first while the swarm is paused. `None` when the run ended
    /// first; `Fatal` when the provider cannot be used.
    async fn judge_call(
        &self,
        job: &VerifyJob,
        req: &ChatRequest,
    ) -> Result<Option<String>, Fatal> {
        if self.signals.unpaused(None).await.is_err() {
            return Ok(None);
        }
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let over = self.signals.clone();
        let watcher = tokio::spawn(async move {
            over.over().await;
            stop.cancel();
        });
        let report = |r: Report| {
            let _ = self.reports.send((job.author.clone(), job.task.clone(), r));
        };
        let on_retry = |n| report(model_call::retry_report(n));
        let result = model_call::call(
            &self.judge,
            &self.judge_price,
            req,
            CallPurpose::Judge,
            &|_| {},
            &on_retry,
            &cancel,
        )
        .await;
        watcher.abort();
        match result {
            Ok((resp, call)) => {
                report(call);
                Ok(Some(resp.text))
            }
            Err(LlmError::Cancelled) => Ok(None),
            Err(LlmError::ContextLength(_)) => Ok(Some(
                r#"{"verdict":"reject","reason":"the evidence is too long for the judge's context window; cite a shorter quote"}"#
                    .to_string(),
            )),
            Err(LlmError::Transient { message, .. }) => Err(Fatal(format!(
                "the judge model is unreachable after {} attempts ({message}); check the network \
and the provider, then `delm resume` the session",
                self.judge.max_attempts()
            ))),
            Err(LlmError::Auth(m) | LlmError::Fatal(m) | LlmError::Deadline(m)) => Err(Fatal(m)),
        }
    }
}

/// An accepted point: its resolved evidence and everything worth noting in the verdict
/// (corrected locations, derived figures, the judge's reason).
fn accepted(
    checked: CheckedEvidence,
    numbers: &NumberCheck,
    judge: Option<String>,
) -> (Vec<crate::event::Evidence>, Option<String>) {
    let mut notes = checked.notes;
    notes.extend(numbers.note());
    notes.extend(judge);
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    (checked.evidence, note)
}
