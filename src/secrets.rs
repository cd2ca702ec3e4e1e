//! Which environment variables hold secrets, and the process-local store they are sealed in.
//!
//! Two jobs, one vocabulary:
//! - [`looks_secret`] decides, by a variable's name *and* its value, whether it holds a
//!   secret (API keys, tokens, passwords, DSNs, webhook URLs, URLs with credentials, values
//!   shaped like known tokens or JWTs). The command scrub (`run_command`) drops every such
//!   variable.
//! - [`seal_environment`] runs first thing in `main`, before any thread exists: it moves
//!   every such variable (and the provider key variables) out of the process environment
//!   into a private store, registers each value with [`crate::redact`], and wipes the value
//!   from the process's initial environment block, so a command reading
//!   `/proc/<delm>/environ` finds nothing. Code that needs a sealed value (the provider key)
//!   reads it with [`env_var`].

use std::collections::HashMap;
use std::ffi::{CStr, OsStr, OsString};
use std::sync::OnceLock;

/// Name parts that mark a variable as holding a secret (`AWS_SECRET_ACCESS_KEY`,
/// `GITHUB_TOKEN`, `DB_PASSWORD`, `SSH_AUTH_SOCK`, `CI_JOB_JWT`, `SENTRY_DSN`, ...).
const SECRET_PARTS: &[&str] = &[
    "KEY",
    "KEYS",
    "APIKEY",
    "TOKEN",
    "TOKENS",
    "SECRET",
    "SECRETS",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PASSPHRASE",
    "CREDENTIAL",
    "CREDENTIALS",
    "CREDS",
    "AUTH",
    "COOKIE",
    "SESSION",
    "PRIVATE",
    "PAT",
    "JWT",
    "DSN",
    "WEBHOOK",
    "WEBHOOKS",
    "SK",
    "BEARER",
    "OAUTH",
    "SIGNATURE",
];
/// Substrings that mark a secret even inside a longer word (`MYSECRET`, `APITOKEN`).
const SECRET_SUBSTRINGS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "APIKEY",
    "API_KEY",
    "PRIVATE_KEY",
    "WEBHOOK",
];

/// Value prefixes of well-known token formats (OpenAI/Anthropic `sk-`, Stripe, GitHub,
/// Slack, GitLab, Google, Hugging Face, npm, PyPI).
const TOKEN_PREFIXES: &[&str] = &[
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xoxa-",
    "xoxb-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
    "glpat-",
    "AIza",
    "hf_",
    "npm_",
    "pypi-",
];
/// A token-prefixed value shorter than this is not a token (`sk-SK` is a locale, not a key).
const MIN_TOKEN_LEN: usize = 16;

/// Query parameters that carry a credential (`...?password=...`, `&token=...`).
const SECRET_QUERY_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "token",
    "access_token",
    "auth_token",
    "refresh_token",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "key",
    "sig",
    "signature",
];

/// Proxy variables: they may hold a password, but the HTTP client reads them from the
/// environment, so they are not removed from delm's own environment (only from commands',
/// and their values are registered for redaction).
const PROXY_VARS: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
];

/// Whether `name` is a proxy variable (kept in delm's own environment and in the
/// environment of the CLIs it launches as workers, which reach their API through it).
pub fn is_proxy_var(name: &OsStr) -> bool {
    PROXY_VARS.iter().any(|p| OsStr::new(p) == name)
}

/// The provider key variables that are always sealed, whatever their value looks like.
pub const PROVIDER_KEY_VARS: &[&str] = &["OPENAI_API_KEY", "ANTHROPIC_API_KEY"];

/// Whether a variable holds a secret, by its name or its value.
pub fn looks_secret(name: &OsStr, value: &OsStr) -> bool {
    name_looks_secret(&name.to_string_lossy()) || value_looks_secret(&value.to_string_lossy())
}

/// Whether a variable's name says it holds a secret.
pub fn name_looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let parts: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect();
    // `PWD` is the working directory, `DB_PWD` a password.
    parts.iter().any(|p| SECRET_PARTS.contains(p))
        || (parts.len() > 1 && parts.contains(&"PWD"))
        || SECRET_SUBSTRINGS.iter().any(|s| upper.contains(s))
}

