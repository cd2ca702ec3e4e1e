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

/// `n` calls started together; their results in order.
async fn calls_at_once(
    provider: &Arc<RetryingProvider>,
    n: usize,
) -> Vec<Result<ChatResponse, LlmError>> {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move {
                provider
                    .chat(&request(), &|_| {}, &|_| {}, &CancellationToken::new())
                    .await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for call in calls {
        results.push(call.await.expect("the call task panicked"));
    }
    results
}

#[tokio::test]
async fn concurrency_is_limited() {
    let inner = Scripted::new(vec![], Duration::from_millis(30));
    let provider = Arc::new(RetryingProvider::new(inner.clone(), policy(1, 1, 2)));
    for result in calls_at_once(&provider, 6).await {
        result.unwrap();
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
        let ceiling = Duration::from_secs(1 << (attempt - 1).min(6)).min(Duration::from_secs(60));
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
    let provider: Arc<dyn ModelClient> = Arc::new(RetryingProvider::new(inner, policy(6, 1, 4)));
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

/// Waiting for a permit behind the run's own calls is not the provider being slow.
#[tokio::test]
async fn queueing_does_not_count_against_the_call_deadline() {
    let inner = Scripted::new(vec![], Duration::from_millis(150));
    let mut p = policy(1, 1, 1);
    p.call_deadline = Duration::from_millis(1000);
    let provider = Arc::new(RetryingProvider::new(inner.clone(), p));
    for result in calls_at_once(&provider, 10).await {
        result.expect("each call is quick once sent");
    }
    assert_eq!(inner.calls.load(Ordering::SeqCst), 10);
    assert_eq!(inner.max_in_flight.load(Ordering::SeqCst), 1);
}
