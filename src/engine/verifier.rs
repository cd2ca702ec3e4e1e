//! Verification runs on the board's side: whoever proposed a point (a native agent, an
//! outside agent over MCP, a remote worker), the board resolves its evidence against the
//! workspace it owns and, in `judge` mode, asks the judge model, before anyone else can
//! see it. So no participant can publish an unverified point.

use super::client::Signals;
use super::model_call;
use super::protocol::Report;
use super::scheduler::{Outcome, VerifyJob};
use super::store::{self, SharedView};
use super::tools::Workspace;
use super::verify::{self, JudgeVerdict};
use super::{Model, PriceFn, prompt};
use crate::event::{CallPurpose, Point, PointId, PointKind, PointStatus, TaskId, VerifyMode};
use crate::llm::{ChatRequest, LlmError, Message};
use crate::text::clip;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A report the verifier makes on behalf of a point's author (its judge calls).
pub type AuthorReport = (String, Option<TaskId>, Report);

/// The judge answers in one short JSON object; the rest of the cap is room for a reasoning
/// model's thinking, which counts against the same limit.
const JUDGE_MAX_TOKENS: u32 = 2_048;

pub struct Verifier {
    pub mode: VerifyMode,
    /// The run id: the judge's prompt prefix is the same for every point of a run.
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

impl Verifier {
    /// Verify every point of `job`, in order.
    pub async fn run(&self, job: &VerifyJob) -> JobResult {
        let mut results = Vec::with_capacity(job.points.len());
        for point in &job.points {
            let outcome = self.verify(job, point).await?;
            results.push((point.id.clone(), outcome));
        }
        Ok(results)
    }

    async fn verify(&self, job: &VerifyJob, point: &Point) -> Result<Outcome, Fatal> {
        if self.mode == VerifyMode::Off {
            return Ok(Ok((point.evidence.clone(), None)));
        }
        let (cited, related) = {
            let view = store::read(&self.view);
            let cited: Vec<_> = point
                .evidence
                .iter()
                .filter_map(|e| view.state.point(e.source.trim()))
                .filter(|p| p.status == PointStatus::Verified)
                .cloned()
                .collect();
            let related = prompt::related_points(&view, point, 3);
            (cited, related)
        };
        let checked = match verify::check_evidence(self.workspace.as_ref(), point, &cited) {
            Ok(c) => c,
            Err(reason) => return Ok(Err(reason)),
        };
        if self.mode == VerifyMode::Evidence {
            return Ok(Ok((checked.evidence, None)));
        }
        if point.kind == PointKind::Finding {
            let missing = verify::unsupported_numbers(point, &checked);
            if !missing.is_empty() {
                return Ok(Err(format!(
                    "the headline states {} but the cited evidence does not",
                    missing.join(", ")
                )));
            }
        }
        let mut req = ChatRequest::new(
            CallPurpose::Judge,
            verify::JUDGE_SYSTEM,
            vec![Message::user(verify::judge_prompt(
                point, &checked, &related,
            ))],
            Arc::from([]),
            JUDGE_MAX_TOKENS,
        );
        req.temperature = Some(0.0);
        req.cache_key = Some(self.cache_key.clone());
        let text = match self.judge_call(job, &req).await? {
            Some(text) => text,
            None => {
                return Ok(Err(
                    "verification was stopped before the judge answered".into()
                ));
            }
        };
        Ok(match verify::parse_judge(&text) {
            Some(JudgeVerdict::Approve(reason)) => Ok((
                checked.evidence,
                (!reason.is_empty()).then_some(format!("judge: {reason}")),
            )),
            Some(JudgeVerdict::Reject(reason)) => Err(format!("the judge rejected it: {reason}")),
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
                "the judge's answer could not be read (\"{}\"); record the point again",
                clip(text.trim(), 120)
            )),
        })
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
