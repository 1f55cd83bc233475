//! Flat views of one camera: each configured view is a feed of its own (a hub and a
//! fan-out, as the camera's stream has), filled by its own thread while someone watches
//! it. A camera frame is decoded once for all its views; each view remaps and encodes
//! once per frame for all its viewers. A view nobody watches costs nothing, and a view
//! that cannot keep up takes the newest frame next, never delaying the camera's stream.
//!
//! The ad-hoc render (`flat.jpg`) uses the same decode, one render per camera at a time.

use crate::formats::flat::{self, Mount, Planes, Remap, ViewGeometry};
use crate::formats::picture;
use crate::relay::fanout::Fanout;
use crate::relay::feed::Feed;
use crate::relay::frame::Frame;
use crate::relay::hub::{Hub, Upstream};
use crate::sync::{Locked, wait_at_most};
use crate::timeouts::Timeouts;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A view as the user configured it.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewSpec {
    /// `[a-z0-9-]+`, unique per camera: the view's URL.
    pub name: String,
    pub geometry: ViewGeometry,
    /// At most this many frames a second (the camera's rate when `None`).
    pub fps: Option<u32>,
}

/// How long an ad-hoc render waits for the one before it.
const ADHOC_WAIT: Duration = Duration::from_secs(2);

/// One configured view: its feed, filled by its thread.
pub struct View {
    spec: ViewSpec,
    mount: Mount,
    hub: Arc<Hub>,
    fanout: Arc<Fanout>,
    max_viewers: usize,
    timeouts: Timeouts,
    /// What viewers see while the camera sends nothing, drawn once at the view's size.
    no_signal: Arc<[u8]>,
    frames_encoded: AtomicU64,
    encode_micros: AtomicU64,
}

/// What a view's counters say now.
#[derive(Debug, Clone)]
pub struct ViewStatus {
    pub name: String,
    pub width: u16,
    pub height: u16,
    pub viewers: usize,
    pub frames_encoded: u64,
    /// Time spent remapping and encoding, all frames together.
    pub encode_seconds: f64,
}

impl View {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn status(&self) -> ViewStatus {
        let g = self.spec.geometry;
        ViewStatus {
            name: self.spec.name.clone(),
            width: g.width,
            height: g.height,
            viewers: self.hub.reading().counts.viewers,
            frames_encoded: self.frames_encoded.load(Ordering::Relaxed),
            encode_seconds: self.encode_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    /// The view's frames while someone watches it, from the camera's newest frames.
    fn run(&self, camera: &Arc<Hub>, decoded: &Decoded) {
        let mut remap: Option<Remap> = None;
        let mut out = Planes::default();
        let min_gap = self.spec.fps.map(|fps| Duration::from_secs(1) / fps.max(1));
        while self.hub.wait_for_demand() {
            // Watching a view keeps the camera open, as a viewer of its own would.
            let Some(_watching) = camera.try_viewer(usize::MAX) else {
                return;
            };
            self.hub.set_upstream(Upstream::Streaming, false);
            let mut seq = 0;
            let mut next_allowed = Instant::now();
            while self.hub.has_demand() && !camera.is_stopped() {
                self.hub.beat();
                let Some(frame) = camera.next_frame(seq, self.timeouts.keepalive) else {
                    continue;
                };
                seq = frame.seq;
                if let Some(jpeg) = self.render(&frame, decoded, &mut remap, &mut out) {
                    let view_frame = self.hub.publish(jpeg.into());
                    self.fanout.deliver(&view_frame);
                }
                if let Some(gap) = min_gap {
                    next_allowed = Instant::now().max(next_allowed + gap);
                    self.hub.pause_while_demanded(
                        next_allowed.saturating_duration_since(Instant::now()),
                    );
                }
            }
            self.hub.set_upstream(Upstream::Idle, false);
        }
    }

    /// This view of `frame`, or `None` (counted as dropped) when the frame does not decode.
    fn render(
        &self,
        frame: &Frame,
        decoded: &Decoded,
        remap: &mut Option<Remap>,
        out: &mut Planes,
    ) -> Option<Vec<u8>> {
        let Ok(planes) = decoded.of(frame) else {
            self.hub.count_dropped();
            return None;
        };
        let started = Instant::now();
        let source = (planes.width, planes.height);
        let geometry = self.spec.geometry;
        if !remap
            .as_ref()
            .is_some_and(|r| r.fits(&geometry, &self.mount, source))
        {
            *remap = Some(Remap::new(geometry, self.mount, source));
        }
        remap.as_ref()?.apply(&planes, out);
        let jpeg = flat::encode(out, flat::VIEW_QUALITY)?;
        self.frames_encoded.fetch_add(1, Ordering::Relaxed);
        self.encode_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        Some(jpeg)
    }
}

impl Feed for View {
    fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    fn fanout(&self) -> &Arc<Fanout> {
        &self.fanout
    }

    fn max_viewers(&self) -> usize {
        self.max_viewers
    }

    fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// NO SIGNAL at the view's size.
    fn drawn(&self, _last: Option<&Frame>) -> Arc<[u8]> {
        self.no_signal.clone()
    }
}

/// A camera frame's planes, or why it did not decode.
type Decoding = Result<Arc<Planes>, flat::DecodeError>;

/// The newest camera frame decoded, shared by the views of one camera.
#[derive(Default)]
struct Decoded {
    /// The frame's sequence number and its planes (or why it did not decode).
    newest: Mutex<Option<(u64, Decoding)>>,
    /// The decoder's buffer, kept from frame to frame.
    scratch: Mutex<Vec<u8>>,
    failures: AtomicU64,
}

impl Decoded {
    /// `frame` decoded: by the first view to ask, reused by the others.
    fn of(&self, frame: &Frame) -> Decoding {
        let mut newest = self.newest.locked();
        if let Some((seq, planes)) = newest.as_ref()
            && *seq == frame.seq
        {
            return planes.clone();
        }
        let mut planes = Planes::default();
        let mut scratch = self.scratch.locked();
        let result =
            flat::decode(&frame.jpeg, &mut planes, &mut scratch).map(|()| Arc::new(planes));
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        *newest = Some((frame.seq, result.clone()));
        result
    }
}

/// Why an ad-hoc render gave no picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// Another render of this camera is running.
    Busy,
    /// No camera frame came in time.
    NoFrame,
    Undecodable(flat::DecodeError),
    /// The encoder refused the view (a size no view may have).
    Unencodable,
}

/// An ad-hoc render: the JPEG and when its camera frame arrived (Unix seconds).
pub struct Rendered {
    pub jpeg: Vec<u8>,
    pub timestamp: f64,
}

/// The views of one camera, with their shared decode.
pub struct Views {
    list: Vec<Arc<View>>,
    camera: Arc<Hub>,
    mount: Mount,
    decoded: Arc<Decoded>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// One ad-hoc render at a time: whether one runs, and a wake-up when it ends.
    rendering: Mutex<bool>,
    /// The last ad-hoc render's table.
    adhoc_remap: Mutex<Option<Remap>>,
    render_done: Condvar,
    timeouts: Timeouts,
}

impl Views {
    /// The views of the camera whose frames `camera` holds; their threads wait for viewers.
    pub fn start(
        specs: &[ViewSpec],
        mount: Mount,
        camera: &Arc<Hub>,
        (label, max_viewers): (&str, usize),
        timeouts: Timeouts,
    ) -> io::Result<Views> {
        let decoded = Arc::new(Decoded::default());
        let mut list = Vec::with_capacity(specs.len());
        let mut threads = Vec::with_capacity(specs.len());
        for spec in specs {
            let hub = Hub::new(timeouts.linger);
            let fanout = Fanout::new(hub.deliveries().clone(), hub.stopping().clone());
            let g = spec.geometry;
            let view = Arc::new(View {
                no_signal: picture::no_signal_jpeg(
                    &format!("{label} {}", spec.name),
                    g.width,
                    g.height,
                )
                .into(),
                spec: spec.clone(),
                mount,
                hub,
                fanout,
                max_viewers,
                timeouts,
                frames_encoded: AtomicU64::new(0),
                encode_micros: AtomicU64::new(0),
            });
            let (v, c, d) = (view.clone(), camera.clone(), decoded.clone());
            threads.push(
                thread::Builder::new()
                    .name(format!("view-{}", spec.name))
                    .spawn(move || v.run(&c, &d))?,
            );
            list.push(view);
        }
        Ok(Views {
            list,
            camera: camera.clone(),
            mount,
            decoded,
            threads: Mutex::new(threads),
            rendering: Mutex::new(false),
            adhoc_remap: Mutex::new(None),
            render_done: Condvar::new(),
            timeouts,
        })
    }

    /// How the camera hangs, applied to every view.
    pub fn mount(&self) -> Mount {
        self.mount
    }

    pub fn list(&self) -> &[Arc<View>] {
        &self.list
    }

    pub fn find(&self, name: &str) -> Option<&Arc<View>> {
        self.list.iter().find(|v| v.name() == name)
    }

    /// Camera frames that did not decode.
    pub fn decode_failures(&self) -> u64 {
        self.decoded.failures.load(Ordering::Relaxed)
    }

    /// Renders `geometry` from the camera's newest frame, one render at a time: the next
    /// waits briefly, then is refused.
    pub fn render(&self, geometry: ViewGeometry) -> Result<Rendered, RenderError> {
        let _turn = self.take_turn().ok_or(RenderError::Busy)?;
        let t = &self.timeouts;
        let frame = self
            .camera
            .snapshot(t.snapshot_max_age, t.snapshot_wait)
            .ok_or(RenderError::NoFrame)?;
        let planes = self.decoded.of(&frame).map_err(RenderError::Undecodable)?;
        // The same numbers asked again (a page's link, a tile's still image) reuse the table.
        let source = (planes.width, planes.height);
        let mut last = self.adhoc_remap.locked();
        if !last
            .as_ref()
            .is_some_and(|r| r.fits(&geometry, &self.mount, source))
        {
            *last = Some(Remap::new(geometry, self.mount, source));
        }
        let mut out = Planes::default();
        if let Some(remap) = last.as_ref() {
            remap.apply(&planes, &mut out);
        }
        Ok(Rendered {
            jpeg: flat::encode(&out, flat::VIEW_QUALITY).ok_or(RenderError::Unencodable)?,
            timestamp: frame.timestamp_secs(),
        })
    }

    fn take_turn(&self) -> Option<RenderTurn<'_>> {
        let deadline = Instant::now() + ADHOC_WAIT;
        let mut busy = self.rendering.locked();
        while *busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            busy = wait_at_most(&self.render_done, busy, left);
        }
        *busy = true;
        Some(RenderTurn(self))
    }

    /// Ends every view's viewers and thread.
    pub fn stop(&self) {
        for view in &self.list {
            view.hub.stop();
            view.fanout.stop();
        }
        for thread in self.threads.locked().drain(..) {
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

/// The ad-hoc render's turn, given back when dropped.
struct RenderTurn<'a>(&'a Views);

impl Drop for RenderTurn<'_> {
    fn drop(&mut self) {
        *self.0.rendering.locked() = false;
        self.0.render_done.notify_one();
    }
}
