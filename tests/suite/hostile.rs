//! A hostile or broken camera, written here on raw sockets (not the simulator, which
//! behaves): answers that drip a byte at a time, JSON bombs, endless chunked bodies,
//! HTML passed off as pictures, `javascript:` file URLs, odd Digest challenges and
//! 16 MiB frames. Each test says what the relay must still do, and prints the figures
//! it measured (peak memory, threads, time to first byte).

use crate::common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How the hostile camera answers one request: the command named in its body (or
/// empty), the path, and the raw socket to misuse.
type Answer = dyn Fn(&str, &str, &mut TcpStream) + Send + Sync;

/// A camera on raw sockets; every request goes to `answer`.
struct HostileCamera {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
}

impl HostileCamera {
    fn start(answer: impl Fn(&str, &str, &mut TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let answer: Arc<Answer> = Arc::new(answer);
        let (st, count) = (stop.clone(), requests.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let answer = answer.clone();
                let count = count.clone();
                thread::spawn(move || {
                    let Some((command, path)) = read_request(&mut conn) else {
                        return;
                    };
                    count.fetch_add(1, Ordering::SeqCst);
                    answer(&command, &path, &mut conn);
                });
            }
        });
        HostileCamera {
            addr,
            stop,
            requests,
        }
    }
}

impl Drop for HostileCamera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads a request; the command its body names (or empty) and the path.
fn read_request(conn: &mut TcpStream) -> Option<(String, String)> {
    let (path, body) = read_camera_request(conn)?;
    let command = body.get("name").and_then(serde_json::Value::as_str);
    Some((command.unwrap_or_default().to_string(), path))
}

fn head(conn: &mut TcpStream, status: &str, headers: &str) {
    let _ = write!(conn, "HTTP/1.1 {status}\r\n{headers}\r\n");
}

/// The head of a THETA's live-preview answer.
fn preview_head(conn: &mut TcpStream) {
    head(
        conn,
        "200 OK",
        "Content-Type: multipart/x-mixed-replace; boundary=\"---osclivepreview---\"\r\n",
    );
}

/// One part of a THETA's live preview holding `jpeg`; `false` once the client is gone.
fn send_part(conn: &mut TcpStream, jpeg: &[u8]) -> bool {
    let part = format!(
        "---osclivepreview---\r\nContent-type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        jpeg.len()
    );
    conn.write_all(part.as_bytes()).is_ok()
        && conn.write_all(jpeg).is_ok()
        && conn.write_all(b"\r\n").is_ok()
}

/// Writes `bytes` one at a time, `every` apart, until the client goes.
fn drip(conn: &mut TcpStream, bytes: &[u8], every: Duration) {
    for b in bytes.iter().cycle() {
        if conn.write_all(&[*b]).is_err() {
            return;
        }
        thread::sleep(every);
    }
}

fn relay_for(camera: &HostileCamera) -> oscstream::app::relay::Relay {
    start_relay(camera_at(camera.addr, None))
}

/// Starts the relay binary (production timeouts) against `camera`; its process and address.
fn relay_process(camera: &HostileCamera) -> (Running, SocketAddr, Duration) {
    let port = camera.addr.port().to_string();
    let t = Instant::now();
    let (relay, url) = start_binary(
        &["-o", "127.0.0.1", "-p", &port, "--listen", "127.0.0.1:0"],
        "open http://",
    );
    (relay, addr_of(&url), t.elapsed())
}

/// Peak resident memory of a process, from /proc.
fn peak_rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Time to the first byte of an answer to GET `path`.
fn ttfb(addr: SocketAddr, path: &str) -> (Duration, String) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 12];
    s.read_exact(&mut first).unwrap();
    (
        t.elapsed(),
        String::from_utf8_lossy(&first[9..12]).into_owned(),
    )
}