/// Whether a value looks like a secret: a known token format, a JWT, or a URL carrying
/// credentials (`user:pw@`, a long `token@`, `?password=` / `&token=`).
pub fn value_looks_secret(value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() {
        return false;
    }
    let one_word = !value.contains(char::is_whitespace);
    if one_word
        && value.len() >= MIN_TOKEN_LEN
        && TOKEN_PREFIXES.iter().any(|p| value.starts_with(p))
    {
        return true;
    }
    if one_word && is_aws_key_id(value) {
        return true;
    }
    if one_word && is_jwt(value) {
        return true;
    }
    url_with_credentials(value)
}

/// `AKIA` / `ASIA` followed by 16 upper-case letters or digits.
fn is_aws_key_id(value: &str) -> bool {
    value.len() == 20
        && (value.starts_with("AKIA") || value.starts_with("ASIA"))
        && value[4..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Three base64url segments, the first two JSON objects (`eyJ` is base64 of `{"`).
fn is_jwt(value: &str) -> bool {
    let segments: Vec<&str> = value.split('.').collect();
    let base64url = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '=')
    };
    segments.len() == 3
        && segments[0].starts_with("eyJ")
        && segments[1].starts_with("eyJ")
        && segments[0].len() >= 10
        && segments.iter().all(|s| base64url(s))
}

/// A URL whose user part holds a password (`user:pw@`) or a token (a long `key@`, as in a
/// Sentry DSN), or whose query carries a credential parameter.
fn url_with_credentials(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && (userinfo.contains(':') || looks_random(userinfo))
    {
        return true;
    }
    let Some((_, query)) = rest.split_once('?') else {
        return false;
    };
    query.split(['&', ';']).any(|pair| {
        let key = pair.split('=').next().unwrap_or("").to_ascii_lowercase();
        pair.contains('=') && SECRET_QUERY_KEYS.contains(&key.as_str())
    })
}

/// A user name that is really a key: long, with letters and digits (`git@` is not).
fn looks_random(s: &str) -> bool {
    s.len() >= 12
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars().any(|c| c.is_ascii_alphabetic())
}

/// `--api-key-env VAR` (or `--api-key-env=VAR`) from the command line, read before clap
/// parses it so the variable can be sealed before any thread starts.
pub fn api_key_env_from_args(args: impl IntoIterator<Item = OsString>) -> Option<String> {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy().into_owned();
        if arg == "--" {
            return None;
        }
        if arg == "--api-key-env" {
            return args.next().map(|v| v.to_string_lossy().into_owned());
        }
        if let Some(v) = arg.strip_prefix("--api-key-env=") {
            return Some(v.to_string());
        }
    }
    None
}

static SEALED: OnceLock<HashMap<String, String>> = OnceLock::new();

/// A variable's value: from the sealed store first (secrets removed from the environment at
/// startup), then the live environment. Empty or unset: `None`.
pub fn env_var(name: &str) -> Option<String> {
    SEALED
        .get()
        .and_then(|s| s.get(name).cloned())
        .or_else(|| std::env::var(name).ok())
        .filter(|v| !v.is_empty())
}

