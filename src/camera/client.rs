//! The camera client: OSC requests over plain HTTP with `ureq`, Digest auth when the
//! camera sits on a router (Mode 2), and the live-preview request that hands back the
//! endless multipart body as a reader.
//!
//! Every call has a connect timeout and a per-read timeout, so no camera can hang a
//! thread forever; JSON calls also have a deadline for the whole answer. The preview
//! deliberately has none, which would cut the endless stream. Errors are sentences a
//! user can act on and never contain the camera password.

use crate::camera::answers::{
    self, AnswerError, Command, CommandState, FileList, Info, Object, OptionsResults,
    PictureResults, SessionResults, State,
};
use crate::formats::digest::Challenge;
use crate::formats::osc::{Credentials, PreviewFormat};
use crate::sync::Locked;
use crate::timeouts::Timeouts;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// JSON answers larger than this are refused: a THETA's are a few KiB, a page of
/// `listFiles` tens of KiB. The cap bounds what a hostile camera's answer can cost.
const MAX_JSON_BYTES: u64 = 256 << 10;
/// Camera commands waiting for their turn beyond the one running; more get `Busy`.
const MAX_QUEUED_COMMANDS: usize = 4;
/// `/osc/info` answers are reused for this long: pages poll it, the camera hardly changes.
const INFO_MAX_AGE: Duration = Duration::from_secs(5);

/// Where the camera is and how to log in.
#[derive(Debug, Clone)]
pub struct CameraAddr {
    pub host: String,
    pub port: u16,
    /// Digest auth login (Mode 2).
    pub credentials: Option<Credentials>,
    /// Where mDNS queries go when `host` is a name to resolve that way
    /// (`THETAYN10010104.local`); `port` is then the SRV port unless `-p` set it.
    pub mdns: Option<MdnsName>,
}

/// A camera found by its mDNS name, resolved again whenever it stops answering (a new
/// DHCP address is a normal event, not an outage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MdnsName {
    /// The mDNS group, or one responder (`--mdns ADDR:PORT`).
    pub target: SocketAddr,
    /// `-p` was given: keep it, whatever port the camera announces.
    pub port_given: bool,
}

impl CameraAddr {
    /// `host:port`, with IPv6 hosts in brackets.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A failed camera call, worded for the person running the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OscError {
    Unreachable {
        camera: String,
        detail: String,
    },
    WrongCredentials {
        camera: String,
        id: String,
    },
    AuthRequired {
        camera: String,
    },
    Refused {
        camera: String,
        command: String,
        status: u16,
        code: String,
        message: String,
    },
    Unreadable {
        camera: String,
        detail: String,
    },
    /// The camera closed the live preview (a picture, sleep, the camera's own choice).
    PreviewEnded {
        camera: String,
    },
    /// The live preview broke off mid-stream (a reset, a broken chunk, a cut connection).
    PreviewBroken {
        camera: String,
        detail: String,
    },
    /// The live preview delivered no whole frame for `after`.
    PreviewStalled {
        camera: String,
        after: Duration,
    },
    /// A command the camera accepted did not finish in time.
    TimedOut {
        camera: String,
        command: String,
        after: Duration,
    },
    /// The camera has no file at `path`.
    NoSuchFile {
        camera: String,
        path: String,
    },
    /// Too many camera commands are already waiting for the camera.
    Busy {
        camera: String,
    },
    /// Another client holds the camera (OSC API level 1: `cameraInExclusiveUse`).
    InExclusiveUse {
        camera: String,
    },
    /// A THETA S whose firmware predates API level 2 support.
    FirmwareTooOld {
        camera: String,
        firmware: String,
    },
}

impl OscError {
    /// The camera refused our login (or asked for one we do not have).
    pub fn is_login_refused(&self) -> bool {
        matches!(
            self,
            OscError::WrongCredentials { .. } | OscError::AuthRequired { .. }
        )
    }
}

