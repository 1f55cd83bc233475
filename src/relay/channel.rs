//! One camera and everything the relay keeps for it: the camera client, its link (what
//! the connection does), the feed its frames go through to viewers, the control
//! mailbox, the upstream thread that owns its one connection, what viewers see while
//! the camera is quiet (NO SIGNAL, COOLING), its flat views, and the view of all that
//! as `/status`.
//!
//! A channel knows nothing of HTTP: `web` picks a channel for a request and serves
//! its streams. Several channels run side by side without sharing anything.

use crate::budget::Budget;
use crate::camera::client::Mode;
use crate::camera::client::{Camera, CameraAddr};
use crate::formats::flat::Mount;
use crate::formats::jpeg::jpeg_dimensions;
use crate::formats::osc::{PreviewFormat, fits_preview};
use crate::formats::picture;
use crate::log;
use crate::relay::control::Control;
use crate::relay::feed::{Feed, Places, Slate};
use crate::relay::frame::Frame;
use crate::relay::health::{self, Health};
use crate::relay::link::{Link, UpstreamState};
use crate::relay::lost::{LostHook, LostWatch};
use crate::relay::status::ChannelStatus;
use crate::relay::upstream;
use crate::relay::views::{ViewSpec, Views, ViewsConfig};
use crate::sync::Locked;
use crate::timeouts::Timeouts;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A frame the relay draws itself while the camera sends none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drawn {
    NoSignal,
    /// With the hottest temperature the camera reported, in whole degrees.
    Cooling(Option<i32>),
}

/// What a drawn frame shows, and its width and height.
type DrawnAt = (Drawn, (u16, u16));

/// Relay-drawn frames kept at once (kinds × sizes seen lately).
const MAX_STATUS_FRAMES: usize = 4;

/// The size of frames the relay draws before the camera ever sent one (a THETA's usual preview).
const DEFAULT_FRAME_SIZE: (u16, u16) = (1024, 512);

/// Default for `--max-viewers`.
pub const MAX_VIEWERS: usize = 64;

/// The name of the camera the seed's flags describe.
pub const FIRST_CAMERA: &str = "main";

/// What a channel is started with.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    /// The camera's name in URLs and metrics labels: `[a-z0-9-]+`.
    pub name: String,
    /// Where the camera is and how to log in (the client is [`Channel::camera`]).
    pub address: CameraAddr,
    pub mode: Mode,
    /// Stream requests beyond this many viewers get 503.
    pub max_viewers: usize,
    /// A preview format to set before the first preview opens.
    pub preview: Option<PreviewFormat>,
    /// Keep the camera's sleep and power-off timers at "never" while the relay runs
    /// (off with `--let-camera-sleep`).
    pub keep_awake: bool,
    /// How long the preview stays closed when the camera overheats (`--cool-down`).
    pub cool_down: Duration,
    /// `--on-camera-lost`: what to run when the camera has been failing for a while.
    pub on_lost: Option<LostHook>,
    /// `--state-dir`: where the camera's own timers are kept until they are put back.
    pub state_dir: Option<PathBuf>,
    /// Flat views of this camera (`[[camera.view]]`), and how the camera hangs.
    pub views: Vec<ViewSpec>,
    pub mount: Mount,
}

/// See the module docs.
pub struct Channel {
    name: String,
    mode: Mode,
    camera: Arc<Camera>,
    link: Arc<Link>,
    /// The camera's own stream: the upstream thread publishes into it.
    feed: Arc<Feed>,
    control: Arc<Control>,
    timeouts: Timeouts,
    upstream: Mutex<Option<JoinHandle<()>>>,
    /// What the camera says of its battery, temperatures and errors.
    health: Arc<Mutex<Health>>,
    views: Views,
}