/// Move every secret variable out of the process environment (see the module docs).
/// `extra` names variables to seal whatever they look like (`--api-key-env`). Returns how
/// many were sealed. Later calls do nothing (the store is written once).
///
/// # Safety
///
/// Must be called while the process has exactly one thread (first thing in `main`, before
/// the async runtime, the logger or anything else starts a thread): it changes the process
/// environment and overwrites the bytes of its initial environment block, which no other
/// thread may be reading.
pub unsafe fn seal_environment(extra: &[String]) -> usize {
    if SEALED.get().is_some() {
        return 0;
    }
    let vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let named = |name: &str| PROVIDER_KEY_VARS.contains(&name) || extra.iter().any(|e| e == name);
    let key_values: Vec<String> = vars
        .iter()
        .filter(|(n, _)| named(&n.to_string_lossy()))
        .map(|(_, v)| v.to_string_lossy().trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    let mut store = HashMap::new();
    for (name, value) in &vars {
        let name_text = name.to_string_lossy().into_owned();
        let value_text = value.to_string_lossy().into_owned();
        // Any variable holding a provider key's value is that key under another name.
        let holds_key = key_values.iter().any(|k| value_text.trim() == k);
        if !(named(&name_text) || holds_key || looks_secret(name, value)) {
            continue;
        }
        crate::redact::register(&value_text);
        if PROXY_VARS.contains(&name_text.as_str()) {
            continue;
        }
        // SAFETY: the caller guarantees a single thread; see the function's contract.
        unsafe { wipe_initial_value(&name_text) };
        // SAFETY: single-threaded (the caller's contract): no other thread reads or writes
        // the environment while it changes.
        unsafe { std::env::remove_var(name) };
        store.insert(name_text, value_text);
    }
    let count = store.len();
    let _ = SEALED.set(store);
    count
}

unsafe extern "C" {
    static mut environ: *mut *mut libc::c_char;
}

/// Overwrite the value of `name` in the process's environment block with NUL bytes.
///
/// Removing a variable (`unsetenv`) only drops its pointer from `environ`: the string stays
/// where the kernel put it at exec time, and `/proc/<pid>/environ` shows that memory. So
/// the bytes themselves are cleared first.
///
/// # Safety
///
/// Single-threaded callers only; the strings `environ` points at must be writable (they are:
/// the initial block is on the process's stack, and `setenv` copies are heap strings).
unsafe fn wipe_initial_value(name: &str) {
    // SAFETY: `environ` is the C library's NULL-terminated array of NUL-terminated strings;
    // it is read once here, with no other thread running.
    let mut entry = unsafe { environ };
    if entry.is_null() {
        return;
    }
    loop {
        // SAFETY: `entry` walks the array up to its NULL terminator.
        let ptr = unsafe { *entry };
        if ptr.is_null() {
            return;
        }
        // SAFETY: every entry is a NUL-terminated string.
        let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
        let len = bytes.len();
        if bytes.len() > name.len()
            && bytes.starts_with(name.as_bytes())
            && bytes[name.len()] == b'='
        {
            let value_at = name.len() + 1;
            // SAFETY: the range lies inside this entry's string (before its NUL).
            unsafe { std::ptr::write_bytes(ptr.add(value_at), 0, len - value_at) };
        }
        // SAFETY: not past the terminator (checked above).
        entry = unsafe { entry.add(1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, value: &str) -> bool {
        looks_secret(OsStr::new(name), OsStr::new(value))
    }

    #[test]
    fn names_that_hold_secrets() {
        for name in [
            "OPENAI_API_KEY",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
            "DB_PWD",
            "CI_JOB_JWT",
            "SENTRY_DSN",
            "SLACK_WEBHOOK_URL",
            "STRIPE_SK",
            "SSH_AUTH_SOCK",
            "MYSECRET",
            "GITHUB_PAT",
        ] {
            assert!(secret(name, "x"), "{name} should be secret");
        }
        for name in [
            "PATH",
            "PWD",
            "OLDPWD",
            "HOME",
            "KEYBOARD_LAYOUT",
            "LANG",
            "TERM",
            "SERVICE_URL",
        ] {
            assert!(!secret(name, "plain"), "{name} should not be secret");
        }
    }

    #[test]
    fn values_that_are_secrets() {
        for value in [
            "sk-proj-abcdefghijklmnop0123",
            "sk_live_51HxyzABCDEFGHIJKL",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "github_pat_11AAAAAAA0abcdefghij",
            "xoxb-1234567890-abcdefghij",
            "glpat-abcdefghij0123456789",
            "AKIAIOSFODNN7EXAMPLE",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
            "postgres://app:hunter2@db/app",
            "https://0123456789abcdef0123@o1.ingest.sentry.io/42",
            "postgres://db.internal/app?sslmode=require&password=hunter2",
            "https://hooks.example.com/x?token=abc",
        ] {
            assert!(value_looks_secret(value), "{value} should be secret");
        }
        for value in [
            "sk_SK.UTF-8",
            "/usr/bin:/bin",
            "https://example.com/x",
            "ssh://git@github.com/o/r.git",
            "https://example.com/?q=key",
            "sk-",
            "a.b.c",
        ] {
            assert!(!value_looks_secret(value), "{value} should not be secret");
        }
        // By value, whatever the name.
        assert!(secret("DATABASE_URL2", "postgres://h/db?password=x"));
        assert!(secret("STRIPE", "sk_live_0123456789abcdef"));
    }

    #[test]
    fn api_key_env_is_read_from_argv() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            api_key_env_from_args(args(&["delm", "run", "q", "--api-key-env", "MY_KEY"])),
            Some("MY_KEY".into())
        );
        assert_eq!(
            api_key_env_from_args(args(&["delm", "--api-key-env=K2", "run"])),
            Some("K2".into())
        );
        assert_eq!(
            api_key_env_from_args(args(&["delm", "run", "--", "--api-key-env", "X"])),
            None
        );
        assert_eq!(api_key_env_from_args(args(&["delm", "run"])), None);
    }
}
