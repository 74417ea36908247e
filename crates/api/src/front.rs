//! The connection front: ecslab's own HTTP/1.1 server loop in front of the axum app.
//!
//! Why not hyper's server: on a request it cannot parse (a bad version, a request target over
//! 64 KiB, a huge header section, a bad Content-Length) hyper writes its own bodiless error
//! response and offers no hook, so the client gets no RequestId and no envelope. And a front
//! that reads heads itself is where slow clients must be stopped anyway. So every connection is
//! read here: the request head with [`httparse`] (the parser hyper itself uses) under hard
//! limits, then the body, framed by Content-Length or `chunked` (decoded here, also with
//! `httparse`), and only a complete, well-framed request is handed to the axum [`Router`] as a
//! `tower` service. The reply is written back in full with a Content-Length. Since this loop
//! consumes every byte of every request itself, keep-alive and pipelining need no replay and no
//! interception: the next request starts exactly where the last body ended.
//!
//! What is refused, always with the ECS JSON envelope (RequestId, HostId, Code, Message) and
//! then the connection closed (see [`WireError`] for the codes): a head that is not HTTP/1.x
//! (400 / 505), a request target over [`MAX_TARGET_BYTES`] (414), a header section over
//! [`MAX_HEADER_BYTES`] or [`MAX_HEADER_FIELDS`] fields (431), a bad or ambiguous body framing
//! (400, 501 for transfer codings other than chunked), a body over [`MAX_BODY_BYTES`] (413),
//! a head or body that does not arrive in time (408), and a connection beyond the cap (503).
//!
//! Upgrades (the VNC console's WebSocket, `GET /vnc/TOKEN`): the app answers such a request like
//! any other, and when it accepts it the reply is a `101 Switching Protocols` carrying a
//! [`Handoff`] extension. The front then writes the 101 head, stops reading HTTP and hands the
//! socket (with any bytes already read past the head) to the handoff, which owns it until it
//! closes; the connection keeps its slot under `max_connections` for that whole time. A 101
//! without a handoff is never sent.
//!
//! Timeouts ([`FrontOptions`]): a new connection must deliver its whole first head within the
//! header-read timeout; between requests a keep-alive connection may stay silent for the idle
//! timeout, and once the first byte of a head arrives (a blank line counts) the whole head must
//! follow within the header-read timeout. A body must arrive, and a reply be taken, within the
//! body timeout. A connection beyond `max_connections` gets a 503 at once rather than waiting
//! in line: a waiting socket holds the same file descriptor and memory the cap is there to
//! bound, and a 503 is the answer every Alibaba SDK knows to back off from.

use crate::envelope::{self, ApiError, Format};
use crate::wire::malformed;
pub use crate::wire::{WireError, MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADER_FIELDS, MAX_TARGET_BYTES};
use axum::body::Body;
use axum::Router;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri, Version};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::{timeout, timeout_at, Instant};
use tower::ServiceExt;

/// Empty lines tolerated before a request line (RFC 9112 §2.2 asks for at least one).
const MAX_LEADING_EMPTY_BYTES: usize = 64;
/// At most this many refusals (503 at the cap) are being written at once; beyond, a
/// connection is simply closed.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;
/// How long a closing connection is drained so that the client reads the error reply
/// instead of a reset.
const LINGER: Duration = Duration::from_secs(1);

/// Limits of the front (`ecslab serve --header-read-timeout-secs` etc.).
#[derive(Debug, Clone)]
pub struct FrontOptions {
    /// A request head (request line and headers) must arrive within this time from its first
    /// byte, and a new connection must deliver its first head within it.
    pub header_read_timeout: Duration,
    /// A keep-alive connection may stay silent this long between requests.
    pub idle_timeout: Duration,
    /// A request body must arrive, and a reply be taken by the client, within this time.
    pub body_timeout: Duration,
    /// Connections served at once; more get 503 ServiceUnavailable.
    pub max_connections: usize,
}

