//! Reading tool arguments from the model's JSON, with errors the model can act on (and
//! never echoing a huge value back in full).

use crate::engine::point_args::clip_echo;
use serde_json::Value;

/// A required, non-empty string argument.
pub(crate) fn required_str<'a>(args: &'a Value, key: &str) -> Result<&'a str, String> {
    match optional_str(args, key)? {
        Some(s) => Ok(s),
        None => Err(format!("missing argument `{key}` (a string)")),
    }
}

/// An optional string argument; an empty string counts as absent.
pub(crate) fn optional_str<'a>(args: &'a Value, key: &str) -> Result<Option<&'a str>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!(
            "argument `{key}` must be a string, got {}",
            clip_echo(&other.to_string())
        )),
    }
}

/// An optional whole number; models sometimes send numbers as strings, which is accepted.
pub(crate) fn optional_usize(args: &Value, key: &str) -> Result<Option<usize>, String> {
    let bad = |got: &dyn std::fmt::Display| {
        format!(
            "argument `{key}` must be a whole number >= 0, got {}",
            clip_echo(&got.to_string())
        )
    };
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(|v| Some(v as usize)).ok_or_else(|| bad(n)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad(&format!("\"{s}\""))),
        Some(other) => Err(bad(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_and_numbers() {
        let args = json!({"path": "src", "empty": " ", "n": 5, "s": "7", "neg": -1, "obj": {}});
        assert_eq!(required_str(&args, "path").unwrap(), "src");
        assert!(
            required_str(&args, "empty")
                .unwrap_err()
                .contains("missing")
        );
        assert!(
            required_str(&args, "n")
                .unwrap_err()
                .contains("must be a string")
        );
        assert_eq!(optional_usize(&args, "n").unwrap(), Some(5));
        assert_eq!(optional_usize(&args, "s").unwrap(), Some(7));
        assert_eq!(optional_usize(&args, "absent").unwrap(), None);
        assert!(optional_usize(&args, "neg").unwrap_err().contains(">= 0"));
        assert!(optional_usize(&args, "obj").is_err());
    }
}
