//! Reading one request from a connection: its head through `httparse`, its body by
//! Content-Length, each bounded in size and time before anything is allocated.

use super::{MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_HEADERS, Method, Request, Response, Status};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Reads one request. `Ok(None)`: the client closed or went idle between requests.
/// `Err(response)`: a malformed request, answered and then the connection closed.
pub(super) fn read_request(
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
