//! A simulated OSC camera that behaves like a RICOH THETA on the wire, written from the
//! camera's side of the protocol: `/osc/info`, `/osc/state`, `/osc/checkForUpdates`,
//! `/osc/commands/execute` and `/osc/commands/status`, OSC error objects, Digest auth
//! on every request when credentials are set, and an endless live preview in THETA's
//! exact format (bare `---osclivepreview---` delimiter, `Content-type`, chunked
//! transfer, CRLF after each JPEG), paced at the preview framerate.
//!
//! Each preview JPEG carries a COM segment `oscstream-sim seq=N t_us=T` stamped when the
//! camera writes it, so a benchmark can measure latency from the camera's side. Taking
//! a picture ends every running preview, as the real camera does. `GET /_sim/stats`
//! (what it served) and `POST /_sim/state` (fields merged into `/osc/state`, such as
//! temperatures and camera errors) are the simulator's own additions, for tests, as is
//! `GET /_sim/preview`: the same live preview with a conventional `--frame` delimiter,
//! for MJPEG tools that can only GET and do not take THETA's bare boundary (the
//! benchmark's peer, npm `mjpeg-proxy`).

pub mod life;
mod pattern;

use crate::formats::digest::{Authorization, Challenge};
use crate::formats::osc::Credentials;
use crate::formats::osc::PreviewFormat;
use crate::sync::Locked;
use crate::web::http::{Limits, Request, Response, Server, Status};
use life::{Event, Life};
pub use life::{LifeConfig, PowerOff};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a simulated picture takes.
const PICTURE_DURATION: Duration = Duration::from_millis(300);
/// Connections the simulated camera serves at once.
const MAX_CONNECTIONS: usize = 256;
/// A request must arrive whole within this; a client taking nothing this long is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A silent preview holds its connection at most this long.
const MAX_SILENCE: Duration = Duration::from_secs(60);
/// Preview formats of a THETA Z1 (RICOH's Web API spec); a configured size not in it is added.
const Z1_PREVIEW_FORMATS: [(u16, u16, u32); 5] = [
    (1920, 960, 8),
    (1024, 512, 30),
    (1024, 512, 8),
    (640, 320, 30),
    (640, 320, 8),
];
pub const MODEL: &str = "RICOH THETA Z1";
/// A THETA S previews at this format only.
const S_PREVIEW_FORMAT: PreviewFormat = PreviewFormat {
    width: 640,
    height: 320,
    framerate: 10,
};

/// How the simulated camera is set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: String,
    /// Camera id and password: with them, every request needs Digest auth.
    pub credentials: Option<Credentials>,
    pub width: u16,
    pub height: u16,
    pub fps: u32,
    /// `RICOH THETA Z1` (default) or `RICOH THETA S`, which speaks OSC API level 1 until
    /// a client sets `clientVersion` 2 and falls back to it whenever a preview link drops,
    /// and previews only at 640×320@10.
    pub model: String,
    /// The firmware `/osc/info` reports (the model's usual one when `None`).
    pub firmware: Option<String>,
    /// Answer DNS-SD queries (for `_osc._tcp.local` and its own names) on this UDP
    /// address, as a THETA in client mode does by multicast.
    pub mdns: Option<String>,
    /// Live a camera's life (sleep, power-off, heat) on this clock; `None`: stay awake
    /// and cool for ever, as tests of other things want.
    pub life: Option<LifeConfig>,
}

/// The simulated camera's DNS-SD instance name (`THETA` + model letters + serial).
pub const INSTANCE: &str = "THETAYN10010001";

/// The THETA S: API level 1 until told otherwise.
pub const MODEL_S: &str = "RICOH THETA S";

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            model: MODEL.into(),
            firmware: None,
            mdns: None,
            listen: "127.0.0.1:0".into(),
            credentials: None,
            width: 1024,
            height: 512,
            fps: 30,
            life: None,
        }
    }
}

/// Misbehaviour the simulated camera can be told to show, as real cameras and networks do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The running preview sends half a frame, then drops the connection.
    DieMidFrame,
    /// The running preview stops sending but keeps the connection open (a camera asleep).
    GoSilent,
    /// The next few parts are preceded by junk bytes.
    GarbageBetweenParts,
    /// The Digest nonce goes stale: the next request gets 401 with `stale=true`.
    StaleNonce,
    /// The next chunk of the running preview declares more bytes than it carries.
    LyingChunkSize,
    /// The next live-preview request is refused with an error message carrying a
    /// newline, a fake log line and a terminal escape sequence.
    HostileErrorMessage,
}

/// The message [`Fault::HostileErrorMessage`] sends.
pub const HOSTILE_MESSAGE: &str = "busy\n<3>error: FORGED LINE \u{1b}[31mred";

/// What the simulator has served, for tests and benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    /// Times a client switched the camera to API level 2 (`clientVersion` 2).
    pub handshakes: AtomicU64,
    /// `camera.setOptions` calls that set `sleepDelay` or `offDelay`.
    pub timer_sets: AtomicU64,
    pub preview_requests: AtomicU64,
    pub previews_running: AtomicUsize,
    pub frames_sent: AtomicU64,
    pub pictures_taken: AtomicU64,
    pub unauthorized: AtomicU64,
}

