//! The one camera connection: a thread that opens `camera.getLivePreview` when someone
//! wants frames, feeds the body through the MJPEG parser, publishes each whole frame
//! into the camera's feed, keeps the link's state, and closes the connection when
//! nobody has wanted frames for the linger time.
//!
//! When the stream ends or fails (a picture was taken, the camera slept, the network
//! dropped, bytes kept coming but no whole frame) it reconnects: the first retry comes
//! quickly, later ones back off to the `retry_max` timeout. Viewers never notice more
//! than a pause: they stay connected to the hub, not to the camera.

use crate::camera::client::{Camera, Preview};
use crate::camera::errors::OscError;
use crate::formats::jpeg::jpeg_dimensions;
use crate::formats::mjpeg::{Parsed, Parser};
use crate::formats::osc::fits_preview;
use crate::log;
use crate::relay::control::Control;
use crate::relay::feed::Feed;
use crate::relay::link::{Link, UpstreamState};
use crate::timeouts::Timeouts;
use std::cell::Cell;
use std::io::{self, Read};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Read size from the camera; a THETA frame is 20–300 KB.
const READ_CHUNK_BYTES: usize = 64 << 10;

/// Starts the upstream thread for `camera`, publishing into `feed` until it stops.
pub fn spawn(
    camera: Arc<Camera>,
    feed: Arc<Feed>,
    link: Arc<Link>,
    control: Arc<Control>,
    timeouts: Timeouts,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("upstream".into())
        .spawn(move || {
            let connection = Connection {
                camera: &camera,
                feed: &feed,
                link: &link,
                control: &control,
            };
            connection.run(&timeouts)
        })
}

/// What the upstream thread works with: the camera, the feed it publishes into (its hub
/// says who wants frames), the link it keeps, and camera control.
struct Connection<'a> {
    camera: &'a Camera,
    feed: &'a Feed,
    link: &'a Link,
    control: &'a Control,
}

/// How one preview connection ended.
enum Ended {
    /// Nobody wants frames any more (or the relay stops); we closed it.
    NoDemand,
    /// The camera's options changed; we closed it to open a new one.
    Restart,
    /// The camera overheated; we closed it until it has cooled down.
    Cooling,
    /// The camera ended or broke the stream, or refused it.
    Failed { error: OscError, got_frames: bool },
}

/// The same failure over and over is logged once, then every few minutes with a count,
/// not every few seconds for months; and however the failures vary (a camera may carry
/// a new message in each), one camera writes at most a few lines a minute.
struct FailureLog {
    /// A failure that keeps coming back is logged again this often, with a count.
    repeat_every: Duration,
    last: Option<OscError>,
    logged_at: Option<Instant>,
    repeats: u64,
    /// This minute's lines, and the ones left out of it.
    window: LogWindow,
}

/// At most [`MAX_LINES_PER_WINDOW`] lines per window (`Timeouts::log_window`); what is
/// left out is counted and said when the next window opens.
struct LogWindow {
    length: Duration,
    started: Option<Instant>,
    lines: u32,
    left_out: u64,
}

/// A camera's failure and recovery lines in one window, at most.
const MAX_LINES_PER_WINDOW: u32 = 10;

impl LogWindow {
    /// Whether a line may be written now.
    fn admit(&mut self, camera: &Camera) -> bool {
        if self.started.is_none_or(|t| t.elapsed() >= self.length) {
            if self.left_out > 0 {
                log::warning(format_args!(
                    "the camera at {} failed or recovered {} more times in the last {:?} than were logged",
                    camera.addr().host_port(),
                    self.left_out,
                    self.length
                ));
            }
            *self = LogWindow {
                length: self.length,
                started: Some(Instant::now()),
                lines: 0,
                left_out: 0,
            };
        }
        if self.lines < MAX_LINES_PER_WINDOW {
            self.lines += 1;
            true
        } else {
            self.left_out += 1;
            false
        }
    }
}

impl FailureLog {
    fn new(timeouts: &Timeouts) -> FailureLog {
        FailureLog {
            repeat_every: timeouts.repeat_log,
            last: None,
            logged_at: None,
            repeats: 0,
            window: LogWindow {
                length: timeouts.log_window,
                started: None,
                lines: 0,
                left_out: 0,
            },
        }
    }

    fn failed(&mut self, error: &OscError, camera: &Camera) {
        if self.last.as_ref() != Some(error) {
            if self.window.admit(camera) {
                log::warning(format_args!("{error}; reconnecting"));
            }
            self.last = Some(error.clone());
            self.logged_at = Some(Instant::now());
            self.repeats = 0;
            return;
        }
        self.repeats += 1;
        if self
            .logged_at
            .is_none_or(|t| t.elapsed() >= self.repeat_every)
        {
            log::warning(format_args!(
                "{error}; still reconnecting ({} more failed attempts)",
                self.repeats
            ));
            self.logged_at = Some(Instant::now());
            self.repeats = 0;
        }
    }

    fn recovered(&mut self, camera: &Camera) {
        if self.last.take().is_some() && self.window.admit(camera) {
            log::notice(format_args!(
                "the camera at {} streams again",
                camera.addr().host_port()
            ));
        }
    }
}

