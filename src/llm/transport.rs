//! HTTP plumbing shared by the provider adapters: posting JSON, turning HTTP failures into
//! [`LlmError`]s, `Retry-After`, timeouts, and reading server-sent events with an idle limit.

use super::spec::{ProviderConfig, Secret};
use super::{ChatResponse, DeltaSink, LlmError};
use eventsource_stream::{Event as SseEvent, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

/// One endpoint: an HTTP client, its base URL, its key and its time limits.
#[derive(Debug)]
pub(super) struct Transport {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<Secret>,
    request_timeout: Duration,
    stream_idle_timeout: Duration,
}

impl Transport {
    pub(super) fn new(cfg: &ProviderConfig) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("delm/", env!("CARGO_PKG_VERSION")))
            .build()
            // With rustls and bundled roots these options cannot make building fail; should a
            // future option do so, the plain default client is the best remaining choice.
            .unwrap_or_default();
        Transport {
            client,
            base_url: cfg.base_url.trim_end_matches('/').to_string(),
            api_key: cfg.api_key.clone(),
            request_timeout: cfg.request_timeout,
            stream_idle_timeout: cfg.stream_idle_timeout,
        }
    }

    pub(super) fn api_key(&self) -> Option<&Secret> {
        self.api_key.as_ref()
    }

    /// Run a whole call under the request timeout.
    pub(super) async fn within_request_timeout<T>(
        &self,
        call: impl Future<Output = Result<T, LlmError>>,
    ) -> Result<T, LlmError> {
        match tokio::time::timeout(self.request_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(transient(format!(
                "the provider at {} did not finish within {}s (request timeout)",
                self.base_url,
                self.request_timeout.as_secs_f32()
            ))),
        }
    }

    /// POST `body` to `{base_url}{path}`; any non-2xx answer becomes an error. In streaming
    /// mode the wait for the response headers also counts as stream silence.
    pub(super) async fn post(
        &self,
        path: &str,
        headers: HeaderMap,
        body: &serde_json::Value,
        stream: bool,
    ) -> Result<reqwest::Response, LlmError> {
        let url = format!("{}{}", self.base_url, path);
        let send = self.client.post(&url).headers(headers).json(body).send();
        let sent = if stream {
            match tokio::time::timeout(self.stream_idle_timeout, send).await {
                Ok(sent) => sent,
                Err(_) => return Err(self.idle_error()),
            }
        } else {
            send.await
        };
        let response = sent.map_err(|e| self.request_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = parse_retry_after(response.headers(), SystemTime::now());
        let text = response.text().await.unwrap_or_default();
        Err(self.status_error(status.as_u16(), retry_after, &text))
    }

    /// Read a non-streaming response body as JSON.
    pub(super) async fn json_body(
        &self,
        response: reqwest::Response,
    ) -> Result<serde_json::Value, LlmError> {
        let bytes = response.bytes().await.map_err(|e| self.request_error(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            LlmError::Fatal(format!(
                "the provider at {} sent a response that is not JSON ({e}): {}",
                self.base_url,
                excerpt(&self.redact(&String::from_utf8_lossy(&bytes)))
            ))
        })
    }

    /// The response body as server-sent events.
    pub(super) fn events(&self, response: reqwest::Response) -> SseEvents {
        SseEvents {
            inner: Box::pin(response.bytes_stream().eventsource()),
            idle: self.stream_idle_timeout,
            base_url: self.base_url.clone(),
        }
    }

    /// `text` with the API key, should a server echo it, replaced by `***`.
    pub(super) fn redact(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) if !key.expose().is_empty() => text.replace(key.expose(), "***"),
            _ => text.to_string(),
        }
    }

    fn idle_error(&self) -> LlmError {
        transient(format!(
            "the provider at {} sent nothing for {}s (stream idle timeout)",
            self.base_url,
            self.stream_idle_timeout.as_secs_f32()
        ))
    }

    /// A failure below HTTP (connect, TLS, a body cut short): worth retrying, except a
    /// request that could not even be built.
    pub(super) fn request_error(&self, err: &reqwest::Error) -> LlmError {
        let chain = self.redact(&error_chain(err));
        if err.is_builder() {
            return LlmError::Fatal(format!(
                "cannot send a request to {}: {chain}; check --base-url",
                self.base_url
            ));
        }
        if err.is_connect() {
            return transient(format!(
                "cannot connect to {} ({chain}); check that the server is running and that \
                 --base-url is right",
                self.base_url
            ));
        }
        if err.is_timeout() {
            return transient(format!(
                "the request to {} timed out ({chain})",
                self.base_url
            ));
        }
        transient(format!(
            "the connection to {} failed ({chain})",
            self.base_url
        ))
    }

    /// Map an HTTP error status and its body to the error kinds the engine acts on.
    pub(super) fn status_error(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        body: &str,
    ) -> LlmError {
        let message = self.redact(&provider_message(body));
        match status {
            // The provider's 401 text often quotes part of the key: leave it out.
            401 => LlmError::Auth(
                "the provider rejected the API key (HTTP 401); check the variable that holds \
                 it (OPENAI_API_KEY, ANTHROPIC_API_KEY, or the one named by --api-key-env)"
                    .to_string(),
            ),
            403 => LlmError::Auth(format!(
                "the provider refused access (HTTP 403: {message}); check that the API key in \
                 your key variable may use this model"
            )),
            _ if is_retryable_status(status) => LlmError::Transient {
                message: format!("the provider is unavailable (HTTP {status}: {message})"),
                retry_after,
            },
            _ if is_context_length_message(body) => LlmError::ContextLength(message),
            404 => LlmError::Fatal(format!(
                "the provider answered HTTP 404 ({message}); check the model name and \
                 --base-url"
            )),
            _ => LlmError::Fatal(format!(
                "the provider refused the request (HTTP {status}: {message})"
            )),
        }
    }
}

