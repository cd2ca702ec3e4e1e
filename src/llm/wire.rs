//! What the adapters share about the wire: messages with the system prompt first (chat
//! completions and Ollama), which tool a result answers, and tool-call arguments between
//! delm's form (the raw JSON text the model produced) and the wire forms that want a JSON
//! object (Anthropic's `input`, Ollama's `arguments`).

use super::{ChatRequest, Message};
use serde_json::{Value, json};

/// The system prompt as the first message, then each message as `one` maps it (it also
/// gets the messages before it).
pub(super) fn system_first(
    req: &ChatRequest,
    mut one: impl FnMut(&Message, &[Message]) -> Value,
) -> Vec<Value> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for (i, message) in req.messages.iter().enumerate() {
        messages.push(one(message, &req.messages[..i]));
    }
    messages
}

/// The name of the tool whose call `id` an earlier assistant message made.
pub(super) fn called_tool<'m>(earlier: &'m [Message], id: &str) -> Option<&'m str> {
    earlier
        .iter()
        .rev()
        .flat_map(|m| &m.tool_calls)
        .find(|c| c.id == id)
        .map(|c| c.name.as_str())
}

/// Arguments as the object a wire wants. Arguments the model once produced malformed are kept
/// visible to it under `_unparsed_arguments` rather than silently dropped.
pub(super) fn arguments_object(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ => json!({"_unparsed_arguments": arguments}),
    }
}

/// Arguments a wire sent as an object (or a string, or nothing) as raw JSON text; empty
/// input becomes `{}`.
pub(super) fn input_text(input: &Value) -> String {
    match input {
        Value::Null => "{}".to_string(),
        Value::String(raw) if raw.trim().is_empty() => "{}".to_string(),
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip_and_keep_what_is_broken() {
        assert_eq!(arguments_object(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(arguments_object(""), json!({}));
        assert_eq!(
            arguments_object("{not json"),
            json!({"_unparsed_arguments": "{not json"})
        );
        assert_eq!(input_text(&json!({"a": 1})), r#"{"a":1}"#);
        assert_eq!(input_text(&json!("")), "{}");
        assert_eq!(input_text(&Value::Null), "{}");
        assert_eq!(input_text(&json!("{\"raw\":1}")), "{\"raw\":1}");
    }
}
