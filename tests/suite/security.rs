//! A hostile network, through real sockets: pages from other sites that try to change
//! the camera, DNS rebinding, password guessing, ambiguous requests, idle floods. Each
//! test failed before its fix.

use crate::common::*;
use oscstream::web::access::Access;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Sends `head` (and `body`) on a fresh connection; the status code and the whole answer.
fn send(addr: SocketAddr, head: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

#[test]
fn pages_from_other_sites_cannot_change_the_camera() {
    let sim = start_sim();
    let relay = relay_with(&sim, Access::default());
    let addr = relay.addr();
    let host = format!("Host: {addr}\r\n");
    let format = r#"{"width":640,"height":320,"framerate":30}"#;
    // A <form enctype=text/plain> on another site.
    let (code, text) = send(
        addr,
        &format!(
            "POST /api/preview-format HTTP/1.1\r\n{host}Origin: https://evil.example\r\nContent-Type: text/plain\r\nSec-Fetch-Site: cross-site\r\n"
        ),
        format,
    );
    assert_eq!(code, 403, "{text}");
    assert!(text.contains("--allow-origin"), "{text}");
    // fetch(..., {mode: "no-cors"}) from another site.
    let (code, _) = send(
        addr,
        &format!(
            "POST /api/picture HTTP/1.1\r\n{host}Origin: http://evil.example:8080\r\nSec-Fetch-Site: cross-site\r\n"
        ),
        "",
    );
    assert_eq!(code, 403);
    // A browser that sends only Sec-Fetch-Site.
    let (code, _) = send(
        addr,
        &format!("POST /api/picture HTTP/1.1\r\n{host}Sec-Fetch-Site: cross-site\r\n"),
        "",
    );
    assert_eq!(code, 403);
    assert_eq!(
        sim.counters().pictures_taken.load(Ordering::SeqCst),
        0,
        "no picture was taken"
    );
    // JSON routes want JSON, even from the relay's own page.
    let (code, _) = send(
        addr,
        &format!(
            "POST /api/preview-format HTTP/1.1\r\n{host}Origin: http://{addr}\r\nContent-Type: text/plain\r\n"
        ),
        format,
    );
    assert_eq!(code, 415);
    // The relay's own page, and curl without Origin, keep working.
    let (code, text) = send(
        addr,
        &format!(
            "POST /api/preview-format HTTP/1.1\r\n{host}Origin: http://{addr}\r\nSec-Fetch-Site: same-origin\r\nContent-Type: application/json\r\n"
        ),
        format,
    );
    assert_eq!(code, 200, "{text}");
    let (code, text) = send(addr, &format!("POST /api/picture HTTP/1.1\r\n{host}"), "");
    assert_eq!(code, 200, "{text}");
    assert_eq!(sim.counters().pictures_taken.load(Ordering::SeqCst), 1);
}

#[test]
fn allow_origin_lets_that_site_change_the_camera() {
    let sim = start_sim();
    let relay = relay_with(
        &sim,
        Access {
            allow_origin: Some("https://ha.example".into()),
            ..Access::default()
        },
    );
    let addr = relay.addr();
    let head = format!(
        "POST /api/picture HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://ha.example\r\nSec-Fetch-Site: cross-site\r\n"
    );
    assert_eq!(send(addr, &head, "").0, 200);
    let other = head.replace("ha.example", "evil.example");
    assert_eq!(send(addr, &other, "").0, 403);
}

#[test]
fn a_rebinding_name_gets_nothing_and_known_names_work() {
    let sim = start_sim();
    let relay = relay_with(&sim, Access::default());
    let addr = relay.addr();
    let port = addr.port();
    for path in ["/snapshot.jpg", "/video_feed", "/status"] {
        let (code, text) = send(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: rebind.evil.example:{port}\r\n"),
            "",
        );
        assert_eq!(code, 421, "{path}: {text}");
        assert!(text.contains("--allow-host rebind.evil.example"), "{text}");
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let short = hostname.trim().split('.').next().unwrap().to_string();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "LOCALHOST".to_string(),
        format!("{short}:{port}"),
        format!("{short}.local:{port}"),
    ] {
        let (code, text) = send(
            addr,
            &format!("GET /status HTTP/1.1\r\nHost: {host}\r\n"),
            "",
        );
        assert_eq!(code, 200, "{host}: {text}");
    }
    // HTTP/1.1 without Host is malformed, and so is an empty one (it names nothing).
    assert_eq!(send(addr, "GET /status HTTP/1.1\r\n", "").0, 400);
    assert_eq!(send(addr, "GET /status HTTP/1.1\r\nHost: \r\n", "").0, 400);
    // --allow-host adds a name; '*' turns the check off.
    for (allowed, host) in [
        ("theta.example.org", "theta.example.org"),
        ("*", "anything.example"),
    ] {
        let relay = relay_with(
            &sim,
            Access {
                allow_hosts: vec![allowed.into()],
                ..Access::default()
            },
        );
        let (code, _) = send(
            relay.addr(),
            &format!("GET /status HTTP/1.1\r\nHost: {host}:{port}\r\n"),
            "",
        );
        assert_eq!(code, 200, "--allow-host {allowed}");
    }
}

#[test]
fn ten_wrong_passwords_lock_that_address_out_for_a_minute() {
    let sim = start_sim();
    let relay = relay_with_basic_auth(&sim, "viewer", "right");
    let addr = relay.addr();
    // viewer:wrong and viewer:right in base64.
    let wrong = "Authorization: Basic dmlld2VyOndyb25n\r\n";
    let right = "Authorization: Basic dmlld2VyOnJpZ2h0\r\n";
    let get = |auth: &str| {
        send(
            addr,
            &format!("GET /status HTTP/1.1\r\nHost: {addr}\r\n{auth}"),
            "",
        )
    };
    assert_eq!(get(right).0, 200);
    for _ in 0..10 {
        assert_eq!(get(wrong).0, 401);
    }
    let (code, text) = get(right);
    assert_eq!(code, 429, "locked out even with the right password: {text}");
    assert!(text.contains("Retry-After: "), "{text}");
    // Another address is not locked out (all of 127/8 is this computer).
    let mut other = connect_from("127.0.0.2", addr);
    write!(
        other,
        "GET /status HTTP/1.1\r\nHost: {addr}\r\n{right}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    other.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

/// A TCP connection to `to` from the local address `from` (port chosen by the kernel).
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    use std::os::fd::FromRawFd;
    let from: std::net::Ipv4Addr = from.parse().unwrap();
    let std::net::IpAddr::V4(to_ip) = to.ip() else {
        panic!("IPv4 only")
    };
    // SAFETY: a fresh socket is bound and connected with sockaddr_in values of the
    // right size; on success the fd is handed to TcpStream, which owns and closes it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let mut local: libc::sockaddr_in = std::mem::zeroed();
        local.sin_family = libc::AF_INET as libc::sa_family_t;
        local.sin_addr.s_addr = u32::from(from).to_be();
        let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), size),
            0
        );
        let mut remote: libc::sockaddr_in = std::mem::zeroed();
        remote.sin_family = libc::AF_INET as libc::sa_family_t;
        remote.sin_port = to.port().to_be();
        remote.sin_addr.s_addr = u32::from(to_ip).to_be();
        assert_eq!(
            libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), size),
            0
        );
        TcpStream::from_raw_fd(fd)
    }
}

