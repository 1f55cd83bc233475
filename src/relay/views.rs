//! Flat views of one camera. Each configured view is a [`Feed`] like the camera's own:
//! its viewers take places (shared by all the camera's views), its snapshots wait like
//! the camera's, and it is filled by a producer, a thread started when the view is first
//! watched and ended when nobody has watched it for the linger time. The producer reads
//! the camera's feed as a consumer (it keeps the camera open without being a viewer).
//!
//! A camera frame is decoded once for all its views; each view remaps and encodes once
//! per frame for all its viewers. What views keep in memory (tables, planes, the decode)
//! is drawn from one budget for the whole relay: a view that would go over it is not
//! started, and its viewer gets the sentence naming the budget. A view nobody watches
//! costs nothing, and a view that cannot keep up takes the newest frame next, never
//! delaying the camera's stream.
//!
//! The ad-hoc render (`flat.jpg`) uses the same decode and budget, one render per camera
//! at a time.

use crate::budget::{Budget, Share};
use crate::formats::flat::{self, McuMask, Mount, Planes, Remap, ViewGeometry};
use crate::formats::picture;
use crate::relay::decode::{DecodeUser, Decoded, Memory, Undecoded};
use crate::relay::feed::{Feed, Places, Producer, Slate};
use crate::relay::frame::Frame;
use crate::relay::hub::Hub;
use crate::relay::link::Link;
use crate::sync::{Locked, wait_at_most};
use crate::timeouts::Timeouts;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread;
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

/// Frames of a new size in a row before a running view builds its table for that size:
/// a camera switching formats sends only the new size from then on, and one whose size
/// flips from frame to frame must not cost a table per frame.
const NEW_SIZE_FRAMES: u32 = 3;

/// Default for `--view-memory`, in MiB: the views of a 3840×1920 camera at 1920×1080
/// fit seven at once, at 1280×720 sixteen.
pub const VIEW_MEMORY_MIB: u64 = 192;

/// What a view's viewers see while the camera sends nothing, and why.
struct ViewSlate {
    no_signal: Arc<[u8]>,
    link: Arc<Link>,
}

impl Slate for ViewSlate {
    /// NO SIGNAL at the view's size.
    fn drawn(&self, _last: Option<&Frame>) -> Arc<[u8]> {
        self.no_signal.clone()
    }

    fn why_quiet(&self) -> Option<String> {
        self.link.last_error().map(|e| e.to_string())
    }
}

/// One configured view: its feed, filled by its producer while watched.
pub struct View {
    spec: ViewSpec,
    mount: Mount,
    feed: Arc<Feed>,
    camera: Arc<Hub>,
    shared: Arc<Shared>,
    /// Itself, for the producer thread it starts.
    me: Weak<View>,
    /// Whether its producer thread runs; taken by the thread to end and by a wake.
    running: Mutex<bool>,
    frames_encoded: AtomicU64,
    encode_micros: AtomicU64,
}

/// What a view's counters say now.
#[derive(Debug, Clone)]
pub struct ViewStatus {
    pub name: String,
    pub geometry: ViewGeometry,
    pub fps_limit: Option<u32>,
    pub viewers: usize,
    pub fps: f64,
    pub frames_encoded: u64,
    /// Frames it could not draw (undecodable, over the memory budget, a passing size).
    pub frames_dropped: u64,
    /// Time spent remapping and encoding, all frames together.
    pub encode_seconds: f64,
}

