//! Changing the camera while the relay streams: switching the preview format (checked
//! against the camera's own list) and telling the upstream thread to reopen the preview.
//!
//! RICOH asks for a second between `camera.setOptions` and the next live preview or
//! picture; [`Control`] carries that rule to the upstream thread, together with a format
//! that could not be set yet because the camera was away.

use crate::osc::{Camera, OscError, PreviewFormat};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Requests from the routes (and start-up) to the upstream thread.
pub struct Control {
    state: Mutex<ControlState>,
    /// RICOH's pause between `camera.setOptions` and `getLivePreview` / `takePicture`.
    set_options_pause: Duration,
}

struct ControlState {
    /// Close the running preview and open a new one.
    restart: bool,
    /// Do not open a preview before this.
    open_not_before: Instant,
    /// A format to set before the next preview opens.
    pending_format: Option<PreviewFormat>,
    /// Fault injection for tests: the upstream thread hangs as if deadlocked.
    stall: bool,
}

impl Control {
    pub fn new(set_options_pause: Duration) -> Arc<Control> {
        Arc::new(Control {
            state: Mutex::new(ControlState {
                restart: false,
                open_not_before: Instant::now(),
                pending_format: None,
                stall: false,
            }),
            set_options_pause,
        })
    }

    fn lock(&self) -> MutexGuard<'_, ControlState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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

    /// Makes the upstream thread hang from its next step on, as a deadlock would (for
    /// testing what watches it, such as the systemd watchdog).
    pub fn inject_stall(&self) {
        self.lock().stall = true;
    }

    /// Hangs the calling thread forever once a stall was injected.
    pub fn hang_if_stalled(&self) {
        if self.lock().stall {
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
        let wait = self
            .lock()
            .open_not_before
            .saturating_duration_since(Instant::now());
        std::thread::sleep(wait);
    }

    /// Waits out RICOH's pause, sets a pending format, and clears a stale restart request:
    /// everything due before a preview opens.
    pub fn before_preview(&self, camera: &Camera) -> Result<(), OscError> {
        // Read it apart: a guard in the `if let` would be held through the block, and
        // the block locks again.
        let pending = self.lock().pending_format;
        if let Some(format) = pending {
            camera.set_preview_format(format)?;
            let mut s = self.lock();
            s.pending_format = None;
            s.open_not_before = Instant::now() + self.set_options_pause;
        }
        self.wait_after_set_options();
        self.lock().restart = false;
        Ok(())
    }
}

/// Why a preview format was not switched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The camera does not list this format in `previewFormatSupport`.
    Unsupported {
        wanted: PreviewFormat,
        allowed: Vec<PreviewFormat>,
    },
    Camera(OscError),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Unsupported { wanted, allowed } => {
                let allowed: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                write!(
                    f,
                    "the camera has no preview format {wanted}; it offers {}",
                    allowed.join(", ")
                )
            }
            FormatError::Camera(e) => e.fmt(f),
        }
    }
}

/// Checks `format` against the camera's `previewFormatSupport`.
pub fn check_supported(camera: &Camera, format: PreviewFormat) -> Result<(), FormatError> {
    let formats = camera.preview_formats().map_err(FormatError::Camera)?;
    if formats.supported.contains(&format) {
        Ok(())
    } else {
        Err(FormatError::Unsupported {
            wanted: format,
            allowed: formats.supported,
        })
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