struct Picture {
    name: String,
    jpeg: Arc<[u8]>,
    taken: SystemTime,
    width: u32,
    height: u32,
}

struct Frames {
    format: PreviewFormat,
    loop_frames: Arc<Vec<Arc<[u8]>>>,
}

struct Camera {
    model: String,
    firmware: String,
    api: Mutex<ApiState>,
    credentials: Option<Credentials>,
    started: Instant,
    counters: Arc<Counters>,
    frames: Mutex<Frames>,
    supported: Vec<PreviewFormat>,
    /// Bumped by anything that ends running previews (a picture, a format change).
    preview_generation: AtomicU64,
    next_frame_seq: AtomicU64,
    nonce_counter: AtomicU64,
    nonce: Mutex<String>,
    /// Nonces that were valid once; a request using one gets `stale=true`.
    stale_nonces: Mutex<Vec<String>>,
    faults: Faults,
    /// `sleepDelay` and `offDelay` in seconds as a Z1 keeps them: 65535 ("never") is
    /// stored as 0, which is what a THETA V or later reads back.
    timers: Mutex<Timers>,
    /// Fields merged into `/osc/state`'s `state` (`POST /_sim/state`).
    state_overrides: Mutex<serde_json::Map<String, Value>>,
    pictures: Mutex<Vec<Picture>>,
    /// Its own life, when it lives one (see [`life`]).
    life: Option<Life>,
    /// Command id → (when it finishes, the picture's file name).
    commands: Mutex<HashMap<String, (Instant, String)>>,
    next_command: AtomicU64,
}

/// OSC API level 1 (THETA S, SC): sessions and `clientVersion`.
struct ApiState {
    /// 1 until a client sets `clientVersion` 2; 2 for cameras that speak only level 2.
    level: u8,
    /// Falls back to level 1 whenever a preview link drops.
    speaks_level_1: bool,
    session: Option<String>,
    /// Another client holds the camera: `camera.startSession` is refused.
    exclusive_use: bool,
}

/// The camera's sleep and power-off timers, in seconds (0: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    pub sleep_delay: u32,
    pub off_delay: u32,
}

/// A Z1 out of the box: asleep after 5 minutes, off after 18 hours.
pub const FACTORY_TIMERS: Timers = Timers {
    sleep_delay: 300,
    off_delay: 64800,
};

/// Faults waiting to happen; each is taken by the preview that acts on it.
#[derive(Default)]
struct Faults {
    die_mid_frame: AtomicBool,
    go_silent: AtomicBool,
    lying_chunk: AtomicBool,
    hostile_message: AtomicBool,
    garbage_parts: AtomicU64,
    /// The camera was switched off: every preview ends at once.
    killed: AtomicBool,
}

/// A running simulated camera; switched off when dropped.
pub struct Simulator {
    server: Arc<Server>,
    /// The DNS-SD responder's thread, if any; it ends once the camera is switched off.
    responder: Mutex<Option<thread::JoinHandle<()>>>,
    mdns_addr: Option<SocketAddr>,
    counters: Arc<Counters>,
    camera: Arc<Camera>,
}

