//! Who may talk to the board: bearer tokens (one in the board file, more for workers delm
//! launches), checked on every HTTP request before any MCP processing, and the random
//! values the board hands out (tokens, agent handles).

use std::sync::RwLock;

/// Bytes of randomness in a token (256 bits) and in an agent handle's suffix (64 bits).
const TOKEN_BYTES: usize = 32;
const HANDLE_BYTES: usize = 8;

/// `n` random bytes from the operating system's CSPRNG, as lowercase hex.
fn random_hex(n: usize) -> Result<String, String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| format!("the operating system's random source failed: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A fresh bearer token (`delm_` and 64 hex digits), registered for redaction at once so
/// no output path can show it.
pub fn new_token() -> Result<String, String> {
    let token = format!("delm_{}", random_hex(TOKEN_BYTES)?);
    crate::redact::register(&token);
    Ok(token)
}

/// An unguessable agent handle: `x<ordinal>-<16 hex digits>` (the ordinal keeps handles
/// short to tell apart in the TUI; the suffix makes them impossible to guess).
pub fn new_handle(ordinal: u64) -> Result<String, String> {
    Ok(format!("x{ordinal}-{}", random_hex(HANDLE_BYTES)?))
}

/// Equality that takes the same time wherever the inputs differ (for secrets).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The agent a token speaks for, when delm issued it to a worker it launched: every call
/// made with the token acts as this agent, whatever `agent` the call names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// The agent id on the board (`claude-1`, `codex-2`).
    pub handle: String,
    /// What the worker is (`claude-code`), shown to the human.
    pub name: String,
}

struct Entry {
    token: String,
    seat: Option<Seat>,
}

/// The tokens the board accepts. Every one is registered for redaction.
#[derive(Default)]
pub struct Tokens(RwLock<Vec<Entry>>);

impl Tokens {
    pub fn new(first: String) -> Self {
        Tokens(RwLock::new(vec![Entry {
            token: first,
            seat: None,
        }]))
    }

    pub fn add(&self, token: String) {
        self.add_entry(token, None);
    }

    /// A token that acts only as the agent of `seat`.
    pub fn add_seated(&self, token: String, seat: Seat) {
        self.add_entry(token, Some(seat));
    }

    fn add_entry(&self, token: String, seat: Option<Seat>) {
        crate::redact::register(&token);
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Entry { token, seat });
    }

    /// Stop accepting `token` (a worker that exited). The first token (the board file's)
    /// stays.
    pub fn revoke(&self, token: &str) {
        let mut tokens = self.0.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = tokens.iter().skip(1).position(|t| t.token == token) {
            tokens.remove(i + 1);
        }
    }

    /// Whether an `Authorization` header value carries an accepted bearer token. The scheme
    /// is matched case-insensitively (RFC 7235); every token is compared in constant time.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        self.find(authorization).is_some()
    }

    /// The seat of the accepted token an `Authorization` header carries (`None` for an
    /// unseated token or none accepted).
    pub fn seat_of(&self, authorization: Option<&[u8]>) -> Option<Seat> {
        self.find(authorization).flatten()
    }

    /// `Some(seat)` when the header carries an accepted token.
    fn find(&self, authorization: Option<&[u8]>) -> Option<Option<Seat>> {
        let presented = bearer(authorization?)?;
        let tokens = self.0.read().unwrap_or_else(|e| e.into_inner());
        // Check all of them, so the time taken does not say which one matched.
        tokens.iter().fold(None, |found, t| {
            let hit = constant_time_eq(t.token.as_bytes(), presented);
            if hit && found.is_none() {
                Some(t.seat.clone())
            } else {
                found
            }
        })
    }
}

/// The credentials of `Bearer <token>`, if the value has that form.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || !rest.first()?.is_ascii_whitespace() {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_handles_are_random_and_redacted() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("delm_") && a.len() == 5 + 64, "{a}");
        assert_eq!(crate::redact::redact(&format!("t={a}")), "t=***");
        let h = new_handle(3).unwrap();
        assert!(h.starts_with("x3-") && h.len() == 3 + 16, "{h}");
        assert_ne!(h, new_handle(3).unwrap());
    }

    #[test]
    fn only_an_accepted_bearer_token_passes() {
        let tokens = Tokens::new("delm_first-token-0001".into());
        assert!(tokens.allows(Some(b"Bearer delm_first-token-0001")));
        assert!(tokens.allows(Some(b"bearer  delm_first-token-0001 ")));
        assert!(!tokens.allows(None));
        assert!(!tokens.allows(Some(b"Bearer delm_first-token-0002")));
        assert!(!tokens.allows(Some(b"Bearer delm_first-token-000")));
        assert!(!tokens.allows(Some(b"Basic delm_first-token-0001")));
        assert!(!tokens.allows(Some(b"Bearerdelm_first-token-0001")));
        assert!(!tokens.allows(Some(b"Bearer ")));
        tokens.add("delm_worker-token-0001".into());
        assert!(tokens.allows(Some(b"Bearer delm_worker-token-0001")));
        tokens.revoke("delm_worker-token-0001");
        assert!(!tokens.allows(Some(b"Bearer delm_worker-token-0001")));
        tokens.revoke("delm_first-token-0001");
        assert!(tokens.allows(Some(b"Bearer delm_first-token-0001")));
    }

    #[test]
    fn a_seated_token_names_its_agent() {
        let tokens = Tokens::new("delm_first-token-0001".into());
        let seat = Seat {
            handle: "claude-1".into(),
            name: "claude-code".into(),
        };
        tokens.add_seated("delm_worker-token-0002".into(), seat.clone());
        assert_eq!(
            tokens.seat_of(Some(b"Bearer delm_worker-token-0002")),
            Some(seat)
        );
        assert_eq!(tokens.seat_of(Some(b"Bearer delm_first-token-0001")), None);
        assert!(tokens.allows(Some(b"Bearer delm_first-token-0001")));
        tokens.revoke("delm_worker-token-0002");
        assert_eq!(tokens.seat_of(Some(b"Bearer delm_worker-token-0002")), None);
        assert!(!tokens.allows(Some(b"Bearer delm_worker-token-0002")));
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