/// Server-sent events from a streaming response, with the stream-idle timeout applied to
/// every wait.
pub(super) struct SseEvents {
    inner: Pin<Box<dyn Stream<Item = Result<SseEvent, EventStreamError<reqwest::Error>>> + Send>>,
    idle: Duration,
    base_url: String,
}

impl SseEvents {
    /// The next event; `None` when the server closed the stream.
    pub(super) async fn next(&mut self) -> Option<Result<SseEvent, LlmError>> {
        match tokio::time::timeout(self.idle, self.inner.next()).await {
            Err(_) => Some(Err(transient(format!(
                "the provider at {} sent nothing for {}s (stream idle timeout)",
                self.base_url,
                self.idle.as_secs_f32()
            )))),
            Ok(None) => None,
            Ok(Some(Ok(event))) => Some(Ok(event)),
            Ok(Some(Err(EventStreamError::Transport(e)))) => Some(Err(transient(format!(
                "the stream from {} was cut ({})",
                self.base_url,
                error_chain(&e)
            )))),
            Ok(Some(Err(e))) => Some(Err(LlmError::Fatal(format!(
                "the provider at {} sent a malformed event stream ({e})",
                self.base_url
            )))),
        }
    }
}

pub(super) fn transient(message: String) -> LlmError {
    LlmError::Transient {
        message,
        retry_after: None,
    }
}

/// The error every adapter returns when a stream ends without its completion marker.
pub(super) fn stream_ended_early() -> LlmError {
    transient("stream ended before completion".to_string())
}

/// Statuses that say "try again later": timeouts, conflicts, rate limits, overload and
/// server errors (501 and 505 are permanent, so they are not retried).
pub(super) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429 | 529)
        || ((500..600).contains(&status) && !matches!(status, 501 | 505))
}

/// OpenAI says `context_length_exceeded` / "maximum context length", vLLM and llama.cpp
/// copy that wording, Anthropic says "prompt is too long".
pub(super) fn is_context_length_message(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("context_length_exceeded")
        || lower.contains("maximum context length")
        || lower.contains("prompt is too long")
        || lower.contains("context window")
}

/// The human-readable part of an error body: `error.message` in both wire formats, else the
/// body itself, shortened.
pub(super) fn provider_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        let error = v.get("error").unwrap_or(v);
        error
            .get("message")
            .and_then(|m| m.as_str())
            .or_else(|| error.as_str())
            .map(str::to_string)
    });
    match from_json {
        Some(message) if !message.trim().is_empty() => excerpt(message.trim()),
        _ if body.trim().is_empty() => "no details given".to_string(),
        _ => excerpt(body.trim()),
    }
}

/// At most 300 characters of `text`, on one line.
fn excerpt(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= 300 {
        one_line
    } else {
        let cut: String = one_line.chars().take(300).collect();
        format!("{cut}…")
    }
}