impl Simulator {
    /// Renders the test pattern and starts serving; returns once the port is bound.
    pub fn start(config: SimConfig) -> io::Result<Simulator> {
        if config.width == 0 || config.height == 0 || config.fps == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the simulated camera needs a non-zero size and framerate",
            ));
        }
        let level_1 = config.model == MODEL_S;
        let format = if level_1 {
            S_PREVIEW_FORMAT
        } else {
            PreviewFormat {
                width: config.width.into(),
                height: config.height.into(),
                framerate: config.fps,
            }
        };
        let mut supported: Vec<PreviewFormat> = Z1_PREVIEW_FORMATS
            .iter()
            .map(|&(width, height, framerate)| PreviewFormat {
                width: width.into(),
                height: height.into(),
                framerate,
            })
            .collect();
        if level_1 {
            supported = vec![S_PREVIEW_FORMAT];
        } else if !supported.contains(&format) {
            supported.insert(0, format);
        }
        let counters = Arc::new(Counters::default());
        let firmware = config
            .firmware
            .clone()
            .unwrap_or_else(|| if level_1 { "01.82" } else { "2.20.3" }.to_string());
        let camera = Arc::new(Camera {
            model: config.model.clone(),
            firmware,
            api: Mutex::new(ApiState {
                level: if level_1 { 1 } else { 2 },
                speaks_level_1: level_1,
                session: None,
                exclusive_use: false,
            }),
            credentials: config.credentials,
            started: Instant::now(),
            counters: counters.clone(),
            frames: Mutex::new(Frames {
                format,
                loop_frames: Arc::new(render_for(format)),
            }),
            supported,
            preview_generation: AtomicU64::new(0),
            next_frame_seq: AtomicU64::new(1),
            nonce_counter: AtomicU64::new(0),
            nonce: Mutex::new(String::new()),
            stale_nonces: Mutex::new(Vec::new()),
            faults: Faults::default(),
            timers: Mutex::new(config.life.map_or(FACTORY_TIMERS, |l| l.factory)),
            state_overrides: Mutex::new(serde_json::Map::new()),
            pictures: Mutex::new(Vec::new()),
            life: config.life.map(Life::new),
            commands: Mutex::new(HashMap::new()),
            next_command: AtomicU64::new(1),
        });
        camera.new_nonce();
        let handler = camera.clone();
        let server = Arc::new(Server::start(
            config.listen.as_str(),
            Limits {
                max_connections: MAX_CONNECTIONS,
                request_timeout: REQUEST_TIMEOUT,
                write_timeout: WRITE_TIMEOUT,
            },
            Arc::new(move |req: Request| handler.handle(req)),
        )?);
        if camera.life.is_some() {
            let (camera, server) = (camera.clone(), server.clone());
            thread::Builder::new()
                .name("sim-life".into())
                .spawn(move || live(&camera, &server))?;
        }
        let (responder, mdns_addr) = match &config.mdns {
            Some(listen) => {
                let (thread, addr) = start_responder(listen, server.addr().port(), camera.clone())?;
                (Some(thread), Some(addr))
            }
            None => (None, None),
        };
        Ok(Simulator {
            responder: Mutex::new(responder),
            mdns_addr,
            server,
            counters,
            camera,
        })
    }

    /// Whether (and why) the camera switched itself off in its life.
    pub fn switched_off(&self) -> Option<PowerOff> {
        self.camera.life.as_ref().and_then(Life::switched_off)
    }

    /// Makes the camera misbehave; see [`Fault`].
    pub fn inject(&self, fault: Fault) {
        let f = &self.camera.faults;
        match fault {
            Fault::DieMidFrame => f.die_mid_frame.store(true, Ordering::SeqCst),
            Fault::GoSilent => f.go_silent.store(true, Ordering::SeqCst),
            Fault::LyingChunkSize => f.lying_chunk.store(true, Ordering::SeqCst),
            Fault::HostileErrorMessage => f.hostile_message.store(true, Ordering::SeqCst),
            Fault::GarbageBetweenParts => {
                f.garbage_parts.fetch_add(3, Ordering::SeqCst);
            }
            Fault::StaleNonce => {
                let old = self.camera.nonce.locked().clone();
                self.camera.stale_nonces.locked().push(old);
                self.camera.new_nonce();
            }
        }
    }

    /// Switches the camera off: the port closes and running previews end mid-stream.
    /// Start a new simulator on the same address to switch it on again. Dropping the
    /// simulator does the same.
    pub fn kill(&self) {
        self.camera.faults.killed.store(true, Ordering::SeqCst);
        self.server.stop();
        if let Some(responder) = self.responder.locked().take() {
            let _ = responder.join();
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Where its DNS-SD responder listens, if it has one.
    pub fn mdns_addr(&self) -> Option<SocketAddr> {
        self.mdns_addr
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Another client holds the camera (`true`): `camera.startSession` answers
    /// `cameraInExclusiveUse` until released.
    pub fn set_exclusive_use(&self, held: bool) {
        self.camera.api.locked().exclusive_use = held;
    }

    /// Merges `fields` into the camera's `/osc/state` (as `POST /_sim/state` does).
    pub fn set_state(&self, fields: Value) {
        if let Value::Object(fields) = fields {
            self.camera.state_overrides.locked().extend(fields);
        }
    }

    /// Puts the timers back to the factory's, as a camera that lost power does.
    pub fn reset_timers(&self) {
        *self.camera.timers.locked() = self
            .camera
            .life
            .as_ref()
            .map_or(FACTORY_TIMERS, |l| l.config().factory);
    }

    /// The camera's sleep and power-off timers now.
    pub fn timers(&self) -> Timers {
        *self.camera.timers.locked()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Commands a level-1 camera takes (of those the simulator knows).
const LEVEL_1_COMMANDS: [&str; 3] = [
    "camera.startSession",
    "camera.setOptions",
    "camera.getOptions",
];

/// Answers DNS-SD queries on `listen` for this camera: the `_osc._tcp.local` PTR, its
/// instance's SRV (the HTTP port) and its host's A record (127.0.0.1), by unicast.
fn start_responder(
    listen: &str,
    http_port: u16,
    camera: Arc<Camera>,
) -> io::Result<(thread::JoinHandle<()>, SocketAddr)> {
    use crate::formats::dns::{self as mdns, Record};
    let socket = std::net::UdpSocket::bind(listen)?;
    let addr = socket.local_addr()?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let service = mdns::OSC_SERVICE;
    let full = format!("{INSTANCE}.{service}");
    let host = format!("{INSTANCE}.local");
    let thread = thread::Builder::new()
        .name("sim-mdns".into())
        .spawn(move || {
            let mut buf = [0u8; 1500];
            while !camera.faults.killed.load(Ordering::SeqCst) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some(query) = mdns::parse(&buf[..n]).filter(|m| !m.response) else {
                    continue;
                };
                let ptr = Record::Ptr {
                    name: service.into(),
                    target: full.clone(),
                };
                let srv = Record::Srv {
                    name: full.clone(),
                    port: http_port,
                    target: host.clone(),
                };
                let a = Record::A {
                    name: host.clone(),
                    addr: std::net::Ipv4Addr::LOCALHOST,
                };
                let mut answers = Vec::new();
                for (name, qtype) in &query.questions {
                    let name = name.to_ascii_lowercase();
                    match *qtype {
                        mdns::TYPE_PTR if name == service => {
                            answers.extend([ptr.clone(), srv.clone(), a.clone()])
                        }
                        mdns::TYPE_SRV if name == full.to_ascii_lowercase() => {
                            answers.extend([srv.clone(), a.clone()])
                        }
                        mdns::TYPE_A if name == host.to_ascii_lowercase() => {
                            answers.push(a.clone())
                        }
                        _ => {}
                    }
                }
                if !answers.is_empty() {
                    let _ = socket.send_to(&mdns::build_response(query.id, &answers), from);
                }
            }
        })?;
    Ok((thread, addr))
}

/// One loop second of frames (at most 30 distinct pictures). Formats come only from the
/// supported list, whose sizes fit a JPEG's 16-bit dimensions.
fn render_for(format: PreviewFormat) -> Vec<Arc<[u8]>> {
    let side = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
    pattern::render_loop(
        side(format.width),
        side(format.height),
        format.framerate.clamp(1, 30) as usize,
    )
}

/// An OSC command error object with its HTTP status.
fn osc_error(status: Status, name: &str, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"name": name, "state": "error", "error": {"code": code, "message": message}}),
    )
}

