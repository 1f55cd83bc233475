//! Our HTTP/1.1 server: `std::net`, one thread per connection, `httparse` for request
//! heads, timeouts on every socket.
//!
//! It exists because tiny_http strands connections behind long-lived streams and sets
//! no socket timeouts (README, design notes). A handler turns a [`Request`] into a
//! [`Response`]; small answers keep the connection alive, a streaming body takes the
//! socket over and closes it when done. It knows nothing about cameras or frames: the
//! relay and the simulated camera are both built on it.

mod read;
mod server;
mod write;

pub use server::Server;
pub use write::DeadlineWriter;

use serde_json::json;
use std::borrow::Cow;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

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
    pub const CONFLICT: Status = Status(409);
    pub const GONE: Status = Status(410);
    pub const UNSUPPORTED_MEDIA_TYPE: Status = Status(415);
    pub const LENGTH_REQUIRED: Status = Status(411);
    pub const CONTENT_TOO_LARGE: Status = Status(413);
    pub const MISDIRECTED: Status = Status(421);
    pub const TOO_MANY_REQUESTS: Status = Status(429);
    pub const HEADERS_TOO_LARGE: Status = Status(431);
    pub const INTERNAL_ERROR: Status = Status(500);
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
            409 => "Conflict",
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
    /// How long accepting waits for a connection closed to make room to end.
    pub eviction_wait: Duration,
}

/// The kernel send buffer of a streaming connection. Left to autotuning it grows to
/// megabytes, and a client that stops reading is only noticed once that is full: about
/// 40 s at a THETA's rate. This holds a few frames, so a stalled client is found within
/// the write timeout. (Linux doubles the value for its own bookkeeping.)
pub const STREAM_SEND_BUFFER_BYTES: usize = 256 << 10;

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

    pub fn json(status: Status, value: &impl serde::Serialize) -> Self {
        // Our own types and serde_json values: nothing here can fail to serialise.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self::bytes(status, "application/json", body)
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