impl Connection<'_> {
    /// Opens the preview while someone wants frames, again after each end, until the
    /// feed stops.
    fn run(&self, timeouts: &Timeouts) {
        let (hub, link, control) = (self.feed.hub(), self.link, self.control);
        let mut delay = timeouts.retry_first;
        let mut failures = FailureLog::new(timeouts);
        let mut after_failure = false;
        loop {
            control.hang_if_stalled();
            hub.beat();
            link.set_upstream(UpstreamState::Idle, false);
            if !hub.wait_for_demand() {
                return;
            }
            link.set_upstream(UpstreamState::Connecting, after_failure);
            let ended = match self.open_preview() {
                Ok(preview) => self.read_until_ended(preview, timeouts),
                Err(error) => Ended::Failed {
                    error,
                    got_frames: false,
                },
            };
            match ended {
                Ended::NoDemand | Ended::Restart => {
                    delay = timeouts.retry_first;
                    after_failure = false;
                }
                Ended::Cooling => {
                    if !self.cool_down() {
                        return;
                    }
                    delay = timeouts.retry_first;
                    after_failure = false;
                }
                Ended::Failed { error, got_frames } => {
                    after_failure = true;
                    if got_frames {
                        delay = timeouts.retry_first;
                        failures.recovered(self.camera);
                    }
                    if error.is_login_refused() {
                        // A camera being reconfigured may accept later: retry at the slowest pace.
                        delay = timeouts.retry_max;
                    }
                    failures.failed(&error, self.camera);
                    self.back_off(error, delay);
                    delay = (delay * 2).min(timeouts.retry_max);
                }
            }
        }
    }

    /// Keeps the preview closed while the camera cools down (or until nobody wants
    /// frames); `false` when the feed stops meanwhile.
    fn cool_down(&self) -> bool {
        self.link.set_upstream(UpstreamState::Cooling, false);
        while let Some(left) = self.control.cooling_left() {
            if self.feed.hub().is_stopped() {
                return false;
            }
            self.feed
                .hub()
                .pause_while_demanded(left.min(Duration::from_secs(1)));
            self.feed.hub().beat();
            if !self.feed.hub().has_demand() {
                break;
            }
        }
        true
    }

    /// Says why the preview ended and waits `delay` before the next attempt (less if
    /// nobody wants frames any more).
    fn back_off(&self, error: OscError, delay: Duration) {
        self.link.set_error(error);
        self.link.set_upstream(UpstreamState::Retrying, false);
        self.feed.hub().pause_while_demanded(delay);
    }

    /// What is due before a preview (RICOH's pauses, formats, the timers), then the preview.
    fn open_preview(&self) -> Result<Preview, OscError> {
        let (camera, hub, link) = (self.camera, self.feed.hub(), self.link);
        // A beat after each camera call: each is bounded by its own timeouts, so the gap
        // between beats stays short unless the thread is truly stuck.
        let opened = self.control.before_preview(camera).and_then(|()| {
            hub.beat();
            camera.live_preview()
        });
        hub.beat();
        let preview = opened?;
        link.set_upstream(UpstreamState::Streaming, false);
        if link.camera_model().is_none() {
            // Only for /status and the page. Asked once the camera has answered, so that an
            // unreachable camera costs one connect timeout per attempt, not two.
            if let Some(model) = camera.info_cached().ok().and_then(|i| i.model.clone()) {
                link.set_camera_model(model);
            }
            hub.beat();
        }
        Ok(preview)
    }

    /// Feeds the preview through the parser into the feed until nobody wants frames,
    /// the camera must be left alone, or the stream ends or fails.
    fn read_until_ended(&self, mut preview: Preview, timeouts: &Timeouts) -> Ended {
        let (camera, hub, control) = (self.camera, self.feed.hub(), self.control);
        let mut parser = Parser::new(&preview.boundary);
        let mut buf = vec![0u8; READ_CHUNK_BYTES];
        let mut got_frames = false;
        let last_whole_frame = Cell::new(Instant::now());
        let mut handle = |parsed: Parsed| match parsed {
            // A frame claiming more than any preview would have NO SIGNAL drawn that large.
            Parsed::Frame(jpeg) if !jpeg_dimensions(&jpeg).is_none_or(fits_preview) => {
                hub.count_dropped()
            }
            Parsed::Frame(jpeg) => {
                if !got_frames {
                    self.link.frames_flow();
                    got_frames = true;
                }
                last_whole_frame.set(Instant::now());
                self.feed.publish(jpeg);
            }
            Parsed::Rejected(_) => hub.count_dropped(),
        };
        let camera_name = camera.addr().host_port();
        let stalled = || OscError::PreviewStalled {
            camera: camera_name.clone(),
            after: timeouts.frame_stall,
        };
        let error = loop {
            control.hang_if_stalled();
            hub.beat();
            if !hub.has_demand() {
                return Ended::NoDemand;
            }
            if control.take_restart() {
                return Ended::Restart;
            }
            if control.cooling() {
                return Ended::Cooling;
            }
            match preview.body.read(&mut buf) {
                Ok(0) => {
                    break OscError::PreviewEnded {
                        camera: camera_name.clone(),
                    };
                }
                Ok(n) => parser.push(&buf[..n], &mut handle),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    break stalled();
                }
                Err(e) => {
                    break OscError::PreviewBroken {
                        camera: camera_name.clone(),
                        detail: e.to_string(),
                    };
                }
            }
            // Bytes that never make a whole frame (a dripping or babbling camera) count as silence.
            if last_whole_frame.get().elapsed() > timeouts.frame_stall {
                break stalled();
            }
        };
        parser.finish(&mut handle);
        Ended::Failed { error, got_frames }
    }
}