impl fmt::Display for OscError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OscError::Unreachable { camera, detail } => write!(
                f,
                "cannot reach the camera at {camera} ({detail}); check that the camera is on and \
                 that this computer is on its network (or that -o/-p are right)"
            ),
            OscError::WrongCredentials { camera, id } => write!(
                f,
                "the camera at {camera} rejected id {id} (HTTP 401): check --id and --pwd"
            ),
            OscError::AuthRequired { camera } => write!(
                f,
                "the camera at {camera} asks for a login (HTTP 401): start with -r --id ID --pwd PASSWORD"
            ),
            OscError::Refused {
                camera,
                command,
                status,
                code,
                message,
            } => write!(
                f,
                "the camera at {camera} refused {command} (HTTP {status}, {code}): {message}"
            ),
            OscError::Unreadable { camera, detail } => {
                write!(
                    f,
                    "the camera at {camera} sent an answer we cannot read: {detail}"
                )
            }
            OscError::PreviewEnded { camera } => {
                write!(f, "the camera at {camera} ended the live preview")
            }
            OscError::PreviewBroken { camera, detail } => write!(
                f,
                "the live preview from the camera at {camera} broke off mid-stream ({detail})"
            ),
            OscError::PreviewStalled { camera, after } => write!(
                f,
                "the camera at {camera} stopped sending frames (no whole frame for {after:?})"
            ),
            OscError::TimedOut {
                camera,
                command,
                after,
            } => write!(
                f,
                "the camera at {camera} did not finish {command} within {after:?}"
            ),
            OscError::NoSuchFile { camera, path } => {
                write!(f, "the camera at {camera} has no file {path}")
            }
            OscError::InExclusiveUse { camera } => write!(
                f,
                "another app is using the camera at {camera} (close the THETA app on your phone)"
            ),
            OscError::FirmwareTooOld { camera, firmware } => write!(
                f,
                "the THETA S at {camera} has firmware {firmware}, which cannot stream to other apps: \
                 update it to 01.62 or later with RICOH's app"
            ),
            OscError::Busy { camera } => write!(
                f,
                "the camera at {camera} is busy answering other requests; try again shortly"
            ),
        }
    }
}

impl std::error::Error for OscError {}

/// The camera's preview formats: what it supports and what it uses now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewFormats {
    pub supported: Vec<PreviewFormat>,
    pub current: Option<PreviewFormat>,
}

/// The live preview as the camera sends it: its multipart boundary and the body.
pub struct Preview {
    pub boundary: String,
    pub body: Box<dyn Read + Send>,
}

/// A client for one camera. Cheap to share between threads.
pub struct Camera {
    addr: CameraAddr,
    /// The address requests go to; for an mDNS name, resolved on demand.
    resolved: Mutex<Option<SocketAddr>>,
    /// The address an mDNS name last resolved to, to tell when the camera moved.
    last_resolved: Mutex<Option<SocketAddr>>,
    agent: ureq::Agent,
    timeouts: Timeouts,
    /// The camera answers one request at a time: JSON commands take turns here.
    lane: Lane,
    /// The last `/osc/info` answer (or failure) and when it came.
    info_cache: Mutex<Option<(Instant, InfoAnswer)>>,
    /// Held while `/osc/info` is asked, so that callers meanwhile wait for that answer.
    info_refresh: Mutex<()>,
    /// The last Digest challenge, reused (with a rising nonce count) until the camera sends a new one.
    challenge: Mutex<Option<Challenge>>,
    nonce_count: AtomicU64,
}