#[test]
fn a_dripping_camera_neither_delays_listening_nor_holds_requests_beyond_their_budget() {
    let camera = HostileCamera::start(|_, _, conn| {
        head(
            conn,
            "200 OK",
            "Content-Type: application/json\r\nContent-Length: 100000\r\n",
        );
        drip(conn, b"{\"model\": \"slow\", ", Duration::from_millis(300));
    });
    // The binary listens at once, whatever the camera does.
    let (process, addr, started) = relay_process(&camera);
    assert!(
        started < Duration::from_secs(3),
        "listening took {started:?}"
    );
    let (status_ttfb, code) = ttfb(addr, "/status");
    assert_eq!(code, "200");
    drop(process);
    // The rest in-process, with a short answer budget (the production one is 10 s).
    let mut config = relay_config(camera_at(camera.addr, None), Duration::from_secs(10));
    config.timeouts.camera_answer = Duration::from_millis(1500);
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let addr = relay.addr();
    // Twenty page polls of /info at once share one camera call and its answer.
    let asked_before = camera.requests.load(Ordering::SeqCst);
    let polls: Vec<_> = (0..20)
        .map(|_| thread::spawn(move || ttfb(addr, "/info")))
        .collect();
    let info: Vec<(Duration, String)> = polls.into_iter().map(|p| p.join().unwrap()).collect();
    let info_calls = camera.requests.load(Ordering::SeqCst) - asked_before;
    // Twenty /state calls at once: one runs, four wait their turn, the rest are refused
    // at once; nobody waits beyond the answer budget for a turn plus one call.
    let calls: Vec<_> = (0..20)
        .map(|_| thread::spawn(move || ttfb(addr, "/state")))
        .collect();
    let state: Vec<(Duration, String)> = calls.into_iter().map(|p| p.join().unwrap()).collect();
    let refused = state.iter().filter(|(_, c)| c == "503").count();
    let slowest = state.iter().chain(&info).map(|(t, _)| *t).max().unwrap();
    println!(
        "drip: listening after {started:?}, /status first byte {status_ttfb:?}; 20 /info: \
         {info_calls} camera call(s); 20 /state: {refused} refused at once; slowest answer \
         {slowest:?} (budget 1.5 s)"
    );
    assert!(info.iter().all(|(_, c)| c == "502"), "{info:?}");
    // The start-up check asks /osc/info once too, beside the relay's own camera client.
    assert!(
        info_calls <= 2,
        "one camera call for twenty polls: {info_calls}"
    );
    assert!(refused >= 15, "a full lane refuses at once: {state:?}");
    assert!(
        state.iter().all(|(_, c)| c == "503" || c == "502"),
        "{state:?}"
    );
    assert!(
        slowest < Duration::from_secs(25),
        "every answer within the budgets"
    );
}

