//! What `/status` and `/cameras` say, as types: each JSON object the pages and scripts
//! read is a struct here, serialised by serde, and built from the relay's own
//! [`ChannelStatus`]. The numbers are computed in the relay; this names them once.

use crate::relay::status::ChannelStatus;
use crate::relay::views::ViewStatus;
use serde::Serialize;
use std::time::SystemTime;

/// `/status` (and `/cameras/NAME/status`): one camera.
#[derive(Serialize)]
pub struct CameraStatus<'a> {
    online: bool,
    offline_reason: Option<String>,
    mode: &'static str,
    camera: &'a str,
    camera_address: &'a str,
    upstream: &'static str,
    camera_model: Option<&'a str>,
    frames_received: u64,
    /// To a tenth.
    fps: f64,
    frames_dropped: u64,
    preview_connections: u64,
    reconnects: u64,
    last_error: Option<String>,
    viewers: usize,
    health: HealthStatus<'a>,
    mount: Turn,
    views: Vec<ViewEntry<'a>>,
}

/// The camera's own report: battery, temperatures, errors, and a cool-down under way.
#[derive(Serialize)]
struct HealthStatus<'a> {
    battery: Option<f64>,
    battery_state: Option<&'a str>,
    board_temp: Option<f64>,
    battery_temp: Option<f64>,
    errors: &'a [String],
    /// Unix seconds.
    cooling_until: Option<f64>,
}

/// Degrees, as the config's `yaw_offset`, `pitch_offset` and `roll_offset`.
#[derive(Serialize)]
struct Turn {
    yaw: f64,
    pitch: f64,
    roll: f64,
}

/// One flat view: its numbers, its counters and its URLs (under the camera's own path,
/// which serves the first camera too).
#[derive(Serialize)]
pub struct ViewEntry<'a> {
    name: &'a str,
    width: u16,
    height: u16,
    yaw: f64,
    pitch: f64,
    roll: f64,
    fov: f64,
    fps_limit: Option<u32>,
    viewers: usize,
    /// To a tenth.
    fps: f64,
    frames_encoded: u64,
    frames_dropped: u64,
    urls: FeedUrls,
}

/// Where a feed (a camera's or a view's) is served.
#[derive(Serialize)]
struct FeedUrls {
    video_feed: String,
    video_mkv: String,
    snapshot: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flat: Option<String>,
}

impl FeedUrls {
    fn under(base: &str) -> FeedUrls {
        FeedUrls {
            video_feed: format!("{base}/video_feed"),
            video_mkv: format!("{base}/video.mkv"),
            snapshot: format!("{base}/snapshot.jpg"),
            page: None,
            status: None,
            flat: None,
        }
    }
}

/// `/cameras`: every camera, its state and where it is served.
#[derive(Serialize)]
pub struct CameraList<'a> {
    cameras: Vec<CameraEntry<'a>>,
}

#[derive(Serialize)]
struct CameraEntry<'a> {
    name: &'a str,
    model: Option<&'a str>,
    address: &'a str,
    online: bool,
    viewers: usize,
    urls: FeedUrls,
    views: Vec<ViewEntry<'a>>,
}

fn tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

impl<'a> CameraStatus<'a> {
    pub fn of(s: &'a ChannelStatus) -> CameraStatus<'a> {
        let h = &s.health;
        CameraStatus {
            online: s.online,
            offline_reason: s.offline_reason(),
            mode: s.mode.as_str(),
            camera: &s.camera,
            camera_address: &s.camera_address,
            upstream: s.upstream().as_str(),
            camera_model: s.link.camera_model.as_deref(),
            frames_received: s.counts.frames_received,
            fps: tenths(s.fps),
            frames_dropped: s.counts.frames_dropped,
            preview_connections: s.link.preview_connections,
            reconnects: s.link.reconnects,
            last_error: s.link.last_error.as_ref().map(|e| e.to_string()),
            viewers: s.counts.viewers,
            health: HealthStatus {
                battery: h.battery,
                battery_state: h.battery_state.as_deref(),
                board_temp: h.board_temp,
                battery_temp: h.battery_temp,
                errors: &h.errors,
                cooling_until: s
                    .cooling_left
                    .map(|left| crate::relay::frame::unix_secs(SystemTime::now() + left)),
            },
            mount: Turn {
                yaw: s.mount.yaw,
                pitch: s.mount.pitch,
                roll: s.mount.roll,
            },
            views: s.views.iter().map(|v| ViewEntry::of(&s.name, v)).collect(),
        }
    }
}

impl<'a> ViewEntry<'a> {
    fn of(camera: &str, v: &'a ViewStatus) -> ViewEntry<'a> {
        let g = &v.geometry;
        ViewEntry {
            name: &v.name,
            width: g.width,
            height: g.height,
            yaw: g.yaw,
            pitch: g.pitch,
            roll: g.roll,
            fov: g.fov,
            fps_limit: v.fps_limit,
            viewers: v.viewers,
            fps: tenths(v.fps),
            frames_encoded: v.frames_encoded,
            frames_dropped: v.frames_dropped,
            urls: FeedUrls::under(&format!("/cameras/{camera}/views/{}", v.name)),
        }
    }
}

impl<'a> CameraList<'a> {
    /// The list from each camera's name and status, in the relay's order.
    pub fn of(cameras: &'a [(&'a str, ChannelStatus)]) -> CameraList<'a> {
        let cameras = cameras
            .iter()
            .map(|(name, s)| {
                let base = format!("/cameras/{name}");
                CameraEntry {
                    name,
                    model: s.link.camera_model.as_deref(),
                    address: &s.camera_address,
                    online: s.online,
                    viewers: s.counts.viewers,
                    urls: FeedUrls {
                        page: Some(format!("/public/index.html?camera={name}")),
                        status: Some(format!("{base}/status")),
                        flat: Some(format!("{base}/flat.jpg")),
                        ..FeedUrls::under(&base)
                    },
                    views: s.views.iter().map(|v| ViewEntry::of(name, v)).collect(),
                }
            })
            .collect();
        CameraList { cameras }
    }
}
