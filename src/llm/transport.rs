//! HTTP plumbing shared by the provider adapters: posting JSON (through a proxy when the
//! proxy variables say so), reading bodies under the response size cap, turning HTTP
//! failures into [`LlmError`]s, and reading server-sent events or JSON lines with an idle
//! limit. Everything shown in an error goes through [`crate::redact`] and names the endpoint
//! without its credentials.

use super::config::{ProviderConfig, Secret, display_url};
use super::errors::{
    error_chain, excerpt, is_context_length_message, is_retryable_status, parse_retry_after,
    provider_message, transient,
};
use super::proxy::{self, ProxyChoice};
use super::sse::{Framing, JsonLines, MalformedStream, SseDecoder};
use super::{ChatRequest, ChatResponse, DeltaSink, LlmError};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use std::time::{Duration, SystemTime};

/// How much of an error body is read: far more than the 300 characters shown.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// One endpoint: an HTTP client, its base URL, its key and its limits.
#[derive(Debug)]
pub(super) struct Transport {
    client: reqwest::Client,
    /// As configured; credentials in it become basic auth (reqwest moves them there).
    base_url: String,
    /// The base URL as it may be shown: no credentials.
    shown_url: String,
    api_key: Option<Secret>,
    proxy: Option<ProxyChoice>,
    /// A proxy setting the HTTP client cannot use: every call fails with this, once.
    setup_error: Option<String>,
    request_timeout: Duration,
    stream_idle_timeout: Duration,
    max_response_bytes: u64,
}