#[test]
fn a_preview_that_drips_bytes_but_no_frame_is_reopened() {
    let previews = Arc::new(AtomicU64::new(0));
    let opened = previews.clone();
    let camera = HostileCamera::start(move |_, path, conn| {
        if path == "/osc/commands/execute" {
            opened.fetch_add(1, Ordering::SeqCst);
            head(
                conn,
                "200 OK",
                "Content-Type: multipart/x-mixed-replace; boundary=\"---osclivepreview---\"\r\n",
            );
            drip(
                conn,
                b"---osclivepreview---\r\nX-Junk: ",
                Duration::from_millis(50),
            );
        } else {
            head(conn, "404 Not Found", "Content-Length: 0\r\n");
        }
    });
    let relay = relay_for(&camera);
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    let t = Instant::now();
    let part = viewer.next_part(); // NO SIGNAL: the relay draws its own frames meanwhile
    assert!(oscstream::formats::jpeg::is_whole_jpeg(&part.jpeg));
    let s = wait_for(
        Duration::from_secs(6),
        "the stalled preview to be reopened",
        || {
            let s = status(&relay);
            (previews.load(Ordering::SeqCst) >= 2 && !s["last_error"].is_null()).then_some(s)
        },
    );
    println!(
        "dripping preview reopened after {:?}: {}",
        t.elapsed(),
        s["last_error"]
    );
    assert!(
        s["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("no whole frame"),
        "{s}"
    );
}

#[test]
fn json_bombs_and_endless_bodies_are_refused_without_eating_memory() {
    // 960 KB of tiny objects for /osc/info; an endless chunked body for /osc/state.
    let bomb: Arc<Vec<u8>> = Arc::new({
        let mut v = b"[".to_vec();
        while v.len() < 960_000 {
            v.extend_from_slice(b"{},");
        }
        v.extend_from_slice(b"{}]");
        v
    });
    let camera = HostileCamera::start(move |_, path, conn| match path {
        "/osc/state" => {
            head(
                conn,
                "200 OK",
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
            );
            let chunk = format!("{:X}\r\n{}\r\n", 4096, "{}".repeat(2048));
            while conn.write_all(chunk.as_bytes()).is_ok() {}
        }
        _ => {
            head(
                conn,
                "200 OK",
                &format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n",
                    bomb.len()
                ),
            );
            let _ = conn.write_all(&bomb);
        }
    });
    let (relay, addr, _) = relay_process(&camera);
    let before = peak_rss_bytes(relay.0.id());
    let t = Instant::now();
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let path = if i % 2 == 0 { "/info" } else { "/state" };
            thread::spawn(move || ttfb(addr, path))
        })
        .collect();
    let answers: Vec<(Duration, String)> = calls.into_iter().map(|c| c.join().unwrap()).collect();
    let peak = peak_rss_bytes(relay.0.id());
    println!(
        "JSON bomb + endless body, 20 calls: answered {:?} in {:?}; peak RSS {} KiB (was {} KiB)",
        answers.iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(),
        t.elapsed(),
        peak >> 10,
        before >> 10
    );
    assert!(
        answers.iter().all(|(_, c)| c == "502" || c == "503"),
        "{answers:?}"
    );
    assert!(peak < 40 << 20, "peak RSS {} MiB", peak >> 20);
}

#[test]
fn camera_files_never_serve_the_cameras_html_and_links_are_only_ours() {
    let camera = HostileCamera::start(|_, path, conn| {
        if path.starts_with("/files/") {
            let page = "<script>alert(document.cookie)</script>";
            head(
                conn,
                "200 OK",
                &format!(
                    "Content-Type: text/html\r\nContent-Length: {}\r\n",
                    page.len()
                ),
            );
            let _ = conn.write_all(page.as_bytes());
            return;
        }
        let files = r#"{"name":"camera.listFiles","state":"done","results":{"entries":[
            {"name":"evil","fileUrl":"javascript:alert(1)","size":1},
            {"name":"R0010001.JPG","fileUrl":"http://192.168.1.1/files/100RICOH/R0010001.JPG","size":2}
        ],"totalEntries":2}}"#;
        head(
            conn,
            "200 OK",
            &format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                files.len()
            ),
        );
        let _ = conn.write_all(files.as_bytes());
    });
    let relay = relay_for(&camera);
    let base = format!("http://{}", relay.addr());
    for (file, wanted) in [
        ("100RICOH/R0010001.JPG", "image/jpeg"),
        ("100RICOH/page.html", "application/octet-stream"),
    ] {
        let resp = agent()
            .get(&format!("{base}/camera-files/{file}"))
            .call()
            .unwrap();
        let headers = resp.headers();
        assert_eq!(headers["content-type"], wanted, "{file}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        if wanted == "application/octet-stream" {
            assert!(
                headers["content-disposition"]
                    .to_str()
                    .unwrap()
                    .starts_with("attachment")
            );
        }
    }
    let (code, files) = get_json(&format!("{base}/api/files"));
    assert_eq!(code, 200);
    let entries = files["entries"].as_array().unwrap();
    assert_eq!(
        entries[0]["url"],
        serde_json::Value::Null,
        "no link to javascript:"
    );
    assert_eq!(entries[1]["url"], "/camera-files/100RICOH/R0010001.JPG");
    let page = agent()
        .get(&format!("{base}/public/index.html"))
        .call()
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    for rule in [
        "default-src 'self'",
        "frame-ancestors 'none'",
        "script-src 'self'",
    ] {
        assert!(csp.contains(rule), "{csp}");
    }
}