fn done(name: &str, results: Value) -> Response {
    Response::json(
        Status::OK,
        &json!({"name": name, "state": "done", "results": results}),
    )
}

/// How often the camera's life moves on, in real time.
const LIFE_TICK: Duration = Duration::from_millis(20);

/// The camera's life until it switches itself off (or is switched off).
fn live(camera: &Camera, server: &Server) {
    let Some(life) = &camera.life else { return };
    while !camera.faults.killed.load(Ordering::SeqCst) {
        thread::sleep(LIFE_TICK);
        let previewing = camera.counters.previews_running.load(Ordering::SeqCst) > 0;
        let timers = *camera.timers.locked();
        match life.advance(previewing, timers) {
            Some(Event::SwitchedOff(_)) => {
                // As `Simulator::kill`: previews end, the port closes, DNS-SD falls silent.
                camera.faults.killed.store(true, Ordering::SeqCst);
                server.stop();
                return;
            }
            Some(Event::FellAsleep) | None => {}
        }
    }
}

impl Camera {
    fn handle(self: &Arc<Self>, req: Request) -> Response {
        if let Some(challenge) = self.unauthorized(&req) {
            self.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
            return Response::bytes(
                Status::UNAUTHORIZED,
                "text/html",
                &b"<h1>401 Unauthorized</h1>"[..],
            )
            .with_header("WWW-Authenticate", challenge);
        }
        let asleep =
            req.path.starts_with("/osc/") && self.life.as_ref().is_some_and(|life| !life.command());
        if asleep {
            return Response::json(
                Status::SERVICE_UNAVAILABLE,
                &json!({"state": "error", "error": {"code": "serviceUnavailable",
                    "message": "The camera is waking up."}}),
            );
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/osc/info") => Response::json(Status::OK, &self.info()),
            ("POST", "/osc/state") => Response::json(Status::OK, &self.state()),
            ("POST", "/osc/checkForUpdates") => Response::json(
                Status::OK,
                &json!({"stateFingerprint": self.fingerprint(), "throttleTimeout": 60}),
            ),
            ("POST", "/osc/commands/execute") => self.execute(&req),
            ("POST", "/osc/commands/status") => self.command_status(&req),
            ("GET", "/_sim/stats") => Response::json(Status::OK, &self.stats()),
            ("POST", "/_sim/state") => self.merge_state(&req),
            ("GET", "/_sim/preview") => self.live_preview(Delimiter::Conventional),
            ("GET", path) if path.starts_with("/files/") => self.file(path),
            _ => Response::bytes(
                Status::NOT_FOUND,
                "text/html",
                &b"<h1>404 Not Found</h1>"[..],
            ),
        }
    }

    /// `Some(challenge header)` when the request must be refused.
    fn unauthorized(&self, req: &Request) -> Option<String> {
        let Credentials { id, password } = self.credentials.as_ref()?;
        let nonce = self.nonce.locked().clone();
        let challenge = Challenge {
            realm: MODEL.into(),
            nonce: nonce.clone(),
            opaque: None,
            qop_auth: true,
            stale: false,
        };
        let creds = req.header("authorization").and_then(Authorization::parse);
        let valid = creds.as_ref().filter(|c| {
            c.username == *id && c.realm == MODEL && c.verify(password, req.method.as_str())
        });
        match valid {
            Some(c) if c.nonce == nonce => None,
            Some(c) if self.stale_nonces.locked().contains(&c.nonce) => Some(
                Challenge {
                    stale: true,
                    ..challenge
                }
                .header_value(),
            ),
            _ => Some(challenge.header_value()),
        }
    }

