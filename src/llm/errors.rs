//! Reading failures off HTTP: which statuses are worth a retry, what an error body says,
//! how long `Retry-After` asks to wait, and error chains of the HTTP client.

use super::LlmError;
use reqwest::header::{HeaderMap, HeaderValue};
use std::time::{Duration, SystemTime};

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

/// The human-readable part of an error body: `error.message` in both wire formats (a plain
/// `error` string in Ollama's), else the body itself, shortened.
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

/// At most 300 characters of `text`, on one line, `…` marking a cut.
pub(super) fn excerpt(text: &str) -> String {
    crate::text::clip(&crate::text::one_line(text), 300)
}

/// `Retry-After` as delta-seconds or an HTTP date, or OpenAI's `retry-after-ms`.
pub(super) fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let seconds = |secs: f64| {
        (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
    };
    if let Some(wait) = text("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|ms| seconds(ms / 1000.0))
    {
        return Some(wait);
    }
    let value = text("retry-after")?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An error with its sources, which is where reqwest keeps the useful part.
pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // Absurd values do not overflow; the retry policy caps them.
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "1e300")]), now),
            Some(Duration::MAX)
        );
    }

    #[test]
    fn plain_text_bodies_are_shortened_to_one_line() {
        let long = "x\n".repeat(400);
        let m = provider_message(&long);
        assert!(m.chars().count() <= 301);
        assert!(!m.contains('\n'));
        assert_eq!(provider_message(""), "no details given");
        assert_eq!(
            provider_message(r#"{"error":"model not found"}"#),
            "model not found"
        );
    }
}
