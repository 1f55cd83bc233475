//! Camera control over HTTP for the page and for scripts: options, preview formats,
//! taking a picture, listing and downloading the pictures. Reads are GET; anything that
//! changes the camera is POST only (the seed's `GET /setOption/...` let any web page
//! change the camera, so it is gone).
//!
//! Files are fetched through the relay (`/camera-files/...`) because in Mode 2 the
//! camera wants Digest auth that a browser cannot be given, and only paths under the
//! camera's `/files/` are ever requested.

use crate::camera::errors::OscError;
use crate::camera::errors::full_stop;
use crate::camera::preview::{FormatError, relayable};
use crate::formats::osc::PreviewFormat;
use crate::http::{Request, Response, Status};
use crate::relay::channel::Channel;
use crate::relay::control::switch_preview_format;
use serde_json::{Value, json};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Most files one `/api/files` call lists.
const MAX_LISTED_FILES: u32 = 100;

/// A camera failure as the JSON error a user reads. The camera's own verdict on what we
/// asked (a bad option name: 400; no such file: 404; a picture it canceled: 409) passes
/// on; a command that ran out of time is 504; anything else the camera did wrong is 502.
pub fn camera_error(e: &OscError) -> Response {
    let status = match e {
        OscError::Refused { status: 400, .. } => Status::BAD_REQUEST,
        OscError::PictureCanceled { .. } => Status::CONFLICT,
        OscError::NoSuchFile { .. } => Status::NOT_FOUND,
        OscError::TimedOut { .. } => Status::GATEWAY_TIMEOUT,
        OscError::Busy { .. } => Status::SERVICE_UNAVAILABLE,
        _ => Status::BAD_GATEWAY,
    };
    Response::error(status, sentence(&e.to_string()))
}

/// Capitalised and ending with one full stop.
pub fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => full_stop(&first.to_uppercase().chain(c).collect::<String>()),
        None => String::new(),
    }
}

pub fn camera_json(answer: Result<Value, OscError>) -> Response {
    match answer {
        Ok(v) => Response::json(Status::OK, &v),
        Err(e) => camera_error(&e),
    }
}

/// `GET /info`, `GET /osc/info`: the camera's info, asked at most every few seconds.
pub fn camera_info(channel: &Channel) -> Response {
    match channel.camera().info_cached() {
        Ok(info) => Response::json(Status::OK, &Value::Object(info.whole.clone())),
        Err(e) => camera_error(&e),
    }
}

/// `GET /api/options?names=a,b`: the camera's current values of these options.
pub fn options(channel: &Channel, req: &Request) -> Response {
    let Some(names) = req.query_param("names").filter(|n| !n.is_empty()) else {
        return Response::error(
            Status::BAD_REQUEST,
            "Name the options: /api/options?names=previewFormat,captureMode",
        );
    };
    let names: Vec<&str> = names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    camera_json(channel.camera().options(&names).map(Value::Object))
}

/// `GET /getOption/<name>`, the seed's route: `{"<name>": value}`.
pub fn get_option(channel: &Channel, name: &str) -> Response {
    camera_json(channel.camera().options(&[name]).map(Value::Object))
}

/// `GET /api/preview-formats`: what the camera supports (and the relay relays), what
/// it lists but the relay would drop as too large, and what it uses now.
pub fn preview_formats(channel: &Channel) -> Response {
    match channel.camera().preview_formats() {
        Ok(f) => {
            let (supported, too_large): (Vec<_>, Vec<_>) =
                f.supported.iter().partition(|p| relayable(p));
            let json = |list: Vec<&PreviewFormat>| -> Vec<Value> {
                list.into_iter().map(|p| p.to_json()).collect()
            };
            Response::json(
                Status::OK,
                &json!({
                    "supported": json(supported),
                    "too_large": json(too_large),
                    "current": f.current.map(PreviewFormat::to_json),
                }),
            )
        }
        Err(e) => camera_error(&e),
    }
}

/// `POST /api/preview-format {"width":..,"height":..,"framerate":..}`.
pub fn set_preview_format(channel: &Channel, req: &Request) -> Response {
    // A form from another site can send text/plain; only scripts that may send JSON can.
    let json = req.header("content-type").is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json {
        return Response::error(
            Status::UNSUPPORTED_MEDIA_TYPE,
            "Send the format as JSON, with Content-Type: application/json.",
        );
    }
    let wanted = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .as_ref()
        .and_then(PreviewFormat::from_json);
    let Some(wanted) = wanted else {
        return Response::error(
            Status::BAD_REQUEST,
            r#"Send JSON like {"width":1024,"height":512,"framerate":30}."#,
        );
    };
    match switch_preview_format(channel.camera(), channel.control(), wanted) {
        Ok(()) => Response::json(Status::OK, &json!({ "previewFormat": wanted.to_json() })),
        Err(e @ (FormatError::Unsupported { .. } | FormatError::TooLarge { .. })) => {
            Response::error(Status::BAD_REQUEST, sentence(&e.to_string()))
        }
        Err(FormatError::Camera(e)) => camera_error(&e),
    }
}