    fn new_nonce(&self) {
        let n = self.nonce_counter.fetch_add(1, Ordering::Relaxed);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        *self.nonce.locked() = crate::formats::digest::md5_hex(&format!("{t}:{n}"));
    }

    fn info(&self) -> Value {
        json!({
            "manufacturer": "RICOH",
            "model": self.model,
            "serialNumber": "10010001",
            "firmwareVersion": self.firmware,
            "supportUrl": "https://theta360.com/en/support/",
            "gps": false,
            "gyro": true,
            "uptime": self.started.elapsed().as_secs(),
            "api": ["/osc/info", "/osc/state", "/osc/checkForUpdates",
                    "/osc/commands/execute", "/osc/commands/status"],
            "endpoints": {"httpPort": 80, "httpUpdatesPort": 80},
            "apiLevel": if self.api.locked().speaks_level_1 { json!([1, 2]) } else { json!([2]) },
            "_wlanMacAddress": "58:38:79:00:00:01",
        })
    }

    fn fingerprint(&self) -> String {
        format!(
            "FIG_{:04}",
            self.counters.pictures_taken.load(Ordering::Relaxed)
                + self.preview_generation.load(Ordering::Relaxed)
        )
    }

    fn state(&self) -> Value {
        let capturing = self
            .commands
            .locked()
            .values()
            .any(|(until, _)| Instant::now() < *until);
        let latest = self
            .pictures
            .locked()
            .last()
            .map(|p| format!("/files/100RICOH/{}", p.name));
        let mut state = json!({
            "batteryLevel": 0.8,
            "storageUri": "http://192.168.1.1/files/100RICOH/",
            "_batteryState": "disconnect",
            "_captureStatus": if capturing { "shooting" } else { "idle" },
            "_recordedTime": 0,
            "_recordableTime": 0,
            "_latestFileUrl": latest.unwrap_or_default(),
            "_cameraError": [],
            "_function": "normal",
            "_boardTemp": 38.5,
            "_batteryTemp": 31.0,
            "_apiVersion": self.api.locked().level,
        });
        if let Some(map) = state.as_object_mut() {
            if let Some(life) = &self.life {
                let (temp, errors) = life.heat();
                map.insert("_boardTemp".into(), json!((temp * 10.0).round() / 10.0));
                map.insert("_cameraError".into(), json!(errors));
            }
            for (k, v) in self.state_overrides.locked().iter() {
                map.insert(k.clone(), v.clone());
            }
        }
        json!({ "fingerprint": self.fingerprint(), "state": state })
    }

