//! The flat views over HTTP: each configured view served as a camera's own stream is
//! (`views/VIEW/video_feed`, `video.mkv`, `snapshot.jpg`), and `flat.jpg`, one view
//! rendered on request from the newest frame, with ffmpeg `v360`'s numbers.

use crate::camera::errors::full_stop;
use crate::formats::flat::{
    FOV, MAX_VIEW_HEIGHT, MAX_VIEW_WIDTH, PITCH, ROLL, ViewGeometry, YAW, degrees_in, is_view_side,
};
use crate::http::{Request, Response, Status};
use crate::relay::channel::Channel;
use crate::relay::views::{RenderError, View};
use crate::web::streams::CameraWait;
use std::sync::Arc;

/// The view named `name` of the camera, or 404 naming both.
pub fn find<'c>(channel: &'c Channel, name: &str) -> Result<&'c Arc<View>, Response> {
    channel.views().find(name).ok_or_else(|| {
        Response::error(
            Status::NOT_FOUND,
            format!(
                "Camera {} has no view named {name:?}; /cameras lists its views.",
                channel.name()
            ),
        )
    })
}

/// `flat.jpg?yaw=&pitch=&roll=&fov=&width=&height=`: one view of the newest frame. It
/// may wait on the camera, so it takes a camera wait.
pub fn flat_jpg(channel: &Channel, req: &Request, _waiting: &CameraWait) -> Response {
    let geometry = match geometry_of(req) {
        Ok(g) => g,
        Err(why) => return Response::error(Status::BAD_REQUEST, format!("{why}.")),
    };
    match channel.views().render(geometry) {
        Ok(rendered) => Response::bytes(Status::OK, "image/jpeg", rendered.jpeg)
            .with_header("Cache-Control", "no-store")
            .with_header("X-Timestamp", format!("{:.6}", rendered.timestamp)),
        Err(RenderError::Busy) => Response::error(
            Status::SERVICE_UNAVAILABLE,
            "Another flat.jpg of this camera is being rendered; try again in a moment.",
        )
        .with_header("Retry-After", "1"),
        Err(RenderError::NoFrame(why)) => Response::error(
            Status::SERVICE_UNAVAILABLE,
            full_stop(&format!(
                "No camera frame arrived in time to render the view{why}"
            )),
        ),
        Err(RenderError::OverBudget(why)) => {
            Response::error(Status::SERVICE_UNAVAILABLE, why).with_header("Retry-After", "5")
        }
        Err(RenderError::Unencodable) => Response::error(
            Status::INTERNAL_ERROR,
            "The view could not be encoded at this size.",
        ),
        Err(RenderError::Undecodable(e)) => Response::error(
            Status::BAD_GATEWAY,
            full_stop(&format!("The camera's frame gave no view: {e}")),
        ),
    }
}

/// The view the query asks for: yaw, pitch, roll and fov in degrees (0, 0, 0 and 90 when
/// left out), width and height (1280×720).
fn geometry_of(req: &Request) -> Result<ViewGeometry, String> {
    let number = |name: &str, default: f64| -> Result<f64, String> {
        match req.query_param(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<f64>()
                .map_err(|_| format!("{name} is a number of degrees (got {text:?})")),
        }
    };
    let side = |name: &str, default: u16, most: u16| -> Result<u16, String> {
        let text = req.query_param(name).unwrap_or_default();
        match text.parse::<u16>() {
            _ if text.is_empty() => Ok(default),
            Ok(n) if is_view_side(n, most) => Ok(n),
            _ => Err(format!(
                "{name} takes an even number of pixels from 16 to {most} (got {text:?})"
            )),
        }
    };
    Ok(ViewGeometry {
        yaw: degrees_in(number("yaw", 0.0)?, &YAW, "yaw")?,
        pitch: degrees_in(number("pitch", 0.0)?, &PITCH, "pitch")?,
        roll: degrees_in(number("roll", 0.0)?, &ROLL, "roll")?,
        fov: degrees_in(number("fov", 90.0)?, &FOV, "fov")?,
        width: side("width", 1280, MAX_VIEW_WIDTH)?,
        height: side("height", 720, MAX_VIEW_HEIGHT)?,
    })
}