impl Default for FrontOptions {
    fn default() -> Self {
        FrontOptions {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// A connection taken over after a `101 Switching Protocols` reply.
#[derive(Debug)]
pub struct Upgraded {
    pub stream: TcpStream,
    /// Bytes the client sent after the request head, read before the handoff.
    pub read_ahead: Vec<u8>,
    pub peer: std::net::SocketAddr,
    /// Turns `true` when the server shuts down: the session should close then.
    pub stop: watch::Receiver<bool>,
}

type HandoffFn = Box<dyn FnOnce(Upgraded) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The response extension of an accepted upgrade: what runs the connection after the 101.
/// (Cloneable, as extensions must be; the first taker runs it.)
#[derive(Clone)]
pub struct Handoff(Arc<std::sync::Mutex<Option<HandoffFn>>>);

impl Handoff {
    pub fn new<F, Fut>(run: F) -> Handoff
    where
        F: FnOnce(Upgraded) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let boxed: HandoffFn = Box::new(move |upgraded| Box::pin(run(upgraded)));
        Handoff(Arc::new(std::sync::Mutex::new(Some(boxed))))
    }

    fn take(&self) -> Option<HandoffFn> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }
}

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    Chunked,
}

/// Parse a request head at the start of `buf` (leading empty lines already removed).
/// `Ok(None)`: incomplete, read more; `Ok(Some((len, head)))`: the head is `buf[..len]`.
/// Limits are checked on incomplete heads too, so a head never grows past them.
pub fn parse_head(buf: &[u8]) -> Result<Option<(usize, Head)>, WireError> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    let request_line_limit = MAX_TARGET_BYTES + 64;
    match line_end {
        None if buf.len() > request_line_limit => return Err(WireError::UriTooLong),
        Some(n) if n > request_line_limit => return Err(WireError::UriTooLong),
        Some(n) if buf.len() - n > MAX_HEADER_BYTES + 4 => return Err(WireError::HeadersTooLarge),
        _ => {}
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADER_FIELDS];
    let mut request = httparse::Request::new(&mut fields);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(httparse::Error::TooManyHeaders) => return Err(WireError::HeadersTooLarge),
        Err(e) => return Err(malformed(format!("bad request head ({e})"))),
    };
    let target = request.path.unwrap_or("");
    if target.len() > MAX_TARGET_BYTES {
        return Err(WireError::UriTooLong);
    }
    let method =
        Method::from_bytes(request.method.unwrap_or("").as_bytes()).map_err(|_| malformed("bad method"))?;
    let uri: Uri = target.parse().map_err(|e| malformed(format!("bad request target ({e})")))?;
    let version = match request.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(WireError::VersionNotSupported),
    };
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    for field in request.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| malformed(format!("bad header name {:?}", field.name)))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| malformed(format!("bad value of header {}", field.name)))?;
        headers.append(name, value);
    }
    Ok(Some((len, Head { method, uri, version, headers })))
}

/// A request line whose version httparse refused: another HTTP version is 505, anything else
/// (`HTTQ/1.1`, a missing version) is not HTTP at all.
fn version_error(buf: &[u8]) -> WireError {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(buf);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(b"");
    if version.starts_with(b"HTTP/") {
        WireError::VersionNotSupported
    } else {
        malformed("the request line does not end in an HTTP version")
    }
}

/// The body framing of a request (RFC 9112 §6.3): chunked as the last and only transfer
/// coding, or one Content-Length; both at once, differing lengths or other codings are refused
/// (they are how requests are smuggled past proxies).
pub fn framing(head: &Head) -> Result<Framing, WireError> {
    let codings = header_tokens(head, http::header::TRANSFER_ENCODING);
    let lengths: Vec<&HeaderValue> = head.headers.get_all(http::header::CONTENT_LENGTH).iter().collect();
    if !codings.is_empty() {
        if !lengths.is_empty() {
            return Err(malformed("both Transfer-Encoding and Content-Length"));
        }
        if head.version == Version::HTTP_10 {
            return Err(malformed("Transfer-Encoding in an HTTP/1.0 request"));
        }
        return match codings.as_slice() {
            [only] if only == "chunked" => Ok(Framing::Chunked),
            _ => Err(WireError::TransferCodingNotSupported(codings.join(", "))),
        };
    }
    let mut length = None;
    for value in lengths {
        for item in value.to_str().unwrap_or("x").split(',') {
            let item = item.trim();
            let n: usize = match item.parse() {
                Ok(n) if !item.is_empty() && item.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(malformed(format!("bad Content-Length {item:?}"))),
            };
            if length.is_some_and(|l| l != n) {
                return Err(malformed("conflicting Content-Length values"));
            }
            length = Some(n);
        }
    }
    match length.unwrap_or(0) {
        n if n > MAX_BODY_BYTES => Err(WireError::BodyTooLarge),
        n => Ok(Framing::Length(n)),
    }
}

