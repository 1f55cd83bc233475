//! The OSC words that the camera client and the simulated camera both speak: a
//! Digest login and a live-preview format, with their JSON and text forms.

use serde_json::{Value, json};
use std::fmt;

/// The largest live preview any OSC camera sends: THETA X's 4K, 3840×1920. A frame
/// claiming more is not a preview frame, and nothing is ever drawn larger.
pub const LARGEST_PREVIEW: (u16, u16) = (3840, 1920);

/// Whether a frame of `size` (width, height) can be a live-preview frame.
pub fn fits_preview((width, height): (u16, u16)) -> bool {
    width <= LARGEST_PREVIEW.0 && height <= LARGEST_PREVIEW.1
}

/// A camera login for Digest auth (Mode 2). Its `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub id: String,
    pub password: String,
}

impl Credentials {
    pub fn new(id: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            id: id.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("id", &self.id)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// A live-preview size and framerate, as in the `previewFormat` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewFormat {
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
}

impl PreviewFormat {
    pub fn from_json(v: &Value) -> Option<PreviewFormat> {
        let field = |name| v.get(name)?.as_u64().and_then(|n| u32::try_from(n).ok());
        Some(PreviewFormat {
            width: field("width")?,
            height: field("height")?,
            framerate: field("framerate")?,
        })
    }

    pub fn to_json(self) -> Value {
        json!({"width": self.width, "height": self.height, "framerate": self.framerate})
    }

    /// Parses `WxH@FPS`, e.g. `1024x512@30`.
    pub fn parse(s: &str) -> Option<PreviewFormat> {
        let (size, fps) = s.split_once('@')?;
        let (w, h) = size.split_once(['x', 'X'])?;
        Some(PreviewFormat {
            width: w.trim().parse().ok()?,
            height: h.trim().parse().ok()?,
            framerate: fps.trim().parse().ok()?,
        })
    }
}

impl fmt::Display for PreviewFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}@{}", self.width, self.height, self.framerate)
    }
}
