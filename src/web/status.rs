//! `/status` as JSON: a [`ChannelStatus`] written out with the keys pages and scripts
//! read. The numbers are computed in the relay; this only names them.

use crate::relay::status::ChannelStatus;
use crate::relay::views::ViewStatus;
use serde_json::{Value, json};
use std::time::SystemTime;

pub fn status_json(s: &ChannelStatus) -> Value {
    json!({
        "online": s.online,
        "offline_reason": s.offline_reason(),
        "mode": s.mode.as_str(),
        "camera": s.camera,
        "camera_address": s.camera_address,
        "upstream": s.upstream().as_str(),
        "camera_model": s.link.camera_model,
        "frames_received": s.counts.frames_received,
        "fps": (s.fps * 10.0).round() / 10.0,
        "frames_dropped": s.counts.frames_dropped,
        "preview_connections": s.link.preview_connections,
        "reconnects": s.link.reconnects,
        "last_error": s.link.last_error.as_ref().map(|e| e.to_string()),
        "viewers": s.counts.viewers,
        "health": health_json(s),
        "mount": {"yaw": s.mount.yaw, "pitch": s.mount.pitch, "roll": s.mount.roll},
        "views": s.views.iter().map(|v| view_json(&s.name, v)).collect::<Vec<_>>(),
    })
}

/// One flat view: its numbers, its counters and its URLs (under the camera's own path,
/// which serves the first camera too).
pub fn view_json(camera: &str, v: &ViewStatus) -> Value {
    let g = &v.geometry;
    let base = format!("/cameras/{camera}/views/{}", v.name);
    json!({
        "name": v.name,
        "width": g.width,
        "height": g.height,
        "yaw": g.yaw,
        "pitch": g.pitch,
        "roll": g.roll,
        "fov": g.fov,
        "fps_limit": v.fps_limit,
        "viewers": v.viewers,
        "fps": (v.fps * 10.0).round() / 10.0,
        "frames_encoded": v.frames_encoded,
        "frames_dropped": v.frames_dropped,
        "urls": {
            "video_feed": format!("{base}/video_feed"),
            "video_mkv": format!("{base}/video.mkv"),
            "snapshot": format!("{base}/snapshot.jpg"),
        },
    })
}

fn health_json(s: &ChannelStatus) -> Value {
    let h = &s.health;
    let cooling_until = s
        .cooling_left
        .map(|left| crate::relay::frame::unix_secs(SystemTime::now() + left));
    json!({
        "battery": h.battery,
        "battery_state": h.battery_state,
        "board_temp": h.board_temp,
        "battery_temp": h.battery_temp,
        "errors": h.errors,
        "cooling_until": cooling_until,
    })
}
