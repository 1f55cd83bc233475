//! The relay's HTTP routes: the MJPEG stream for every viewer, the latest-frame
//! snapshot, the status JSON (a view of the hub's state), the camera's info and state
//! passed through, and the page assets compiled into the binary.
//!
//! Camera control lives in `api`; here the access rules (Basic auth, read-only, CORS)
//! are applied to every route before it runs.
//!
//! `/public/` serves only the embedded files, looked up by exact name: no path ever
//! reaches the file system, so `..` and friends simply find nothing.

use crate::api;
use crate::control::Control;
use crate::digest::{constant_time_eq, md5_hex};
use crate::http::{Request, Response};
use crate::hub::{Hub, Upstream, unix_secs};
use crate::mjpeg::PartWriter;
use crate::osc::Camera;
use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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

/// Who may use the relay, and from which web pages.
#[derive(Clone, Default)]
pub struct Access {
    /// `--auth USER:PASS`: HTTP Basic auth on every route.
    pub basic_auth: Option<(String, String)>,
    /// `--read-only`: every POST route answers 403.
    pub read_only: bool,
    /// `--allow-origin ORIGIN`: CORS for that origin.
    pub allow_origin: Option<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The viewer password is never printed.
        f.debug_struct("Access")
            .field("basic_auth", &self.basic_auth.as_ref().map(|(u, _)| u))
            .field("read_only", &self.read_only)
            .field("allow_origin", &self.allow_origin)
            .finish()
    }
}

impl Access {
    /// Whether the request carries the right Basic credentials. The comparison takes
    /// the same time however much of the password is right.
    fn admits(&self, req: &Request) -> bool {
        let Some((user, pass)) = &self.basic_auth else {
            return true;
        };
        let given = req
            .header("authorization")
            .and_then(|h| {
                h.strip_prefix("Basic ")
                    .or_else(|| h.strip_prefix("basic "))
            })
            .and_then(|b64| base64_decode(b64.trim()))
            .unwrap_or_default();
        let expected = format!("{user}:{pass}");
        // Hashing first makes the compared lengths equal, so the length leaks nothing either.
        constant_time_eq(
            md5_hex(&String::from_utf8_lossy(&given)).as_bytes(),
            md5_hex(&expected).as_bytes(),
        )
    }
}

/// Everything the routes need.
pub struct Routes {
    pub hub: Arc<Hub>,
    pub camera: Arc<Camera>,
    pub control: Arc<Control>,
    pub access: Access,
    /// How the camera is reached, for /status: "direct", "router" or "simulated".
    pub mode: &'static str,
    /// Stream requests beyond this many viewers get 503.
    pub max_viewers: usize,
    /// Shown to viewers while the camera is gone.
    pub no_signal: Arc<[u8]>,
}

impl Routes {
    pub fn handle(&self, req: Request) -> Response {
        let response = self.route(req);
        match &self.access.allow_origin {
            Some(origin) => response
                .with_header("Access-Control-Allow-Origin", origin.clone())
                .with_header("Vary", "Origin"),
            None => response,
        }
    }

    fn route(&self, req: Request) -> Response {
        let method = req.method.as_str();
        if method == "OPTIONS" {
            // Preflight requests carry no credentials, so they are answered before auth.
            let allow = "GET, HEAD, POST, OPTIONS";
            return Response::bytes(204, "text/plain", &b""[..])
                .with_header("Allow", allow)
                .with_header("Access-Control-Allow-Methods", allow)
                .with_header(
                    "Access-Control-Allow-Headers",
                    "Authorization, Content-Type",
                )
                .with_header("Access-Control-Max-Age", "600");
        }
        if !matches!(method, "GET" | "HEAD" | "POST") {
            return method_not_allowed("GET, HEAD, POST, OPTIONS");
        }
        if !self.access.admits(&req) {
            return Response::error(401, "This relay needs a user name and password.").with_header(
                "WWW-Authenticate",
                "Basic realm=\"oscstream\", charset=\"UTF-8\"",
            );
        }
        if method == "POST" && self.access.read_only {
            return Response::error(
                403,
                "This relay is read-only (--read-only): it does not change the camera.",
            );
        }
        let get = matches!(method, "GET" | "HEAD");
        let post = method == "POST";
        let path = req.path.as_str();
        let camera = &*self.camera;
        match path {
            "/" if get => match req.query_param("action") {
                Some("stream") => self.video_feed(method == "HEAD"),
                Some("snapshot") => self.snapshot(),
                _ => Response::redirect("/public/index.html"),
            },
            "/video_feed" | "/stream" if get => self.video_feed(method == "HEAD"),
            "/snapshot.jpg" | "/snapshot" if get => self.snapshot(),
            "/status" if get => Response::json(200, &self.status()),
            "/info" | "/osc/info" if get => api::camera_json(camera.info()),
            "/state" if get => api::camera_json(camera.state().map(|s| s["state"].clone())),
            "/osc/state" if post => api::camera_json(camera.state()),
            "/api/options" if get => api::options(camera, &req),
            "/api/preview-formats" if get => api::preview_formats(camera),
            "/api/preview-format" if post => api::set_preview_format(camera, &self.control, &req),
            "/api/picture" if post => api::take_picture(camera, &self.control),
            "/api/files" if get => api::files(camera, &req),
            "/public" | "/public/" if get => Response::redirect("/public/index.html"),
            _ if get && path.starts_with("/public/") => asset(&path["/public/".len()..]),
            _ if get && path.starts_with("/camera-files/") => {
                api::camera_file(camera, &path["/camera-files/".len()..])
            }
            _ if get && path.starts_with("/getOption/") => {
                api::get_option(camera, &path["/getOption/".len()..])
            }
            _ if path.starts_with("/setOption/") => Response::error(
                410,
                "GET /setOption is gone: it let any web page change the camera. Use POST /api/preview-format.",
            ),
            "/"
            | "/video_feed"
            | "/stream"
            | "/snapshot.jpg"
            | "/snapshot"
            | "/status"
            | "/info"
            | "/osc/info"
            | "/state"
            | "/api/options"
            | "/api/preview-formats"
            | "/api/files" => method_not_allowed("GET, HEAD"),
            "/osc/state" | "/api/preview-format" | "/api/picture" => method_not_allowed("POST"),
            _ => Response::error(404, format!("There is nothing at {path}.")),
        }
    }

    /// The stream; for HEAD only its headers, without counting a viewer (which would
    /// open the camera for nobody).
    fn video_feed(&self, head_only: bool) -> Response {
        let writer = PartWriter::default();
        if head_only {
            return Response::stream(&writer.content_type(), Box::new(|_| Ok(())))
                .with_header("Cache-Control", "no-store, no-cache, must-revalidate");
        }
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
                    match hub.latest() {
                        Some(f) if f.received_at.elapsed() < NO_SIGNAL_AFTER => {
                            writer.write_part(out, &f.jpeg, f.timestamp_secs())?
                        }
                        _ => writer.write_part(out, &no_signal, unix_secs(SystemTime::now()))?,
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

fn method_not_allowed(allow: &str) -> Response {
    Response::error(405, format!("Use {allow} here.")).with_header("Allow", allow)
}

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => Response::bytes(200, content_type, *bytes),
        None => Response::error(404, format!("There is no file /public/{name}.")),
    }
}

/// Decodes standard base64 (as in a Basic auth header); `None` for anything malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.trim_end_matches('=').as_bytes();
    if text.len() % 4 == 1 || text.len() > 4096 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_basic_credentials() {
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("not base64!"), None);
    }
}
