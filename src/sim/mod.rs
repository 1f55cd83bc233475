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

mod commands;
pub mod life;
mod pattern;
mod preview;
mod responder;

use preview::render_for;
pub use preview::{STAMP_PREFIX, read_stamp};
use responder::start_responder;

use crate::formats::osc::Credentials;
use crate::formats::osc::PreviewFormat;
use crate::http::{Limits, Request, Server};
use crate::sync::Locked;
use life::{Event, Life};
pub use life::{LifeConfig, PowerOff};
use serde_json::Value;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// How long a simulated picture takes.
const PICTURE_DURATION: Duration = Duration::from_millis(300);
/// Connections the simulated camera serves at once.
const MAX_CONNECTIONS: usize = 256;
/// A request must arrive whole within this; a client taking nothing this long is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const EVICTION_WAIT: Duration = Duration::from_millis(200);
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
    /// SimCamera id and password: with them, every request needs Digest auth.
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
    /// Live previews asked for while a sleep or power-off timer was not at "never" (what
    /// a relay keeping the camera awake must never let happen).
    pub previews_with_own_timers: AtomicU64,
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

struct SimCamera {
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
    camera: Arc<SimCamera>,
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
        let counters = Arc::new(Counters::default());
        let camera = Arc::new(SimCamera::new(&config, counters.clone()));
        camera.new_nonce();
        let handler = camera.clone();
        let server = Arc::new(Server::start(
            config.listen.as_str(),
            Limits {
                max_connections: MAX_CONNECTIONS,
                request_timeout: REQUEST_TIMEOUT,
                write_timeout: WRITE_TIMEOUT,
                eviction_wait: EVICTION_WAIT,
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

impl SimCamera {
    /// The camera as it comes out of the box for this configuration.
    fn new(config: &SimConfig, counters: Arc<Counters>) -> SimCamera {
        let level_1 = config.model == MODEL_S;
        let (format, supported) = preview_formats(config, level_1);
        let firmware = config
            .firmware
            .clone()
            .unwrap_or_else(|| if level_1 { "01.82" } else { "2.20.3" }.to_string());
        SimCamera {
            model: config.model.clone(),
            firmware,
            api: Mutex::new(ApiState {
                level: if level_1 { 1 } else { 2 },
                speaks_level_1: level_1,
                session: None,
                exclusive_use: false,
            }),
            credentials: config.credentials.clone(),
            started: Instant::now(),
            counters,
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
        }
    }
}

/// The format the preview starts at and the list the camera says it supports: a Z1's,
/// with a configured size it lacks added first; a THETA S has its one format.
fn preview_formats(config: &SimConfig, level_1: bool) -> (PreviewFormat, Vec<PreviewFormat>) {
    if level_1 {
        return (S_PREVIEW_FORMAT, vec![S_PREVIEW_FORMAT]);
    }
    let format = PreviewFormat {
        width: config.width.into(),
        height: config.height.into(),
        framerate: config.fps,
    };
    let mut supported: Vec<PreviewFormat> = Z1_PREVIEW_FORMATS
        .iter()
        .map(|&(width, height, framerate)| PreviewFormat {
            width: width.into(),
            height: height.into(),
            framerate,
        })
        .collect();
    if !supported.contains(&format) {
        supported.insert(0, format);
    }
    (format, supported)
}

/// How often the camera's life moves on, in real time.
const LIFE_TICK: Duration = Duration::from_millis(20);

/// The camera's life until it switches itself off (or is switched off).
fn live(camera: &SimCamera, server: &Server) {
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