impl Channel {
    /// Starts the upstream thread; it opens the camera once someone watches. The views'
    /// memory comes from `view_memory`, shared by every camera of the relay.
    pub fn start(
        config: ChannelConfig,
        timeouts: Timeouts,
        view_memory: &Arc<Budget>,
    ) -> io::Result<Arc<Channel>> {
        let camera_label = config.address.host_port();
        let camera = Arc::new(Camera::new(config.address, &timeouts));
        let timers_file = config
            .state_dir
            .as_ref()
            .map(|dir| dir.join(format!("timers-{}.json", config.name)));
        let control = Control::new(timeouts.set_options_pause, config.keep_awake, timers_file);
        if let Some(format) = config.preview {
            control.set_pending_format(format);
        }
        let link = Arc::new(Link::default());
        let health = Arc::new(Mutex::new(Health::default()));
        let slate = CameraSlate {
            label: camera_label.clone(),
            control: control.clone(),
            health: health.clone(),
            link: link.clone(),
            drawn: Mutex::new(Vec::new()),
            first_size: first_size(config.preview),
        };
        let places = (Budget::new(config.max_viewers as u64), Places::Camera);
        let feed = Arc::new(Feed::new(places, timeouts, Box::new(slate), None));
        let upstream = upstream::spawn(
            camera.clone(),
            feed.clone(),
            link.clone(),
            control.clone(),
            timeouts,
        )?;
        let views = Views::new(
            ViewsConfig {
                specs: &config.views,
                mount: config.mount,
                label: &config.name,
                max_viewers: config.max_viewers,
                memory: view_memory.clone(),
                timeouts,
            },
            feed.hub(),
            &link,
        );
        // It ends by itself when the hub stops.
        health::watch(
            health::Watched {
                camera: camera.clone(),
                hub: feed.hub().clone(),
                link: link.clone(),
                control: control.clone(),
                health: health.clone(),
            },
            timeouts,
            config.cool_down,
            config
                .on_lost
                .clone()
                .map(|hook| LostWatch::new(hook, camera_label, &timeouts)),
        )?;
        Ok(Arc::new(Channel {
            name: config.name,
            mode: config.mode,
            camera,
            link,
            feed,
            control,
            timeouts,
            upstream: Mutex::new(Some(upstream)),
            health,
            views,
        }))
    }

    /// Ends every viewer at its next part boundary and the upstream thread, waiting at
    /// most `within` for them (a camera read in flight may take longer; its thread then
    /// ends on its own).
    pub fn stop(&self, within: Duration) {
        self.views.stop();
        self.feed.stop();
        let deadline = Instant::now() + within;
        let handle = self.upstream.locked().take();
        if handle.is_none() {
            return; // stopped before
        }
        let done = |h: &Option<JoinHandle<()>>| {
            h.as_ref().is_none_or(|h| h.is_finished())
                && self.feed.hub().reading().counts.viewers == 0
        };
        while !done(&handle) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(handle) = handle.filter(|h| h.is_finished()) {
            let _ = handle.join();
        }
        self.restore_timers_by(deadline.max(Instant::now() + self.timeouts.restore_min));
    }

