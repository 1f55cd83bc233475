//! Our HTTP/1.1 server: `std::net`, one thread per connection, `httparse` for request
//! heads, timeouts on every socket.
//!
//! It exists because tiny_http strands connections behind long-lived streams and sets
//! no socket timeouts (README, design notes). A handler turns a [`Request`] into a
//! [`Response`]; small answers keep the connection alive, a streaming body takes the
//! socket over and closes it when done. It knows nothing about cameras or frames: the
//! relay and the simulated camera are both built on it.

use crate::sync::Locked;
use serde_json::json;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// A request head larger than this gets 431.
pub const MAX_HEAD_BYTES: usize = 16 << 10;
/// Most headers one request may carry.
pub const MAX_HEADERS: usize = 64;
/// A request body larger than this gets 413 (ours are small JSON commands).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// An HTTP request method; the relay serves these four and answers 405 to the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Options,
    Other,
}

impl Method {
    fn parse(name: &str) -> Method {
        match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Options => "OPTIONS",
            Method::Other => "other",
        }
    }
}

/// An HTTP status code with its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(u16);

impl Status {
    pub const OK: Status = Status(200);
    pub const NO_CONTENT: Status = Status(204);
    pub const FOUND: Status = Status(302);
    pub const BAD_REQUEST: Status = Status(400);
    pub const UNAUTHORIZED: Status = Status(401);
    pub const FORBIDDEN: Status = Status(403);
    pub const NOT_FOUND: Status = Status(404);
    pub const METHOD_NOT_ALLOWED: Status = Status(405);
    pub const REQUEST_TIMEOUT: Status = Status(408);
    pub const GONE: Status = Status(410);
    pub const UNSUPPORTED_MEDIA_TYPE: Status = Status(415);
    pub const LENGTH_REQUIRED: Status = Status(411);
    pub const CONTENT_TOO_LARGE: Status = Status(413);
    pub const MISDIRECTED: Status = Status(421);
    pub const TOO_MANY_REQUESTS: Status = Status(429);
    pub const HEADERS_TOO_LARGE: Status = Status(431);
    pub const BAD_GATEWAY: Status = Status(502);
    pub const SERVICE_UNAVAILABLE: Status = Status(503);
    pub const GATEWAY_TIMEOUT: Status = Status(504);

    pub fn code(self) -> u16 {
        self.0
    }

    fn reason(self) -> &'static str {
        match self.0 {
            200 => "OK",
            204 => "No Content",
            302 => "Found",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            410 => "Gone",
            411 => "Length Required",
            413 => "Content Too Large",
            415 => "Unsupported Media Type",
            421 => "Misdirected Request",
            429 => "Too Many Requests",
            431 => "Request Header Fields Too Large",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "Status",
        }
    }
}

/// How much a server serves at once and how long it waits for its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// A connection that sends no complete request for this long is closed, however
    /// slowly it trickles bytes in.
    pub request_timeout: Duration,
    /// A client that takes no bytes for this long is dropped.
    pub write_timeout: Duration,
}

/// The kernel send buffer of a streaming connection. Left to autotuning it grows to
/// megabytes, and a client that stops reading is only noticed once that is full: about
/// 40 s at a THETA's rate. This holds a few frames, so a stalled client is found within
/// the write timeout. (Linux doubles the value for its own bookkeeping.)
pub const STREAM_SEND_BUFFER_BYTES: usize = 256 << 10;

/// How long accepting waits for a connection closed to make room to end.
const EVICTION_WAIT: Duration = Duration::from_millis(200);

/// A parsed request with its body read.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The path, without the query string, not percent-decoded.
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
    /// Whether the client lets the connection serve another request after this one.
    pub keep_alive: bool,
}

impl Request {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of a query parameter (not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then_some(v)
        })
    }
}

/// A body that takes the socket over: it writes for as long as it likes, then the connection closes.
pub type StreamBody = Box<dyn FnOnce(&mut TcpStream) -> io::Result<()> + Send>;

