//! The camera's own health while it streams: battery and temperatures and the errors it
//! reports in `/osc/state`, asked at most every `health_poll` (the camera answers one
//! request at a time, so never more often), and only while the preview runs.
//!
//! A camera that reports `HIGH_TEMPERATURE` or `BATTERY_HIGH_TEMPERATURE` shuts itself
//! down soon after; the watcher asks the upstream thread to close the preview for the
//! cool-down time instead. `HIGH_TEMPERATURE_WARNING` is shown and logged only. The
//! same thread runs the `--on-camera-lost` hook ([`crate::relay::lost`]).

use crate::camera::answers::{State, clip};
use crate::camera::client::Camera;
use crate::camera::errors::OscError;
use crate::log;
use crate::relay::control::{Contact, Control};
use crate::relay::hub::Hub;
use crate::relay::link::{Link, UpstreamState};
use crate::relay::lost::LostWatch;
use crate::sync::Locked;
use crate::timeouts::Timeouts;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The watcher's longest and shortest sleep between looks at the upstream state.
const MAX_TICK: Duration = Duration::from_secs(1);
const MIN_TICK: Duration = Duration::from_millis(50);

/// Most camera errors kept from one `/osc/state`.
const MAX_CAMERA_ERRORS: usize = 16;

/// Errors after which the camera is let cool down.
const OVERHEATED: [&str; 2] = ["HIGH_TEMPERATURE", "BATTERY_HIGH_TEMPERATURE"];

/// What the camera last said of itself; unknown values are `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub battery: Option<f64>,
    pub battery_state: Option<String>,
    pub board_temp: Option<f64>,
    pub battery_temp: Option<f64>,
    pub errors: Vec<String>,
}

impl Health {
    /// From `/osc/state`. Camera text is kept as sent (clipped); it is escaped where it
    /// is logged.
    pub fn from_state(state: &State) -> Health {
        Health {
            battery: state.battery_level,
            battery_state: state.battery_state.as_deref().map(clip),
            board_temp: state.board_temp,
            battery_temp: state.battery_temp,
            errors: state
                .camera_errors
                .iter()
                .take(MAX_CAMERA_ERRORS)
                .map(|e| clip(e))
                .collect(),
        }
    }

    pub fn overheated(&self) -> bool {
        self.errors.iter().any(|e| OVERHEATED.contains(&e.as_str()))
    }

    /// The hottest temperature the camera reported, for the COOLING frame.
    pub fn hottest(&self) -> Option<f64> {
        match (self.board_temp, self.battery_temp) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// What changed since `before`, one line each: camera errors as warnings, the
    /// battery's charging state (once it was known) as information.
    fn log_changes_since(&self, before: &Health) {
        for error in self.errors.iter().filter(|e| !before.errors.contains(e)) {
            log::warning(format_args!(
                "the camera reports {error}{}",
                self.temperatures()
            ));
        }
        for error in before.errors.iter().filter(|e| !self.errors.contains(e)) {
            log::notice(format_args!("the camera no longer reports {error}"));
        }
        if let (Some(was), Some(now)) = (&before.battery_state, &self.battery_state)
            && was != now
        {
            log::info(format_args!(
                "the camera's battery went from {was} to {now}"
            ));
        }
    }

    fn temperatures(&self) -> String {
        match (self.board_temp, self.battery_temp) {
            (None, None) => String::new(),
            (board, battery) => {
                let show = |t: Option<f64>| t.map_or("?".into(), |t| format!("{t:.1} °C"));
                format!(" (board {}, battery {})", show(board), show(battery))
            }
        }
    }
}

/// When the watcher last checked the camera's timers, and whether that worked.
#[derive(Default)]
struct AwakeCheck {
    at: Option<Instant>,
    ok: bool,
}

impl AwakeCheck {
    /// At once at start, then every `awake_check`; after a failure, at the retry pace.
    fn due(&self, t: &Timeouts) -> bool {
        let every = if self.ok { t.awake_check } else { t.retry_max };
        self.at.is_none_or(|at| at.elapsed() >= every)
    }

