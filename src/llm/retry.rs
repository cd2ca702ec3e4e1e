//! Retries, backoff, a deadline and a concurrency limit around any [`Provider`]: the
//! [`ModelClient`] agents call.
//!
//! Only transient failures are retried (rate limits, overload, 5xx, broken connections, cut
//! streams, timeouts), with exponential backoff and full jitter, or as long as the server's
//! `Retry-After` asks, up to a cap. One logical call, retries and waits included, ends by its
//! deadline (the policy's `call_deadline`, or the request's own, whichever is first), however
//! slowly a server trickles its answer. A semaphore caps the calls in flight per provider; it
//! is held only during an attempt, so an agent sleeping before its retry does not block the
//! others.

use super::{ChatRequest, ChatResponse, DeltaSink, LlmError, ModelClient, Provider, RetrySink};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The longest a `Retry-After` is honoured; beyond that the server is asking for a pause a
/// run should not silently sit through (the notice says the wait was capped).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Calls made in total, the first included.
    pub max_attempts: u32,
    /// The backoff ceiling of the first retry; it doubles for each further one.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Calls to this provider in flight at once.
    pub max_concurrency: usize,
    /// One logical call, every attempt and wait included, ends within this (config
    /// `call_deadline_secs`).
    pub call_deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_concurrency: 8,
            call_deadline: Duration::from_secs(600),
        }
    }
}

/// When the policy's deadline started counting: at the first attempt's permit.
#[derive(Debug, Default)]
struct Clock {
    started: Option<Instant>,
}

/// How one attempt ended, when it did not answer.
enum AttemptError {
    /// The call's deadline passed.
    Expired,
    Failed(LlmError),
}
use AttemptError::{Expired, Failed};

/// Told before each wait, so the engine can emit an `llm_retry` event.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryNotice {
    /// Attempts that have failed so far (1 after the first call failed).
    pub attempt: u32,
    /// How long the next attempt waits.
    pub delay: Duration,
    /// Why the last attempt failed.
    pub reason: String,
}

pub struct RetryingProvider {
    inner: Arc<dyn Provider>,
    policy: RetryPolicy,
    permits: Semaphore,
    jitter: Jitter,
}

impl std::fmt::Debug for RetryingProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryingProvider")
            .field("model", &self.inner.model())
            .field("policy", &self.policy)
            .finish()
    }
}

impl RetryingProvider {
    pub fn new(inner: Arc<dyn Provider>, policy: RetryPolicy) -> Self {
        RetryingProvider {
            permits: Semaphore::new(policy.max_concurrency.max(1)),
            inner,
            policy,
            jitter: Jitter::seeded(),
        }
    }

    pub fn model(&self) -> &str {
        self.inner.model()
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// One logical call: retried on transient errors until it succeeds, fails otherwise, runs
    /// out of attempts or time, or `cancel` fires (then `LlmError::Cancelled`, promptly,
    /// whether the call is queued, in flight or waiting to retry).
    ///
    /// The policy's deadline counts from the moment the first attempt gets its concurrency
    /// permit (waiting behind the run's own other calls is not the provider's slowness); the
    /// request's deadline counts from the start, queueing included.
    pub async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: DeltaSink<'_>,
        on_retry: RetrySink<'_>,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        let max_attempts = self.policy.max_attempts.max(1);
        let queued = Instant::now();
        let mut clock = Clock::default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                result = self.attempt(req, on_delta, &mut clock) => result,
            };
            let error = match result {
                Ok(response) => return Ok(response),
                Err(Expired) => {
                    return Err(LlmError::Deadline(
                        self.out_of_time(queued, &clock, req, attempt),
                    ));
                }
                Err(Failed(error)) => error,
            };
            let LlmError::Transient {
                message,
                retry_after,
            } = error
            else {
                return Err(error);
            };
            if attempt >= max_attempts {
                return Err(LlmError::Transient {
                    message: format!("{message} (gave up after {attempt} attempts)"),
                    retry_after,
                });
            }
            let delay = self.delay(attempt, retry_after);
            if Instant::now() + delay >= self.deadline(&clock, req) {
                let why = self.out_of_time(queued, &clock, req, attempt);
                return Err(LlmError::Deadline(format!(
                    "{why}; the last attempt failed: {message}"
                )));
            }
            let reason = match retry_after {
                Some(asked) if asked > MAX_RETRY_AFTER => format!(
                    "{message} (the server asked to wait {}s; waiting the {}s cap)",
                    asked.as_secs(),
                    MAX_RETRY_AFTER.as_secs()
                ),
                _ => message,
            };
            tracing::info!(
                model = self.model(),
                attempt,
                delay_ms = delay.as_millis() as u64,
                reason = %reason,
                "retrying model call"
            );
            on_retry(RetryNotice {
                attempt,
                delay,
                reason,
            });
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// When the call must end: the policy's deadline once the clock runs, or the request's
    /// own when that is sooner.
    fn deadline(&self, clock: &Clock, req: &ChatRequest) -> Instant {
        let own = clock.started.map(|started| {
            started
                .checked_add(self.policy.call_deadline)
                .unwrap_or(started + Duration::from_secs(86_400 * 365))
        });
        match (own, req.deadline) {
            (Some(own), Some(asked)) => own.min(asked),
            (Some(own), None) => own,
            (None, Some(asked)) => asked,
            // Not sent yet: only the request's deadline can expire while queued.
            (None, None) => Instant::now() + Duration::from_secs(86_400 * 365),
        }
    }