/// The comma-separated tokens of every `name` header, trimmed, lowercased, empty ones dropped.
fn header_tokens(head: &Head, name: HeaderName) -> Vec<String> {
    head.headers
        .get_all(name)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Does the client want the connection kept after this request?
fn keeps_alive(head: &Head) -> bool {
    let tokens = header_tokens(head, http::header::CONNECTION);
    match head.version {
        Version::HTTP_10 => tokens.iter().any(|t| t == "keep-alive"),
        _ => !tokens.iter().any(|t| t == "close"),
    }
}

/// Serve `app` on `listener` until `shutdown` resolves; then stop accepting, let requests in
/// flight finish (up to 10 s) and close idle connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: FrontOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let options = Arc::new(options);
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let (app, options, stop) = (app.clone(), options.clone(), stop_rx.clone());
                tokio::spawn(async move {
                    Connection { stream, peer, buf: Vec::new(), received: 0, app, options, stop }.run().await;
                    drop(slot);
                });
            }
            Err(_) => {
                let Ok(refusal) = refusals.clone().try_acquire_owned() else { continue };
                let limit = options.max_connections;
                tracing::warn!(%peer, limit, "connection refused: at the connection limit");
                tokio::spawn(async move {
                    let mut stream = stream;
                    let reply = wire_reply(&WireError::TooManyConnections(limit), None).await;
                    let _ = timeout(LINGER, stream.write_all(&reply)).await;
                    linger(stream).await;
                    drop(refusal);
                });
            }
        }
    }
    let _ = stop_tx.send(true);
    let all = u32::try_from(options.max_connections.max(1)).unwrap_or(u32::MAX);
    let _ = timeout(Duration::from_secs(10), slots.acquire_many(all)).await;
    Ok(())
}