    /// Puts back the camera's own timers, waiting for the camera until `deadline` at
    /// most: a camera dripping its answer must not hold the stop beyond its budget.
    fn restore_timers_by(&self, deadline: Instant) {
        let camera = self.camera.addr().host_port();
        let (done, result) = std::sync::mpsc::channel();
        let (control, client) = (self.control.clone(), self.camera.clone());
        let spawned = std::thread::Builder::new()
            .name("restore-timers".into())
            .spawn(move || {
                let _ = done.send(control.restore_timers(&client));
            });
        if spawned.is_err() {
            return;
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match result.recv_timeout(wait) {
            Ok(Ok(true)) => log::info(format_args!(
                "put back the sleep timers of the camera at {camera}"
            )),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => log::warning(format_args!(
                "could not put back the sleep timers of the camera at {camera}: {e}"
            )),
            Err(_) => log::warning(format_args!(
                "could not put back the sleep timers of the camera at {camera}: it did not answer within the stop's budget"
            )),
        }
    }

    /// Whether the upstream thread runs and is not stuck: it beats between camera calls,
    /// each bounded by the camera timeouts, so two calls' worth of silence means wedged.
    pub fn upstream_alive(&self) -> bool {
        let t = &self.timeouts;
        let wedged_after = (t.camera_connect + t.camera_answer) * 2 + t.set_options_pause;
        let running = self
            .upstream
            .locked()
            .as_ref()
            .is_some_and(|h| !h.is_finished());
        running && self.feed.hub().since_beat() < wedged_after
    }

    /// What the camera last said of its battery, temperatures and errors.
    pub fn health(&self) -> Health {
        self.health.locked().clone()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn camera(&self) -> &Camera {
        &self.camera
    }

    pub fn control(&self) -> &Control {
        &self.control
    }

    /// The camera's own stream.
    pub fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }

    /// The camera's flat views and its ad-hoc renders.
    pub fn views(&self) -> &Views {
        &self.views
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// The channel's state now, gathered from where each part of it is kept.
    pub fn status(&self) -> ChannelStatus {
        let reading = self.feed.hub().reading();
        let link = self.link.state();
        let fresh = reading
            .last_frame_age
            .is_some_and(|age| age < self.timeouts.no_signal_after);
        let streaming = link.upstream == UpstreamState::Streaming;
        ChannelStatus {
            name: self.name.clone(),
            mode: self.mode,
            camera: self.camera.addr().host_port(),
            camera_address: self.camera.address_in_use(),
            online: streaming && fresh,
            counts: reading.counts,
            link,
            delivered: self.feed.hub().deliveries().read(),
            fps: if streaming { reading.fps } else { 0.0 },
            last_frame_age: reading.last_frame_age,
            health: self.health(),
            cooling_left: self.control.cooling_left(),
            views: self.views.list().iter().map(|v| v.status()).collect(),
            view_decode_failures: self.views.decode_failures(),
            mount: self.views.mount(),
        }
    }
}

/// The size of frames drawn before the camera sent any: the preview format asked for,
/// or a THETA's usual 1024×512.
fn first_size(preview: Option<PreviewFormat>) -> (u16, u16) {
    preview
        .and_then(|p| Some((u16::try_from(p.width).ok()?, u16::try_from(p.height).ok()?)))
        .filter(|&size| fits_preview(size))
        .unwrap_or(DEFAULT_FRAME_SIZE)
}

/// What the camera's viewers see while it sends nothing: NO SIGNAL, or COOLING with the
/// temperature while an overheated camera cools down, at the size of its last frame.
struct CameraSlate {
    label: String,
    control: Arc<Control>,
    health: Arc<Mutex<Health>>,
    link: Arc<Link>,
    /// Drawn the first time a viewer needs one and shared by every viewer after.
    drawn: Mutex<Vec<(DrawnAt, Arc<[u8]>)>>,
    /// The size of frames drawn before the camera sent any: the preview format asked
    /// for, or a THETA's usual 1024×512.
    first_size: (u16, u16),
}

impl Slate for CameraSlate {
    fn drawn(&self, last: Option<&Frame>) -> Arc<[u8]> {
        let size = last
            .and_then(|f| jpeg_dimensions(&f.jpeg))
            .filter(|&size| fits_preview(size))
            .unwrap_or(self.first_size);
        let kind = if self.control.cooling() {
            let hottest = self.health.locked().hottest();
            Drawn::Cooling(hottest.map(|t| t.round() as i32))
        } else {
            Drawn::NoSignal
        };
        let mut cached = self.drawn.locked();
        if let Some((_, frame)) = cached.iter().find(|(key, _)| *key == (kind, size)) {
            return frame.clone();
        }
        let jpeg = match kind {
            Drawn::NoSignal => picture::no_signal_jpeg(&self.label, size.0, size.1),
            Drawn::Cooling(temp) => picture::cooling_jpeg(&self.label, temp, size.0, size.1),
        };
        let frame: Arc<[u8]> = jpeg.into();
        if cached.len() >= MAX_STATUS_FRAMES {
            cached.remove(0);
        }
        cached.push(((kind, size), frame.clone()));
        frame
    }

    fn why_quiet(&self) -> Option<String> {
        self.link.last_error().map(|e| e.to_string())
    }
}
