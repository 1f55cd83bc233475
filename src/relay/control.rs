//! The mailbox between the routes (and housekeeping) and a camera's upstream thread:
//! a new preview format to set, a restart to do, a cool-down under way, RICOH's
//! one-second pause after `camera.setOptions` to wait out, and what is due before every
//! preview opens (API level 2, the sleep timers kept at "never"). The camera protocol
//! for each lives in `camera::` (`level`, `timers`, `preview`); this keeps the relay's
//! state around it: the timers found and where they are kept on disk.

use crate::camera::answers::Object;
use crate::camera::client::Camera;
use crate::camera::errors::OscError;
use crate::camera::preview::{FormatError, check_supported};
use crate::camera::{level, timers};
use crate::formats::osc::PreviewFormat;
use crate::log;
use crate::relay::state_file;
use crate::sync::Locked;
use serde_json::Value;
use std::path::PathBuf;
#[cfg(feature = "test-hooks")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How an attempt to keep the camera awake went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// Its timers are at "never".
    Kept,
    /// Nothing was asked: the relay leaves the timers alone (`--let-camera-sleep`), or
    /// it is stopping and has put them back.
    LeftAlone,
    /// The camera refused for good (it has no timers the relay knows, or takes none of
    /// the values): there is a camera, and asking again won't help.
    Refused,
    /// Not now: the camera is away, or busy waking up (its first command after sleep is
    /// refused).
    NotNow(OscError),
}

/// Requests from the routes (and start-up) to the upstream thread.
pub struct Control {
    state: Mutex<ControlState>,
    /// Keep the camera awake (not `--let-camera-sleep`).
    keep_awake: bool,
    /// RICOH's pause between `camera.setOptions` and `getLivePreview` / `takePicture`.
    set_options_pause: Duration,
    /// Fault injection for tests: the upstream thread hangs as if deadlocked. An atomic,
    /// not the state's lock: it is looked at for every chunk read from the camera.
    #[cfg(feature = "test-hooks")]
    stall: AtomicBool,
    /// Held while the timers are read and set: the watcher and the upstream thread both
    /// check them, and one check must see what the other set.
    timers_check: Mutex<()>,
    /// Where the camera's own timers are kept until they are put back (`--state-dir`),
    /// so that a relay killed before it could put them back leaves them to the next.
    timers_file: Option<PathBuf>,
}

struct ControlState {
    /// Close the running preview and open a new one.
    restart: bool,
    /// Do not open a preview before this.
    open_not_before: Instant,
    /// A format to set before the next preview opens.
    pending_format: Option<PreviewFormat>,
    /// The camera's own timer values, found before the relay first changed them, to put
    /// back on a clean stop.
    saved_timers: Option<Object>,
    /// Each timer's "never", as the camera lists it (see [`never_of`]); learnt at first
    /// contact.
    never: Option<Object>,
    /// The last attempt to read or set the timers failed (and was logged): the next
    /// failure of this episode is not logged again, the next success is.
    timers_failing: bool,
    /// The preview stays closed until then, so that an overheated camera cools down.
    cooling_until: Option<Instant>,
    /// The relay stops: the camera's own timers are being put back, not set again.
    stopping: bool,
}

impl Control {
    pub fn new(
        set_options_pause: Duration,
        keep_awake: bool,
        timers_file: Option<PathBuf>,
    ) -> Arc<Control> {
        Arc::new(Control {
            keep_awake,
            state: Mutex::new(ControlState {
                restart: false,
                open_not_before: Instant::now(),
                pending_format: None,
                saved_timers: None,
                never: None,
                timers_failing: false,
                cooling_until: None,
                stopping: false,
            }),
            set_options_pause,
            #[cfg(feature = "test-hooks")]
            stall: AtomicBool::new(false),
            timers_check: Mutex::new(()),
            timers_file,
        })
    }

