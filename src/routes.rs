//! The relay's HTTP routes: the MJPEG stream for every viewer, the latest-frame
//! snapshot, the status JSON (a view of the hub's state), the camera's info and state
//! passed through, and the page assets compiled into the binary.
//!
//! `/public/` serves only the embedded files, looked up by exact name: no path ever
//! reaches the file system, so `..` and friends simply find nothing.

use crate::http::{Request, Response};
use crate::hub::{Hub, Upstream};
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
/// While the camera sends nothing, each viewer still gets a frame this often: it keeps
/// players from giving up and finds viewers that have gone.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// After this long without a camera frame, viewers see NO SIGNAL instead of the last frame.
pub const NO_SIGNAL_AFTER: Duration = Duration::from_secs(3);

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
    /// Stream requests beyond this many viewers get 503.
    pub max_viewers: usize,
    /// Shown to viewers while the camera is gone.
    pub no_signal: Arc<[u8]>,
}

impl Routes {
    pub fn handle(&self, req: Request) -> Response {
        if !matches!(req.method.as_str(), "GET" | "HEAD" | "POST") {
            return method_not_allowed("GET, HEAD, POST");
        }
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
        let Some(viewer) = self.hub.try_viewer(self.max_viewers) else {
            return Response::error(
                503,
                format!(
                    "{} viewers are already watching, the most this relay serves (--max-viewers).",
                    self.max_viewers
                ),
            );
        };
        let hub = self.hub.clone();
        let no_signal = self.no_signal.clone();
        let writer = PartWriter::default();
        let content_type = writer.content_type();
        Response::stream(
            &content_type,
            Box::new(move |out: &mut TcpStream| {
                let _viewer = viewer;
                out.write_all(writer.preamble().as_bytes())?;
                let mut seq = hub.join_seq(JOIN_MAX_AGE);
                loop {
                    if let Some(frame) = hub.next_frame(seq, KEEPALIVE_INTERVAL) {
                        writer.write_part(out, &frame.jpeg, frame.timestamp_secs())?;
                        seq = frame.seq;
                        continue;
                    }
                    // The camera is quiet: repeat its last frame for a while, then say so.
                    let now = unix_secs();
                    match hub.latest() {
                        Some(f) if f.received_at.elapsed() < NO_SIGNAL_AFTER => {
                            writer.write_part(out, &f.jpeg, f.timestamp_secs())?
                        }
                        _ => writer.write_part(out, &no_signal, now)?,
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
        let fresh = s.last_frame_age.is_some_and(|age| age < NO_SIGNAL_AFTER);
        let online = s.upstream == Upstream::Streaming && fresh;
        let offline_reason = (!online).then(|| match (s.upstream, &s.last_error) {
            (Upstream::Idle, _) => {
                "nobody is watching, so the camera connection is closed".to_string()
            }
            (Upstream::Connecting, None) => "connecting to the camera".to_string(),
            (Upstream::Streaming, _) => format!(
                "the camera has sent no frame for {:.0} s",
                s.last_frame_age.map_or(0.0, |a| a.as_secs_f64())
            ),
            (_, Some(e)) => e.clone(),
            (Upstream::Retrying, None) => "reconnecting to the camera".to_string(),
        });
        json!({
            "online": online,
            "offline_reason": offline_reason,
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

fn unix_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
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
