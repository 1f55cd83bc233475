//! `/status` as JSON: a [`ChannelStatus`] written out with the keys pages and scripts
//! read. The numbers are computed in the relay; this only names them.

use crate::relay::status::ChannelStatus;
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
        "camera_model": s.counts.camera_model,
        "frames_received": s.counts.frames_received,
        "fps": (s.fps * 10.0).round() / 10.0,
        "frames_dropped": s.counts.frames_dropped,
        "preview_connections": s.counts.preview_connections,
        "reconnects": s.counts.reconnects,
        "last_error": s.counts.last_error.as_ref().map(|e| e.to_string()),
        "viewers": s.counts.viewers,
        "health": health_json(s),
        "mount": {"yaw": s.mount.yaw, "pitch": s.mount.pitch, "roll": s.mount.roll},
        "views": s.views.iter().map(|v| json!({
            "name": v.name,
            "width": v.width,
            "height": v.height,
            "viewers": v.viewers,
            "frames_encoded": v.frames_encoded,
        })).collect::<Vec<_>>(),
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