    fn lock(&self) -> MutexGuard<'_, ControlState> {
        self.state.locked()
    }

    /// The camera's options changed: reopen the preview, but not within a second.
    pub fn options_changed(&self) {
        let mut s = self.lock();
        s.restart = true;
        s.open_not_before = Instant::now() + self.set_options_pause;
    }

    /// Sets `format` on the camera before the next preview opens.
    pub fn set_pending_format(&self, format: PreviewFormat) {
        self.lock().pending_format = Some(format);
    }

    /// Closes the preview for `cool_down`: the upstream thread sees it at its next read.
    pub fn start_cooling(&self, cool_down: Duration) {
        self.lock().cooling_until = Some(Instant::now() + cool_down);
    }

    /// How long the camera still cools down; `None` when it does not.
    pub fn cooling_left(&self) -> Option<Duration> {
        let until = self.lock().cooling_until?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    pub fn cooling(&self) -> bool {
        self.cooling_left().is_some()
    }

    /// Makes the upstream thread hang from its next step on, as a deadlock would (for
    /// testing what watches it, such as the systemd watchdog).
    #[cfg(feature = "test-hooks")]
    pub fn inject_stall(&self) {
        self.stall.store(true, Ordering::SeqCst);
    }

    /// Hangs the calling thread forever once a stall was injected (only in a build with
    /// the tests' hooks; elsewhere it is nothing).
    #[inline(always)]
    pub fn hang_if_stalled(&self) {
        #[cfg(feature = "test-hooks")]
        if self.stall.load(Ordering::Relaxed) {
            loop {
                std::thread::park();
            }
        }
    }

    /// Whether a restart was asked for since the last call.
    pub fn take_restart(&self) -> bool {
        std::mem::take(&mut self.lock().restart)
    }

    /// Waits until a second has passed since the last `camera.setOptions` (before a picture).
    pub fn wait_after_set_options(&self) {
        std::thread::sleep(self.pause_left());
    }

    /// How much of RICOH's pause after the last `camera.setOptions` is left.
    pub fn pause_left(&self) -> Duration {
        self.lock()
            .open_not_before
            .saturating_duration_since(Instant::now())
    }

    /// Waits out RICOH's pause, sets a pending format, and clears a stale restart request:
    /// everything due before a preview opens.
    pub fn before_preview(&self, camera: &Camera) -> Result<(), OscError> {
        if level::speak_api_level_2(camera)? {
            self.lock().open_not_before = Instant::now() + self.set_options_pause;
        }
        // Read it apart: a guard in the `if let` would be held through the block, and
        // the block locks again.
        let pending = self.lock().pending_format;
        if let Some(format) = pending {
            camera.set_preview_format(format)?;
            let mut s = self.lock();
            s.pending_format = None;
            s.open_not_before = Instant::now() + self.set_options_pause;
        }
        // No preview opens on a camera whose timers could not be made "never" for now: a
        // camera that just woke refuses its first command (try once more at once); one
        // that is away fails the attempt, and the next (after the back-off) tries both.
        let mut contact = self.keep_awake(camera);
        if matches!(&contact, Contact::NotNow(e) if e.camera_answered()) {
            contact = self.keep_awake(camera);
        }
        if let Contact::NotNow(e) = contact {
            return Err(e);
        }
        self.wait_after_set_options();
        self.lock().restart = false;
        Ok(())
    }

    /// Reads the camera's sleep and power-off timers and sets those not at "never"
    /// (then RICOH's pause is due before the next preview). Called at first contact,
    /// every few minutes by the watcher whether or not anyone watches, and before every
    /// preview. When it did not work the next contact tries again; a failure is logged
    /// once per episode, and the recovery too.
    pub fn keep_awake(&self, camera: &Camera) -> Contact {
        if !self.keep_awake {
            return Contact::LeftAlone;
        }
        let _checking = self.timers_check.locked();
        if self.lock().stopping {
            return Contact::LeftAlone;
        }
        let result = self.keep_camera_awake(camera);
        let mut s = self.lock();
        let was_failing = s.timers_failing;
        s.timers_failing = result.is_err();
        match result {
            Ok(set) => {
                if set {
                    s.open_not_before = Instant::now() + self.set_options_pause;
                }
                drop(s);
                if was_failing {
                    log::notice(format_args!(
                        "the camera at {} is kept awake again",
                        camera.addr().host_port()
                    ));
                }
                Contact::Kept
            }
            Err(e) => {
                drop(s);
                if !was_failing {
                    log::warning(format_args!(
                        "cannot keep the camera awake ({e}); trying again at the next contact, \
                         until then it may sleep or switch itself off"
                    ));
                }
                match e {
                    OscError::Refused { status, .. } if (400..500).contains(&status) => {
                        Contact::Refused
                    }
                    OscError::Unreadable { .. } => Contact::Refused,
                    e => Contact::NotNow(e),
                }
            }
        }
    }

    /// Sets the camera's sleep and power-off timers to "never", first remembering what
    /// they were. Checked before every preview opens, since a camera that lost power or
    /// was reset has its own values again; set (and RICOH's pause taken, `Ok(true)`) only
    /// when one is not "never" already, so a plain reconnect costs one read.
    fn keep_camera_awake(&self, camera: &Camera) -> Result<bool, OscError> {
        let saved = self.lock().saved_timers.clone();
        let current = match saved {
            Some(saved) => {
                let names: Vec<&str> = saved.keys().map(String::as_str).collect();
                timers::read(camera, &names)?
            }
            None => match self.timers_kept_earlier() {
                Some(kept) => {
                    let names: Vec<&str> = kept.keys().map(String::as_str).collect();
                    let current = timers::read(camera, &names)?;
                    self.lock().saved_timers = Some(kept);
                    current
                }
                None => {
                    let found = self.first_found_timers(camera)?;
                    self.lock().saved_timers = Some(found.clone());
                    found
                }
            },
        };
        let never = self.never_values(camera, &current);
        timers::set_never(camera, &current, &never)
    }

    /// Each of `timers`' "never" as this camera lists it, asked once.
    fn never_values(&self, camera: &Camera, timers: &Object) -> Object {
        if let Some(never) = self.lock().never.clone() {
            return never;
        }
        let never = timers::never_values(camera, timers);
        self.lock().never = Some(never.clone());
        never
    }

    /// The camera's own timers as first found, read now: they are what a clean stop puts
    /// back, and are kept in the state file (if any) until then.
    fn first_found_timers(&self, camera: &Camera) -> Result<Object, OscError> {
        let found = timers::read_all(camera)?;
        log::info(format_args!(
            "keeping the camera at {} awake (its timers were {}; they are put back on a clean stop, or start with --let-camera-sleep)",
            camera.addr().host_port(),
            Value::Object(found.clone())
        ));
        if let Some(file) = &self.timers_file {
            let text = Value::Object(found.clone()).to_string();
            if let Err(e) = state_file::write(file, text.as_bytes()) {
                log::warning(format_args!(
                    "cannot keep the camera's timers in {} ({e}): a crash would lose them",
                    file.display()
                ));
            }
        }
        Ok(found)
    }

    /// The camera's own timers, kept by an earlier run that could not put them back:
    /// only the timers the relay writes, each a number of seconds a camera takes.
    fn timers_kept_earlier(&self) -> Option<Object> {
        let file = self.timers_file.as_ref()?;
        let text = match state_file::read(file) {
            Ok(text) => text?,
            Err(why) => {
                log::warning(format_args!("{why}"));
                return None;
            }
        };
        let kept = timers::plausible(serde_json::from_slice(&text).ok()?);
        if kept.is_empty() {
            return None;
        }
        log::info(format_args!(
            "found the camera's own timers {} in {}, kept by a run that did not stop cleanly",
            Value::Object(kept.clone()),
            file.display()
        ));
        Some(kept)
    }

    /// Puts back the timers the relay changed; `Ok(false)`, without a word to the camera,
    /// when it changed none (a camera whose own timers are "never" already: an S, an SC2).
    pub fn restore_timers(&self, camera: &Camera) -> Result<bool, OscError> {
        // After a check in flight, and before any later one: none sets them again.
        let _checking = self.timers_check.locked();
        let mut s = self.lock();
        s.stopping = true;
        let saved = s.saved_timers.take();
        drop(s);
        let changed = timers::put_back(camera, saved.unwrap_or_default())?;
        if let Some(file) = &self.timers_file {
            let _ = std::fs::remove_file(file);
        }
        Ok(changed)
    }
}

/// Checks `format` against the camera's list, sets it, and has the upstream reopen the preview.
pub fn switch_preview_format(
    camera: &Camera,
    control: &Control,
    format: PreviewFormat,
) -> Result<(), FormatError> {
    check_supported(camera, format)?;
    camera
        .set_preview_format(format)
        .map_err(FormatError::Camera)?;
    control.options_changed();
    Ok(())
}