#[test]
fn ambiguous_requests_are_refused_and_modern_forms_are_served() {
    let sim = start_sim();
    let relay = relay_with(&sim, Access::default());
    let addr = relay.addr();
    let host = format!("Host: {addr}\r\n");
    // Two lengths, or one that is not plain digits: a proxy might read another body.
    for lengths in [
        "Content-Length: 0\r\nContent-Length: 5\r\n",
        "Content-Length: +0\r\n",
    ] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "POST /osc/state HTTP/1.1\r\n{host}{lengths}\r\nGET /status HTTP/1.1\r\n{host}\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 400"), "{lengths:?}: {out}");
        assert_eq!(
            out.matches("HTTP/1.1 ").count(),
            1,
            "nothing smuggled behind it"
        );
    }
    // `Connection: close, TE` closes after the answer.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /status HTTP/1.1\r\n{host}Connection: close, TE\r\nTE: trailers\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out)
        .expect("the relay closes the connection");
    assert!(
        out.starts_with("HTTP/1.1 200") && out.contains("Connection: close"),
        "{out}"
    );
    // The absolute form, as proxies send it.
    let (code, text) = send(
        addr,
        &format!("GET http://{addr}/status HTTP/1.1\r\n{host}"),
        "",
    );
    assert_eq!(code, 200, "{text}");
    // Expect: 100-continue is answered before the body is sent.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = r#"{"width":640,"height":320,"framerate":8}"#;
    write!(
        s,
        "POST /api/preview-format HTTP/1.1\r\n{host}Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

/// A request head built from pieces real and hostile clients send, then cut or flipped.
fn generated_head(rng: &mut Rng, addr: SocketAddr) -> Vec<u8> {
    let method = rng.pick(&["GET", "POST", "HEAD", "OPTIONS", "BREW", "G ET", "", "get"]);
    let target = rng.pick(&[
        "/status",
        "/video_feed?fps=5",
        "http://127.0.0.1/status",
        "*",
        "/%2e%2e/etc/passwd",
        "/public/../Cargo.toml",
        "/camera-files/../../x",
        "",
    ]);
    let version = rng.pick(&["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 extra", ""]);
    let mut head = format!("{method} {target} {version}\r\n");
    for _ in 0..rng.next() % 6 {
        let header = rng.pick(&[
            "Host: 127.0.0.1",
            "Host: evil.example",
            "Host:",
            "Content-Length: 5",
            "Content-Length: -1",
            "Content-Length: +5",
            "Content-Length: 99999999999999999999999",
            "Transfer-Encoding: chunked",
            "Connection: close, TE",
            "Connection: keep-alive",
            "Expect: 100-continue",
            "Origin: null",
            "Authorization: Basic !!!",
            "Authorization: Digest nonce=\"",
            "X: \u{1}\u{7f}",
            "no colon here",
            " folded: header",
        ]);
        head.push_str(header);
        head.push_str("\r\n");
    }
    head = head.replace("127.0.0.1", &addr.to_string());
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    match rng.next() % 4 {
        0 => bytes.truncate((rng.next() as usize) % (bytes.len() + 1)),
        1 => {
            let i = (rng.next() as usize) % bytes.len();
            bytes[i] = rng.next() as u8;
        }
        _ => {}
    }
    bytes
}

#[test]
fn generated_hostile_request_heads_get_an_answer_or_a_close_never_a_hang() {
    let sim = start_sim();
    let relay = relay_with(&sim, Access::default());
    let addr = relay.addr();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..400 {
        let head = generated_head(&mut rng, addr);
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&head);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        // The stream route may answer 200 and stream: read its start only.
        let mut chunk = [0u8; 4096];
        while answer.len() < 4096 {
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
                Err(e) => panic!(
                    "case {i}: no answer and no close within 5 s ({e}) for {:?}",
                    String::from_utf8_lossy(&head)
                ),
            }
        }
        if !answer.is_empty() {
            let text = String::from_utf8_lossy(&answer);
            assert!(
                text.starts_with("HTTP/1.1 ") && text[9..12].parse::<u16>().is_ok(),
                "case {i}: {text:?} for {:?}",
                String::from_utf8_lossy(&head)
            );
        }
    }
    // Still serving, and quickly.
    let t = std::time::Instant::now();
    assert_eq!(get_json(&format!("http://{addr}/status")).0, 200);
    assert!(t.elapsed() < Duration::from_secs(1));
}