    /// `POST /_sim/state {...}`: merges into the state object, e.g. temperatures and
    /// `_cameraError` entries, so tests can heat the camera up.
    fn merge_state(&self, req: &Request) -> Response {
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&req.body) else {
            return Response::error(
                Status::BAD_REQUEST,
                "Send a JSON object to merge into the state.",
            );
        };
        self.state_overrides.locked().extend(fields);
        Response::json(Status::OK, &self.state())
    }

    fn stats(&self) -> Value {
        let c = &self.counters;
        json!({
            "preview_requests": c.preview_requests.load(Ordering::Relaxed),
            "previews_running": c.previews_running.load(Ordering::Relaxed),
            "frames_sent": c.frames_sent.load(Ordering::Relaxed),
            "pictures_taken": c.pictures_taken.load(Ordering::Relaxed),
            "unauthorized": c.unauthorized.load(Ordering::Relaxed),
        })
    }

    fn execute(self: &Arc<Self>, req: &Request) -> Response {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return osc_error(
                Status::BAD_REQUEST,
                "",
                "invalidParameterValue",
                "The body is not JSON.",
            );
        };
        let Some(name) = body.get("name").and_then(Value::as_str) else {
            return osc_error(
                Status::BAD_REQUEST,
                "",
                "missingParameter",
                "The name is missing.",
            );
        };
        let params = body.get("parameters").cloned().unwrap_or(json!({}));
        if self.api.locked().level == 1 && !LEVEL_1_COMMANDS.contains(&name) {
            return osc_error(
                Status::BAD_REQUEST,
                name,
                "unknownCommand",
                "This camera speaks OSC API level 1: set clientVersion 2 in a session first.",
            );
        }
        match name {
            "camera.startSession" => self.start_session(name),
            "camera.getLivePreview" => self.live_preview(Delimiter::Theta),
            "camera.takePicture" => self.take_picture(),
            "camera.getOptions" => self.get_options(name, &params),
            "camera.setOptions" => self.set_options(name, &params),
            "camera.listFiles" => self.list_files(name, &params, req),
            _ => osc_error(
                Status::BAD_REQUEST,
                name,
                "unknownCommand",
                &format!("Command {name} is not supported."),
            ),
        }
    }

    fn start_session(&self, name: &str) -> Response {
        let mut api = self.api.locked();
        if api.exclusive_use {
            return osc_error(
                Status::BAD_REQUEST,
                name,
                "cameraInExclusiveUse",
                "Another client is using the camera.",
            );
        }
        let n = self.next_command.fetch_add(1, Ordering::Relaxed);
        let id = format!("SID_{n:04}");
        api.session = Some(id.clone());
        done(name, json!({"sessionId": id, "timeout": 180}))
    }

    fn live_preview(self: &Arc<Self>, delimiter: Delimiter) -> Response {
        self.counters
            .preview_requests
            .fetch_add(1, Ordering::Relaxed);
        if self.faults.hostile_message.swap(false, Ordering::SeqCst) {
            return osc_error(
                Status::SERVICE_UNAVAILABLE,
                "camera.getLivePreview",
                "serviceUnavailable",
                HOSTILE_MESSAGE,
            );
        }
        let (format, frames) = {
            let f = self.frames.locked();
            (f.format, f.loop_frames.clone())
        };
        let preview = PreviewRun {
            delimiter,
            generation: self.preview_generation.load(Ordering::SeqCst),
            period: Duration::from_secs_f64(1.0 / f64::from(format.framerate)),
            frames,
        };
        let camera = self.clone();
        Response::stream(
            delimiter.content_type(),
            Box::new(move |out: &mut TcpStream| preview.run(&camera, out)),
        )
        .with_header("Connection", "Keep-Alive")
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("Transfer-Encoding", "Chunked")
    }

    fn take_picture(&self) -> Response {
        let n = self.counters.pictures_taken.fetch_add(1, Ordering::SeqCst) + 1;
        // The real camera ends the live preview as it shoots.
        self.preview_generation.fetch_add(1, Ordering::SeqCst);
        let (format, jpeg) = {
            let f = self.frames.locked();
            (f.format, f.loop_frames[0].clone())
        };
        let name = format!("R00{:05}.JPG", 10000 + n);
        self.pictures.locked().push(Picture {
            name: name.clone(),
            jpeg,
            taken: SystemTime::now(),
            width: format.width,
            height: format.height,
        });
        let id = self
            .next_command
            .fetch_add(1, Ordering::Relaxed)
            .to_string();
        self.commands
            .locked()
            .insert(id.clone(), (Instant::now() + PICTURE_DURATION, name));
        Response::json(
            Status::OK,
            &json!({"name": "camera.takePicture", "state": "inProgress", "id": id,
                    "progress": {"completion": 0.0}}),
        )
    }

    fn command_status(&self, req: &Request) -> Response {
        let id = serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|v| match v.get("id") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            });
        let Some(id) = id else {
            return osc_error(
                Status::BAD_REQUEST,
                "",
                "missingParameter",
                "The id is missing.",
            );
        };
        let commands = self.commands.locked();
        let Some((until, file)) = commands.get(&id) else {
            return osc_error(
                Status::BAD_REQUEST,
                "",
                "invalidParameterValue",
                "No command has that id.",
            );
        };
        if Instant::now() < *until {
            return Response::json(
                Status::OK,
                &json!({"name": "camera.takePicture", "state": "inProgress", "id": id,
                        "progress": {"completion": 0.5}}),
            );
        }
        let url = format!("http://{}/files/100RICOH/{file}", host_of(req));
        done("camera.takePicture", json!({ "fileUrl": url }))
    }

    fn get_options(&self, name: &str, params: &Value) -> Response {
        let Some(names) = params.get("optionNames").and_then(Value::as_array) else {
            return osc_error(
                Status::BAD_REQUEST,
                name,
                "missingParameter",
                "optionNames is missing.",
            );
        };
        let format = self.frames.locked().format;
        let mut options = serde_json::Map::new();
        for option in names.iter().filter_map(Value::as_str) {
            let value = match option {
                "previewFormat" => format.to_json(),
                "previewFormatSupport" => {
                    Value::Array(self.supported.iter().map(|f| f.to_json()).collect())
                }
                "captureMode" => json!("image"),
                "captureModeSupport" => json!(["image", "video"]),
                "fileFormat" => json!({"type": "jpeg", "width": 6720, "height": 3360}),
                "remainingPictures" => json!(1234),
                "totalSpace" => json!(19_000_000_000u64),
                "remainingSpace" => json!(18_000_000_000u64),
                "sleepDelay" => json!(self.timers.locked().sleep_delay),
                "offDelay" => json!(self.timers.locked().off_delay),
                "sleepDelaySupport" => json!([60, 65534]),
                "offDelaySupport" => json!([0, 65535]),
                _ => {
                    return osc_error(
                        Status::BAD_REQUEST,
                        name,
                        "invalidParameterName",
                        &format!("Option {option} is not supported."),
                    );
                }
            };
            options.insert(option.to_string(), value);
        }
        done(name, json!({ "options": options }))
    }

    fn set_options(&self, name: &str, params: &Value) -> Response {
        let Some(options) = params.get("options").and_then(Value::as_object) else {
            return osc_error(
                Status::BAD_REQUEST,
                name,
                "missingParameter",
                "options is missing.",
            );
        };
        let mut timer_set = false;
        for (option, value) in options {
            match option.as_str() {
                "clientVersion" => {
                    let mut api = self.api.locked();
                    let session = params.get("sessionId").and_then(Value::as_str);
                    if api.level == 1 && (session.is_none() || session != api.session.as_deref()) {
                        return osc_error(
                            Status::BAD_REQUEST,
                            name,
                            "invalidSessionId",
                            "The session id is missing or not the newest session's.",
                        );
                    }
                    if value.as_u64() == Some(2) {
                        api.level = 2;
                        self.counters.handshakes.fetch_add(1, Ordering::SeqCst);
                    }
                }
                "previewFormat" => {
                    let wanted = PreviewFormat::from_json(value);
                    let Some(wanted) = wanted.filter(|f| self.supported.contains(f)) else {
                        return osc_error(
                            Status::BAD_REQUEST,
                            name,
                            "invalidParameterValue",
                            "previewFormat is not one of previewFormatSupport.",
                        );
                    };
                    let mut frames = self.frames.locked();
                    if frames.format != wanted {
                        frames.loop_frames = Arc::new(render_for(wanted));
                        frames.format = wanted;
                        self.preview_generation.fetch_add(1, Ordering::SeqCst);
                    }
                }
                "captureMode" => {}
                "sleepDelay" | "offDelay" => {
                    // V and later: 60..=65534 seconds, or 65535 for never (read back as 0).
                    let seconds = value
                        .as_u64()
                        .filter(|s| (60..=65535).contains(s) || (option == "offDelay" && *s == 0));
                    let Some(seconds) = seconds else {
                        return osc_error(
                            Status::BAD_REQUEST,
                            name,
                            "invalidParameterValue",
                            &format!("{option} is out of range."),
                        );
                    };
                    let stored = if seconds == 65535 { 0 } else { seconds as u32 };
                    let mut timers = self.timers.locked();
                    if option == "sleepDelay" {
                        timers.sleep_delay = stored;
                    } else {
                        timers.off_delay = stored;
                    }
                    timer_set = true;
                }
                _ => {
                    return osc_error(
                        Status::BAD_REQUEST,
                        name,
                        "invalidParameterName",
                        &format!("Option {option} is not supported."),
                    );
                }
            }
        }
        if timer_set {
            self.counters.timer_sets.fetch_add(1, Ordering::SeqCst);
        }
        done(name, json!({}))
    }

    fn list_files(&self, name: &str, params: &Value, req: &Request) -> Response {
        let Some(count) = params.get("entryCount").and_then(Value::as_u64) else {
            return osc_error(
                Status::BAD_REQUEST,
                name,
                "missingParameter",
                "entryCount is missing.",
            );
        };
        let pictures = self.pictures.locked();
        let host = host_of(req);
        let entries: Vec<Value> = pictures
            .iter()
            .rev()
            .take(count as usize)
            .map(|p| {
                let secs = p
                    .taken
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                json!({
                    "name": p.name,
                    "fileUrl": format!("http://{host}/files/100RICOH/{}", p.name),
                    "size": p.jpeg.len(),
                    "dateTimeZone": format!("@{secs}+00:00"),
                    "width": p.width,
                    "height": p.height,
                })
            })
            .collect();
        done(
            name,
            json!({"entries": entries, "totalEntries": pictures.len()}),
        )
    }

    fn file(&self, path: &str) -> Response {
        let name = path.rsplit('/').next().unwrap_or_default();
        match self.pictures.locked().iter().find(|p| p.name == name) {
            Some(p) => Response::bytes(Status::OK, "image/jpeg", p.jpeg.to_vec()),
            None => Response::bytes(
                Status::NOT_FOUND,
                "text/html",
                &b"<h1>404 Not Found</h1>"[..],
            ),
        }
    }
}

