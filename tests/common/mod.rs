//! Test rig: starts the simulated camera and the relay on ephemeral loopback ports and
//! gives tests real clients for them: ureq for JSON, and a strict MJPEG reader written
//! here from RFC 2046, independent of the relay's own parser.

#![allow(dead_code)]

use oscstream::app::relay::{Relay, RelayConfig};
use oscstream::camera::client::CameraAddr;
use oscstream::camera::client::Mode;
use oscstream::camera::errors::SetIn;
use oscstream::formats::osc::Credentials;
use oscstream::relay::channel::ChannelConfig;
use oscstream::sim::{SimConfig, Simulator};
use oscstream::timeouts::Timeouts;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Small frames keep the tests quick; the pattern is still a real JPEG.
pub const TEST_SIZE: (u16, u16) = (256, 128);
pub const TEST_FPS: u32 = 30;

pub fn sim_config() -> SimConfig {
    SimConfig {
        listen: "127.0.0.1:0".into(),
        credentials: None,
        width: TEST_SIZE.0,
        height: TEST_SIZE.1,
        fps: TEST_FPS,
        ..SimConfig::default()
    }
}

pub fn start_sim() -> Simulator {
    Simulator::start(sim_config()).expect("simulator starts")
}

pub fn start_sim_with(config: SimConfig) -> Simulator {
    Simulator::start(config).expect("simulator starts")
}

pub fn camera_at(addr: SocketAddr, credentials: Option<(&str, &str)>) -> CameraAddr {
    CameraAddr {
        set_in: SetIn::Flags,
        mdns: None,
        host: addr.ip().to_string(),
        port: addr.port(),
        credentials: credentials.map(|(i, p)| Credentials::new(i, p)),
    }
}

pub fn start_relay(camera: CameraAddr) -> Relay {
    start_relay_lingering(camera, Duration::from_secs(10))
}

pub fn start_relay_lingering(camera: CameraAddr, linger: Duration) -> Relay {
    Relay::start(relay_config(camera, linger)).expect("relay starts")
}

/// Short budgets, so that tests exercise timeouts without waiting out production ones.
/// NO SIGNAL comes before the read timeout, as in production, so both can be seen.
pub fn test_timeouts() -> Timeouts {
    Timeouts {
        camera_connect: Duration::from_millis(500),
        camera_read: Duration::from_millis(1500),
        camera_answer: Duration::from_secs(3),
        frame_stall: Duration::from_millis(1500),
        retry_max: Duration::from_secs(1),
        set_options_pause: Duration::from_millis(100),
        health_poll: Duration::from_millis(200),
        no_signal_after: Duration::from_millis(750),
        keepalive: Duration::from_millis(250),
        snapshot_wait: Duration::from_secs(2),
        request: Duration::from_secs(2),
        write: Duration::from_secs(2),
        ..Timeouts::default()
    }
}

/// A relay for `sim` with these access rules.
pub fn relay_with(sim: &Simulator, access: oscstream::web::access::Access) -> Relay {
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.access = access;
    Relay::start(config).expect("relay starts")
}

/// A relay for `sim` that asks every client for this Basic-auth user and password.
pub fn relay_with_basic_auth(sim: &Simulator, user: &str, password: &str) -> Relay {
    relay_with(
        sim,
        oscstream::web::access::Access {
            basic_auth: Some((user.into(), password.into())),
            ..Default::default()
        },
    )
}

pub fn relay_config(camera: CameraAddr, linger: Duration) -> RelayConfig {
    RelayConfig {
        listen: "127.0.0.1:0".into(),
        cameras: vec![ChannelConfig {
            name: "main".into(),
            address: camera,
            mode: Mode::Direct,
            max_viewers: oscstream::relay::channel::MAX_VIEWERS,
            preview: None,
            keep_awake: true,
            cool_down: Duration::from_secs(2),
            on_lost: None,
            state_dir: None,
            views: Vec::new(),
            mount: Default::default(),
        }],
        access: Default::default(),
        timeouts: Timeouts {
            linger,
            ..test_timeouts()
        },
        view_memory: oscstream::relay::views::VIEW_MEMORY_MIB << 20,
    }
}