/// `Retry-After` as delta-seconds or an HTTP date, or OpenAI's `retry-after-ms`.
pub(super) fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = text("retry-after")?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An error with its sources, which is where reqwest keeps the useful part.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Rough token count when a server reports no usage: about four characters a token.
pub(super) fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// One wire format's incremental reader of a streamed response.
pub(super) trait StreamDecoder: Default {
    /// Feed one event's data; `Ok(true)` once the response is complete.
    fn apply(&mut self, data: &str, on_delta: DeltaSink<'_>) -> Result<bool, LlmError>;
    /// The stop (finish) reason has arrived: the answer is whole.
    fn has_stop_reason(&self) -> bool;
    fn finish(self) -> Result<ChatResponse, LlmError>;
}

impl Transport {
    /// Post one request and read the answer: an event stream through `D`, or, from a server
    /// that ignored `stream: true` (or when streaming is off), one JSON body through
    /// `parse_body`. Usage the server left out is estimated.
    pub(super) async fn exchange<D: StreamDecoder>(
        &self,
        path: &str,
        headers: HeaderMap,
        body: &serde_json::Value,
        stream: bool,
        on_delta: DeltaSink<'_>,
        parse_body: fn(&serde_json::Value) -> Result<ChatResponse, LlmError>,
    ) -> Result<ChatResponse, LlmError> {
        let response = self.post(path, headers, body, stream).await?;
        let mut reply = if stream && super::in_band::is_event_stream(&response) {
            let mut events = self.events(response);
            let mut decoder = D::default();
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    // The answer is complete once the stop reason arrived; a connection that
                    // breaks after it must not cost a second, paid call.
                    Err(_) if decoder.has_stop_reason() => break,
                    Err(e) => return Err(e),
                };
                if decoder.apply(&event.data, on_delta)? {
                    break;
                }
            }
            decoder.finish()?
        } else {
            let value = self.json_body(response).await?;
            let reply = parse_body(&value)?;
            if !reply.text.is_empty() {
                on_delta(&reply.text);
            }
            reply
        };
        super::in_band::estimate_missing_usage(&mut reply, body);
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::spec::ProviderKind;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_in_seconds_date_and_milliseconds() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", &later)]), now),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", &past)]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after-ms", "250")]), now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "soon")]), now),
            None
        );
        assert_eq!(parse_retry_after(&HeaderMap::new(), now), None);
    }

    fn transport_with_key(key: &str) -> Transport {
        let mut cfg = ProviderConfig::new(ProviderKind::OpenAi, "m", "http://127.0.0.1:9/v1/");
        cfg.api_key = Some(Secret::new(key));
        Transport::new(&cfg)
    }

    #[test]
    fn statuses_map_to_error_kinds() {
        let t = transport_with_key("sk-abc123");
        for status in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert!(t.status_error(status, None, "").is_transient(), "{status}");
        }
        let auth = t.status_error(
            401,
            None,
            r#"{"error":{"message":"Incorrect API key provided: sk-abc123"}}"#,
        );
        match auth {
            LlmError::Auth(m) => {
                assert!(!m.contains("sk-abc123"), "{m}");
                assert!(m.contains("HTTP 401"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let ctx = t.status_error(
            400,
            None,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#,
        );
        assert!(matches!(ctx, LlmError::ContextLength(_)), "{ctx:?}");
        let anthropic_ctx = t.status_error(
            400,
            None,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
        );
        assert!(matches!(anthropic_ctx, LlmError::ContextLength(_)));
        match t.status_error(400, None, r#"{"error":{"message":"unknown field foo"}}"#) {
            LlmError::Fatal(m) => assert!(m.contains("unknown field foo"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(t.status_error(501, None, ""), LlmError::Fatal(_)));
    }

    #[test]
    fn plain_text_bodies_are_shortened_to_one_line() {
        let long = "x\n".repeat(400);
        let m = provider_message(&long);
        assert!(m.chars().count() <= 301);
        assert!(!m.contains('\n'));
        assert_eq!(provider_message(""), "no details given");
    }

    #[test]
    fn token_estimate_is_never_zero_for_text() {
        assert_eq!(estimate_tokens(0), 0);
        assert_eq!(estimate_tokens(1), 1);
        assert_eq!(estimate_tokens(8), 2);
    }
}
