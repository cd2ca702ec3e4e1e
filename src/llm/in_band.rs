//! What a successful (HTTP 200) response can still say about failure, or leave out: an
//! error object sent mid-stream or in place of the answer, and usage a server did not
//! report.

use super::errors::{is_context_length_message, transient};
use super::{ChatResponse, LlmError, Usage};
use serde_json::Value;

/// An error object inside a 200 response: `{"error": {...}}` in an OpenAI-style chunk (proxies
/// such as OpenRouter pass upstream failures on this way) or Anthropic's `error` event.
pub(super) fn error_object(error: &Value) -> LlmError {
    let field = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or_default();
    let message = match error {
        Value::String(text) => text.clone(),
        _ if !field("message").is_empty() => field("message").to_string(),
        other => other.to_string(),
    };
    let message: String = message.chars().take(300).collect();
    let kind = format!("{} {}", field("type"), field("code")).to_ascii_lowercase();
    if is_context_length_message(&message) || kind.contains("context_length") {
        LlmError::ContextLength(message)
    } else if kind.contains("authentication") || kind.contains("permission") {
        LlmError::Auth(format!(
            "the provider refused the API key mid-stream ({message}); check the variable that \
             holds it"
        ))
    } else if kind.contains("invalid_request") || kind.contains("not_found") {
        LlmError::Fatal(format!("the provider refused the request: {message}"))
    } else {
        // Overloaded, rate limited, server errors and kinds added later: worth another try.
        transient(format!(
            "the provider reported an error mid-response: {message}"
        ))
    }
}

/// Servers that report no usage (some local ones) still cost tokens: estimate them from the
/// request body and the answer instead of reporting zero.
pub(super) fn estimate_missing_usage(reply: &mut ChatResponse, request_body: &Value) {
    if reply.usage != Usage::default() {
        return;
    }
    let output_chars = reply.text.len()
        + reply
            .tool_calls
            .iter()
            .map(|c| c.name.len() + c.arguments.len())
            .sum::<usize>();
    reply.usage = Usage {
        input_tokens: estimate_tokens(request_body.to_string().chars().count()),
        output_tokens: estimate_tokens(output_chars),
        ..Usage::default()
    };
}

/// Rough token count when a server reports no usage: delm's one estimate.
pub(super) fn estimate_tokens(chars: usize) -> u64 {
    crate::text::estimate_tokens_of_chars(chars) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_objects_map_by_kind() {
        let overloaded = json!({"type": "overloaded_error", "message": "Overloaded"});
        assert!(error_object(&overloaded).is_transient());
        let server = json!({"message": "upstream failed", "code": 502});
        assert!(error_object(&server).is_transient());
        let invalid = json!({"type": "invalid_request_error", "message": "bad field"});
        assert!(matches!(error_object(&invalid), LlmError::Fatal(m) if m.contains("bad field")));
        let auth = json!({"type": "authentication_error", "message": "invalid x-api-key"});
        assert!(matches!(error_object(&auth), LlmError::Auth(_)));
        let long = json!({"type": "invalid_request_error", "message": "prompt is too long: 1 > 0"});
        assert!(matches!(error_object(&long), LlmError::ContextLength(_)));
        let openai = json!({"code": "context_length_exceeded", "message": "too many tokens"});
        assert!(matches!(error_object(&openai), LlmError::ContextLength(_)));
    }

    #[test]
    fn token_estimate_is_never_zero_for_text() {
        assert_eq!(estimate_tokens(0), 0);
        assert_eq!(estimate_tokens(1), 1);
        assert_eq!(estimate_tokens(8), 2);
    }
}