    fn checked(&mut self, ok: bool) {
        *self = AwakeCheck {
            at: Some(Instant::now()),
            ok,
        };
    }
}

/// What the health watcher reads and keeps: the camera, its feed's hub (whether the
/// relay stops), its link, camera control, and the health it writes.
pub struct Watched {
    pub camera: Arc<Camera>,
    pub hub: Arc<Hub>,
    pub link: Arc<Link>,
    pub control: Arc<Control>,
    pub health: Arc<Mutex<Health>>,
}

/// Starts the thread that asks the camera for its state while the preview runs, keeps
/// `health` up to date, and starts a cool-down of `cool_down` when the camera overheats.
///
/// It also keeps the camera awake from the first second, whether or not anyone watches
/// (see [`Control::keep_awake`]), learns its model at first contact, and runs the
/// `--on-camera-lost` hook, when there is one, for this camera.
pub fn watch(
    watched: Watched,
    timeouts: Timeouts,
    cool_down: Duration,
    lost: Option<LostWatch>,
) -> std::io::Result<JoinHandle<()>> {
    let mut watcher = Watcher {
        watched,
        timeouts,
        cool_down,
        lost,
        awake: AwakeCheck::default(),
        last_asked: None,
        unreadable: None,
    };
    thread::Builder::new()
        .name("health".into())
        .spawn(move || watcher.run())
}

/// The housekeeping of one camera, one method per job; [`Watcher::run`] does each in turn.
struct Watcher {
    watched: Watched,
    timeouts: Timeouts,
    cool_down: Duration,
    lost: Option<LostWatch>,
    awake: AwakeCheck,
    /// When the camera's state was last asked for.
    last_asked: Option<Instant>,
    /// The unreadable answer last said, so it is said once until it changes.
    unreadable: Option<OscError>,
}

impl Watcher {
    fn run(&mut self) {
        // Often enough for the poll and the hook to be on time, rarely enough that an
        // idle board is not woken for nothing.
        let hook_tick = self.lost.as_ref().map_or(MAX_TICK, |l| l.after() / 4);
        let tick = self
            .timeouts
            .health_poll
            .min(hook_tick)
            .clamp(MIN_TICK, MAX_TICK);
        while !self.watched.hub.is_stopped() {
            thread::sleep(tick);
            let (upstream, failing_since) = self.watched.link.upstream_state();
            if let Some(lost) = self.lost.as_mut() {
                lost.check(failing_since);
            }
            if self.awake.due(&self.timeouts) && !self.watched.control.cooling() {
                let answered = self.keep_awake();
                self.learn_model(answered);
            }
            if upstream == UpstreamState::Streaming {
                self.poll_health();
            }
        }
    }

    /// Keeps the camera's timers at "never"; whether the camera answered at all.
    fn keep_awake(&mut self) -> bool {
        let w = &self.watched;
        let contact = w.control.keep_awake(&w.camera);
        self.awake
            .checked(matches!(contact, Contact::Kept | Contact::LeftAlone));
        let answered = match &contact {
            Contact::NotNow(e) => e.camera_answered(),
            Contact::Kept | Contact::Refused | Contact::LeftAlone => true,
        };
        // Only what the camera said is news about it: a timer left alone asked nothing.
        match contact {
            Contact::NotNow(e) if !answered => w.link.idle_contact(Some(e)),
            Contact::LeftAlone => {}
            _ => w.link.idle_contact(None),
        }
        answered
    }

    /// The camera's model, for `/status` and the page's captions before anyone watched:
    /// asked once the camera has answered, so an absent one costs one timeout, not two.
    fn learn_model(&self, answered: bool) {
        let w = &self.watched;
        if answered
            && w.link.camera_model().is_none()
            && let Some(model) = w.camera.info_cached().ok().and_then(|i| i.model.clone())
        {
            w.link.set_camera_model(model);
        }
    }

    /// While the preview runs: the camera's state every `health_poll`, its changes logged,
    /// and a cool-down started when it overheats.
    fn poll_health(&mut self) {
        let w = &self.watched;
        let due = self
            .last_asked
            .is_none_or(|t| t.elapsed() >= self.timeouts.health_poll);
        if !due || w.control.cooling() {
            return;
        }
        self.last_asked = Some(Instant::now());
        let state = match w.camera.state() {
            Ok(state) => state,
            Err(e) => {
                // An unreachable camera is the upstream thread's to report; an answer we
                // cannot read is said here, once until it changes.
                if matches!(e, OscError::Unreadable { .. }) && self.unreadable.as_ref() != Some(&e)
                {
                    log::warning(format_args!("{e}; its health is not known"));
                    self.unreadable = Some(e);
                }
                return;
            }
        };
        self.unreadable = None;
        let now = Health::from_state(&state);
        let mut current = w.health.locked();
        now.log_changes_since(&current);
        if now.overheated() {
            log::warning(format_args!(
                "letting the camera at {} cool down for {:?} with the preview closed",
                w.camera.addr().host_port(),
                self.cool_down
            ));
            w.control.start_cooling(self.cool_down);
        }
        *current = now;
    }
}
