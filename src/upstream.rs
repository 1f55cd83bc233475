//! The one camera connection: a thread that opens `camera.getLivePreview` when someone
//! wants frames, feeds the body through the MJPEG parser, publishes each whole frame
//! into the hub, and closes the connection when nobody has wanted frames for the
//! linger time.
//!
//! When the stream ends or fails (a picture was taken, the camera slept, the network
//! dropped) it reconnects: the first retry comes quickly, later ones back off to at most
//! [`MAX_RETRY_DELAY`]. Viewers never notice more than a pause: they stay connected to
//! the hub, not to the camera.

use crate::control::Control;
use crate::hub::{Hub, Upstream};
use crate::mjpeg::{Parsed, Parser};
use crate::osc::{Camera, OscError};
use std::io::{self, Read};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Delay before the first retry after a stream ends.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(250);
/// Retries back off (doubling) up to this delay.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
/// Read size from the camera; a THETA frame is 20–300 KB.
const READ_CHUNK_BYTES: usize = 64 << 10;

/// Starts the upstream thread for `camera`, publishing into `hub`.
pub fn spawn(camera: Arc<Camera>, hub: Arc<Hub>, control: Arc<Control>) -> io::Result<()> {
    thread::Builder::new()
        .name("upstream".into())
        .spawn(move || run(&camera, &hub, &control))
        .map(drop)
}

/// How one preview connection ended.
enum Ended {
    /// Nobody wants frames any more; we closed it.
    NoDemand,
    /// The camera's options changed; we closed it to open a new one.
    Restart,
    /// The camera ended or broke the stream, or refused it.
    Failed {
        error: String,
        got_frames: bool,
        /// A refused login: retry at the slowest pace (a camera being reconfigured may accept later).
        login_refused: bool,
    },
}

fn run(camera: &Camera, hub: &Hub, control: &Control) {
    let mut delay = FIRST_RETRY_DELAY;
    // The same failure over and over is logged once, not every few seconds for months.
    let mut last_logged: Option<String> = None;
    loop {
        hub.set_upstream(Upstream::Idle);
        hub.wait_for_demand();
        hub.set_upstream(Upstream::Connecting);
        match stream_once(camera, hub, control) {
            Ended::NoDemand | Ended::Restart => delay = FIRST_RETRY_DELAY,
            Ended::Failed {
                error,
                got_frames,
                login_refused,
            } => {
                if got_frames {
                    delay = FIRST_RETRY_DELAY;
                    last_logged = None;
                }
                if login_refused {
                    delay = MAX_RETRY_DELAY;
                }
                if last_logged.as_ref() != Some(&error) {
                    eprintln!("oscstream: {error}; reconnecting");
                    last_logged = Some(error.clone());
                }
                hub.set_error(Some(error));
                hub.set_upstream(Upstream::Retrying);
                hub.pause_while_demanded(delay);
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

fn stream_once(camera: &Camera, hub: &Hub, control: &Control) -> Ended {
    let mut preview = match control
        .before_preview(camera)
        .and_then(|()| camera.live_preview())
    {
        Ok(p) => p,
        Err(e) => {
            return Ended::Failed {
                error: e.to_string(),
                got_frames: false,
                login_refused: matches!(
                    e,
                    OscError::WrongCredentials { .. } | OscError::AuthRequired { .. }
                ),
            };
        }
    };
    hub.set_upstream(Upstream::Streaming);
    if hub.status().camera_model.is_none() {
        // Only for /status and the page. Asked once the camera has answered, so that an
        // unreachable camera costs one connect timeout per attempt, not two.
        let info = camera.info().ok();
        if let Some(model) = info.as_ref().and_then(|i| i["model"].as_str()) {
            hub.set_camera_model(model.to_string());
        }
    }
    let mut parser = Parser::new(&preview.boundary);
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    let mut got_frames = false;
    let mut handle = |parsed: Parsed| match parsed {
        Parsed::Frame(jpeg) => {
            got_frames = true;
            hub.publish(jpeg);
        }
        Parsed::Rejected(_) => hub.count_dropped(),
    };
    let camera_name = camera.addr().host_port();
    let error = loop {
        if !hub.has_demand() {
            return Ended::NoDemand;
        }
        if control.take_restart() {
            return Ended::Restart;
        }
        match preview.body.read(&mut buf) {
            Ok(0) => break format!("the camera at {camera_name} ended the live preview"),
            Ok(n) => parser.push(&buf[..n], &mut handle),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break read_error(&camera_name, &e),
        }
    };
    parser.finish(&mut handle);
    Ended::Failed {
        error,
        got_frames,
        login_refused: false,
    }
}

fn read_error(camera: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => format!(
            "the camera at {camera} stopped sending frames (nothing for {:?})",
            crate::osc::READ_TIMEOUT
        ),
        _ => OscError::Unreachable {
            camera: camera.to_string(),
            detail: e.to_string(),
        }
        .to_string(),
    }
}
