//! The camera client: OSC requests over plain HTTP with `ureq`, Digest auth when the
//! camera sits on a router (Mode 2), and the live-preview request that hands back the
//! endless multipart body as a reader.
//!
//! Every call has a connect timeout and a per-read timeout, so no camera can hang a
//! thread forever; JSON calls also have a deadline for the whole answer. The preview
//! deliberately has none, which would cut the endless stream. Errors are sentences a
//! user can act on and never contain the camera password.

mod lane;
mod request;

use crate::camera::errors::{OscError, SetIn};
use lane::Lane;
use request::{Answer, header};

use crate::camera::answers::{
    AnswerError, Command, CommandState, FileList, Info, Object, OptionsResults, PictureResults,
    SessionResults, State,
};
use crate::formats::digest::Challenge;
use crate::formats::osc::{Credentials, PreviewFormat};
use crate::sync::Locked;
use crate::timeouts::Timeouts;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// JSON answers larger than this are refused: a THETA's are a few KiB, a page of
/// `listFiles` tens of KiB. The cap bounds what a hostile camera's answer can cost.
const MAX_JSON_BYTES: u64 = 256 << 10;

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
    /// Where the user named it, for the sentences that send them there.
    pub set_in: SetIn,
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

/// The camera's preview formats: what it supports and what it uses now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewFormats {
    /// What the camera lists in `previewFormatSupport`, and its current format when the
    /// list lacks it (a THETA X reports 1024×512@15 and lists only @30).
    pub supported: Vec<PreviewFormat>,
    /// The format it uses now; `None` when it does not say, or says 0×0 (an SC2 does).
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
                .filter(|(at, _)| at.elapsed() < self.timeouts.info_max_age)
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
        let mut supported: Vec<PreviewFormat> = options
            .get("previewFormatSupport")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(PreviewFormat::from_json).collect())
            .unwrap_or_default();
        let current = options
            .get("previewFormat")
            .and_then(PreviewFormat::from_json)
            .filter(|f| f.width > 0 && f.height > 0 && f.framerate > 0);
        if let Some(current) = current.filter(|c| !supported.contains(c)) {
            supported.push(current);
        }
        Ok(PreviewFormats { supported, current })
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
        self.shoot().map_err(|e| match e {
            OscError::Refused { code, message, .. } if code == "canceledShooting" => {
                OscError::PictureCanceled {
                    camera: self.addr.host_port(),
                    message,
                }
            }
            e => e,
        })
    }

    /// `camera.takePicture`, then `/osc/commands/status` until it is done.
    fn shoot(&self) -> Result<String, OscError> {
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
        let resp = self.request("GET", path, None, Answer::Stream, path)?;
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
        let resp = self.request(
            "POST",
            "/osc/commands/execute",
            Some(&body),
            Answer::Stream,
            "camera.getLivePreview",
        )?;
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
}

/// How the relay reaches a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Mode 1: this computer joined the camera's own Wi-Fi.
    Direct,
    /// Mode 2: the camera joined a router; Digest auth.
    Router,
    /// The simulated camera built into the binary.
    Simulated,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Router => "router",
            Mode::Simulated => "simulated",
        }
    }
}

/// What `/osc/info` answered, shared by every caller within its age.
type InfoAnswer = Result<Arc<Info>, OscError>;
