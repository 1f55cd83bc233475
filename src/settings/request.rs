//! What the user asked for, as types: the command, the relay request with its camera
//! target, the defaults flags fall back to, and the sentence a mistake becomes.

use crate::camera::client::CameraAddr;
use crate::camera::client::Mode;
use crate::formats::osc::{Credentials, PreviewFormat};
use crate::sim::SimConfig;
use crate::web::access::Access;
use std::fmt;
use std::path::PathBuf;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:5000";
/// Default for `--lost-after`.
pub const DEFAULT_LOST_AFTER: std::time::Duration = std::time::Duration::from_secs(120);
/// Default for `--cool-down`: how long an overheated camera's preview stays closed.
pub const DEFAULT_COOL_DOWN: std::time::Duration = std::time::Duration::from_secs(300);
/// Where a THETA is on its own Wi-Fi (Mode 1).
pub const DIRECT_HOST: &str = "192.168.1.1";
pub const DIRECT_PORT: u16 = 80;

/// What the command line asks for. (Built once at start, so the size of the `Relay`
/// variant does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    Relay(RelayRequest),
    Simulate(SimConfig),
    /// Find cameras by DNS-SD and say how to relay each.
    Discover {
        timeout: std::time::Duration,
        target: std::net::SocketAddr,
    },
    Help,
    Version,
}

/// What `oscstream` with relay flags (or `--config`) asks for.
#[derive(Debug)]
pub struct RelayRequest {
    pub listen: String,
    pub camera: CameraTarget,
    pub max_viewers: usize,
    /// `--view-memory`, in bytes.
    pub view_memory: u64,
    pub preview: Option<PreviewFormat>,
    pub access: Access,
    /// Keep the cameras' sleep timers at "never" (not `--let-camera-sleep`).
    pub keep_awake: bool,
    /// How long an overheated camera's preview stays closed.
    pub cool_down: std::time::Duration,
    /// `--on-camera-lost CMD` with `--lost-after`.
    pub on_lost: Option<crate::relay::lost::LostHook>,
    /// `--state-dir`, or systemd's `$STATE_DIRECTORY`.
    pub state_dir: Option<PathBuf>,
}

/// Which camera the relay reads.
#[derive(Debug)]
pub enum CameraTarget {
    Real {
        addr: CameraAddr,
        mode: Mode,
    },
    /// Start `count` simulated cameras and relay them.
    Simulated {
        credentials: Option<Credentials>,
        count: usize,
    },
    /// The cameras of a `--config` file.
    Configured(Vec<crate::settings::config::CameraSpec>),
}

/// Most simulated cameras `--simulate N` starts.
pub const MAX_SIMULATED: usize = 16;

/// A command-line mistake, worded for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}