impl Camera {
    pub fn new(addr: CameraAddr, timeouts: &Timeouts) -> Camera {
        let read = Some(timeouts.camera_read);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(timeouts.camera_connect))
            .timeout_recv_response(read)
            .timeout_per_read(read)
            .timeout_send_request(read)
            .timeout_send_body(read)
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("oscstream")
            .build()
            .into();
        Camera {
            resolved: Mutex::new(None),
            last_resolved: Mutex::new(None),
            addr,
            agent,
            timeouts: *timeouts,
            lane: Lane::default(),
            info_cache: Mutex::new(None),
            info_refresh: Mutex::new(()),
            challenge: Mutex::new(None),
            nonce_count: AtomicU64::new(0),
        }
    }

    pub fn addr(&self) -> &CameraAddr {
        &self.addr
    }

    /// The address and port requests go to now: for a camera found by name, what the
    /// name last resolved to (its SRV port included); else `host:port`.
    pub fn address_in_use(&self) -> String {
        let last = *self.last_resolved.locked();
        last.map_or_else(|| self.addr.host_port(), |a| a.to_string())
    }

    /// `GET /osc/info`, reused for a few seconds (a failure too): pages and scripts may
    /// poll it, and however many do, the camera is asked at most once per period.
    pub fn info_cached(&self) -> InfoAnswer {
        let fresh = || {
            self.info_cache
                .locked()
                .as_ref()
                .filter(|(at, _)| at.elapsed() < INFO_MAX_AGE)
                .map(|(_, answer)| answer.clone())
        };
        if let Some(answer) = fresh() {
            return answer;
        }
        let _refreshing = self.info_refresh.locked();
        if let Some(answer) = fresh() {
            return answer;
        }
        let answer = self.info().map(Arc::new);
        *self.info_cache.locked() = Some((Instant::now(), answer.clone()));
        answer
    }

    /// `GET /osc/info`.
    pub fn info(&self) -> Result<Info, OscError> {
        let answer = self.json_call("GET", "/osc/info", None, "/osc/info")?;
        Info::read(answer).map_err(|e| self.misshapen(e))
    }

    /// `POST /osc/state`.
    pub fn state(&self) -> Result<State, OscError> {
        let answer = self.json_call("POST", "/osc/state", None, "/osc/state")?;
        State::read(answer).map_err(|e| self.misshapen(e))
    }

    /// Runs a command; its command object when the camera accepted it.
    pub fn execute(&self, name: &str, parameters: Value) -> Result<Command, OscError> {
        let body = json!({"name": name, "parameters": parameters}).to_string();
        let answer = self.json_call("POST", "/osc/commands/execute", Some(&body), name)?;
        Command::read(name, answer).map_err(|e| self.misshapen(e))
    }

    /// Runs a command and reads its results as a `T`.
    fn results_of<T: DeserializeOwned>(
        &self,
        name: &str,
        parameters: Value,
    ) -> Result<T, OscError> {
        self.execute(name, parameters)?
            .results(name)
            .map_err(|e| self.misshapen(e))
    }

    /// `camera.getOptions` for these option names; the `options` object.
    pub fn options(&self, names: &[&str]) -> Result<Object, OscError> {
        let params = json!({ "optionNames": names });
        let results: OptionsResults = self.results_of("camera.getOptions", params)?;
        Ok(results.options)
    }

    pub fn preview_formats(&self) -> Result<PreviewFormats, OscError> {
        let options = self.options(&["previewFormat", "previewFormatSupport"])?;
        let supported = options
            .get("previewFormatSupport")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(PreviewFormat::from_json).collect())
            .unwrap_or_default();
        Ok(PreviewFormats {
            supported,
            current: options
                .get("previewFormat")
                .and_then(PreviewFormat::from_json),
        })
    }

    /// `camera.setOptions` with `previewFormat`. Leave a second before the next preview or picture.
    pub fn set_preview_format(&self, format: PreviewFormat) -> Result<(), OscError> {
        self.set_options(json!({ "previewFormat": format.to_json() }))
    }

    /// `camera.startSession` (OSC API level 1): the new session's id.
    pub fn start_session(&self) -> Result<String, OscError> {
        match self.results_of::<SessionResults>("camera.startSession", json!({})) {
            Err(OscError::Refused { code, .. }) if code == "cameraInExclusiveUse" => {
                Err(OscError::InExclusiveUse {
                    camera: self.addr.host_port(),
                })
            }
            other => Ok(other?.session_id),
        }
    }

    /// Switches a level-1 camera to OSC API level 2 in `session`.
    pub fn set_client_version_2(&self, session: &str) -> Result<(), OscError> {
        let params = json!({"sessionId": session, "options": {"clientVersion": 2}});
        self.execute("camera.setOptions", params).map(drop)
    }

    /// `camera.setOptions` with these options. Leave a second before the next preview or picture.
    pub fn set_options(&self, options: Value) -> Result<(), OscError> {
        self.execute("camera.setOptions", json!({ "options": options }))
            .map(drop)
    }

    /// Takes a picture and waits (at most the picture timeout) until it is stored; its file URL.
    pub fn take_picture(&self) -> Result<String, OscError> {
        let command = "camera.takePicture";
        let mut answer = self.execute(command, json!({}))?;
        let deadline = std::time::Instant::now() + self.timeouts.picture;
        loop {
            if answer.state == CommandState::Done {
                let results: PictureResults =
                    answer.results(command).map_err(|e| self.misshapen(e))?;
                return Ok(results.file_url);
            }
            if std::time::Instant::now() >= deadline {
                return Err(OscError::TimedOut {
                    camera: self.addr.host_port(),
                    command: command.into(),
                    after: self.timeouts.picture,
                });
            }
            std::thread::sleep(self.timeouts.command_poll);
            let Some(id) = answer.id else {
                return Err(self.unreadable(format!("{command} gave no command id")));
            };
            let body = json!({ "id": id }).to_string();
            let status = "/osc/commands/status";
            let polled = self.json_call("POST", status, Some(&body), status)?;
            answer = Command::read(status, polled).map_err(|e| self.misshapen(e))?;
        }
    }

    /// `camera.listFiles`: the newest `count` pictures (entries with name, fileUrl, size...).
    pub fn list_files(&self, count: u32) -> Result<FileList, OscError> {
        let params = json!({"fileType": "image", "entryCount": count, "maxThumbSize": 0});
        self.results_of("camera.listFiles", params)
    }

    /// Downloads a file the camera stores (a path under `/files/`): its body. The camera's
    /// Content-Type is not passed on; callers decide the type themselves.
    pub fn file(&self, path: &str) -> Result<Box<dyn Read + Send>, OscError> {
        let resp = self.request("GET", path, None, Answer::Stream)?;
        match resp.status().as_u16() {
            200 => {}
            404 => {
                return Err(OscError::NoSuchFile {
                    camera: self.addr.host_port(),
                    path: path.to_string(),
                });
            }
            status => {
                return Err(OscError::Refused {
                    camera: self.addr.host_port(),
                    command: format!("GET {path}"),
                    status,
                    code: "no OSC error code".into(),
                    message: "no message".into(),
                });
            }
        }
        Ok(Box::new(resp.into_body().into_reader()))
    }

    /// An answer of a shape OSC does not give it.
    fn misshapen(&self, e: AnswerError) -> OscError {
        self.unreadable(e.to_string())
    }

    fn unreadable(&self, detail: String) -> OscError {
        OscError::Unreadable {
            camera: self.addr.host_port(),
            detail,
        }
    }

    /// Starts `camera.getLivePreview` and returns the endless body.
    pub fn live_preview(&self) -> Result<Preview, OscError> {
        let command = "camera.getLivePreview";
        let body = json!({"name": command, "parameters": {}}).to_string();
        let resp = self.request("POST", "/osc/commands/execute", Some(&body), Answer::Stream)?;
        let content_type = header(&resp, "content-type").unwrap_or_default();
        if resp.status() != 200 || !content_type.to_ascii_lowercase().starts_with("multipart/") {
            let status = resp.status().as_u16();
            return Err(match self.json_answer(command, resp) {
                Err(e) => e,
                Ok(_) => OscError::Unreadable {
                    camera: self.addr.host_port(),
                    detail: format!(
                        "{command} answered HTTP {status} with {content_type:?} instead of a multipart stream"
                    ),
                },
            });
        }
        let boundary = crate::formats::mjpeg::boundary_of(&content_type)
            .unwrap_or_else(|| crate::formats::mjpeg::THETA_BOUNDARY.to_string());
        Ok(Preview {
            boundary,
            body: Box::new(resp.into_body().into_reader()),
        })
    }

    /// One request, answering a Digest challenge: a first 401 (or a stale nonce) is retried
    /// once with the new challenge; a second 401 means the id or password is wrong.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        answer: Answer,
    ) -> Result<ureq::http::Response<ureq::Body>, OscError> {
        let url = format!("http://{}{}", self.destination()?, path);
        // A JSON answer must arrive whole in time, however slowly it drips; a stream
        // (the preview, a file) is bounded per read instead.
        let global = match answer {
            Answer::Whole => Some(self.timeouts.camera_answer),
            Answer::Stream => None,
        };

        for attempt in 0..2 {
            let authorization = self.authorization(method, path);
            let result = match (method, body) {
                ("GET", _) => with_auth(self.agent.get(&url), &authorization)
                    .config()
                    .timeout_global(global)
                    .build()
                    .call(),
                (_, Some(body)) => with_auth(self.agent.post(&url), &authorization)
                    .header("Content-Type", "application/json;charset=utf-8")
                    .config()
                    .timeout_global(global)
                    .build()
                    .send(body),
                (_, None) => with_auth(self.agent.post(&url), &authorization)
                    .header("Content-Type", "application/json;charset=utf-8")
                    .config()
                    .timeout_global(global)
                    .build()
                    .send_empty(),
            };
            let resp = result.map_err(|e| self.transport_error(e))?;
            if resp.status() != 401 {
                return Ok(resp);
            }
            let Some(Credentials { id, .. }) = &self.addr.credentials else {
                return Err(OscError::AuthRequired {
                    camera: self.addr.host_port(),
                });
            };
            let challenge = header(&resp, "www-authenticate")
                .as_deref()
                .and_then(Challenge::parse);
            let Some(challenge) = challenge else {
                return Err(OscError::Unreadable {
                    camera: self.addr.host_port(),
                    detail: "HTTP 401 without a usable Digest MD5 challenge".into(),
                });
            };
            if !challenge.qop_auth {
                return Err(OscError::Unreadable {
                    camera: self.addr.host_port(),
                    detail: "its login challenge lacks qop=auth, which every THETA sends; \
                             answering the old form would hand out material for guessing the \
                             password offline, so oscstream does not log in"
                        .into(),
                });
            }
            *self.challenge.locked() = Some(challenge);
            self.nonce_count.store(0, Ordering::SeqCst);
            if attempt == 1 {
                return Err(OscError::WrongCredentials {
                    camera: self.addr.host_port(),
                    id: id.clone(),
                });
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    fn authorization(&self, method: &str, uri: &str) -> Option<String> {
        let Credentials { id, password } = self.addr.credentials.as_ref()?;
        let challenge = self.challenge.locked();
        let challenge = challenge.as_ref()?;
        let nc = self.nonce_count.fetch_add(1, Ordering::SeqCst) + 1;
        let cnonce = cnonce(nc);
        Some(challenge.authorization(id, password, method, uri, nc as u32, &cnonce))
    }

    /// Where requests go: `host:port`, or for an mDNS name the address it resolves to
    /// now (asked again after a failure).
    fn destination(&self) -> Result<String, OscError> {
        let Some(mdns) = self.addr.mdns else {
            return Ok(self.addr.host_port());
        };
        let mut resolved = self.resolved.locked();
        if let Some(addr) = *resolved {
            return Ok(addr.to_string());
        }
        let wait = self.timeouts.camera_connect;
        let Some((ip, port)) = crate::camera::mdns::resolve(mdns.target, &self.addr.host, wait)
        else {
            return Err(OscError::Unreachable {
                camera: self.addr.host_port(),
                detail: format!("no answer to an mDNS query for {}", self.addr.host),
            });
        };
        let port = if mdns.port_given {
            self.addr.port
        } else {
            port.unwrap_or(self.addr.port)
        };
        let addr = SocketAddr::from((ip, port));
        *resolved = Some(addr);
        let mut last = self.last_resolved.locked();
        if let Some(old) = last.replace(addr).filter(|old| *old != addr) {
            crate::log::notice(format_args!(
                "{} moved from {old} to {addr}",
                self.addr.host
            ));
        }
        Ok(addr.to_string())
    }

    fn transport_error(&self, e: ureq::Error) -> OscError {
        // The camera may have a new address: resolve its name again next time.
        *self.resolved.locked() = None;
        let detail = match &e {
            ureq::Error::Timeout(_) => "no answer in time".to_string(),
            ureq::Error::ConnectionFailed => "connection failed".to_string(),
            ureq::Error::HostNotFound => "host not found".to_string(),
            ureq::Error::Io(io) => io.to_string(),
            other => other.to_string(),
        };
        OscError::Unreachable {
            camera: self.addr.host_port(),
            detail,
        }
    }

    /// A JSON request and its whole answer, in the camera's one lane: the camera answers
    /// one request at a time, so a queue here costs nothing and bounds what is in flight.
    fn json_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        what: &str,
    ) -> Result<Value, OscError> {
        let _turn = self
            .lane
            .enter(self.timeouts.camera_answer)
            .ok_or_else(|| OscError::Busy {
                camera: self.addr.host_port(),
            })?;
        let resp = self.request(method, path, body, Answer::Whole)?;
        self.json_answer(what, resp)
    }

    /// The JSON of an answer; an OSC error object or non-200 status becomes `Refused`.
    fn json_answer(
        &self,
        what: &str,
        resp: ureq::http::Response<ureq::Body>,
    ) -> Result<Value, OscError> {
        let status = resp.status().as_u16();
        // Whole within the answer budget even where no global timeout applies (the
        // error answer to a preview request): each read is bounded, and so is their sum.
        let deadline = Instant::now() + self.timeouts.camera_answer;
        let mut body = resp.into_body().into_reader().take(MAX_JSON_BYTES + 1);
        let mut text = Vec::new();
        let mut chunk = [0u8; 8192];
        let complete = loop {
            if Instant::now() > deadline {
                break false;
            }
            match body.read(&mut chunk) {
                Ok(0) => break text.len() as u64 <= MAX_JSON_BYTES,
                Ok(n) => text.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break false,
            }
        };
        let value = complete
            .then(|| serde_json::from_slice::<Value>(&text).ok())
            .flatten();
        let value = match (status, value) {
            (200, None) => {
                return Err(OscError::Unreadable {
                    camera: self.addr.host_port(),
                    detail: format!(
                        "{what} did not answer with JSON (or more than {} KiB)",
                        MAX_JSON_BYTES >> 10
                    ),
                });
            }
            (200, Some(v)) if v.get("error").is_none() => return Ok(v),
            (_, v) => v,
        };
        let (code, message) = answers::error_of(value.as_ref());
        Err(OscError::Refused {
            camera: self.addr.host_port(),
            command: what.to_string(),
            status,
            code: code.unwrap_or_else(|| "no OSC error code".into()),
            message: message.unwrap_or_else(|| "no message".into()),
        })
    }
}

/// What `/osc/info` answered, shared by every caller within its age.
type InfoAnswer = Result<Arc<Info>, OscError>;

/// One camera command at a time, with a short queue behind it. A command that cannot
/// get its turn within `wait` (the camera is slow, or dripping) gives up instead of
/// holding its caller's thread.
#[derive(Default)]
struct Lane {
    state: Mutex<LaneState>,
    turn_free: Condvar,
}

#[derive(Default)]
struct LaneState {
    running: bool,
    waiting: usize,
}

/// A turn in the lane, given back when dropped.
struct Turn<'a>(&'a Lane);

impl Lane {
    fn enter(&self, wait: Duration) -> Option<Turn<'_>> {
        let deadline = Instant::now() + wait;
        let mut state = self.state.locked();
        if state.running && state.waiting >= MAX_QUEUED_COMMANDS {
            return None;
        }
        state.waiting += 1;
        while state.running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.waiting -= 1;
                return None;
            }
            state = crate::sync::wait_at_most(&self.turn_free, state, left);
        }
        state.waiting -= 1;
        state.running = true;
        Some(Turn(self))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.state.locked().running = false;
        self.0.turn_free.notify_one();
    }
}

/// What a request's answer is: JSON to read whole, or a stream to read as it comes.
#[derive(Clone, Copy)]
enum Answer {
    Whole,
    Stream,
}

fn with_auth<B>(
    req: ureq::RequestBuilder<B>,
    authorization: &Option<String>,
) -> ureq::RequestBuilder<B> {
    match authorization {
        Some(a) => req.header("Authorization", a),
        None => req,
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn cnonce(nc: u64) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    crate::formats::digest::md5_hex(&format!("{t}:{nc}:{:p}", &nc))[..16].to_string()
}