/// Polls `check` until it returns `Some`, failing the test with `what` after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .max_redirects(0)
        .build()
        .into()
}

/// GETs `url`; returns the status and the body as JSON (Null when it is not JSON).
pub fn get_json(url: &str) -> (u16, Value) {
    let mut resp = agent().get(url).call().expect("request completes");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The relay's `/metrics` text.
pub fn metrics_text(relay: SocketAddr) -> String {
    agent()
        .get(&format!("http://{relay}/metrics"))
        .call()
        .expect("request completes")
        .body_mut()
        .read_to_string()
        .unwrap()
}

/// The value of one sample (`name{labels}`) in a `/metrics` text.
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {sample} in:\n{text}"))
}

pub fn post_json(url: &str, body: &str) -> (u16, Value) {
    let mut resp = agent()
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .expect("request completes");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

pub fn status(relay: &Relay) -> Value {
    get_json(&format!("http://{}/status", relay.addr())).1
}

/// Waits until the relay's upstream reports `state`.
pub fn wait_upstream(relay: &Relay, state: &str, limit: Duration) -> Value {
    wait_for(limit, &format!("upstream {state}"), || {
        let s = status(relay);
        (s["upstream"] == state).then_some(s)
    })
}

/// Sends a raw request and returns the status line and the whole answer.
pub fn raw_request(addr: SocketAddr, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    (text.lines().next().unwrap_or_default().to_string(), text)
}

/// One part of our stream as a client sees it.
#[derive(Debug, Clone)]
pub struct Part {
    pub headers: Vec<(String, String)>,
    pub jpeg: Vec<u8>,
    pub arrived: Instant,
}

impl Part {
    /// The simulator's stamp: the camera-side frame number.
    pub fn camera_seq(&self) -> u64 {
        oscstream::sim::read_stamp(&self.jpeg)
            .expect("frame carries the simulator's stamp")
            .0
    }
}

/// A strict reader of a `multipart/x-mixed-replace` stream: every part must have
/// `Content-Type: image/jpeg`, an exact `Content-Length`, SOI…EOI, and be followed at
/// once by CRLF and the next delimiter.
pub struct Viewer {
    reader: BufReader<TcpStream>,
    boundary: String,
    pub head: String,
    pub connected: Instant,
    /// The newest camera frame [`Viewer::next_camera_part`] returned.
    last_camera_seq: u64,
}

impl Viewer {
    pub fn connect(addr: SocketAddr, path: &str) -> Viewer {
        Self::connect_with(addr, path, "close")
    }

    pub fn connect_with(addr: SocketAddr, path: &str, connection: &str) -> Viewer {
        Self::connect_with_headers(addr, path, &format!("Connection: {connection}\r\n"))
    }

    /// A viewer with HTTP Basic credentials, asking in HTTP/1.0 (a proxy then passes the
    /// stream on as it is, not chunked, which this reader does not undo).
    pub fn connect_as(addr: SocketAddr, path: &str, user: &str, password: &str) -> Viewer {
        let token = base64(format!("{user}:{password}").as_bytes());
        Self::open(
            addr,
            &format!("GET {path} HTTP/1.0"),
            &format!("Authorization: Basic {token}\r\n"),
        )
    }

    fn connect_with_headers(addr: SocketAddr, path: &str, headers: &str) -> Viewer {
        Self::open(addr, &format!("GET {path} HTTP/1.1"), headers)
    }

    /// A viewer whose request line is `line` and carries `headers` (each ending in CRLF)
    /// beside Host.
    fn open(addr: SocketAddr, line: &str, headers: &str) -> Viewer {
        let connected = Instant::now();
        let mut s = TcpStream::connect(addr).expect("viewer connects");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "{line}\r\nHost: {addr}\r\n{headers}\r\n").unwrap();
        let mut reader = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("response head");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        assert!(head.starts_with("HTTP/1.1 200"), "stream answered {head}");
        let content_type = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Type: "))
            .expect("Content-Type");
        let boundary = content_type
            .split_once("boundary=")
            .expect("boundary")
            .1
            .trim()
            .to_string();
        let mut v = Viewer {
            reader,
            boundary,
            head,
            connected,
            last_camera_seq: 0,
        };
        let first = v.line();
        assert_eq!(
            first,
            format!("--{}", v.boundary),
            "body opens with a delimiter"
        );
        v
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("line");
        assert!(line.ends_with("\r\n"), "line ends with CRLF: {line:?}");
        line.trim_end_matches("\r\n").to_string()
    }

    /// The next part holding a camera frame newer than the last this returned. The
    /// relay's keep-alive repeats of the last frame and its NO SIGNAL parts, which come
    /// when the camera is slow (a busy machine starves the simulator too), are read,
    /// checked and passed over.
    pub fn next_camera_part(&mut self) -> Part {
        loop {
            let part = self.next_part();
            match oscstream::sim::read_stamp(&part.jpeg) {
                Some((seq, _)) if seq > self.last_camera_seq => {
                    self.last_camera_seq = seq;
                    return part;
                }
                _ => {}
            }
        }
    }

    /// Reads the next part, checking every rule above.
    pub fn next_part(&mut self) -> Part {
        let mut jpeg = Vec::new();
        let (headers, arrived) = self.read_part_into(&mut jpeg);
        Part {
            headers,
            jpeg,
            arrived,
        }
    }

    /// [`Viewer::next_part`] into a buffer the caller reuses, so that a benchmark measures
    /// the relay rather than this reader's allocations. Returns the headers and arrival.
    pub fn read_part_into(&mut self, jpeg: &mut Vec<u8>) -> (Vec<(String, String)>, Instant) {
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(": ").expect("header line");
            headers.push((k.to_string(), v.to_string()));
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("Content-Type").as_deref(), Some("image/jpeg"));
        let len: usize = get("Content-Length")
            .expect("every part has Content-Length")
            .parse()
            .unwrap();
        jpeg.resize(len, 0); // zeroes only bytes beyond the last, longer, frame
        self.reader.read_exact(jpeg).expect("part body");
        let arrived = Instant::now();
        assert!(
            oscstream::formats::jpeg::is_whole_jpeg(jpeg),
            "part is a whole JPEG"
        );
        assert_eq!(self.line(), "", "CRLF right after the JPEG");
        assert_eq!(
            self.line(),
            format!("--{}", self.boundary),
            "the delimiter follows each frame at once"
        );
        (headers, arrived)
    }
}

