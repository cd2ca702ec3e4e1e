//! A board's address and how to authenticate to it.
//!
//! `nats://[user:password@ | token@]host[:port][,host:port...][/RUN-ID]` (or `tls://` to
//! require TLS). Credentials may come from the URL, from the standard NATS variables
//! (`NATS_USER`/`NATS_PASSWORD`, `NATS_TOKEN`) or from a credentials file; TLS roots and a
//! client certificate from files. Every secret is registered with [`crate::redact`] as it
//! is read, and the URL the rest of delm sees ([`BoardUrl::display`]) has none.

use crate::redact;
use std::path::PathBuf;
use std::time::Duration;

/// How long connecting may take before the command fails with a clear message.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed board address (credentials held apart from the servers).
#[derive(Clone, PartialEq, Eq)]
pub struct BoardUrl {
    /// `host:port` of each server, in order.
    servers: Vec<String>,
    tls: bool,
    /// The run named in the URL's path, if any.
    pub run: Option<String>,
    user: Option<(String, String)>,
    token: Option<String>,
}

impl std::fmt::Debug for BoardUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// Whether a command-line argument names a board rather than a session file.
pub fn is_board_url(arg: &str) -> bool {
    let lower = arg.trim().to_ascii_lowercase();
    lower.starts_with("nats://") || lower.starts_with("tls://")
}

impl BoardUrl {
    pub fn parse(text: &str) -> Result<BoardUrl, String> {
        let text = text.trim();
        let bad = |why: &str| {
            Err(format!(
                "`{}` is not a board URL ({why}); write nats://host:4222 or nats://host:4222/RUN-ID",
                redact::redact(text)
            ))
        };
        let lower = text.to_ascii_lowercase();
        let (tls, rest) = if lower.starts_with("nats://") {
            (false, &text["nats://".len()..])
        } else if lower.starts_with("tls://") {
            (true, &text["tls://".len()..])
        } else {
            return bad("it must start with nats:// or tls://");
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut servers = Vec::new();
        for host in hosts.split(',').map(str::trim) {
            if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
                return bad("a server is empty or malformed");
            }
            let with_port = match host.rsplit_once(':') {
                Some((_, port)) if !host.ends_with(']') => {
                    if port.parse::<u16>().is_err() {
                        return bad("the port is not a number");
                    }
                    host.to_string()
                }
                _ => format!("{host}:4222"),
            };
            servers.push(with_port);
        }
        let (mut user, mut token) = (None, None);
        if let Some(info) = userinfo {
            match info.split_once(':') {
                Some((u, p)) => user = Some((decode(u), decode(p))),
                None => token = Some(decode(info)),
            }
        }
        let run = match path.trim_matches('/') {
            "" => None,
            run => {
                super::names::RunNames::new(run)?;
                Some(run.to_string())
            }
        };
        let url = BoardUrl {
            servers,
            tls,
            run,
            user,
            token,
        };
        url.register_secrets();
        Ok(url)
    }

    fn register_secrets(&self) {
        if let Some((_, password)) = &self.user {
            redact::register(password);
        }
        if let Some(token) = &self.token {
            redact::register(token);
        }
    }

    /// The URL as logs, events and messages show it: servers and run, no credentials.
    pub fn display(&self) -> String {
        let scheme = if self.tls { "tls" } else { "nats" };
        let mut out = format!("{scheme}://{}", self.servers.join(","));
        if let Some(run) = &self.run {
            out.push('/');
            out.push_str(run);
        }
        out
    }

    /// The same board, naming `run`.
    pub fn with_run(&self, run: &str) -> BoardUrl {
        BoardUrl {
            run: Some(run.to_string()),
            ..self.clone()
        }
    }

    fn server_urls(&self) -> Vec<String> {
        let scheme = if self.tls { "tls" } else { "nats" };
        self.servers
            .iter()
            .map(|s| format!("{scheme}://{s}"))
            .collect()
    }
}