    /// Why the call ran out of time, naming the limit that ended it.
    fn out_of_time(
        &self,
        queued: Instant,
        clock: &Clock,
        req: &ChatRequest,
        attempts: u32,
    ) -> String {
        let own = clock
            .started
            .and_then(|started| started.checked_add(self.policy.call_deadline));
        let why = match req.deadline {
            Some(asked) if own.is_none_or(|own| asked < own) => format!(
                "the model call ran out of the time it was given ({:.0}s, e.g. what was left \
                 of --time-limit)",
                asked.saturating_duration_since(queued).as_secs_f32()
            ),
            _ => format!(
                "the model call did not finish within {}s (call_deadline_secs in the config \
                 file)",
                self.policy.call_deadline.as_secs()
            ),
        };
        format!("{why} after {attempts} attempt(s)")
    }

    /// One attempt under a concurrency permit, within the call's deadline.
    async fn attempt(
        &self,
        req: &ChatRequest,
        on_delta: DeltaSink<'_>,
        clock: &mut Clock,
    ) -> Result<ChatResponse, AttemptError> {
        let acquire = self.permits.acquire();
        let permit = match req.deadline {
            Some(asked) => tokio::time::timeout_at(asked.into(), acquire)
                .await
                .map_err(|_| Expired)?,
            None => acquire.await,
        };
        // The semaphore is never closed, so acquiring fails only if that invariant breaks.
        let _permit = permit.map_err(|_| {
            Failed(LlmError::Fatal(
                "the provider's call limiter was closed".into(),
            ))
        })?;
        clock.started.get_or_insert_with(Instant::now);
        let deadline = self.deadline(clock, req);
        match tokio::time::timeout_at(deadline.into(), self.inner.chat(req, on_delta)).await {
            Ok(result) => result.map_err(Failed),
            Err(_) => Err(Expired),
        }
    }

    /// The wait before retry number `attempt`: the server's `Retry-After` if it gave one,
    /// otherwise a uniformly random time up to `base * 2^(attempt-1)` (full jitter), capped.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(MAX_RETRY_AFTER);
        }
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .policy
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.policy.max_delay);
        ceiling.mul_f64(self.jitter.next_unit())
    }
}

impl ModelClient for RetryingProvider {
    fn model(&self) -> &str {
        self.inner.model()
    }

    fn max_attempts(&self) -> u32 {
        self.policy.max_attempts.max(1)
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
        on_retry: RetrySink<'a>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        // The inherent method of the same name: the trait is its object-safe face.
        Box::pin(RetryingProvider::chat(
            self, req, on_delta, on_retry, cancel,
        ))
    }
}

/// Randomness for jitter (xorshift64*): it only has to keep agents from retrying in lockstep.
struct Jitter(AtomicU64);

impl Jitter {
    fn seeded() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        // A per-process counter keeps providers built in the same instant apart.
        static BUILT: AtomicU64 = AtomicU64::new(0);
        let nth = BUILT.fetch_add(1, Ordering::Relaxed);
        let seed = nanos ^ nth.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(std::process::id());
        Jitter(AtomicU64::new(seed | 1))
    }

    /// A number in [0, 1).
    fn next_unit(&self) -> f64 {
        let step = |mut x: u64| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x
        };
        let previous = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or(1);
        let value = step(previous).wrapping_mul(0x2545_F491_4F6C_DD1D);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests;