/// `POST /api/picture`: shoots (a second after any format change, RICOH's rule),
/// waits until stored, answers the file's URLs.
pub fn take_picture(channel: &Channel, base: &str) -> Response {
    channel.control().wait_after_set_options();
    match channel.camera().take_picture() {
        Ok(file_url) => Response::json(
            Status::OK,
            &json!({ "fileUrl": file_url, "url": relay_file_url(base, &file_url) }),
        ),
        Err(e) => camera_error(&e),
    }
}

/// `GET /api/files?count=N`: the newest pictures, each with a `url` through the relay.
pub fn files(channel: &Channel, req: &Request, base: &str) -> Response {
    let count = match req.query_param("count").map(str::parse::<u32>) {
        None => 10,
        Some(Ok(n)) if (1..=MAX_LISTED_FILES).contains(&n) => n,
        Some(_) => {
            return Response::error(
                Status::BAD_REQUEST,
                format!("count is a number from 1 to {MAX_LISTED_FILES}."),
            );
        }
    };
    match channel.camera().list_files(count) {
        Ok(list) => {
            let entries: Vec<Value> = list
                .entries
                .into_iter()
                .map(|mut entry| {
                    let url = entry
                        .get("fileUrl")
                        .and_then(Value::as_str)
                        .and_then(|u| relay_file_url(base, u));
                    entry.insert("url".into(), json!(url));
                    Value::Object(entry)
                })
                .collect();
            let mut results = serde_json::Map::new();
            results.insert("entries".into(), Value::Array(entries));
            if let Some(total) = list.total_entries {
                results.insert("totalEntries".into(), json!(total));
            }
            Response::json(Status::OK, &Value::Object(results))
        }
        Err(e) => camera_error(&e),
    }
}

/// A download slower than this (after its first seconds) is cut: a reader at a trickle
/// would otherwise hold a camera wait for hours.
const MIN_DOWNLOAD_BYTES_PER_SEC: u64 = 16 << 10;

/// Copies a camera file to the client within `deadline` overall, at no less than the
/// minimum rate once the `grace` time is over.
fn copy_at_pace(
    from: &mut impl Read,
    to: &mut impl Write,
    deadline: Duration,
    grace: Duration,
) -> io::Result<()> {
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&chunk[..n])?;
        sent += n as u64;
        let took = started.elapsed();
        let too_slow =
            took > grace && (sent as f64) < MIN_DOWNLOAD_BYTES_PER_SEC as f64 * took.as_secs_f64();
        if took > deadline || too_slow {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the download of a camera file took longer than it may ({took:?}, {sent} bytes)"
                ),
            ));
        }
    }
}

/// The relay's URL for a camera file URL (`http://camera/files/...` → `/camera-files/...`).
/// `base` is where this camera's routes are (`/cameras/NAME`, or empty for the first).
fn relay_file_url(base: &str, file_url: &str) -> Option<String> {
    let path = file_url.split_once("://")?.1;
    let path = &path[path.find('/')?..];
    path.strip_prefix("/files/")
        .map(|rest| format!("{base}/camera-files/{rest}"))
}

/// `GET /camera-files/<path>`: the camera's `/files/<path>`, streamed through.
pub fn camera_file(channel: &Channel, rest: &str) -> Response {
    let safe = !rest.is_empty()
        && !rest
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
    if !safe {
        return Response::error(Status::NOT_FOUND, "There is no such camera file.");
    }
    let (deadline, grace) = (
        channel.timeouts().download,
        channel.timeouts().download_grace,
    );
    match channel.camera().file(&format!("/files/{rest}")) {
        Ok(mut body) => {
            // Never the camera's own Content-Type: a hostile camera's `text/html` would
            // run script on the relay's origin. Our type, from the extension.
            let extension = rest.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
            let content_type = match extension.as_deref() {
                Some("jpg" | "jpeg") => "image/jpeg",
                Some("mp4") => "video/mp4",
                _ => "application/octet-stream",
            };
            let response = Response::stream(
                content_type,
                Box::new(move |out: &mut TcpStream| copy_at_pace(&mut body, out, deadline, grace)),
            )
            .with_header("X-Content-Type-Options", "nosniff");
            if content_type == "application/octet-stream" {
                let name = rest.rsplit('/').next().unwrap_or(rest);
                response.with_header(
                    "Content-Disposition",
                    format!("attachment; filename=\"{name}\""),
                )
            } else {
                response
            }
        }
        Err(e) => camera_error(&e),
    }
}