/// One running live preview: the loop of pictures it plays and the generation it belongs to.
/// How preview parts are delimited.
#[derive(Debug, Clone, Copy)]
enum Delimiter {
    /// THETA's: the bare boundary `---osclivepreview---` as the delimiter line.
    Theta,
    /// RFC 2046's: `--frame`.
    Conventional,
}

impl Delimiter {
    fn content_type(self) -> &'static str {
        match self {
            Delimiter::Theta => "multipart/x-mixed-replace; boundary=\"---osclivepreview---\"",
            Delimiter::Conventional => "multipart/x-mixed-replace; boundary=frame",
        }
    }

    fn line(self) -> &'static str {
        match self {
            Delimiter::Theta => "---osclivepreview---",
            Delimiter::Conventional => "--frame",
        }
    }
}

struct PreviewRun {
    delimiter: Delimiter,
    generation: u64,
    period: Duration,
    frames: Arc<Vec<Arc<[u8]>>>,
}

impl PreviewRun {
    fn run(self, camera: &Camera, out: &mut TcpStream) -> io::Result<()> {
        let counters = &camera.counters;
        counters.previews_running.fetch_add(1, Ordering::SeqCst);
        let result = self.play(camera, out);
        counters.previews_running.fetch_sub(1, Ordering::SeqCst);
        if result.is_err() {
            // The link dropped: a level-1 camera forgets clientVersion, as a THETA S does.
            let mut api = camera.api.locked();
            if api.speaks_level_1 {
                api.level = 1;
                api.session = None;
            }
        }
        result
    }

