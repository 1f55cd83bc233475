//! Camera control over HTTP for the page and for scripts: options, preview formats,
//! taking a picture, listing and downloading the pictures. Reads are GET; anything that
//! changes the camera is POST only (the seed's `GET /setOption/...` let any web page
//! change the camera, so it is gone).
//!
//! Files are fetched through the relay (`/camera-files/...`) because in Mode 2 the
//! camera wants Digest auth that a browser cannot be given, and only paths under the
//! camera's `/files/` are ever requested.

use crate::control::{Control, FormatError, switch_preview_format};
use crate::http::{Request, Response};
use crate::osc::{Camera, OscError, PreviewFormat};
use serde_json::{Value, json};
use std::io;
use std::net::TcpStream;

/// Most files one `/api/files` call lists.
const MAX_LISTED_FILES: u32 = 100;

/// A camera failure as the JSON error a user reads: 502, or 504 when it timed out.
pub fn camera_error(e: &OscError) -> Response {
    let status = match e {
        OscError::Refused { status: 504, .. } => 504,
        _ => 502,
    };
    Response::error(status, sentence(&e.to_string()))
}

/// Capitalised and ending with a full stop.
pub fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

pub fn camera_json(answer: Result<Value, OscError>) -> Response {
    match answer {
        Ok(v) => Response::json(200, &v),
        Err(e) => camera_error(&e),
    }
}

/// `GET /api/options?names=a,b`: the camera's current values of these options.
pub fn options(camera: &Camera, req: &Request) -> Response {
    let Some(names) = req.query_param("names").filter(|n| !n.is_empty()) else {
        return Response::error(
            400,
            "Name the options: /api/options?names=previewFormat,captureMode",
        );
    };
    let names: Vec<&str> = names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    camera_json(camera.options(&names))
}

/// `GET /getOption/<name>`, the seed's route: `{"<name>": value}`.
pub fn get_option(camera: &Camera, name: &str) -> Response {
    camera_json(camera.options(&[name]))
}

/// `GET /api/preview-formats`: what the camera supports and what it uses now.
pub fn preview_formats(camera: &Camera) -> Response {
    match camera.preview_formats() {
        Ok(f) => Response::json(
            200,
            &json!({
                "supported": f.supported.iter().map(|p| p.to_json()).collect::<Vec<_>>(),
                "current": f.current.map(PreviewFormat::to_json),
            }),
        ),
        Err(e) => camera_error(&e),
    }
}

/// `POST /api/preview-format {"width":..,"height":..,"framerate":..}`.
pub fn set_preview_format(camera: &Camera, control: &Control, req: &Request) -> Response {
    let wanted = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .as_ref()
        .and_then(PreviewFormat::from_json);
    let Some(wanted) = wanted else {
        return Response::error(
            400,
            r#"Send JSON like {"width":1024,"height":512,"framerate":30}."#,
        );
    };
    match switch_preview_format(camera, control, wanted) {
        Ok(()) => Response::json(200, &json!({ "previewFormat": wanted.to_json() })),
        Err(e @ FormatError::Unsupported { .. }) => Response::error(400, sentence(&e.to_string())),
        Err(FormatError::Camera(e)) => camera_error(&e),
    }
}

/// `POST /api/picture`: shoots (a second after any format change, RICOH's rule),
/// waits until stored, answers the file's URLs.
pub fn take_picture(camera: &Camera, control: &Control) -> Response {
    control.wait_after_set_options();
    match camera.take_picture() {
        Ok(file_url) => Response::json(
            200,
            &json!({ "fileUrl": file_url, "url": relay_file_url(&file_url) }),
        ),
        Err(e) => camera_error(&e),
    }
}

/// `GET /api/files?count=N`: the newest pictures, each with a `url` through the relay.
pub fn files(camera: &Camera, req: &Request) -> Response {
    let count = match req.query_param("count").map(str::parse::<u32>) {
        None => 10,
        Some(Ok(n)) if (1..=MAX_LISTED_FILES).contains(&n) => n,
        Some(_) => {
            return Response::error(
                400,
                format!("count is a number from 1 to {MAX_LISTED_FILES}."),
            );
        }
    };
    match camera.list_files(count) {
        Ok(mut results) => {
            if let Some(entries) = results["entries"].as_array_mut() {
                for entry in entries {
                    let url = entry["fileUrl"].as_str().and_then(relay_file_url);
                    entry["url"] = json!(url);
                }
            }
            Response::json(200, &results)
        }
        Err(e) => camera_error(&e),
    }
}

/// The relay's URL for a camera file URL (`http://camera/files/...` → `/camera-files/...`).
fn relay_file_url(file_url: &str) -> Option<String> {
    let path = file_url.split_once("://")?.1;
    let path = &path[path.find('/')?..];
    path.strip_prefix("/files/")
        .map(|rest| format!("/camera-files/{rest}"))
}

/// `GET /camera-files/<path>`: the camera's `/files/<path>`, streamed through.
pub fn camera_file(camera: &Camera, rest: &str) -> Response {
    let safe = !rest.is_empty()
        && !rest
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
    if !safe {
        return Response::error(404, "There is no such camera file.");
    }
    match camera.file(&format!("/files/{rest}")) {
        Ok((content_type, mut body)) => Response::stream(
            &content_type,
            Box::new(move |out: &mut TcpStream| io::copy(&mut body, out).map(drop)),
        ),
        Err(e @ OscError::Refused { status: 404, .. }) => {
            Response::error(404, sentence(&e.to_string()))
        }
        Err(e) => camera_error(&e),
    }
}
