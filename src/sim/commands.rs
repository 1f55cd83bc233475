//! The simulated camera's HTTP face: every OSC request it takes (`/osc/info`,
//! `/osc/state`, `/osc/commands/execute` and `/status`, its files), answered as a THETA
//! answers, with Digest checked first when the camera has a password.

use super::preview::render_for;
use super::preview::{Delimiter, PreviewRun};
use super::{HOSTILE_MESSAGE, MODEL, PICTURE_DURATION, Picture, SimCamera};
use crate::formats::digest::{Authorization, Challenge};
use crate::formats::osc::{Credentials, PreviewFormat};
use crate::http::{Request, Response, Status};
use crate::sync::Locked;
use serde_json::{Value, json};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
/// Commands a level-1 camera takes (of those the simulator knows).
const LEVEL_1_COMMANDS: [&str; 3] = [
    "camera.startSession",
    "camera.setOptions",
    "camera.getOptions",
];

/// Why a camera refuses an option: the OSC error code and its message.
type Refusal = (&'static str, String);

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

impl SimCamera {
    pub(super) fn handle(self: &Arc<Self>, req: Request) -> Response {
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

    pub(super) fn new_nonce(&self) {
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
        let timers = *self.timers.locked();
        if timers.sleep_delay != 0 || timers.off_delay != 0 {
            self.counters
                .previews_with_own_timers
                .fetch_add(1, Ordering::Relaxed);
        }
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
            &delimiter.content_type(),
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
        let refused =
            |code: &str, message: &str| osc_error(Status::BAD_REQUEST, name, code, message);
        let mut timer_set = false;
        for (option, value) in options {
            let result = match option.as_str() {
                "clientVersion" => self.set_client_version(value, params),
                "previewFormat" => self.set_preview_format(value),
                "captureMode" => Ok(()),
                "sleepDelay" | "offDelay" => {
                    timer_set = true;
                    self.set_timer(option, value)
                }
                _ => Err((
                    "invalidParameterName",
                    format!("Option {option} is not supported."),
                )),
            };
            if let Err((code, message)) = result {
                return refused(code, &message);
            }
        }
        if timer_set {
            self.counters.timer_sets.fetch_add(1, Ordering::SeqCst);
        }
        done(name, json!({}))
    }

    /// `clientVersion` 2 switches a level-1 camera to level 2, inside its newest session.
    fn set_client_version(&self, value: &Value, params: &Value) -> Result<(), Refusal> {
        let mut api = self.api.locked();
        let session = params.get("sessionId").and_then(Value::as_str);
        if api.level == 1 && (session.is_none() || session != api.session.as_deref()) {
            return Err((
                "invalidSessionId",
                "The session id is missing or not the newest session's.".into(),
            ));
        }
        if value.as_u64() == Some(2) {
            api.level = 2;
            self.counters.handshakes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// A new preview format ends the running previews, as on the camera.
    fn set_preview_format(&self, value: &Value) -> Result<(), Refusal> {
        let wanted = PreviewFormat::from_json(value);
        let Some(wanted) = wanted.filter(|f| self.supported.contains(f)) else {
            return Err((
                "invalidParameterValue",
                "previewFormat is not one of previewFormatSupport.".into(),
            ));
        };
        let mut frames = self.frames.locked();
        if frames.format != wanted {
            frames.loop_frames = Arc::new(render_for(wanted));
            frames.format = wanted;
            self.preview_generation.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// V and later: 60..=65534 seconds, or 65535 for never (read back as 0); `offDelay`
    /// also takes 0.
    fn set_timer(&self, option: &str, value: &Value) -> Result<(), Refusal> {
        let seconds = value
            .as_u64()
            .filter(|s| (60..=65535).contains(s) || (option == "offDelay" && *s == 0));
        let Some(seconds) = seconds else {
            return Err((
                "invalidParameterValue",
                format!("{option} is out of range."),
            ));
        };
        let stored = if seconds == 65535 { 0 } else { seconds as u32 };
        let mut timers = self.timers.locked();
        if option == "sleepDelay" {
            timers.sleep_delay = stored;
        } else {
            timers.off_delay = stored;
        }
        Ok(())
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

fn host_of(req: &Request) -> String {
    req.header("host").unwrap_or("127.0.0.1").to_string()
}