pub enum Body {
    Bytes(Cow<'static, [u8]>),
    /// Bytes shared with others (a frame): written from the shared buffer, never copied.
    Shared(Arc<[u8]>),
    Stream(StreamBody),
}

pub struct Response {
    pub status: Status,
    pub headers: Vec<(Cow<'static, str>, String)>,
    pub body: Body,
    /// Held until the response is written whole (or fails): shares of a budget.
    held: Vec<Box<dyn Send>>,
}

impl Response {
    pub fn bytes(status: Status, content_type: &str, body: impl Into<Cow<'static, [u8]>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.to_string())],
            body: Body::Bytes(body.into()),
            held: Vec::new(),
        }
    }

    /// A body shared with others, such as a frame every viewer also holds.
    pub fn shared(status: Status, content_type: &str, body: Arc<[u8]>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.to_string())],
            body: Body::Shared(body),
            held: Vec::new(),
        }
    }

    pub fn json(status: Status, value: &serde_json::Value) -> Self {
        Self::bytes(status, "application/json", value.to_string().into_bytes())
    }

    /// `{"error": message}` with the status; the message is the sentence a user reads.
    pub fn error(status: Status, message: impl Into<String>) -> Self {
        Self::json(status, &json!({ "error": message.into() }))
    }

    pub fn stream(content_type: &str, body: StreamBody) -> Self {
        Response {
            status: Status::OK,
            headers: vec![("Content-Type".into(), content_type.to_string())],
            body: Body::Stream(body),
            held: Vec::new(),
        }
    }

    /// Keeps `share` until this response has been written, a stream's included.
    pub fn holding(mut self, share: impl Send + 'static) -> Self {
        self.held.push(Box::new(share));
        self
    }

    pub fn redirect(location: &str) -> Self {
        Self::bytes(Status::FOUND, "text/plain", &b""[..]).with_header("Location", location)
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> Response;
}

impl<F: Fn(Request) -> Response + Send + Sync + 'static> Handler for F {
    fn handle(&self, request: Request) -> Response {
        self(request)
    }
}

/// A running server; [`Server::stop`] (or dropping it) stops accepting.
pub struct Server {
    addr: SocketAddr,
    stopped: Arc<AtomicBool>,
    accept_thread: std::sync::Mutex<Option<thread::JoinHandle<()>>>,
}

impl Server {
    /// Binds `addr` and serves each connection on its own thread, within `limits`.
    pub fn start(
        addr: impl ToSocketAddrs,
        limits: Limits,
        handler: Arc<dyn Handler>,
    ) -> io::Result<Server> {
        Self::start_counted(addr, limits, Arc::default(), handler)
    }