/// Width and height from a baseline JPEG's SOF0 segment.
pub fn jpeg_size(jpeg: &[u8]) -> Option<(u16, u16)> {
    let mut i = 2;
    while i + 9 < jpeg.len() {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if marker == 0xC0 || marker == 0xC1 || marker == 0xC2 {
            let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
            let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

/// A running `oscstream`, killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and waits for the stdout line containing `marker`; returns the URL in it.
pub fn start_binary(args: &[&str], marker: &str) -> (Running, String) {
    start_binary_with(
        Command::new(env!("CARGO_BIN_EXE_oscstream"))
            .args(args)
            .stderr(Stdio::null()),
        marker,
    )
}

/// [`start_binary`] for a command the caller set up (environment, stderr).
pub fn start_binary_with(command: &mut Command, marker: &str) -> (Running, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    let marker = marker.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(&marker) {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the binary prints where to look");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL")
        .to_string();
    (running, url)
}

/// The relay binary on a config file holding `config` (in a fresh folder named `dir`),
/// and where it listens.
pub fn relay_on_config(dir: &str, config: &str) -> (Running, SocketAddr) {
    let file = temp_dir(dir).join("cameras.toml");
    std::fs::write(&file, config).unwrap();
    let args = [
        "--config",
        file.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    let (relay, url) = start_binary(&args, "open http://");
    (relay, addr_of(&url))
}

pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Resident memory of a process, from /proc.
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The most resident memory a process has had (its high-water mark), from /proc.
pub fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Threads of a process, from /proc.
pub fn threads_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A number from the environment (a benchmark's or soak's setting), or the default.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs a tool, or `None` (after saying so) when it is not installed outside CI; under
/// `CI=true` a missing tool fails the test.
pub fn tool(name: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(name).args(args).output() {
        Ok(out) => Some(out),
        Err(e) => {
            skip(&format!(
                "{name} is not available ({e}): the test did not run"
            ));
            None
        }
    }
}

/// Runs `command` with `input` on its stdin; its output and exit status.
pub fn run_with_input(command: &mut Command, input: &str) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    // Written from here while the command runs: dropping stdin then ends its input.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .expect("the command reads its input");
    child.wait_with_output().unwrap()
}

/// Says that a test could not run here; fails it under `CI=true`, where `.ci/run`
/// installs everything the tests need.
pub fn skip(message: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let mut skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    if skipped.is_empty() {
        // SAFETY: registers a plain function to run at exit, once.
        unsafe { libc::atexit(say_what_was_skipped) };
    }
    skipped.push(format!("{test}: {message}"));
}

/// The tests that did not really run, said after the harness's own summary: its
/// capture hides what a passing test prints, and a skip must not look like a pass.
static SKIPPED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

extern "C" fn say_what_was_skipped() {
    let skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = format!(
        "\nSKIPPED: {} test(s) did not really run here (a tool is missing; CI installs it):\n",
        skipped.len()
    );
    for line in skipped.iter() {
        text.push_str(&format!("  {line}\n"));
    }
    // Straight to the stream: the harness's capture would swallow eprintln!.
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// A fresh, empty temporary folder for one test (named, since all tests share a process).
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("oscstream-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The project's documentation as the repository holds it: the README and the files
/// under `docs/`, each with its name.
pub const DOCS: &[(&str, &str)] = &[
    ("README.md", include_str!("../../README.md")),
    ("docs/views.md", include_str!("../../docs/views.md")),
    ("docs/page.md", include_str!("../../docs/page.md")),
    ("docs/reference.md", include_str!("../../docs/reference.md")),
    ("docs/recording.md", include_str!("../../docs/recording.md")),
    ("docs/proxies.md", include_str!("../../docs/proxies.md")),
    ("docs/scale-out.md", include_str!("../../docs/scale-out.md")),
    ("docs/service.md", include_str!("../../docs/service.md")),
    (
        "docs/performance.md",
        include_str!("../../docs/performance.md"),
    ),
    ("docs/security.md", include_str!("../../docs/security.md")),
    ("docs/design.md", include_str!("../../docs/design.md")),
];

/// The first ```` ```lang ```` block of the documentation that contains `marker`.
pub fn doc_block(lang: &str, marker: &str) -> String {
    let fence = format!("```{lang}\n");
    DOCS.iter()
        .flat_map(|(_, text)| {
            text.split(fence.as_str())
                .skip(1)
                .filter_map(|rest| rest.split_once("\n```").map(|(block, _)| block))
        })
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no ```{lang} block with {marker} in the documentation"))
        .to_string()
}

/// The first line of the documentation that starts with `start` and contains `marker`.
pub fn doc_line(start: &str, marker: &str) -> String {
    DOCS.iter()
        .flat_map(|(_, text)| text.lines())
        .find(|l| l.starts_with(start) && l.contains(marker))
        .unwrap_or_else(|| panic!("no line {start}…{marker} in the documentation"))
        .to_string()
}

/// Standard base64 with padding, for Basic credentials.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A small deterministic generator (xorshift), so that a failure names its seed and can
/// be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A flat view of `size` looking at `yaw`, `pitch` (degrees) with a 90° field of view.
pub fn view_spec(
    name: &str,
    (yaw, pitch): (f64, f64),
    (width, height): (u16, u16),
) -> oscstream::relay::views::ViewSpec {
    oscstream::relay::views::ViewSpec {
        name: name.into(),
        geometry: oscstream::formats::flat::ViewGeometry {
            yaw,
            pitch,
            roll: 0.0,
            fov: 90.0,
            width,
            height,
        },
        fps: None,
    }
}

/// What a client asked a camera of the test's own: the path, and the JSON body (`null`
/// when there is none or it is not JSON).
pub fn read_camera_request(conn: &mut TcpStream) -> Option<(String, Value)> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header.trim().is_empty() {
            break;
        }
        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}
