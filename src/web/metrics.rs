//! `GET /metrics` in Prometheus' text format (0.0.4): counters and gauges read from each
//! channel's status and the server's connection count, named after Prometheus'
//! guidelines (`_total` for counters, base units). Nothing here holds a secret: camera
//! labels are the channels' names.

use crate::budget::Budget;
use crate::relay::channel::Channel;
use crate::relay::link::UpstreamState;
use crate::relay::status::ChannelStatus;
use std::fmt::Write;
use std::sync::Arc;

/// The Content-Type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The families read straight from each camera's status: name, type, help, value.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ChannelStatus) -> String,
);
const PER_CAMERA: &[Family] = &[
    (
        "oscstream_frames_received_total",
        "counter",
        "Whole JPEG frames received from the camera.",
        |s| s.counts.frames_received.to_string(),
    ),
    (
        "oscstream_frames_delivered_total",
        "counter",
        "Parts written to viewers, NO SIGNAL and repeated frames included.",
        |s| s.delivered.parts.to_string(),
    ),
    (
        "oscstream_frames_malformed_total",
        "counter",
        "Parts from the camera dropped: not whole JPEGs, or larger than any preview.",
        |s| s.counts.frames_dropped.to_string(),
    ),
    (
        "oscstream_frames_skipped_total",
        "counter",
        "Camera frames that slow viewers skipped to stay on the newest.",
        |s| s.delivered.skipped.to_string(),
    ),
    (
        "oscstream_parts_handed_over_total",
        "counter",
        "Parts a viewer's socket could not take at once, finished by that viewer's own thread.",
        |s| s.delivered.handed_over.to_string(),
    ),
    (
        "oscstream_sent_bytes_total",
        "counter",
        "JPEG bytes written to stream viewers.",
        |s| s.delivered.bytes.to_string(),
    ),
    (
        "oscstream_viewers",
        "gauge",
        "Stream viewers connected now.",
        |s| s.counts.viewers.to_string(),
    ),
    (
        "oscstream_reconnects_total",
        "counter",
        "Camera preview connections opened again after a failure.",
        |s| s.link.reconnects.to_string(),
    ),
    (
        "oscstream_camera_errors_total",
        "counter",
        "Camera failures: refused or failed requests, ended or broken previews.",
        |s| s.link.camera_errors.to_string(),
    ),
    (
        "oscstream_camera_frames_per_second",
        "gauge",
        "Frames per second arriving from the camera now.",
        |s| format!("{:.2}", s.fps),
    ),
    (
        "oscstream_camera_last_frame_age_seconds",
        "gauge",
        "Seconds since the camera's newest frame (NaN before the first).",
        |s| {
            s.last_frame_age
                .map_or("NaN".to_string(), |a| format!("{:.3}", a.as_secs_f64()))
        },
    ),
];

/// The text being written, one metric family after another.
struct Exposition(String);

impl Exposition {
    fn family(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: impl Iterator<Item = (String, String)>,
    ) {
        let out = &mut self.0;
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    }
}

/// The whole exposition for these channels and `connections` open now.
pub fn render(channels: &[Arc<Channel>], connections: usize, view_memory: &Budget) -> String {
    let statuses: Vec<_> = channels
        .iter()
        .map(|c| (label_value(c.name()), c.status()))
        .collect();
    let mut out = Exposition(String::with_capacity(4096));
    out.family(
        "oscstream_build_info",
        "gauge",
        "The running oscstream's version.",
        std::iter::once((
            format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")),
            "1".to_string(),
        )),
    );
    for (name, kind, help, value) in PER_CAMERA {
        let samples = statuses
            .iter()
            .map(|(camera, s)| (format!("{{camera=\"{camera}\"}}"), value(s)));
        out.family(name, kind, help, samples);
    }
    out.family(
        "oscstream_connections",
        "gauge",
        "HTTP connections served now (viewers included).",
        std::iter::once((String::new(), connections.to_string())),
    );
    out.family(
        "oscstream_upstream_state",
        "gauge",
        "What the camera connection does: 1 for the current state.",
        statuses.iter().flat_map(|(camera, s)| {
            UpstreamState::ALL.iter().map(move |state| {
                (
                    format!("{{camera=\"{camera}\",state=\"{}\"}}", state.as_str()),
                    u8::from(s.upstream() == *state).to_string(),
                )
            })
        }),
    );
    camera_health(&mut out, channels);
    view_families(&mut out, &statuses);
    if statuses.iter().any(|(_, s)| !s.views.is_empty()) {
        out.family(
            "oscstream_view_memory_bytes",
            "gauge",
            "Memory the flat views keep now (tables, planes, the decode), of --view-memory.",
            std::iter::once((String::new(), view_memory.used().to_string())),
        );
    }
    out.0
}

/// Each flat view's frames and the time their remap and encode took (no family when no
/// camera has views).
fn view_families(out: &mut Exposition, statuses: &[(String, ChannelStatus)]) {
    if statuses.iter().all(|(_, s)| s.views.is_empty()) {
        return;
    }
    let per_view = |value: fn(&crate::relay::views::ViewStatus) -> String| {
        statuses.iter().flat_map(move |(camera, s)| {
            s.views.iter().map(move |v| {
                (
                    format!("{{camera=\"{camera}\",view=\"{}\"}}", label_value(&v.name)),
                    value(v),
                )
            })
        })
    };
    out.family(
        "oscstream_view_frames_total",
        "counter",
        "Frames rendered for a flat view (one per camera frame while anyone watches it).",
        per_view(|v| v.frames_encoded.to_string()),
    );
    out.family(
        "oscstream_view_viewers",
        "gauge",
        "Viewers of a flat view now.",
        per_view(|v| v.viewers.to_string()),
    );
    out.family(
        "oscstream_view_encode_seconds_total",
        "counter",
        "Time spent remapping and encoding a flat view's frames.",
        per_view(|v| format!("{:.6}", v.encode_seconds)),
    );
    out.family(
        "oscstream_view_decode_failures_total",
        "counter",
        "Camera frames that did not decode for the camera's views.",
        statuses.iter().map(|(camera, s)| {
            (
                format!("{{camera=\"{camera}\"}}"),
                s.view_decode_failures.to_string(),
            )
        }),
    );
}

/// Battery and temperatures, for the cameras that reported them (no family when none did).
fn camera_health(out: &mut Exposition, channels: &[Arc<Channel>]) {
    let healths: Vec<_> = channels
        .iter()
        .map(|c| (label_value(c.name()), c.health()))
        .collect();
    let battery: Vec<_> = healths
        .iter()
        .filter_map(|(camera, h)| {
            Some((format!("{{camera=\"{camera}\"}}"), h.battery?.to_string()))
        })
        .collect();
    if !battery.is_empty() {
        out.family(
            "oscstream_camera_battery_ratio",
            "gauge",
            "The camera's battery level, 0 to 1, as it last reported it.",
            battery.into_iter(),
        );
    }
    let temperatures: Vec<_> = healths
        .iter()
        .flat_map(|(camera, h)| {
            [("board", h.board_temp), ("battery", h.battery_temp)]
                .into_iter()
                .filter_map(move |(sensor, t)| {
                    Some((
                        format!("{{camera=\"{camera}\",sensor=\"{sensor}\"}}"),
                        t?.to_string(),
                    ))
                })
        })
        .collect();
    if !temperatures.is_empty() {
        out.family(
            "oscstream_camera_temperature_celsius",
            "gauge",
            "The camera's temperatures as it last reported them.",
            temperatures.into_iter(),
        );
    }
}

/// A label value with `\`, `"` and newlines escaped, as the format requires.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
