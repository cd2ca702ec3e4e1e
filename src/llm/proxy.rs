//! Whether a provider's requests go through a proxy, decided once per endpoint from the
//! proxy variables, the way curl reads them: `https_proxy` for https, `http_proxy` for http,
//! `all_proxy` for either, and `no_proxy` (host names, domain suffixes, IPs, CIDR ranges,
//! optional `:port`, `*` for everything) to go direct. A loopback endpoint is never proxied:
//! a local model server is on this machine, whatever the variables say.

use super::config::{ProxyEnv, display_url, host_and_port};
use std::net::IpAddr;

/// The proxy an endpoint's requests use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProxyChoice {
    /// The proxy URL as given (credentials included: reqwest sends them to the proxy).
    pub url: String,
    /// The proxy as it may be shown: without credentials.
    pub shown: String,
    /// The variable it came from, for messages.
    pub variable: &'static str,
}

/// The proxy for requests to `base_url`, or `None` to connect directly.
pub(super) fn choose(base_url: &str, env: &ProxyEnv) -> Option<ProxyChoice> {
    let (host, port) = host_and_port(base_url);
    let https = base_url
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("https://");
    let port = port.unwrap_or(if https { 443 } else { 80 });
    if is_loopback(host) || excluded(host, port, env.no_proxy.as_deref().unwrap_or("")) {
        return None;
    }
    let (value, variable) = match (https, &env.https, &env.http, &env.all) {
        (true, Some(v), _, _) => (v, "HTTPS_PROXY"),
        (false, _, Some(v), _) => (v, "HTTP_PROXY"),
        (_, _, _, Some(v)) => (v, "ALL_PROXY"),
        _ => return None,
    };
    // `proxy:3128` means an HTTP proxy, as curl takes it.
    let url = if value.contains("://") {
        value.clone()
    } else {
        format!("http://{value}")
    };
    Some(ProxyChoice {
        shown: display_url(&url),
        url,
        variable,
    })
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `no_proxy` lists the host (or a domain above it, or a range holding its IP).
fn excluded(host: &str, port: u16, no_proxy: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    no_proxy
        .split([',', ' '])
        .map(|entry| entry.trim().to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let (Some(ip), Some((net, bits))) = (ip, entry.split_once('/')) {
                return in_range(ip, net, bits);
            }
            let (name, entry_port) = split_port(&entry);
            if entry_port.is_some_and(|p| p != port) {
                return false;
            }
            let name = name
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .trim_end_matches('.');
            match (ip, name.trim_matches(['[', ']']).parse::<IpAddr>()) {
                (Some(ip), Ok(listed)) => ip == listed,
                _ => host == name || host.ends_with(&format!(".{name}")),
            }
        })
}

/// `host:port` → (host, port); an IPv6 address without brackets has no port.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if entry.starts_with('[') {
        return match entry.rsplit_once("]:") {
            Some((host, port)) => (&host[1..], port.parse().ok()),
            None => (entry.trim_matches(['[', ']']), None),
        };
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (entry, None),
    }
}

fn in_range(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(http: &str, https: &str, no_proxy: &str) -> ProxyEnv {
        let set = |v: &str| (!v.is_empty()).then(|| v.to_string());
        ProxyEnv {
            http: set(http),
            https: set(https),
            all: None,
            no_proxy: set(no_proxy),
        }
    }

    #[test]
    fn the_scheme_picks_the_variable() {
        let e = env("http://p1:3128", "http://u:secret-pw@p2:3128", "");
        let http = choose("http://gpu-box:8000/v1", &e).unwrap();
        assert_eq!(
            (http.shown.as_str(), http.variable),
            ("http://p1:3128", "HTTP_PROXY")
        );
        let https = choose("https://api.openai.com/v1", &e).unwrap();
        assert_eq!(https.shown, "http://p2:3128");
        assert_eq!(https.url, "http://u:secret-pw@p2:3128");
        assert_eq!(https.variable, "HTTPS_PROXY");
        // A bare host:port is an HTTP proxy.
        let bare = choose("http://gpu-box/v1", &env("p3:8080", "", "")).unwrap();
        assert_eq!(bare.url, "http://p3:8080");
        // ALL_PROXY covers both schemes.
        let all = ProxyEnv {
            all: Some("http://p4:1".into()),
            ..ProxyEnv::default()
        };
        assert_eq!(
            choose("https://x.example/v1", &all).unwrap().variable,
            "ALL_PROXY"
        );
        assert_eq!(choose("https://x.example/v1", &ProxyEnv::default()), None);
    }

    #[test]
    fn loopback_is_never_proxied() {
        let e = env("http://p:1", "http://p:1", "");
        for url in [
            "http://127.0.0.1:8089/v1",
            "http://localhost:11434/v1",
            "http://127.1.2.3/v1",
            "http://[::1]:8000/v1",
            "https://api.localhost/v1",
            "http://user:pw@127.0.0.1:9/v1",
        ] {
            assert_eq!(choose(url, &e), None, "{url}");
        }
    }

    #[test]
    fn no_proxy_follows_the_usual_conventions() {
        let cases = [
            ("example.com", "https://api.example.com/v1", true),
            (".example.com", "https://api.example.com/v1", true),
            ("*.example.com", "https://example.com/v1", true),
            ("example.com", "https://notexample.com/v1", false),
            ("gpu-box:8000", "http://gpu-box:8000/v1", true),
            ("gpu-box:9000", "http://gpu-box:8000/v1", false),
            ("10.0.0.0/8", "http://10.1.2.3:8000/v1", true),
            ("10.0.0.0/8", "http://11.1.2.3:8000/v1", false),
            ("192.168.1.7", "http://192.168.1.7/v1", true),
            ("fd00::/8", "http://[fd12::1]:8000/v1", true),
            ("a.test, GPU-BOX", "http://gpu-box/v1", true),
            ("*", "https://api.openai.com/v1", true),
        ];
        for (no_proxy, url, direct) in cases {
            let e = env("http://p:1", "http://p:1", no_proxy);
            assert_eq!(
                choose(url, &e).is_none(),
                direct,
                "NO_PROXY={no_proxy} {url}"
            );
        }
    }
}
