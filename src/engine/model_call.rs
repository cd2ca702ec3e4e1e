//! One model call as the engine makes it: retried by the client, timed, and turned into
//! the `llm_call` report that records it. Agents and the board's verifier both call models
//! this way, so every call is accounted for the same.

use super::protocol::Report;
use super::{Model, PriceFn};
use crate::event::CallPurpose;
use crate::llm::retry::RetryNotice;
use crate::llm::{ChatRequest, ChatResponse, DeltaSink, LlmError};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Call `model` and account for it: the response and the `llm_call` report to send.
pub async fn call(
    model: &Model,
    price: &PriceFn,
    req: &ChatRequest,
    purpose: CallPurpose,
    on_delta: DeltaSink<'_>,
    on_retry: &(dyn Fn(RetryNotice) + Send + Sync),
    cancel: &CancellationToken,
) -> Result<(ChatResponse, Report), LlmError> {
    let started = Instant::now();
    let resp = model.chat(req, on_delta, on_retry, cancel).await?;
    let report = Report::LlmCall {
        purpose,
        model: model.model().to_string(),
        tokens_in: resp.usage.input_tokens,
        tokens_out: resp.usage.output_tokens,
        tokens_cached_read: resp.usage.cache_read_tokens,
        tokens_cache_write: resp.usage.cache_write_tokens,
        cost_usd: price(resp.usage),
        latency_ms: started.elapsed().as_millis() as u64,
    };
    Ok((resp, report))
}

/// The retry notice as the report that records it.
pub fn retry_report(n: RetryNotice) -> Report {
    Report::Retry {
        attempt: n.attempt,
        delay_ms: n.delay.as_millis() as u64,
        reason: n.reason,
    }
}
