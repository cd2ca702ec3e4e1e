//! Redaction of secrets from anything that leaves the process: events, tool outputs,
//! provider errors, log lines.
//!
//! Secrets are registered once, at startup, as they are read (API keys, bearer tokens); from
//! then on [`redact`] replaces every occurrence of any of them, case-insensitively and also
//! when whitespace was inserted between its characters (a key wrapped by `fold`, or printed
//! across lines), plus the password part of any URL with credentials
//! (`https://user:pw@host` → `https://user:***@host`). The registry is process-wide because
//! secrets are: every output path must see the same set.

use regex::Regex;
use std::borrow::Cow;
use std::sync::{LazyLock, RwLock};

/// What a redacted secret becomes.
pub const MASK: &str = "***";

/// Values shorter than this are not registered: masking a 3-character "key" would mangle
/// ordinary text and protects nothing.
const MIN_SECRET_LEN: usize = 8;

struct Registry {
    secrets: Vec<String>,
    /// One alternation of every secret (case-insensitive, whitespace-tolerant); `None`
    /// while no secret is registered.
    pattern: Option<Regex>,
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| {
    RwLock::new(Registry {
        secrets: Vec::new(),
        pattern: None,
    })
});

/// `scheme://user:password@` (the password is what gets masked).
static URL_CREDENTIALS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)([^\s@/]+)@").expect("a valid pattern")
});

/// Register a secret value: from now on [`redact`] masks it everywhere.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if reg.secrets.iter().any(|s| s == secret) {
        return;
    }
    reg.secrets.push(secret.to_string());
    // Longest first, so a secret that contains another is masked whole.
    reg.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let alternation: Vec<String> = reg.secrets.iter().map(|s| tolerant(s)).collect();
    reg.pattern = Regex::new(&format!("(?i)(?:{})", alternation.join("|"))).ok();
}

/// A pattern matching `secret` with any whitespace between its characters.
fn tolerant(secret: &str) -> String {
    let mut out = String::with_capacity(secret.len() * 6);
    for (i, c) in secret.chars().enumerate() {
        if i > 0 {
            out.push_str(r"\s*");
        }
        out.push_str(&regex::escape(c.encode_utf8(&mut [0u8; 4])));
    }
    out
}

/// Whether any secret is registered (callers on hot paths may skip work when none is).
pub fn has_secrets() -> bool {
    REGISTRY.read().map(|r| r.pattern.is_some()).unwrap_or(true)
}

/// `text` with every registered secret and every URL password masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
        if let Some(pattern) = &reg.pattern
            && pattern.is_match(&out)
        {
            out = Cow::Owned(pattern.replace_all(&out, MASK).into_owned());
        }
    }
    if out.contains("://") && out.contains('@') {
        let replaced = URL_CREDENTIALS.replace_all(&out, format!("${{1}}{MASK}@"));
        if let Cow::Owned(s) = replaced {
            out = Cow::Owned(s);
        }
    }
    out
}

/// [`redact`] into an owned string.
pub fn redact_owned(text: String) -> String {
    match redact(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_registered_secrets_in_any_case_and_across_whitespace() {
        register("sk-test-REDACT-0123456789");
        assert_eq!(redact("key sk-test-REDACT-0123456789 end"), "key *** end");
        assert_eq!(redact("KEY SK-TEST-REDACT-0123456789"), "KEY ***");
        assert_eq!(redact("sk-test-RED\nACT-01234 56789!"), "***!");
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_values_are_not_registered() {
        register("abc");
        assert_eq!(redact("abc abc"), "abc abc");
    }

    #[test]
    fn masks_url_passwords() {
        assert_eq!(
            redact("GET http://user:pw123@127.0.0.1:8080/v1 failed"),
            "GET http://user:***@127.0.0.1:8080/v1 failed"
        );
        assert_eq!(
            redact("postgres://app:s3cr%40t@db/x?sslmode=require"),
            "postgres://app:***@db/x?sslmode=require"
        );
        // No password, nothing to mask.
        assert_eq!(redact("https://user@host/"), "https://user@host/");
    }
}
