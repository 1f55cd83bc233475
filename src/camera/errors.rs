//! What can go wrong with a camera, each as a sentence a user can act on; none carries
//! the camera password.

use std::fmt;
use std::time::Duration;

/// Where the user named a camera (its address and login), so a sentence about a camera
/// that cannot be reached or refuses the login points at the place to fix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SetIn {
    /// `-o`/`-p`, `--id`/`--pwd`, or the defaults they stand for.
    #[default]
    Flags,
    /// A camera of the config file: "FILE, line N" of its `[[camera]]`.
    Config(String),
}

impl SetIn {
    fn address(&self) -> String {
        match self {
            SetIn::Flags => "-o/-p are right".into(),
            SetIn::Config(at) => format!("host and port at {at} are right"),
        }
    }

    fn login(&self) -> String {
        match self {
            SetIn::Flags => "--id and --pwd".into(),
            SetIn::Config(at) => format!("the id and password of the camera at {at}"),
        }
    }
}

/// A failed camera call, worded for the person running the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OscError {
    Unreachable {
        camera: String,
        detail: String,
        set_in: SetIn,
    },
    WrongCredentials {
        camera: String,
        id: String,
        set_in: SetIn,
    },
    AuthRequired {
        camera: String,
    },
    Refused {
        camera: String,
        command: String,
        status: u16,
        code: String,
        message: String,
    },
    Unreadable {
        camera: String,
        detail: String,
    },
    /// The camera closed the live preview (a picture, sleep, the camera's own choice).
    PreviewEnded {
        camera: String,
    },
    /// The live preview broke off mid-stream (a reset, a broken chunk, a cut connection).
    PreviewBroken {
        camera: String,
        detail: String,
    },
    /// The live preview delivered no whole frame for `after`.
    PreviewStalled {
        camera: String,
        after: Duration,
    },
    /// A command the camera accepted did not finish in time.
    TimedOut {
        camera: String,
        command: String,
        after: Duration,
    },
    /// The camera has no file at `path`.
    NoSuchFile {
        camera: String,
        path: String,
    },
    /// Too many camera commands are already waiting for the camera.
    Busy {
        camera: String,
    },
    /// Another client holds the camera (OSC API level 1: `cameraInExclusiveUse`).
    InExclusiveUse {
        camera: String,
    },
    /// The camera canceled the picture it was taking (`canceledShooting`: a self-timer
    /// shot stopped on the camera, say). Its verdict on the picture, not a failure.
    PictureCanceled {
        camera: String,
        message: String,
    },
    /// A THETA S whose firmware predates API level 2 support.
    FirmwareTooOld {
        camera: String,
        firmware: String,
    },
}

impl OscError {
    /// The camera answered (with a refusal or an answer we cannot read), as opposed to
    /// not answering at all.
    pub fn camera_answered(&self) -> bool {
        !matches!(
            self,
            OscError::Unreachable { .. } | OscError::TimedOut { .. } | OscError::Busy { .. }
        )
    }

    /// The camera refused our login (or asked for one we do not have).
    pub fn is_login_refused(&self) -> bool {
        matches!(
            self,
            OscError::WrongCredentials { .. } | OscError::AuthRequired { .. }
        )
    }
}

impl fmt::Display for OscError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OscError::Unreachable {
                camera,
                detail,
                set_in,
            } => write!(
                f,
                "cannot reach the camera at {camera} ({detail}); check that the camera is on and \
                 that this computer is on its network (or that {})",
                set_in.address()
            ),
            OscError::WrongCredentials { camera, id, set_in } => write!(
                f,
                "the camera at {camera} rejected id {id} (HTTP 401): check {}",
                set_in.login()
            ),
            OscError::AuthRequired { camera } => write!(
                f,
                "the camera at {camera} asks for a login (HTTP 401): start with -r --id ID --pwd PASSWORD"
            ),
            OscError::Refused {
                camera,
                command,
                status,
                code,
                message,
            } => write!(
                f,
                "the camera at {camera} refused {command} (HTTP {status}, {code}): {message}"
            ),
            OscError::Unreadable { camera, detail } => {
                write!(
                    f,
                    "the camera at {camera} sent an answer we cannot read: {detail}"
                )
            }
            OscError::PreviewEnded { camera } => {
                write!(f, "the camera at {camera} ended the live preview")
            }
            OscError::PreviewBroken { camera, detail } => write!(
                f,
                "the live preview from the camera at {camera} broke off mid-stream ({detail})"
            ),
            OscError::PreviewStalled { camera, after } => write!(
                f,
                "the camera at {camera} stopped sending frames (no whole frame for {after:?})"
            ),
            OscError::TimedOut {
                camera,
                command,
                after,
            } => write!(
                f,
                "the camera at {camera} did not finish {command} within {after:?}"
            ),
            OscError::NoSuchFile { camera, path } => {
                write!(f, "the camera at {camera} has no file {path}")
            }
            OscError::InExclusiveUse { camera } => write!(
                f,
                "another app is using the camera at {camera} (close the THETA app on your phone)"
            ),
            OscError::FirmwareTooOld { camera, firmware } => write!(
                f,
                "the THETA S at {camera} has firmware {firmware}, which cannot stream to other apps: \
                 update it to 01.62 or later with RICOH's app"
            ),
            OscError::PictureCanceled { camera, message } => write!(
                f,
                "the camera at {camera} canceled camera.takePicture: {message}"
            ),
            OscError::Busy { camera } => write!(
                f,
                "the camera at {camera} is busy answering other requests; try again shortly"
            ),
        }
    }
}

impl std::error::Error for OscError {}

/// `text` ended with a full stop, unless it already ends a sentence: a camera's own
/// message often does ("shooting is canceled.").
pub fn full_stop(text: &str) -> String {
    let trimmed = text.trim_end();
    if trimmed.ends_with(['.', '!', '?']) {
        trimmed.to_string()
    } else {
        format!("{trimmed}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_message_that_ends_a_sentence_gets_no_second_full_stop() {
        assert_eq!(full_stop("shooting is canceled."), "shooting is canceled.");
        assert_eq!(full_stop("no frame"), "no frame.");
        let e = OscError::Refused {
            camera: "192.168.1.1:80".into(),
            command: "camera.getOptions".into(),
            status: 400,
            code: "invalidParameterName".into(),
            message: "unrecognized option previewFormatSupport.".into(),
        };
        assert!(full_stop(&e.to_string()).ends_with("previewFormatSupport."));
    }
}