/// `%40` and friends in URL credentials.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Authentication and TLS files (from flags or the standard NATS variables).
#[derive(Debug, Clone, Default)]
pub struct NatsAuth {
    /// A `.creds` file (JWT and NKey seed), as `nsc` writes it.
    pub creds: Option<PathBuf>,
    /// Root certificates (PEM) to trust for TLS.
    pub ca: Option<PathBuf>,
    /// A client certificate and its key (PEM) for mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Connect to the board's servers; the error names the address (never a credential).
pub async fn connect(
    url: &BoardUrl,
    auth: &NatsAuth,
    name: &str,
) -> Result<async_nats::Client, String> {
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(CONNECT_TIMEOUT)
        // Quick reconnects after a server restart, capped so a long outage costs little.
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100 * attempts as u64).min(2_000))
        })
        .request_timeout(Some(Duration::from_secs(10)));
    // Through the sealed store: secret-looking variables leave the environment at startup.
    let env_secret = |name: &str| crate::secrets::env_var(name).inspect(|v| redact::register(v));
    if let Some((user, password)) = url.user.clone() {
        opts = opts.user_and_password(user, password);
    } else if let Some(token) = url.token.clone().or_else(|| env_secret("NATS_TOKEN")) {
        opts = opts.token(token);
    } else if let (Some(user), Some(password)) = (
        crate::secrets::env_var("NATS_USER"),
        env_secret("NATS_PASSWORD"),
    ) {
        opts = opts.user_and_password(user, password);
    }
    if let Some(creds) = &auth.creds {
        let text = std::fs::read_to_string(creds).map_err(|e| {
            format!(
                "cannot read the NATS credentials file {}: {e}",
                creds.display()
            )
        })?;
        for line in text.lines().filter(|l| l.trim_start().starts_with("SU")) {
            redact::register(line.trim());
        }
        opts = opts
            .credentials(&text)
            .map_err(|e| format!("{} is not a NATS credentials file: {e}", creds.display()))?;
    }
    if url.tls {
        opts = opts.require_tls(true);
    }
    if let Some(ca) = &auth.ca {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    match (&auth.cert, &auth.key) {
        (Some(cert), Some(key)) => {
            opts = opts
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        (None, None) => {}
        _ => return Err("--nats-cert and --nats-key go together".into()),
    }
    opts.connect(url.server_urls()).await.map_err(|e| {
        let why = redact::redact(&e.to_string()).into_owned();
        let hint = if why.contains("authorization") || why.contains("authentication") {
            "; give the board's credentials: nats://user:password@host, nats://TOKEN@host, \
             NATS_USER/NATS_PASSWORD, NATS_TOKEN or --nats-creds FILE"
        } else {
            ""
        };
        format!(
            "cannot connect to the board at {}: {why}{hint}",
            url.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_servers_run_and_credentials_and_never_shows_them() {
        let u = BoardUrl::parse("nats://alice:s3cr%40t-pass@host:4333/20260101-1").unwrap();
        assert_eq!(u.servers, vec!["host:4333"]);
        assert_eq!(u.run.as_deref(), Some("20260101-1"));
        assert_eq!(
            u.user,
            Some(("alice".to_string(), "s3cr@t-pass".to_string()))
        );
        assert_eq!(u.display(), "nats://host:4333/20260101-1");
        assert_eq!(format!("{u:?}"), "nats://host:4333/20260101-1");
        assert!(!redact::redact("err: s3cr@t-pass").contains("s3cr@t-pass"));

        let u = BoardUrl::parse("TLS://tok-123456789@a,b:5000").unwrap();
        assert_eq!(u.servers, vec!["a:4222", "b:5000"]);
        assert!(u.tls && u.run.is_none());
        assert_eq!(u.token.as_deref(), Some("tok-123456789"));
        assert_eq!(u.with_run("r1").display(), "tls://a:4222,b:5000/r1");

        for bad in [
            "http://host",
            "nats://",
            "nats://h:x",
            "nats://h/a.b",
            "nats://h h",
        ] {
            assert!(BoardUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(is_board_url(" nats://x") && is_board_url("tls://x"));
        assert!(!is_board_url("run.jsonl"));
    }
}