impl View {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }

    pub fn status(&self) -> ViewStatus {
        let reading = self.feed.hub().reading();
        ViewStatus {
            name: self.spec.name.clone(),
            geometry: self.spec.geometry,
            fps_limit: self.spec.fps,
            viewers: reading.counts.viewers,
            fps: reading.fps,
            frames_encoded: self.frames_encoded.load(Ordering::Relaxed),
            frames_dropped: reading.counts.frames_dropped,
            encode_seconds: self.encode_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    /// The view's frames while someone watches it, from the camera's newest frames.
    /// Holds its memory shares until it ends.
    fn produce(&self, _memory: Share, _decoding: DecodeUser) {
        let _reading = self.camera.consumer();
        let mut table = Table::default();
        let mut out = Planes::default();
        let min_gap = self.spec.fps.map(|fps| Duration::from_secs(1) / fps.max(1));
        let keepalive = self.feed.timeouts().keepalive;
        let mut seq = 0;
        let mut next_allowed = Instant::now();
        loop {
            if !self.feed.hub().has_demand() || self.camera.is_stopped() {
                (table, out) = (Table::default(), Planes::default());
                let mut running = self.running.locked();
                if self.feed.hub().has_demand() && !self.camera.is_stopped() {
                    continue; // someone came back while it was ending
                }
                *running = false;
                return;
            }
            let Some(frame) = self.camera.next_frame(seq, keepalive) else {
                continue;
            };
            seq = frame.seq;
            if let Some(jpeg) = self.render(&frame, &mut table, &mut out) {
                self.feed.publish(jpeg.into());
            }
            if let Some(gap) = min_gap {
                next_allowed = Instant::now().max(next_allowed + gap);
                self.feed
                    .hub()
                    .pause_while_demanded(next_allowed.saturating_duration_since(Instant::now()));
            }
        }
    }

    /// This view of `frame`, or `None` (counted as dropped) when it gives none.
    fn render(&self, frame: &Frame, table: &mut Table, out: &mut Planes) -> Option<Vec<u8>> {
        let drawn = self
            .shared
            .decoded
            .of(frame, &*self.shared, table.mcus())
            .ok()
            .and_then(|planes| {
                let started = Instant::now();
                let source = (planes.width, planes.height);
                let remap = table.for_source(&self.spec.geometry, &self.mount, source)?;
                remap.apply(&planes, out);
                let jpeg = flat::encode(out, flat::VIEW_QUALITY)?;
                self.frames_encoded.fetch_add(1, Ordering::Relaxed);
                self.encode_micros
                    .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                Some(jpeg)
            });
        if drawn.is_none() {
            self.feed.hub().count_dropped();
        }
        drawn
    }
}

impl Producer for View {
    /// Starts the producer unless it runs, with its memory drawn from the budget first.
    fn wake(&self) -> Result<(), String> {
        let mut running = self.running.locked();
        if *running {
            return Ok(());
        }
        let what = format!("Watching view {}", self.spec.name);
        let memory = self
            .shared
            .reserve(flat::view_bytes(&self.spec.geometry) as u64, &what)?;
        let decoding = self
            .shared
            .decoded
            .enter(&self.camera, &*self.shared, &what)?;
        let view = self.me.upgrade().ok_or("The relay is stopping.")?;
        thread::Builder::new()
            .name(format!("view-{}", self.spec.name))
            .spawn(move || view.produce(memory, decoding))
            .map_err(|e| format!("The view's thread could not start: {e}."))?;
        *running = true;
        Ok(())
    }
}

/// A running view's table, and a new source size it has seen lately.
#[derive(Default)]
struct Table {
    remap: Option<Remap>,
    new_size: Option<((usize, usize), u32)>,
}

impl Table {
    /// The source MCUs the view read last: what the next decode must transform.
    fn mcus(&self) -> Option<&McuMask> {
        self.remap.as_ref().map(Remap::mcus)
    }

    /// The table for frames of `source`, built once that size has stayed.
    fn for_source(
        &mut self,
        geometry: &ViewGeometry,
        mount: &Mount,
        source: (usize, usize),
    ) -> Option<&Remap> {
        let fits = |r: &Remap| r.fits(geometry, mount, source);
        if self.remap.as_ref().is_some_and(|r| !fits(r)) {
            let seen = match self.new_size {
                Some((size, n)) if size == source => n + 1,
                _ => 1,
            };
            self.new_size = Some((source, seen));
            if seen < NEW_SIZE_FRAMES {
                return None;
            }
        }
        if !self.remap.as_ref().is_some_and(fits) {
            self.remap = Some(Remap::new(*geometry, *mount, source));
            self.new_size = None;
        }
        self.remap.as_ref()
    }
}

/// What the views of one camera share: the decode, the relay's memory budget for views
/// and the ad-hoc render's table.
struct Shared {
    decoded: Arc<Decoded>,
    memory: Arc<Budget>,
    /// The last ad-hoc render's table with its share of the memory.
    adhoc: Mutex<Option<(Remap, Share)>>,
}

impl Memory for Shared {
    /// `bytes` of the views' memory budget for `what`; the cached ad-hoc table gives way
    /// first, then the sentence naming the budget and the flag that raises it.
    fn reserve(&self, bytes: u64, what: &str) -> Result<Share, String> {
        if let Some(share) = self.memory.try_take(bytes) {
            return Ok(share);
        }
        if let Ok(mut adhoc) = self.adhoc.try_lock() {
            *adhoc = None;
        }
        self.memory.try_take(bytes).ok_or_else(|| {
            const MIB: u64 = 1 << 20;
            format!(
                "{what} needs {} MiB of the flat views' memory budget, and {} of its {} MiB are in use; --view-memory raises it.",
                bytes.div_ceil(MIB),
                self.memory.used().div_ceil(MIB),
                self.memory.max() / MIB
            )
        })
    }
}

/// Why an ad-hoc render gave no picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// Another render of this camera is running.
    Busy,
    /// No camera frame came in time; why, when the camera said.
    NoFrame(String),
    Undecodable(Undecoded),
    /// The render would go over the views' memory budget.
    OverBudget(String),
    /// The encoder refused the view (a size no view may have).
    Unencodable,
}