    /// [`Server::start`], keeping the number of connections served now in `open`
    /// (for the handler's own reports).
    pub fn start_counted(
        addr: impl ToSocketAddrs,
        limits: Limits,
        open: Arc<AtomicUsize>,
        handler: Arc<dyn Handler>,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stopped = Arc::new(AtomicBool::new(false));
        let accept = AcceptLoop {
            listener,
            handler,
            stopped: stopped.clone(),
            open,
            waiting: Arc::default(),
            limits,
        };
        let accept_thread = thread::Builder::new()
            .name(format!("http-accept-{}", addr.port()))
            .spawn(move || accept.run())?;
        Ok(Server {
            addr,
            stopped,
            accept_thread: std::sync::Mutex::new(Some(accept_thread)),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the accept loop still runs.
    pub fn is_accepting(&self) -> bool {
        self.accept_thread
            .locked()
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }

    /// Stops accepting connections and closes the listening socket (the port is free
    /// when this returns); connections already open finish on their own.
    pub fn stop(&self) {
        let handle = self.accept_thread.locked().take();
        let Some(handle) = handle else { return };
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the blocking accept so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = handle.join();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

struct AcceptLoop {
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    stopped: Arc<AtomicBool>,
    /// Connections being served now.
    open: Arc<AtomicUsize>,
    waiting: Arc<Waiting>,
    limits: Limits,
}

/// Connections waiting for a request (their first, or the next on a kept-alive
/// connection), with when they began to wait: the ones to close when the cap is reached.
/// Viewers and requests being answered are never in it.
///
/// It holds raw descriptors, not duplicates (no extra system calls or descriptors per
/// request): a connection's thread leaves the registry, under its lock, before its
/// socket can close, and eviction shuts a socket down under the same lock, so a
/// descriptor here is always still that connection's.
#[derive(Default)]
struct Waiting {
    next_id: AtomicU64,
    connections: std::sync::Mutex<HashMap<u64, (Instant, RawFd)>>,
}

impl Waiting {
    /// Registers `stream` as waiting until the guard drops, which must be before the
    /// stream closes (also when unwinding: declare the guard after the stream).
    fn begin(&self, stream: &TcpStream) -> WaitingGuard<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, (Instant::now(), stream.as_raw_fd()));
        WaitingGuard { waiting: self, id }
    }

    /// Closes the connection that has waited longest; `false` when none waits.
    fn evict_oldest(&self) -> bool {
        let mut connections = self.lock();
        let oldest = connections
            .iter()
            .min_by_key(|(_, (since, _))| *since)
            .map(|(id, _)| *id);
        match oldest.and_then(|id| connections.remove(&id)) {
            Some((_, fd)) => {
                // Its thread's read returns at once and the thread ends. The lock is
                // still held, so the socket cannot have closed (see above).
                // SAFETY: shutdown takes no pointers; `fd` is an open socket.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Instant, RawFd)>> {
        self.connections.locked()
    }
}

/// A connection's place in [`Waiting`].
struct WaitingGuard<'a> {
    waiting: &'a Waiting,
    id: u64,
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.waiting.lock().remove(&self.id);
    }
}

/// Counts one open connection while alive.
struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AcceptLoop {
    fn run(self) {
        for conn in self.listener.incoming() {
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            let Ok(mut stream) = conn else {
                // Out of file descriptors and the like: back off instead of spinning.
                thread::sleep(Duration::from_millis(50));
                continue;
            };
            // At the cap, the connection that has waited longest without a complete
            // request makes room: idle sockets cannot crowd out viewers and requests.
            let max = self.limits.max_connections;
            if self.open.fetch_add(1, Ordering::SeqCst) >= max {
                if !self.waiting.evict_oldest() {
                    self.open.fetch_sub(1, Ordering::SeqCst);
                    refuse_busy(&mut stream);
                    continue;
                }
                // Let the evicted thread end first, so threads stay within the cap.
                let deadline = Instant::now() + EVICTION_WAIT;
                while self.open.load(Ordering::SeqCst) > max && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            let open = OpenConnection(self.open.clone());
            let handler = self.handler.clone();
            let limits = self.limits;
            let waiting = self.waiting.clone();
            let spawned = thread::Builder::new()
                .name("http-conn".into())
                .spawn(move || {
                    let _open = open;
                    serve_connection(stream, &*handler, limits, &waiting)
                });
            if spawned.is_err() {
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Answers 503 without reading the request, from the accept thread: the answer is small
/// enough for the socket buffer, and the short timeout bounds the rest.
fn refuse_busy(stream: &mut TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = write_response(
        stream,
        false,
        Response::error(
            Status::SERVICE_UNAVAILABLE,
            "The server is busy; try again shortly.",
        ),
        false,
    );
    let _ = stream.shutdown(Shutdown::Both);
}

fn serve_connection(
    mut stream: TcpStream,
    handler: &dyn Handler,
    limits: Limits,
    waiting: &Waiting,
) {
    let Ok(peer) = stream.peer_addr() else { return };
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    loop {
        let request = {
            let _waiting = waiting.begin(&stream);
            read_request(&mut stream, &mut buf, peer, limits.request_timeout)
        };
        let request = match request {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(reject) => {
                let _ = write_response(&mut stream, false, reject, false);
                close_gracefully(&mut stream);
                return;
            }
        };
        let keep_alive = request.keep_alive;
        let head_only = request.method == Method::Head;
        let response = handler.handle(request);
        match write_response(&mut stream, head_only, response, keep_alive) {
            Ok(true) => continue,
            _ => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Reads one request. `Ok(None)`: the client closed or went idle between requests.
/// `Err(response)`: a malformed request, answered and then the connection closed.
fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    peer: SocketAddr,
    timeout: Duration,
) -> Result<Option<Request>, Response> {
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + timeout;
    loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(buf) {
                Ok(httparse::Status::Complete(head_len)) if head_len > MAX_HEAD_BYTES => {
                    return Err(Response::error(
                        Status::HEADERS_TOO_LARGE,
                        "The request head is larger than 16 KiB.",
                    ));
                }
                Ok(httparse::Status::Complete(head_len)) => {
                    let request = build_request(&req, peer)?;
                    let body_len = content_length(&request)?;
                    buf.drain(..head_len);
                    let expects_continue = request
                        .header("expect")
                        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
                    if expects_continue && buf.len() < body_len {
                        // The client waits for this before sending the body.
                        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    let body = read_body(stream, buf, body_len, deadline)?;
                    return Ok(Some(Request { body, ..request }));
                }
                Ok(httparse::Status::Partial) => {
                    if buf.len() > MAX_HEAD_BYTES {
                        return Err(Response::error(
                            Status::HEADERS_TOO_LARGE,
                            "The request head is larger than 16 KiB.",
                        ));
                    }
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(Response::error(
                        Status::HEADERS_TOO_LARGE,
                        "The request has too many headers.",
                    ));
                }
                Err(_) => {
                    return Err(Response::error(
                        Status::BAD_REQUEST,
                        "The request is not valid HTTP/1.1.",
                    ));
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return timed_out(buf);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return if buf.is_empty() {
                    Ok(None)
                } else {
                    Err(Response::error(
                        Status::BAD_REQUEST,
                        "The request ended before its head did.",
                    ))
                };
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return timed_out(buf),
        }
    }
}

/// Closes after an error answer without discarding it: closing a socket with unread
/// input sends a reset, which can destroy the answer before the client reads it. So stop
/// writing, then read and drop what the client is still sending, for a bounded time.
fn close_gracefully(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < MAX_BODY_BYTES && Instant::now() < deadline {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// An idle keep-alive connection just closes; a half-sent request gets 408.
fn timed_out(buf: &[u8]) -> Result<Option<Request>, Response> {
    if buf.is_empty() {
        Ok(None)
    } else {
        Err(Response::error(
            Status::REQUEST_TIMEOUT,
            "The request did not arrive in time.",
        ))
    }
}

fn build_request(req: &httparse::Request, peer: SocketAddr) -> Result<Request, Response> {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let http11 = req.version != Some(0);
    let mut target = req.path.unwrap_or("/");
    // The absolute form (`GET http://host/path`, as proxies send it): its authority is
    // the request's host, whatever a Host header says.
    if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
        headers.push(("Host".into(), authority.to_string()));
        target = if path.is_empty() { "/" } else { path };
    }
    let hosts: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.as_str())
        .collect();
    // An empty Host names nothing: as wrong as none.
    if (http11 && hosts.is_empty()) || hosts.len() > 1 || hosts.iter().any(|h| h.is_empty()) {
        return Err(Response::error(
            Status::BAD_REQUEST,
            "An HTTP/1.1 request needs exactly one Host header, naming the host.",
        ));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    // `Connection` is a list of tokens (`close, TE`).
    let tokens: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .collect();
    let keep_alive = if tokens.iter().any(|t| t == "close") {
        false
    } else {
        http11 || tokens.iter().any(|t| t == "keep-alive")
    };
    Ok(Request {
        method: Method::parse(req.method.unwrap_or("GET")),
        path,
        query,
        headers,
        body: Vec::new(),
        peer,
        keep_alive,
    })
}

/// The body's length. Anything ambiguous is refused, because a proxy in front may read
/// it differently and smuggle a second request behind the first.
fn content_length(r: &Request) -> Result<usize, Response> {
    if r.header("transfer-encoding").is_some() {
        return Err(Response::error(
            Status::LENGTH_REQUIRED,
            "Send the request body with a Content-Length.",
        ));
    }
    let mut lengths = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str());
    let (Some(value), None) = (lengths.next(), lengths.next()) else {
        return match r.header("content-length") {
            None => Ok(0),
            Some(_) => Err(Response::error(
                Status::BAD_REQUEST,
                "The request has more than one Content-Length header.",
            )),
        };
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Response::error(
            Status::BAD_REQUEST,
            "The Content-Length header is not a number.",
        ));
    }
    match value.parse::<usize>() {
        Ok(n) if n <= MAX_BODY_BYTES => Ok(n),
        // Digits only: a parse failure is a number too large for memory.
        _ => Err(Response::error(
            Status::CONTENT_TOO_LARGE,
            "The request body is larger than 1 MiB.",
        )),
    }
}

fn read_body(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    len: usize,
    deadline: Instant,
) -> Result<Vec<u8>, Response> {
    let mut chunk = [0u8; 4096];
    while buf.len() < len {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(Response::error(
                Status::REQUEST_TIMEOUT,
                "The request body did not arrive in time.",
            ));
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(Response::error(
                    Status::BAD_REQUEST,
                    "The request body ended early.",
                ));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                return Err(Response::error(
                    Status::REQUEST_TIMEOUT,
                    "The request body did not arrive in time.",
                ));
            }
        }
    }
    Ok(buf.drain(..len).collect())
}

/// Finishes `head` for a body of known length and writes both in one vectored write,
/// straight from the body's buffer.
fn write_whole(
    stream: &mut TcpStream,
    mut head: String,
    body: &[u8],
    head_only: bool,
    keep_alive: bool,
) -> io::Result<bool> {
    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let body = if head_only { &[][..] } else { body };
    crate::formats::mjpeg::write_all_vectored(
        stream,
        &mut [io::IoSlice::new(head.as_bytes()), io::IoSlice::new(body)],
    )?;
    Ok(keep_alive)
}

/// Writes the response; `Ok(true)` when the connection can serve another request.
fn write_response(
    stream: &mut TcpStream,
    head_only: bool,
    response: Response,
    keep_alive: bool,
) -> io::Result<bool> {
    let sets_connection = response.has_header("connection");
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status.code(),
        response.status.reason()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match response.body {
        Body::Bytes(body) => write_whole(stream, head, &body, head_only, keep_alive),
        Body::Shared(body) => write_whole(stream, head, &body, head_only, keep_alive),
        Body::Stream(body) => {
            if !sets_connection {
                head.push_str("Connection: close\r\n");
            }
            head.push_str("\r\n");
            bound_send_buffer(stream, STREAM_SEND_BUFFER_BYTES);
            stream.write_all(head.as_bytes())?;
            if !head_only {
                body(stream)?;
            }
            stream.flush()?;
            Ok(false)
        }
    }
}

/// Sets the socket's send buffer to `bytes`; a failure only leaves the kernel's default.
fn bound_send_buffer(stream: &TcpStream, bytes: usize) {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the fd is open for the life of `stream`, and the option value is a c_int
    // passed with its exact size, as setsockopt(2) requires for SO_SNDBUF.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// A writer that must finish by a deadline, however the writes are split: a client
/// that reads a byte now and then cannot hold a stream forever, as it could with only a
/// timeout per write call.
///
/// The stream's write timeout must already be `within` (callers set it once per
/// connection): the first write call then needs no change of it, and a part taken in
/// one call (the common case, per viewer per frame) costs no extra system call. Only
/// later calls of a split part shorten the timeout to what is left; dropping the
/// writer puts `within` back.
pub struct DeadlineWriter<'a> {
    stream: &'a mut TcpStream,
    within: Duration,
    deadline: Instant,
    calls: u32,
}

impl<'a> DeadlineWriter<'a> {
    pub fn new(stream: &'a mut TcpStream, within: Duration) -> Self {
        DeadlineWriter {
            stream,
            within,
            deadline: Instant::now() + within,
            calls: 0,
        }
    }

    fn arm(&mut self) -> io::Result<()> {
        self.calls += 1;
        if self.calls == 1 {
            return Ok(());
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not take the part in time",
            ));
        }
        self.stream.set_write_timeout(Some(left))
    }
}

impl Drop for DeadlineWriter<'_> {
    fn drop(&mut self) {
        if self.calls > 1 {
            let _ = self.stream.set_write_timeout(Some(self.within));
        }
    }
}

impl Write for DeadlineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.stream.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.arm()?;
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