/// The head of a `101 Switching Protocols` reply: the app's headers, no body, no framing.
fn switching_head(parts: &http::response::Parts) -> Vec<u8> {
    let mut out = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    for (name, value) in parts.headers.iter() {
        if matches!(name.as_str(), "content-length" | "transfer-encoding" | "content-type") {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The bytes of an error reply in the JSON envelope, with `Connection: close`.
async fn wire_reply(err: &WireError, head: Option<&Head>) -> Vec<u8> {
    let request_id = envelope::new_request_id();
    let host = head
        .and_then(|h| h.headers.get(http::header::HOST))
        .and_then(|h| h.to_str().ok())
        .unwrap_or("ecslab");
    tracing::info!(request_id = %request_id, code = err.code(), message = %err, "request refused at the front");
    let response = envelope::error(&request_id, host, None, &ApiError::Wire(err.clone()), Format::Json);
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    serialize(&parts, &body, false, true)
}

/// A response as HTTP/1.1 bytes: status line, headers (ours for framing), body.
fn serialize(parts: &http::response::Parts, body: &[u8], head_only: bool, close: bool) -> Vec<u8> {
    let status = parts.status;
    let mut out = Vec::with_capacity(body.len() + 512);
    out.extend_from_slice(
        format!("HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or("")).as_bytes(),
    );
    for (name, value) in parts.headers.iter() {
        if matches!(name.as_str(), "content-length" | "transfer-encoding" | "connection" | "date") {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(format!("date: {}\r\n", httpdate::fmt_http_date(SystemTime::now())).as_bytes());
    out.extend_from_slice(if close { b"connection: close\r\n" } else { b"connection: keep-alive\r\n" });
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// Close gracefully: send FIN, then drain what the client still sends for a moment so that
/// the kernel does not answer it with a reset that would destroy the reply in flight.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = timeout(LINGER, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// One client connection and the bytes read from it but not consumed yet.
struct Connection {
    stream: TcpStream,
    /// The client's address, handed to the app with each request (RAM's `acs:SourceIp`).
    peer: std::net::SocketAddr,
    buf: Vec<u8>,
    /// Bytes received so far, blank lines included (to tell silence from a slow head).
    received: u64,
    app: Router,
    options: Arc<FrontOptions>,
    stop: watch::Receiver<bool>,
}

/// How an exchange left the connection.
enum Flow {
    /// Reply written; keep reading requests when `true`.
    Http(bool),
    /// A 101 was written: the handoff takes the connection.
    Upgrade(HandoffFn),
}

/// What ended the wait for a request.
enum Next {
    Request(Head),
    Close,
    Refuse(WireError, Option<Head>),
}

impl Connection {
    async fn run(mut self) {
        let mut first = true;
        loop {
            let next = self.next_head(first).await;
            first = false;
            let head = match next {
                Next::Request(head) => head,
                Next::Close => return,
                Next::Refuse(err, head) => return self.refuse(&err, head.as_ref()).await,
            };
            match self.exchange(head).await {
                Ok(Flow::Http(true)) => continue,
                Ok(Flow::Http(false)) => return linger(self.stream).await,
                Ok(Flow::Upgrade(handoff)) => {
                    let read_ahead = std::mem::take(&mut self.buf);
                    let upgraded =
                        Upgraded { stream: self.stream, read_ahead, peer: self.peer, stop: self.stop };
                    return handoff(upgraded).await;
                }
                Err(None) => return,
                Err(Some((err, head))) => return self.refuse(&err, head.as_ref()).await,
            }
        }
    }

    async fn refuse(mut self, err: &WireError, head: Option<&Head>) {
        let reply = wire_reply(err, head).await;
        let _ = timeout(self.options.body_timeout, self.stream.write_all(&reply)).await;
        linger(self.stream).await;
    }

    /// Read into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        self.received += n as u64;
        Ok(n)
    }

    /// Wait for the next request head: silence is allowed for the idle timeout between
    /// requests; from the first byte (on a new connection: from the accept) the whole head
    /// must arrive within the header-read timeout.
    async fn next_head(&mut self, first: bool) -> Next {
        let options = self.options.clone();
        if !first && self.buf.is_empty() {
            let mut stop = self.stop.clone();
            if *stop.borrow() {
                return Next::Close;
            }
            tokio::select! {
                read = timeout(options.idle_timeout, self.fill()) => match read {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return Next::Close,
                },
                _ = stop.changed() => return Next::Close,
            }
        }
        let deadline = Instant::now() + options.header_read_timeout;
        let secs = options.header_read_timeout.as_secs();
        let received_before = self.received;
        let mut stop = self.stop.clone();
        let read = tokio::select! {
            read = timeout_at(deadline, self.read_head()) => read,
            // Shutting down: a head still on its way is not waited for.
            _ = stop.wait_for(|stopping| *stopping) => return Next::Close,
        };
        match read {
            Ok(next) => next,
            // A new connection that never sent a byte: nothing to answer.
            Err(_) if first && self.received == received_before && self.buf.is_empty() => Next::Close,
            Err(_) => Next::Refuse(WireError::Timeout(secs), None),
        }
    }

    async fn read_head(&mut self) -> Next {
        let mut skipped = 0;
        loop {
            let blank = self.buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
            if blank > 0 {
                self.buf.drain(..blank);
                skipped += blank;
                if skipped > MAX_LEADING_EMPTY_BYTES {
                    return Next::Refuse(malformed("too many empty lines before the request line"), None);
                }
            }
            if !self.buf.is_empty() {
                match parse_head(&self.buf) {
                    Ok(Some((len, head))) => {
                        self.buf.drain(..len);
                        return Next::Request(head);
                    }
                    Ok(None) => {}
                    Err(e) => return Next::Refuse(e, None),
                }
            }
            match self.fill().await {
                Ok(0) if self.buf.is_empty() && skipped == 0 => return Next::Close,
                Ok(0) => {
                    return Next::Refuse(malformed("the connection closed inside the request head"), None)
                }
                Ok(_) => {}
                Err(_) => return Next::Close,
            }
        }
    }

    /// Read the body of `head`, run the request, write the reply. `Ok(flow)`: keep-alive or
    /// close, or an accepted upgrade; `Err(None)`: the connection is gone; `Err(Some(..))`:
    /// refuse and close.
    #[allow(clippy::type_complexity)]
    async fn exchange(&mut self, head: Head) -> Result<Flow, Option<(WireError, Option<Head>)>> {
        let framing = match framing(&head) {
            Ok(f) => f,
            Err(e) => return Err(Some((e, Some(head)))),
        };
        let expects_continue = head
            .headers
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let wants_continue =
            expects_continue && framing != Framing::Length(0) && head.version == Version::HTTP_11;
        if wants_continue && self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err() {
            return Err(None);
        }
        let body_timeout = self.options.body_timeout;
        let body = match timeout(body_timeout, self.read_body(framing)).await {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => return Err(Some((e, Some(head)))),
            Err(_) => return Err(Some((WireError::Timeout(body_timeout.as_secs()), Some(head)))),
        };
        let keep = keeps_alive(&head) && !*self.stop.borrow();
        let head_only = head.method == Method::HEAD;
        let mut request = Request::new(Body::from(body));
        *request.method_mut() = head.method;
        *request.uri_mut() = head.uri;
        *request.version_mut() = head.version;
        *request.headers_mut() = head.headers;
        request.extensions_mut().insert(axum::extract::ConnectInfo(self.peer));
        let response: Response<Body> = match self.app.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        if parts.status == http::StatusCode::SWITCHING_PROTOCOLS {
            // Only a reply that says who takes the connection over switches it.
            let Some(handoff) = parts.extensions.get::<Handoff>().and_then(Handoff::take) else {
                tracing::error!("a 101 reply without a handoff; closing the connection");
                return Err(None);
            };
            return match timeout(body_timeout, self.stream.write_all(&switching_head(&parts))).await {
                Ok(Ok(())) => Ok(Flow::Upgrade(handoff)),
                _ => Err(None),
            };
        }
        let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else { return Err(None) };
        let bytes = serialize(&parts, &body, head_only, !keep);
        match timeout(body_timeout, self.stream.write_all(&bytes)).await {
            Ok(Ok(())) => Ok(Flow::Http(keep)),
            _ => Err(None),
        }
    }

    async fn read_body(&mut self, framing: Framing) -> Result<Vec<u8>, WireError> {
        let eof = || malformed("the connection closed inside the request body");
        match framing {
            Framing::Length(n) => {
                while self.buf.len() < n {
                    if self.fill().await.unwrap_or(0) == 0 {
                        return Err(eof());
                    }
                }
                Ok(self.buf.drain(..n).collect())
            }
            Framing::Chunked => {
                let mut body = Vec::new();
                loop {
                    match decode_chunks(&self.buf, &mut body)? {
                        Some(used) => {
                            self.buf.drain(..used);
                            return Ok(body);
                        }
                        None => {
                            body.clear();
                            if self.fill().await.unwrap_or(0) == 0 {
                                return Err(eof());
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Decode a whole chunked body (chunks, last chunk, trailer section) from the start of `buf`
/// into `body`. `Ok(None)`: incomplete, read more and call again; `Ok(Some(used))`: the body
/// took `buf[..used]`. Trailer fields are read and dropped.
pub fn decode_chunks(buf: &[u8], body: &mut Vec<u8>) -> Result<Option<usize>, WireError> {
    let mut at = 0;
    loop {
        let (used, size) = match httparse::parse_chunk_size(&buf[at..]) {
            Ok(httparse::Status::Complete(pair)) => pair,
            Ok(httparse::Status::Partial) if buf.len() - at > 1024 => {
                return Err(malformed("chunk size line too long"))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(malformed("bad chunk size")),
        };
        at += used;
        let size = usize::try_from(size).map_err(|_| WireError::BodyTooLarge)?;
        if size > MAX_BODY_BYTES || body.len() + size > MAX_BODY_BYTES {
            return Err(WireError::BodyTooLarge);
        }
        if size == 0 {
            break;
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size;
        if &buf[at..at + 2] != b"\r\n" {
            return Err(malformed("chunk data not followed by CRLF"));
        }
        at += 2;
    }
    // Trailer section: field lines up to an empty line.
    let trailer_start = at;
    loop {
        let rest = &buf[at..];
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            if at - trailer_start + rest.len() > MAX_HEADER_BYTES {
                return Err(WireError::HeadersTooLarge);
            }
            return Ok(None);
        };
        at += end + 2;
        if end == 0 {
            return Ok(Some(at));
        }
        if at - trailer_start > MAX_HEADER_BYTES {
            return Err(WireError::HeadersTooLarge);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(usize, Head)>, WireError> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn complete_and_partial_heads() {
        let (len, h) =
            head("POST /?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc").unwrap().unwrap();
        assert_eq!(len, 51);
        assert_eq!((h.method, h.uri.query(), h.version), (Method::POST, Some("a=1"), Version::HTTP_11));
        assert_eq!(
            framing(&head("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n").unwrap().unwrap().1),
            Ok(Framing::Length(3))
        );
        assert!(head("GET /abc").unwrap().is_none());
        assert!(head("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    }

    #[test]
    fn bad_heads_are_refused_with_their_kind() {
        assert_eq!(head("GET / HTTP/2.0\r\n\r\n").unwrap_err(), WireError::VersionNotSupported);
        assert_eq!(head("GET / HTTP/1.7\r\n\r\n").unwrap_err(), WireError::VersionNotSupported);
        assert!(matches!(head("GET / HTTQ/1.1\r\n\r\n"), Err(WireError::Malformed(_))));
        assert_eq!(head("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap_err(), WireError::VersionNotSupported);
        assert!(matches!(head("G\u{1}T / HTTP/1.1\r\n\r\n"), Err(WireError::Malformed(_))));
        assert!(matches!(head("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), Err(WireError::Malformed(_))));
        assert!(matches!(head("\u{0}\u{0}\u{0}\r\n\r\n"), Err(WireError::Malformed(_))));
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_TARGET_BYTES));
        assert_eq!(head(&long).unwrap_err(), WireError::UriTooLong);
        let partial_long = format!("GET /{}", "a".repeat(MAX_TARGET_BYTES + 100));
        assert_eq!(head(&partial_long).unwrap_err(), WireError::UriTooLong);
        let big = format!("GET / HTTP/1.1\r\nX-A: {}\r\n", "v".repeat(MAX_HEADER_BYTES + 10));
        assert_eq!(head(&big).unwrap_err(), WireError::HeadersTooLarge);
        let many: String = (0..=MAX_HEADER_FIELDS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(head(&format!("GET / HTTP/1.1\r\n{many}\r\n")).unwrap_err(), WireError::HeadersTooLarge);
    }

    #[test]
    fn framing_refuses_smuggling_shapes() {
        let f = |extra: &str| framing(&head(&format!("POST / HTTP/1.1\r\n{extra}\r\n")).unwrap().unwrap().1);
        assert_eq!(f("Transfer-Encoding: chunked\r\n"), Ok(Framing::Chunked));
        assert_eq!(f(""), Ok(Framing::Length(0)));
        assert_eq!(f("Content-Length: 5\r\nContent-Length: 5\r\n"), Ok(Framing::Length(5)));
        for bad in [
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: +5\r\n",
            "Content-Length: 5x\r\n",
            "Content-Length: 99999999999999999999999\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        ] {
            assert!(matches!(f(bad), Err(WireError::Malformed(_))), "{bad}");
        }
        assert_eq!(f(&format!("Content-Length: {}\r\n", MAX_BODY_BYTES + 1)), Err(WireError::BodyTooLarge));
        assert!(matches!(
            f("Transfer-Encoding: gzip, chunked\r\n"),
            Err(WireError::TransferCodingNotSupported(_))
        ));
    }

    #[test]
    fn chunked_bodies_decode_across_reads() {
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
        let mut body = Vec::new();
        assert_eq!(decode_chunks(wire, &mut body), Ok(Some(wire.len() - 4)));
        assert_eq!(body, b"Wikipedia");
        for cut in 0..wire.len() - 4 {
            let mut body = Vec::new();
            assert_eq!(decode_chunks(&wire[..cut], &mut body), Ok(None), "cut at {cut}");
        }
        assert!(matches!(decode_chunks(b"zz\r\n", &mut Vec::new()), Err(WireError::Malformed(_))));
        assert!(matches!(decode_chunks(b"2\r\nabcd\r\n", &mut Vec::new()), Err(WireError::Malformed(_))));
        assert_eq!(decode_chunks(b"ffffffffff\r\n", &mut Vec::new()), Err(WireError::BodyTooLarge));
    }
}