    fn play(&self, camera: &Camera, out: &mut TcpStream) -> io::Result<()> {
        let faults = &camera.faults;
        let mut next = Instant::now();
        for i in 0.. {
            if faults.killed.load(Ordering::SeqCst) {
                return Err(io::ErrorKind::ConnectionAborted.into());
            }
            if faults.go_silent.swap(false, Ordering::SeqCst) {
                return hold_silently(out, faults);
            }
            if camera.preview_generation.load(Ordering::SeqCst) != self.generation {
                // A picture or a format change ends the preview: last chunk, then close.
                out.write_all(b"0\r\n\r\n")?;
                return Ok(());
            }
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else if now - next > self.period * 4 {
                next = now; // fell far behind (a slow reader): do not burst to catch up
            }
            next += self.period;
            let seq = camera.next_frame_seq.fetch_add(1, Ordering::Relaxed);
            let jpeg = &self.frames[i % self.frames.len()];
            let stamp = stamp_segment(seq);
            let junk: &[u8] = if take_one(&faults.garbage_parts) {
                GARBAGE
            } else {
                b""
            };
            let head = format!(
                "{}\r\nContent-type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                self.delimiter.line(),
                jpeg.len() + stamp.len()
            );
            let part_len = junk.len() + head.len() + jpeg.len() + stamp.len() + 2;
            let declared = if faults.lying_chunk.swap(false, Ordering::SeqCst) {
                part_len + 64
            } else {
                part_len
            };
            // One buffer, one copy of the JPEG: the camera's own cost stays honest as the
            // benchmark's baseline. The stamp goes right after SOI.
            let mut chunk = Vec::with_capacity(part_len + 16);
            chunk.extend_from_slice(format!("{declared:X}\r\n").as_bytes());
            chunk.extend_from_slice(junk);
            chunk.extend_from_slice(head.as_bytes());
            chunk.extend_from_slice(&jpeg[..2]);
            chunk.extend_from_slice(&stamp);
            chunk.extend_from_slice(&jpeg[2..]);
            chunk.extend_from_slice(b"\r\n\r\n");
            if faults.die_mid_frame.swap(false, Ordering::SeqCst) {
                out.write_all(&chunk[..chunk.len() / 2])?;
                return Err(io::ErrorKind::ConnectionAborted.into());
            }
            out.write_all(&chunk)?;
            camera.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Junk a broken camera or network might put between parts: stray lines, a lone SOI,
/// bytes that are not UTF-8, and a part whose body is not a JPEG.
const GARBAGE: &[u8] = b"\r\nGARBAGE\xff\xd8\xff\xe0 junk\r\n\x00\x01\xfe\xff\xd9\r\n\
---osclivepreview---\r\nContent-type: image/jpeg\r\nContent-Length: 10\r\n\r\nNOTAJPEG!!\r\n";

fn take_one(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Keeps the connection open without sending, like a camera that fell asleep, until the
/// client gives up (or the camera is switched off).
fn hold_silently(out: &mut TcpStream, faults: &Faults) -> io::Result<()> {
    out.set_read_timeout(Some(Duration::from_millis(100)))?;
    let until = Instant::now() + MAX_SILENCE;
    let mut probe = [0u8; 1];
    while Instant::now() < until && !faults.killed.load(Ordering::SeqCst) {
        match out.peek(&mut probe) {
            Ok(0) => return Ok(()), // the client closed
            Ok(_) => thread::sleep(Duration::from_millis(100)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::ErrorKind::ConnectionAborted.into())
}

/// Prefix of the COM segment the simulator stamps into every preview frame.
pub const STAMP_PREFIX: &str = "oscstream-sim ";

/// A COM segment `oscstream-sim seq=N t_us=T`, stamped now, to go right after SOI.
fn stamp_segment(seq: u64) -> Vec<u8> {
    let t_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let text = format!("{STAMP_PREFIX}seq={seq} t_us={t_us}");
    let len = (text.len() + 2) as u16;
    let mut segment = Vec::with_capacity(text.len() + 4);
    segment.extend_from_slice(&[0xFF, 0xFE]);
    segment.extend_from_slice(&len.to_be_bytes());
    segment.extend_from_slice(text.as_bytes());
    segment
}

/// Reads the simulator's stamp back: `(seq, microseconds since the epoch when the camera wrote it)`.
pub fn read_stamp(jpeg: &[u8]) -> Option<(u64, u128)> {
    if jpeg.get(2..4)? != [0xFF, 0xFE] {
        return None;
    }
    let len = u16::from_be_bytes([*jpeg.get(4)?, *jpeg.get(5)?]) as usize;
    let text = std::str::from_utf8(jpeg.get(6..4 + len)?).ok()?;
    let rest = text.strip_prefix(STAMP_PREFIX)?;
    let mut seq = None;
    let mut t_us = None;
    for field in rest.split(' ') {
        match field.split_once('=') {
            Some(("seq", v)) => seq = v.parse().ok(),
            Some(("t_us", v)) => t_us = v.parse().ok(),
            _ => {}
        }
    }
    Some((seq?, t_us?))
}

fn host_of(req: &Request) -> String {
    req.header("host").unwrap_or("127.0.0.1").to_string()
}