/// An ad-hoc render: the JPEG and when its camera frame arrived (Unix seconds).
pub struct Rendered {
    pub jpeg: Vec<u8>,
    pub timestamp: f64,
}

/// What every view of a camera is started with.
pub struct ViewsConfig<'a> {
    pub specs: &'a [ViewSpec],
    pub mount: Mount,
    /// The camera's name, written on the views' NO SIGNAL frames.
    pub label: &'a str,
    /// Places for the viewers of all the camera's views together.
    pub max_viewers: usize,
    pub memory: Arc<Budget>,
    pub timeouts: Timeouts,
}

/// The views of one camera, with their shared decode.
pub struct Views {
    list: Vec<Arc<View>>,
    camera: Arc<Hub>,
    link: Arc<Link>,
    mount: Mount,
    shared: Arc<Shared>,
    /// One ad-hoc render at a time: whether one runs, and a wake-up when it ends.
    rendering: Mutex<bool>,
    render_done: Condvar,
    timeouts: Timeouts,
}

impl Views {
    /// The views of the camera whose frames `camera` holds; none runs until watched.
    pub fn new(config: ViewsConfig<'_>, camera: &Arc<Hub>, link: &Arc<Link>) -> Views {
        let shared = Arc::new(Shared {
            decoded: Arc::default(),
            memory: config.memory,
            adhoc: Mutex::new(None),
        });
        let places = Budget::new(config.max_viewers as u64);
        let list: Vec<Arc<View>> = config
            .specs
            .iter()
            .map(|spec| {
                let g = spec.geometry;
                let label = format!("{} {}", config.label, spec.name);
                let slate = ViewSlate {
                    no_signal: picture::no_signal_jpeg(&label, g.width, g.height).into(),
                    link: link.clone(),
                };
                Arc::new_cyclic(|me: &Weak<View>| View {
                    spec: spec.clone(),
                    mount: config.mount,
                    feed: Arc::new(Feed::new(
                        (places.clone(), Places::Views),
                        config.timeouts,
                        Box::new(slate),
                        Some(me.clone() as Weak<dyn Producer>),
                    )),
                    camera: camera.clone(),
                    shared: shared.clone(),
                    me: me.clone(),
                    running: Mutex::new(false),
                    frames_encoded: AtomicU64::new(0),
                    encode_micros: AtomicU64::new(0),
                })
            })
            .collect();
        Views {
            list,
            camera: camera.clone(),
            link: link.clone(),
            mount: config.mount,
            shared,
            rendering: Mutex::new(false),
            render_done: Condvar::new(),
            timeouts: config.timeouts,
        }
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

    /// Camera frames that gave the views no planes.
    pub fn decode_failures(&self) -> u64 {
        self.shared.decoded.failures()
    }

    /// Renders `geometry` from the camera's newest frame, one render at a time: the next
    /// waits briefly, then is refused.
    pub fn render(&self, geometry: ViewGeometry) -> Result<Rendered, RenderError> {
        let _turn = self.take_turn().ok_or(RenderError::Busy)?;
        let what = "Rendering flat.jpg";
        let _decoding = self
            .shared
            .decoded
            .enter(&self.camera, &*self.shared, what)
            .map_err(RenderError::OverBudget)?;
        let t = &self.timeouts;
        let frame = self
            .camera
            .snapshot(t.snapshot_max_age, t.snapshot_wait)
            .ok_or_else(|| {
                let why = self.link.last_error().map(|e| format!(": {e}"));
                RenderError::NoFrame(why.unwrap_or_default())
            })?;
        let planes = self
            .shared
            .decoded
            .of(&frame, &*self.shared, None)
            .map_err(RenderError::Undecodable)?;
        // The same numbers asked again (a page's link, a tile's still image) reuse the table.
        let source = (planes.width, planes.height);
        let mut adhoc = self.shared.adhoc.locked();
        if !adhoc
            .as_ref()
            .is_some_and(|(r, _)| r.fits(&geometry, &self.mount, source))
        {
            *adhoc = None;
            let share = self
                .shared
                .reserve(flat::view_bytes(&geometry) as u64, what)
                .map_err(RenderError::OverBudget)?;
            *adhoc = Some((Remap::new(geometry, self.mount, source), share));
        }
        let mut out = Planes::default();
        if let Some((remap, _)) = adhoc.as_ref() {
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

    /// Ends every view's viewers; their producers end with them.
    pub fn stop(&self) {
        for view in &self.list {
            view.feed.stop();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn frame(jpeg: Vec<u8>) -> Frame {
        Frame {
            jpeg: jpeg.into(),
            seq: 1,
            received: SystemTime::now(),
            received_at: Instant::now(),
        }
    }

    fn shared(memory: u64) -> Arc<Shared> {
        Arc::new(Shared {
            decoded: Arc::default(),
            memory: Budget::new(memory),
            adhoc: Mutex::new(None),
        })
    }

    /// A small JPEG whose start-of-frame claims `width`×`height`.
    fn claiming(width: u16, height: u16) -> Vec<u8> {
        let mut jpeg = picture::Canvas::filled(16, 16, [0, 0, 0]).to_jpeg(80);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        jpeg
    }

    #[test]
    fn a_frame_far_too_small_for_the_size_it_claims_is_not_decoded() {
        let shared = shared(1 << 30);
        let got = shared
            .decoded
            .of(&frame(claiming(3840, 1920)), &*shared, None);
        assert!(
            matches!(got, Err(Undecoded::Implausible { width: 3840, .. })),
            "{got:?}"
        );
        assert_eq!(shared.memory.used(), 0, "nothing reserved for it");
    }

    #[test]
    fn the_decode_transforms_what_its_views_read_and_grows_with_them() {
        let shared = shared(256 << 20);
        let camera = frame(picture::Canvas::filled(1024, 512, [90, 120, 200]).to_jpeg(80));
        let view = |yaw| {
            let geometry = ViewGeometry {
                yaw,
                pitch: 0.0,
                roll: 0.0,
                fov: 60.0,
                width: 320,
                height: 180,
            };
            Remap::new(geometry, Mount::default(), (1024, 512))
        };
        let (ahead, behind) = (view(0.0), view(180.0));
        let decoded = &shared.decoded;
        let first = decoded.of(&camera, &*shared, Some(ahead.mcus())).unwrap();
        let again = decoded.of(&camera, &*shared, Some(ahead.mcus())).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the same MCUs: decoded once");
        let both = decoded.of(&camera, &*shared, Some(behind.mcus())).unwrap();
        assert!(!Arc::ptr_eq(&first, &both), "new MCUs: decoded again");
        let mut out = Planes::default();
        for remap in [&ahead, &behind] {
            remap.apply(&both, &mut out);
            let luma = f64::from(out.y[out.y.len() / 2]);
            assert!(
                out.y.iter().all(|&y| (f64::from(y) - luma).abs() <= 2.0) && luma > 100.0,
                "each view's part of the frame is there"
            );
        }
        let whole = decoded.of(&camera, &*shared, None).unwrap();
        assert!(!Arc::ptr_eq(&both, &whole), "a render reads anywhere");
    }

    #[test]
    fn a_decode_over_the_budget_is_refused_with_the_sentence() {
        let shared = shared(1 << 20);
        let jpeg = picture::Canvas::filled(1024, 512, [90, 120, 200]).to_jpeg(80);
        let got = shared.decoded.of(&frame(jpeg), &*shared, None);
        let Err(Undecoded::OverBudget(why)) = got else {
            panic!("{got:?}");
        };
        assert!(why.contains("--view-memory"), "{why}");
    }
}
