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
    pub async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: DeltaSink<'_>,
        on_retry: RetrySink<'_>,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        let max_attempts = self.policy.max_attempts.max(1);
        let started = Instant::now();
        let deadline = self.deadline(started, req.deadline);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                result = tokio::time::timeout_at(deadline.into(), self.attempt(req, on_delta)) => {
                    result.unwrap_or_else(|_| Err(self.deadline_error(started, req, attempt)))
                }
            };
            let error = match result {
                Ok(response) => return Ok(response),
                Err(error) => error,
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
            if Instant::now() + delay >= deadline {
                let LlmError::Deadline(why) = self.deadline_error(started, req, attempt) else {
                    unreachable!("deadline_error makes a Deadline")
                };
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

    /// When a call started at `started` must end: the policy's deadline, or the request's
    /// own when that is sooner.
    fn deadline(&self, started: Instant, requested: Option<Instant>) -> Instant {
        let own = started
            .checked_add(self.policy.call_deadline)
            .unwrap_or(started + Duration::from_secs(86_400 * 365));
        requested.map_or(own, |r| r.min(own))
    }

    fn deadline_error(&self, started: Instant, req: &ChatRequest, attempts: u32) -> LlmError {
        let own = self.deadline(started, None);
        let why = match req.deadline {
            Some(asked) if asked < own => format!(
                "the model call ran out of the time it was given ({:.0}s, e.g. what was left \
                 of --time-limit)",
                asked.saturating_duration_since(started).as_secs_f32()
            ),
            _ => format!(
                "the model call did not finish within {}s (call_deadline_secs in the config \
                 file)",
                self.policy.call_deadline.as_secs()
            ),
        };
        LlmError::Deadline(format!("{why} after {attempts} attempt(s)"))
    }

    /// One call under a concurrency permit.
    async fn attempt(
        &self,
        req: &ChatRequest,
        on_delta: DeltaSink<'_>,
    ) -> Result<ChatResponse, LlmError> {
        // The semaphore is never closed, so acquiring fails only if that invariant breaks.
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| LlmError::Fatal("the provider's call limiter was closed".into()))?;
        self.inner.chat(req, on_delta).await
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
mod tests {
    use super::*;
    use crate::llm::CallPurpose;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    /// Plays a list of results, one per call, and measures how many calls overlap.
    struct Scripted {
        results: Mutex<Vec<Result<ChatResponse, LlmError>>>,
        calls: AtomicUsize,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
        call_time: Duration,
    }

    impl Scripted {
        fn new(results: Vec<Result<ChatResponse, LlmError>>, call_time: Duration) -> Arc<Self> {
            Arc::new(Scripted {
                results: Mutex::new(results.into_iter().rev().collect()),
                calls: AtomicUsize::new(0),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
                call_time,
            })
        }
    }

    impl Provider for Scripted {
        fn model(&self) -> &str {
            "scripted"
        }
        fn chat<'a>(
            &'a self,
            _: &'a ChatRequest,
            _: DeltaSink<'a>,
        ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                self.max_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(self.call_time).await;
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                self.results
                    .lock()
                    .unwrap()
                    .pop()
                    .unwrap_or_else(|| Ok(ChatResponse::default()))
            })
        }
    }

    fn request() -> ChatRequest {
        ChatRequest::new(CallPurpose::Work, "", vec![], Vec::new().into(), 10)
    }

    fn transient(retry_after: Option<Duration>) -> Result<ChatResponse, LlmError> {
        Err(LlmError::Transient {
            message: "HTTP 503".into(),
            retry_after,
        })
    }

    fn policy(max_attempts: u32, base_ms: u64, max_concurrency: usize) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(base_ms),
            max_delay: Duration::from_secs(1),
            max_concurrency,
            call_deadline: Duration::from_secs(600),
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_then_succeeds() {
        let inner = Scripted::new(
            vec![transient(None), transient(Some(Duration::from_millis(30)))],
            Duration::ZERO,
        );
        let provider = RetryingProvider::new(inner.clone(), policy(6, 5, 4));
        let notices = Mutex::new(vec![]);
        let reply = provider
            .chat(
                &request(),
                &|_| {},
                &|n| notices.lock().unwrap().push(n),
                &CancellationToken::new(),
            )
            .await;
        assert!(reply.is_ok());
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
        let notices = notices.into_inner().unwrap();
        assert_eq!(notices.len(), 2);
        assert_eq!(notices[0].attempt, 1);
        assert!(notices[0].delay <= Duration::from_millis(5));
        assert_eq!(notices[1].delay, Duration::from_millis(30));
        assert_eq!(notices[1].reason, "HTTP 503");
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_and_never_retries_fatal() {
        let inner = Scripted::new(
            vec![transient(None), transient(None), transient(None)],
            Duration::ZERO,
        );
        let provider = RetryingProvider::new(inner.clone(), policy(2, 1, 4));
        let err = provider
            .chat(&request(), &|_| {}, &|_| {}, &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("gave up after 2 attempts"),
            "{err}"
        );
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);

        let inner = Scripted::new(vec![Err(LlmError::Auth("bad key".into()))], Duration::ZERO);
        let provider = RetryingProvider::new(inner.clone(), policy(6, 1, 4));
        let err = provider
            .chat(&request(), &|_| {}, &|_| {}, &CancellationToken::new())
            .await
            .unwrap_err();
        assert_eq!(err, LlmError::Auth("bad key".into()));
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cancellation_interrupts_a_call_in_flight() {
        let inner = Scripted::new(vec![], Duration::from_secs(30));
        let provider = RetryingProvider::new(inner, policy(6, 1, 4));
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            trigger.cancel();
        });
        let started = Instant::now();
        let err = provider
            .chat(&request(), &|_| {}, &|_| {}, &cancel)
            .await
            .unwrap_err();
        assert_eq!(err, LlmError::Cancelled);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn concurrency_is_limited() {
        let inner = Scripted::new(vec![], Duration::from_millis(30));
        let provider = Arc::new(RetryingProvider::new(inner.clone(), policy(1, 1, 2)));
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let provider = provider.clone();
                tokio::spawn(async move {
                    provider
                        .chat(&request(), &|_| {}, &|_| {}, &CancellationToken::new())
                        .await
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        assert_eq!(inner.max_in_flight.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let provider = RetryingProvider::new(
            Scripted::new(vec![], Duration::ZERO),
            RetryPolicy::default(),
        );
        for attempt in 1..=20 {
            let delay = provider.delay(attempt, None);
            let ceiling =
                Duration::from_secs(1 << (attempt - 1).min(6)).min(Duration::from_secs(60));
            assert!(delay <= ceiling, "attempt {attempt}: {delay:?}");
        }
        assert_eq!(
            provider.delay(1, Some(Duration::from_secs(3600))),
            MAX_RETRY_AFTER
        );
        assert_eq!(MAX_RETRY_AFTER, Duration::from_secs(60));
        let samples: Vec<f64> = (0..1000).map(|_| provider.jitter.next_unit()).collect();
        assert!(samples.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((0.4..0.6).contains(&mean), "{mean}");
    }

    /// An attempt that never ends (a trickling stream) is stopped by the call deadline, not
    /// by the request timeout times the attempts.
    #[tokio::test]
    async fn the_call_deadline_bounds_every_attempt_and_wait() {
        let inner = Scripted::new(vec![], Duration::from_secs(3600));
        let mut p = policy(6, 1, 4);
        p.call_deadline = Duration::from_millis(150);
        let provider = RetryingProvider::new(inner.clone(), p);
        let err = provider
            .chat(&request(), &|_| {}, &|_| {}, &CancellationToken::new())
            .await
            .unwrap_err();
        let LlmError::Deadline(message) = &err else {
            panic!("{err:?}");
        };
        assert!(message.contains("call_deadline_secs"), "{message}");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);

        // A retry that would wait past the deadline is not waited for.
        let inner = Scripted::new(
            vec![transient(Some(Duration::from_secs(30)))],
            Duration::ZERO,
        );
        let mut p = policy(6, 1, 4);
        p.call_deadline = Duration::from_secs(5);
        let provider = RetryingProvider::new(inner.clone(), p);
        let notices = Mutex::new(0);
        let err = provider
            .chat(
                &request(),
                &|_| {},
                &|_| *notices.lock().unwrap() += 1,
                &CancellationToken::new(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, LlmError::Deadline(m) if m.contains("HTTP 503")),
            "{err:?}"
        );
        assert_eq!(*notices.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn a_sooner_request_deadline_wins_and_is_named() {
        let inner = Scripted::new(vec![], Duration::from_secs(3600));
        let provider: Arc<dyn ModelClient> =
            Arc::new(RetryingProvider::new(inner, policy(6, 1, 4)));
        let req = ChatRequest {
            deadline: Some(Instant::now() + Duration::from_millis(100)),
            ..request()
        };
        let err = provider
            .chat(&req, &|_| {}, &|_| {}, &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, LlmError::Deadline(m) if m.contains("--time-limit")),
            "{err:?}"
        );
        assert_eq!(provider.max_attempts(), 6);
        assert_eq!(provider.model(), "scripted");
    }
}
