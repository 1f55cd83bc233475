//! Preview formats, checked against the camera: whether it lists one, and whether the
//! relay relays frames that large.

use crate::camera::client::Camera;
use crate::camera::errors::OscError;
use crate::formats::osc::{LARGEST_PREVIEW, PreviewFormat, fits_preview};
use std::fmt;

/// Why a preview format was not switched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The camera does not list this format in `previewFormatSupport`.
    Unsupported {
        wanted: PreviewFormat,
        allowed: Vec<PreviewFormat>,
    },
    /// The camera lists it, but its frames are larger than any the relay relays.
    TooLarge {
        wanted: PreviewFormat,
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
            FormatError::TooLarge { wanted } => write!(
                f,
                "the camera offers {wanted}, but the relay relays previews up to {}x{}; choose a smaller one",
                LARGEST_PREVIEW.0, LARGEST_PREVIEW.1
            ),
            FormatError::Camera(e) => e.fmt(f),
        }
    }
}

/// Whether the relay relays frames of `format` (larger ones it would drop).
pub fn relayable(format: &PreviewFormat) -> bool {
    let side = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
    fits_preview((side(format.width), side(format.height)))
}

/// Checks `format` against the camera's `previewFormatSupport`.
pub fn check_supported(camera: &Camera, format: PreviewFormat) -> Result<(), FormatError> {
    let formats = camera.preview_formats().map_err(FormatError::Camera)?;
    if !formats.supported.contains(&format) {
        return Err(FormatError::Unsupported {
            wanted: format,
            allowed: formats.supported.into_iter().filter(relayable).collect(),
        });
    }
    if !relayable(&format) {
        return Err(FormatError::TooLarge { wanted: format });
    }
    Ok(())
}