#[test]
fn odd_digest_challenges_get_a_sentence_not_an_answer() {
    let long_nonce = "n".repeat(10_000);
    for (challenge, sentence) in [
        (r#"Digest realm="old", nonce="abc""#.to_string(), "qop=auth"),
        (
            format!(r#"Digest realm="r", qop="auth", nonce="{long_nonce}""#),
            "Digest",
        ),
        (r#"Basic realm="x""#.to_string(), "Digest"),
    ] {
        let challenge = challenge.clone();
        let camera = HostileCamera::start(move |_, _, conn| {
            head(
                conn,
                "401 Unauthorized",
                &format!("WWW-Authenticate: {challenge}\r\nContent-Length: 0\r\n"),
            );
        });
        let relay = start_relay(camera_at(camera.addr, Some(("THETAYL00103139", "pw"))));
        let (code, body) = get_json(&format!("http://{}/info", relay.addr()));
        assert_eq!(code, 502);
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(sentence), "{error}");
        assert!(
            !error.contains(&long_nonce[..100]),
            "the nonce is not echoed"
        );
        assert_eq!(
            camera.requests.load(Ordering::SeqCst),
            1,
            "the challenge was not answered"
        );
    }
}

#[test]
fn sixteen_mib_frames_and_forty_slow_snapshot_readers_stay_bounded() {
    // Frames of 15 MiB (just under the parser's 16 MiB cap), two a second.
    let frame: Arc<Vec<u8>> = Arc::new({
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.resize((15 << 20) - 2, 0x55);
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        jpeg
    });
    let camera = HostileCamera::start(move |_, path, conn| {
        if path != "/osc/commands/execute" {
            head(conn, "404 Not Found", "Content-Length: 0\r\n");
            return;
        }
        preview_head(conn);
        while send_part(conn, &frame) {
            thread::sleep(Duration::from_millis(500));
        }
    });
    let (relay, addr, _) = relay_process(&camera);
    let (first, code) = ttfb(addr, "/snapshot.jpg");
    assert_eq!(code, "200");
    // Forty clients ask for a snapshot and then read nothing.
    let slow: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(s, "GET /snapshot.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
            s
        })
        .collect();
    thread::sleep(Duration::from_secs(3)); // the window in which memory is measured
    let peak = peak_rss_bytes(relay.0.id());
    let threads = threads_of(relay.0.id());
    println!(
        "15 MiB frames, 40 stalled snapshot readers: first snapshot after {first:?}, \
         peak RSS {} MiB, {threads} threads",
        peak >> 20
    );
    assert!(peak < 200 << 20, "peak RSS {} MiB", peak >> 20);
    drop(slow);
}

#[test]
fn a_frame_claiming_a_giant_size_is_dropped_and_no_signal_stays_small() {
    // 40 bytes: SOI, a baseline SOF claiming 65535×65535, EOI. Then the camera goes quiet.
    let mut giant = vec![
        0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0xFF, 0xFF, 0xFF, 0xFF,
    ];
    giant.extend_from_slice(&[0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01]);
    giant.resize(38, 0x00);
    giant.extend_from_slice(&[0xFF, 0xD9]);
    let camera = HostileCamera::start(move |command, _, conn| {
        if command != "camera.getLivePreview" {
            head(conn, "404 Not Found", "Content-Length: 0\r\n");
            return;
        }
        preview_head(conn);
        send_part(conn, &giant);
        thread::sleep(Duration::from_secs(20)); // quiet, connection open
    });
    let (relay, addr, _) = relay_process(&camera);
    let mut viewer = Viewer::connect(addr, "/video_feed");
    let count = |s: &serde_json::Value, key: &str| s[key].as_u64().unwrap_or(0);
    wait_for(Duration::from_secs(10), "the giant frame to arrive", || {
        let (_, s) = get_json(&format!("http://{addr}/status"));
        (count(&s, "frames_dropped") + count(&s, "frames_received") > 0).then_some(())
    });
    // Past the quiet spell (3 s) the relay draws NO SIGNAL: at a size a preview can have.
    let t = Instant::now();
    let drawn = loop {
        let part = viewer.next_part();
        let size = jpeg_size(&part.jpeg).filter(|_| part.jpeg.len() > 40);
        if let Some(size) = size.filter(|_| t.elapsed() > Duration::from_millis(3500)) {
            break size;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no NO SIGNAL frame");
    };
    let peak = peak_rss_bytes(relay.0.id());
    println!(
        "giant-size frame: NO SIGNAL drawn at {drawn:?} after {:?}, peak RSS {} MiB",
        t.elapsed(),
        peak >> 20
    );
    assert!(drawn.0 <= 3840 && drawn.1 <= 1920, "{drawn:?}");
    assert!(peak < 100 << 20, "peak RSS {} MiB", peak >> 20);
    let (code, status) = get_json(&format!("http://{addr}/status"));
    assert_eq!(code, 200);
    assert!(status["frames_dropped"].as_u64() >= Some(1), "{status}");
}

#[test]
fn requests_waiting_on_an_absent_camera_leave_room_for_status() {
    // No camera at all: each snapshot waits its whole budget for a frame.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let relay = start_relay(camera_at(([127, 0, 0, 1], port).into(), None));
    let addr = relay.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    // More looping snapshot clients than the whole connection cap (128 here).
    let loops: Vec<_> = (0..140)
        .map(|_| {
            let (stop, sent) = (stop.clone(), sent.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    sent.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut s) = TcpStream::connect(addr) else {
                        continue;
                    };
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let request = "GET /snapshot.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
                    let _ = s.write_all(request.as_bytes());
                    let _ = s.read_to_end(&mut Vec::new());
                    thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    wait_for(Duration::from_secs(30), "the flood under way", || {
        (sent.load(Ordering::SeqCst) >= 280).then_some(())
    });
    let t = Instant::now();
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let one = Instant::now();
        let (code, _) = raw_request(
            addr,
            "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        );
        slowest = slowest.max(one.elapsed());
        if code.starts_with("HTTP/1.1 200") {
            answered += 1;
        }
    }
    stop.store(true, Ordering::SeqCst);
    println!(
        "140 looping snapshot clients, camera away: {answered}/30 fresh /status answered in {:?}, slowest {slowest:?}",
        t.elapsed()
    );
    for l in loops {
        let _ = l.join();
    }
    assert_eq!(answered, 30);
}

#[test]
fn a_trickling_camera_file_download_is_cut_at_its_deadline() {
    let camera = HostileCamera::start(|_, path, conn| {
        if !path.starts_with("/files/") {
            head(conn, "404 Not Found", "Content-Length: 0\r\n");
            return;
        }
        let size = 50 << 20;
        head(
            conn,
            "200 OK",
            &format!("Content-Type: video/mp4\r\nContent-Length: {size}\r\n"),
        );
        let chunk = vec![0x55u8; 64 << 10];
        for _ in 0..size / chunk.len() {
            if conn.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let mut config = relay_config(camera_at(camera.addr, None), Duration::from_secs(10));
    config.timeouts.download = Duration::from_secs(2);
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let mut s = TcpStream::connect(relay.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /camera-files/100RICOH/R0010001.MP4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    // A reader at 200 KB/s would take over four minutes for the 50 MiB.
    let t = Instant::now();
    let mut buf = [0u8; 2048];
    let mut got = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
        thread::sleep(Duration::from_millis(10));
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "still downloading after {got} bytes"
        );
    }
    println!(
        "trickling download cut after {:?}, {got} bytes",
        t.elapsed()
    );
    assert!(got < 10 << 20, "{got} bytes");
}

#[test]
fn a_stop_takes_its_budget_while_the_camera_drips_its_answer() {
    let sets = Arc::new(AtomicU64::new(0));
    let counted = sets.clone();
    let camera = HostileCamera::start(move |command, _, conn| {
        let json = |conn: &mut TcpStream, body: &str| {
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        };
        match command {
            "camera.getOptions" => json(
                conn,
                r#"{"name":"camera.getOptions","state":"done","results":{"options":{"sleepDelay":300,"offDelay":64800}}}"#,
            ),
            // The first set (keep-awake) is answered; the one putting them back drips.
            "camera.setOptions" if counted.fetch_add(1, Ordering::SeqCst) == 0 => {
                json(conn, r#"{"name":"camera.setOptions","state":"done"}"#)
            }
            "camera.setOptions" => {
                head(
                    conn,
                    "200 OK",
                    "Content-Type: application/json\r\nContent-Length: 40\r\n",
                );
                drip(conn, b"{\"state\":", Duration::from_millis(200));
            }
            _ => head(conn, "404 Not Found", "Content-Length: 0\r\n"),
        }
    });
    let relay = relay_for(&camera);
    wait_for(Duration::from_secs(3), "the timers to be set", || {
        (sets.load(Ordering::SeqCst) >= 1).then_some(())
    });
    let t = Instant::now();
    relay.stop();
    let took = t.elapsed();
    println!("stop with a dripping camera: {took:?}");
    assert!(
        sets.load(Ordering::SeqCst) >= 2,
        "the stop tried to put the timers back"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn a_camera_alternating_streams_and_huge_new_refusals_cannot_flood_the_log() {
    let jpeg = Arc::new(oscstream::formats::picture::no_signal_jpeg("flood", 64, 32));
    let previews = Arc::new(AtomicU64::new(0));
    let opened = previews.clone();
    let camera = HostileCamera::start(move |command, _, conn| {
        let json = |conn: &mut TcpStream, status: &str, body: &str| {
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        };
        match command {
            "camera.getLivePreview" if opened.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) => {
                // One frame, then the camera ends the preview.
                preview_head(conn);
                send_part(conn, &jpeg);
            }
            "camera.getLivePreview" => {
                // A refusal with a new 200 KB message each time.
                let n = previews_message(opened.load(Ordering::SeqCst));
                let body = format!(
                    r#"{{"name":"camera.getLivePreview","state":"error","error":{{"code":"serviceUnavailable","message":"{n}"}}}}"#
                );
                json(conn, "503 Service Unavailable", &body);
            }
            "camera.getOptions" => json(
                conn,
                "200 OK",
                r#"{"state":"done","results":{"options":{"sleepDelay":65535,"offDelay":65535}}}"#,
            ),
            _ => head(conn, "404 Not Found", "Content-Length: 0\r\n"),
        }
    });
    let port = camera.addr.port().to_string();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oscstream"));
    command
        .args(["-o", "127.0.0.1", "-p", &port, "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped());
    let (mut relay, url) = start_binary_with(&mut command, "open http://");
    let stderr = relay.0.stderr.take().unwrap();
    let log = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::BufReader::new(stderr).read_to_end(&mut text);
        text
    });
    let mut viewer = Viewer::connect(addr_of(&url), "/video_feed");
    // Fourteen attempts (seven refusals, each with a new message), well within a minute.
    let t = Instant::now();
    while previews.load(Ordering::SeqCst) < 14 {
        viewer.next_part();
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "the relay kept retrying"
        );
    }
    let attempts = previews.load(Ordering::SeqCst);
    drop(viewer);
    drop(relay);
    let log = log.join().unwrap();
    let lines = log.iter().filter(|b| **b == b'\n').count();
    println!(
        "{attempts} preview attempts in {:?}: {lines} log lines, {} bytes",
        t.elapsed(),
        log.len()
    );
    assert!(
        lines <= 14,
        "{lines} lines: {}",
        String::from_utf8_lossy(&log)
    );
    assert!(log.len() < 8 << 10, "{} bytes of log", log.len());
}

/// A 200 KB message, different for every `n`.
fn previews_message(n: u64) -> String {
    format!("{n}:{}", "x".repeat(200_000))
}

#[test]
fn staggered_slow_snapshot_readers_cannot_pin_a_frame_each() {
    // 8 MiB frames, each one different, eight a second.
    let camera = HostileCamera::start(move |command, _, conn| {
        if command != "camera.getLivePreview" {
            head(conn, "404 Not Found", "Content-Length: 0\r\n");
            return;
        }
        preview_head(conn);
        for n in 0u64.. {
            let mut jpeg = vec![0xFF, 0xD8];
            jpeg.extend_from_slice(&n.to_be_bytes());
            jpeg.resize((8 << 20) - 2, 0x55);
            jpeg.extend_from_slice(&[0xFF, 0xD9]);
            if !send_part(conn, &jpeg) {
                return;
            }
            thread::sleep(Duration::from_millis(125));
        }
    });
    let (relay, addr, _) = relay_process(&camera);
    assert_eq!(ttfb(addr, "/snapshot.jpg").1, "200");
    // Twenty-four readers, one every 150 ms (a new frame each), that then read nothing.
    let mut refused = 0;
    let slow: Vec<TcpStream> = (0..24)
        .map(|_| {
            thread::sleep(Duration::from_millis(150));
            let mut s = TcpStream::connect(addr).unwrap();
            write!(s, "GET /snapshot.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
            s
        })
        .collect();
    for s in &slow {
        let mut first = [0u8; 12];
        let mut s = s;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if s.read_exact(&mut first).is_ok() && &first[9..12] == b"503" {
            refused += 1;
        }
    }
    let peak = peak_rss_bytes(relay.0.id());
    println!(
        "8 MiB frames, 24 staggered stalled snapshot readers: {refused} refused, peak RSS {} MiB",
        peak >> 20
    );
    assert!(refused > 0, "the pinned-bytes budget refused some");
    assert!(peak < 140 << 20, "peak RSS {} MiB", peak >> 20);
    drop(slow);
}

#[test]
fn a_timeout_names_the_command_and_the_budget_that_ran_out() {
    let camera = HostileCamera::start(|_, _, conn| {
        head(
            conn,
            "200 OK",
            "Content-Type: application/json\r\nContent-Length: 100000\r\n",
        );
        drip(conn, b"{\"model\": \"slow\", ", Duration::from_millis(200));
    });
    let mut config = relay_config(camera_at(camera.addr, None), Duration::from_secs(10));
    config.timeouts.camera_answer = Duration::from_millis(700);
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let (code, body) = get_json(&format!("http://{}/info", relay.addr()));
    let sentence = body["error"].as_str().unwrap_or_default().to_string();
    println!("timeout: {code} {sentence}");
    assert_eq!(code, 502, "{body}");
    assert!(
        sentence.contains("no whole answer to /osc/info within the 700 ms answer budget"),
        "{sentence}"
    );
}

#[test]
fn a_frame_that_does_not_decode_is_counted_for_the_views_and_never_reaches_them() {
    // Whole-looking JPEGs (SOI … EOI) with nothing decodable in between.
    let junk: Arc<Vec<u8>> = Arc::new({
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.resize(2000, 0x55);
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        jpeg
    });
    let camera = HostileCamera::start(move |command, _, conn| {
        if command != "camera.getLivePreview" {
            head(conn, "404 Not Found", "Content-Length: 0\r\n");
            return;
        }
        preview_head(conn);
        while send_part(conn, &junk) {
            thread::sleep(Duration::from_millis(50));
        }
    });
    let mut config = relay_config(camera_at(camera.addr, None), Duration::from_secs(10));
    config.cameras[0].views = vec![view_spec("door", (0.0, 0.0), (320, 180))];
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let mut viewer = Viewer::connect(relay.addr(), "/views/door/video_feed");
    // Every part the view's viewer gets is a whole picture at the view's size: NO SIGNAL.
    for _ in 0..4 {
        let part = viewer.next_part();
        assert_eq!(jpeg_size(&part.jpeg), Some((320, 180)));
    }
    let text = metrics_text(relay.addr());
    let failures = metric(
        &text,
        "oscstream_view_decode_failures_total{camera=\"main\"}",
    );
    let rendered = metric(
        &text,
        "oscstream_view_frames_total{camera=\"main\",view=\"door\"}",
    );
    println!("undecodable frames: {failures} counted, {rendered} view frames rendered");
    assert!(failures >= 3.0, "{failures}");
    assert_eq!(rendered, 0.0);
}
