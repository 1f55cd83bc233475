//! The relay's HTTP routes: the MJPEG stream for every viewer, the latest-frame
//! snapshot, the status JSON (a view of the hub's state), the camera's info and state
//! passed through, and the page assets compiled into the binary.
//!
//! `/public/` serves only the embedded files, looked up by exact name: no path ever
//! reaches the file system, so `..` and friends simply find nothing.

use crate::http::{Request, Response};
use crate::hub::Hub;
use crate::mjpeg::PartWriter;
use crate::osc::{Camera, OscError};
use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// How long a snapshot request waits for a frame.
pub const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);
/// A newest frame older than this is not served as a snapshot; the next one is awaited.
pub const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(1);
/// A viewer joining gets the newest frame at once if it is at most this old.
pub const JOIN_MAX_AGE: Duration = Duration::from_secs(1);

/// The page and its assets: (name under /public/, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../public/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../public/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../public/style.css"),
    ),
];

/// Everything the routes need.
pub struct Routes {
    pub hub: Arc<Hub>,
    pub camera: Arc<Camera>,
    /// How the camera is reached, for /status: "direct", "router" or "simulated".
    pub mode: &'static str,
}

impl Routes {
    pub fn handle(&self, req: Request) -> Response {
        let get = matches!(req.method.as_str(), "GET" | "HEAD");
        let path = req.path.as_str();
        match path {
            "/" if get => match req.query_param("action") {
                Some("stream") => self.video_feed(),
                Some("snapshot") => self.snapshot(),
                _ => Response::redirect("/public/index.html"),
            },
            "/video_feed" | "/stream" if get => self.video_feed(),
            "/snapshot.jpg" | "/snapshot" if get => self.snapshot(),
            "/status" if get => Response::json(200, &self.status()),
            "/info" | "/osc/info" if get => camera_json(self.camera.info()),
            "/state" if get => camera_json(self.camera.state().map(|s| s["state"].clone())),
            "/osc/state" if req.method == "POST" => camera_json(self.camera.state()),
            "/public" | "/public/" if get => Response::redirect("/public/index.html"),
            _ if get && path.starts_with("/public/") => asset(&path["/public/".len()..]),
            "/" | "/video_feed" | "/stream" | "/snapshot.jpg" | "/snapshot" | "/status"
            | "/info" | "/osc/info" | "/state" => method_not_allowed("GET, HEAD"),
            "/osc/state" => method_not_allowed("POST"),
            _ => Response::error(404, format!("There is nothing at {path}.")),
        }
    }

    fn video_feed(&self) -> Response {
        let hub = self.hub.clone();
        let writer = PartWriter::default();
        let content_type = writer.content_type();
        Response::stream(
            &content_type,
            Box::new(move |out: &mut TcpStream| {
                let _viewer = hub.viewer();
                out.write_all(writer.preamble().as_bytes())?;
                let mut seq = hub.join_seq(JOIN_MAX_AGE);
                loop {
                    // The timeout only bounds the wait; with no frame (camera reconnecting) wait on.
                    if let Some(frame) = hub.next_frame(seq, Duration::from_secs(1)) {
                        writer.write_part(out, &frame.jpeg, frame.timestamp_secs())?;
                        seq = frame.seq;
                    }
                }
            }),
        )
        .with_header("Cache-Control", "no-store, no-cache, must-revalidate")
        .with_header("Pragma", "no-cache")
    }

    fn snapshot(&self) -> Response {
        match self.hub.snapshot(SNAPSHOT_MAX_AGE, SNAPSHOT_WAIT) {
            Some(frame) => Response::bytes(200, "image/jpeg", frame.jpeg.to_vec())
                .with_header("Cache-Control", "no-store")
                .with_header("X-Timestamp", format!("{:.6}", frame.timestamp_secs())),
            None => {
                let why = self
                    .hub
                    .status()
                    .last_error
                    .unwrap_or_else(|| "the camera sent no frame".into());
                Response::error(
                    503,
                    format!("No frame arrived within {SNAPSHOT_WAIT:?}: {why}."),
                )
            }
        }
    }

    fn status(&self) -> Value {
        let s = self.hub.status();
        json!({
            "mode": self.mode,
            "camera": self.camera.addr().host_port(),
            "upstream": s.upstream.as_str(),
            "camera_model": s.camera_model,
            "frames_received": s.frames_received,
            "fps": (s.fps * 10.0).round() / 10.0,
            "frames_dropped": s.frames_dropped,
            "preview_connections": s.preview_connections,
            "reconnects": s.reconnects,
            "last_error": s.last_error,
            "viewers": s.viewers,
        })
    }
}

fn camera_json(answer: Result<Value, OscError>) -> Response {
    match answer {
        Ok(v) => Response::json(200, &v),
        Err(e) => Response::error(502, capitalised(&e.to_string())),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

fn method_not_allowed(allow: &str) -> Response {
    Response::error(405, format!("Use {allow} here.")).with_header("Allow", allow)
}

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => Response::bytes(200, content_type, *bytes),
        None => Response::error(404, format!("There is no file /public/{name}.")),
    }
}