impl Transport {
    pub(super) fn new(cfg: &ProviderConfig) -> Self {
        if let Some(key) = &cfg.api_key {
            crate::redact::register(key.expose());
        }
        let proxy = proxy::choose(&cfg.base_url, &cfg.proxy);
        // The environment's proxies are never picked up behind our back: `proxy::choose`
        // decided for this endpoint, loopback and NO_PROXY included.
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("delm/", env!("CARGO_PKG_VERSION")))
            .no_proxy();
        let mut setup_error = None;
        if let Some(choice) = &proxy {
            match reqwest::Proxy::all(&choice.url) {
                Ok(p) => builder = builder.proxy(p),
                Err(e) => {
                    setup_error = Some(format!(
                        "{}={} cannot be used as a proxy ({}); fix the variable or add the \
                         provider's host to NO_PROXY",
                        choice.variable,
                        choice.shown,
                        crate::redact::redact(&error_chain(&e))
                    ))
                }
            }
        }
        let client = builder
            .build()
            // With rustls and bundled roots these options cannot make building fail; should a
            // future option do so, the plain default client is the best remaining choice.
            .unwrap_or_default();
        Transport {
            client,
            base_url: cfg.base_url.trim_end_matches('/').to_string(),
            shown_url: display_url(&cfg.base_url),
            api_key: cfg.api_key.clone(),
            proxy,
            setup_error,
            request_timeout: cfg.request_timeout,
            stream_idle_timeout: cfg.stream_idle_timeout,
            max_response_bytes: cfg.max_response_bytes.max(1),
        }
    }

    pub(super) fn api_key(&self) -> Option<&Secret> {
        self.api_key.as_ref()
    }

    /// `Authorization: Bearer <key>` when there is a key (marked sensitive, never logged).
    pub(super) fn bearer_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.api_key
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
        {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        headers
    }

    /// Run one attempt under the request timeout.
    pub(super) async fn within_request_timeout<T>(
        &self,
        call: impl Future<Output = Result<T, LlmError>>,
    ) -> Result<T, LlmError> {
        match tokio::time::timeout(self.request_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(transient(format!(
                "the provider at {} did not finish within {}s (request timeout)",
                self.shown_url,
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
        if let Some(error) = &self.setup_error {
            return Err(LlmError::Fatal(error.clone()));
        }
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
        let text = self.error_body(response).await;
        Err(self.status_error(status.as_u16(), retry_after, &text))
    }

    /// The start of an error body (a hostile server's error page may be any size).
    async fn error_body(&self, response: reqwest::Response) -> String {
        let mut body = self.body(response, false);
        let mut bytes = Vec::new();
        while let Ok(Some(())) = body
            .chunk(|chunk| {
                let room = ERROR_BODY_LIMIT as usize - bytes.len().min(ERROR_BODY_LIMIT as usize);
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            })
            .await
        {
            if bytes.len() as u64 >= ERROR_BODY_LIMIT {
                break;
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// A response body read under the size cap; `streaming` applies the idle limit to every
    /// wait for the next chunk.
    fn body(&self, response: reqwest::Response, streaming: bool) -> Body<'_> {
        Body {
            transport: self,
            response,
            received: 0,
            idle: streaming.then_some(self.stream_idle_timeout),
        }
    }

    /// Read a non-streaming response body as JSON, under the size cap.
    pub(super) async fn json_body(
        &self,
        response: reqwest::Response,
    ) -> Result<serde_json::Value, LlmError> {
        if let Some(length) = response.content_length()
            && length > self.max_response_bytes
        {
            return Err(self.too_large());
        }
        let mut body = self.body(response, false);
        let mut bytes = Vec::new();
        while body
            .chunk(|chunk| bytes.extend_from_slice(chunk))
            .await?
            .is_some()
        {}
        serde_json::from_slice(&bytes).map_err(|e| {
            LlmError::Fatal(format!(
                "the provider at {} sent a response that is not JSON ({e}): {}",
                self.shown_url,
                excerpt(&self.redact(&String::from_utf8_lossy(&bytes)))
            ))
        })
    }

    /// `text` with every registered secret and URL password masked, and the endpoint shown
    /// without its credentials.
    pub(super) fn redact(&self, text: &str) -> String {
        let text = if self.base_url != self.shown_url {
            text.replace(&self.base_url, &self.shown_url)
        } else {
            text.to_string()
        };
        crate::redact::redact_owned(text)
    }

    fn idle_error(&self) -> LlmError {
        transient(format!(
            "the provider at {} sent nothing for {}s (stream idle timeout)",
            self.shown_url,
            self.stream_idle_timeout.as_secs_f32()
        ))
    }

    fn too_large(&self) -> LlmError {
        LlmError::Fatal(format!(
            "the provider at {} sent a response larger than {} bytes, the limit \
             (max_response_bytes = {} in the config file); the reply was dropped and not \
             retried",
            self.shown_url, self.max_response_bytes, self.max_response_bytes
        ))
    }

    fn malformed(&self, cause: MalformedStream) -> LlmError {
        LlmError::Fatal(format!(
            "the provider at {} sent a malformed stream: {}",
            self.shown_url,
            self.redact(&cause.0)
        ))
    }

    /// A failure below HTTP (connect, TLS, a body cut short): worth retrying, except a
    /// request that could not even be built.
    pub(super) fn request_error(&self, err: &reqwest::Error) -> LlmError {
        let chain = self.redact(&error_chain(err));
        let url = &self.shown_url;
        if err.is_builder() {
            return LlmError::Fatal(format!(
                "cannot send a request to {url}: {chain}; check --base-url"
            ));
        }
        if let Some(proxy) = &self.proxy
            && err.is_connect()
        {
            return transient(format!(
                "cannot reach {url} through the proxy {} (from {}): {chain}; check the proxy, \
                 or list the provider's host in NO_PROXY to connect directly",
                proxy.shown, proxy.variable
            ));
        }
        if err.is_connect() {
            return transient(format!(
                "cannot connect to {url} ({chain}); check that the server is running and that \
                 --base-url is right"
            ));
        }
        if err.is_timeout() {
            return transient(format!("the request to {url} timed out ({chain})"));
        }
        let via = self
            .proxy
            .as_ref()
            .map(|p| format!(" through the proxy {}", p.shown))
            .unwrap_or_default();
        transient(format!("the connection to {url}{via} failed ({chain})"))
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
            407 => LlmError::Fatal(format!(
                "the proxy refused the request (HTTP 407: {message}); check the credentials in \
                 {}",
                self.proxy
                    .as_ref()
                    .map_or("the proxy variable", |p| p.variable)
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

/// A response body, chunk by chunk, under the size cap (bytes are counted as they arrive).
struct Body<'t> {
    transport: &'t Transport,
    response: reqwest::Response,
    received: u64,
    idle: Option<Duration>,
}

impl Body<'_> {
    /// Hand the next chunk to `take`; `Ok(None)` at the end of the body.
    async fn chunk<R>(&mut self, take: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, LlmError> {
        let t = self.transport;
        let next = match self.idle {
            Some(idle) => match tokio::time::timeout(idle, self.response.chunk()).await {
                Ok(next) => next,
                Err(_) => return Err(t.idle_error()),
            },
            None => self.response.chunk().await,
        };
        match next {
            Ok(None) => Ok(None),
            Ok(Some(bytes)) => {
                self.received += bytes.len() as u64;
                if self.received > t.max_response_bytes {
                    return Err(t.too_large());
                }
                Ok(Some(take(&bytes)))
            }
            Err(e) if self.idle.is_some() => Err(transient(format!(
                "the stream from {} was cut ({})",
                t.shown_url,
                t.redact(&error_chain(&e))
            ))),
            Err(e) => Err(t.request_error(&e)),
        }
    }
}

/// Events of a streaming response: SSE data, or JSON lines (Ollama's native API).
pub(super) struct Frames<'t> {
    body: Body<'t>,
    framing: Box<dyn Framing + Send>,
    ended: bool,
}

impl Frames<'_> {
    /// The next event's data; `None` when the server closed the stream.
    pub(super) async fn next(&mut self) -> Option<Result<String, LlmError>> {
        loop {
            if let Some(event) = self.framing.pop() {
                return Some(Ok(event));
            }
            if self.ended {
                return None;
            }
            let framing = &mut self.framing;
            let fed = match self.body.chunk(|bytes| framing.feed(bytes)).await {
                Ok(Some(fed)) => fed,
                Ok(None) => {
                    self.ended = true;
                    self.framing.finish()
                }
                Err(e) => return Some(Err(e)),
            };
            if let Err(cause) = fed {
                return Some(Err(self.body.transport.malformed(cause)));
            }
        }
    }
}

/// How a streaming response frames its events, by its content type; `None` for a plain
/// JSON body (a server that ignored `stream: true`).
fn framing_of(response: &reqwest::Response) -> Option<Box<dyn Framing + Send>> {
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_start()
        .to_ascii_lowercase();
    if content_type.starts_with("text/event-stream") {
        Some(Box::new(SseDecoder::default()))
    } else if content_type.starts_with("application/x-ndjson")
        || content_type.starts_with("application/jsonl")
    {
        Some(Box::new(JsonLines::default()))
    } else {
        None
    }
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
    /// `parse_body`. Usage the server left out is estimated; tool calls written into the
    /// text and reasoning blocks are dealt with for every wire alike.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn exchange<D: StreamDecoder>(
        &self,
        path: &str,
        headers: HeaderMap,
        body: &serde_json::Value,
        req: &ChatRequest,
        stream: bool,
        on_delta: DeltaSink<'_>,
        parse_body: fn(&serde_json::Value) -> Result<ChatResponse, LlmError>,
    ) -> Result<ChatResponse, LlmError> {
        let response = self.post(path, headers, body, stream).await?;
        let framing = if stream { framing_of(&response) } else { None };
        let mut reply = match framing {
            Some(framing) => {
                let mut frames = Frames {
                    body: self.body(response, true),
                    framing,
                    ended: false,
                };
                let mut decoder = D::default();
                while let Some(event) = frames.next().await {
                    let event = match event {
                        Ok(event) => event,
                        // The answer is complete once the stop reason arrived; a connection
                        // that breaks after it must not cost a second, paid call.
                        Err(e) if e.is_transient() && decoder.has_stop_reason() => break,
                        Err(e) => return Err(e),
                    };
                    if decoder
                        .apply(&event, on_delta)
                        .map_err(|e| self.in_band(e))?
                    {
                        break;
                    }
                }
                let mut reply = decoder.finish()?;
                super::in_text::normalise(&mut reply, &req.tools);
                reply
            }
            None => {
                let value = self.json_body(response).await?;
                let mut reply = parse_body(&value).map_err(|e| self.in_band(e))?;
                super::in_text::normalise(&mut reply, &req.tools);
                if !reply.text.is_empty() {
                    on_delta(super::Delta::Text(&reply.text));
                }
                reply
            }
        };
        super::in_band::estimate_missing_usage(&mut reply, body);
        Ok(reply)
    }

    /// An error read from a 200 response: same redaction as any other.
    fn in_band(&self, error: LlmError) -> LlmError {
        match error {
            LlmError::Transient {
                message,
                retry_after,
            } => LlmError::Transient {
                message: self.redact(&message),
                retry_after,
            },
            LlmError::ContextLength(m) => LlmError::ContextLength(self.redact(&m)),
            LlmError::Auth(m) => LlmError::Auth(self.redact(&m)),
            LlmError::Fatal(m) => LlmError::Fatal(self.redact(&m)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::config::ProviderKind;

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
    fn a_403_echoing_the_key_in_another_case_is_masked() {
        let t = transport_with_key("sk-mixedCase-0042-key");
        let err = t.status_error(
            403,
            None,
            r#"{"error":{"message":"key SK-MIXEDCASE-0042-KEY may not use this model"}}"#,
        );
        let text = err.to_string();
        assert!(
            !text.to_lowercase().contains("sk-mixedcase-0042-key"),
            "{text}"
        );
        assert!(text.contains("***"), "{text}");
    }

    #[test]
    fn credentials_in_the_base_url_never_show() {
        let cfg = ProviderConfig::new(
            ProviderKind::OpenAi,
            "m",
            "http://alice:url-password-77@127.0.0.1:9/v1",
        );
        let t = Transport::new(&cfg);
        let message = t.redact("error sending request for url (http://alice:url-password-77@127.0.0.1:9/v1/chat/completions)");
        assert!(!message.contains("url-password-77"), "{message}");
        assert!(t.idle_error().to_string().contains("http://127.0.0.1:9/v1"));
        assert!(!t.too_large().to_string().contains("alice"));
    }
}
