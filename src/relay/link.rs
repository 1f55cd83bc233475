//! The camera connection as the relay knows it: what the upstream thread is doing, the
//! camera's model, why the last preview failed and since when the camera fails. The
//! upstream thread and the health watcher write it; the channel's status reads it.
//!
//! It belongs to the camera, not to a feed: a feed (the camera's own, or a view's) only
//! holds frames and viewers, and a view asks the link why the camera sends nothing.

use crate::camera::errors::OscError;
use crate::sync::Locked;
use std::sync::Mutex;
use std::time::Instant;

/// What the camera connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamState {
    /// Nobody is watching; no camera connection.
    #[default]
    Idle,
    Connecting,
    Streaming,
    /// The last attempt failed or the stream ended; waiting to try again.
    Retrying,
    /// The preview is closed while an overheated camera cools down.
    Cooling,
}

impl UpstreamState {
    /// Every state, for reports that list them all (a metric per state).
    pub const ALL: [UpstreamState; 5] = [
        UpstreamState::Idle,
        UpstreamState::Connecting,
        UpstreamState::Streaming,
        UpstreamState::Retrying,
        UpstreamState::Cooling,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamState::Idle => "idle",
            UpstreamState::Connecting => "connecting",
            UpstreamState::Streaming => "streaming",
            UpstreamState::Retrying => "retrying",
            UpstreamState::Cooling => "cooling",
        }
    }
}

/// The link's state at one moment.
#[derive(Debug, Clone, Default)]
pub struct LinkState {
    pub upstream: UpstreamState,
    pub camera_model: Option<String>,
    /// Preview connections opened again after a failure (not after an idle close).
    pub reconnects: u64,
    pub preview_connections: u64,
    /// Why the last preview failed; cleared once frames flow again.
    pub last_error: Option<OscError>,
    /// Since when the camera has failed without a frame in between.
    pub failing_since: Option<Instant>,
    /// Camera failures since start (each failed or ended preview, each refused open).
    pub camera_errors: u64,
}

/// See the module docs.
#[derive(Default)]
pub struct Link {
    state: Mutex<LinkState>,
}

impl Link {
    /// Records what the camera connection does now; `after_failure` when this opening
    /// is a reconnect after a failed or ended preview, not the first after an idle spell.
    pub fn set_upstream(&self, upstream: UpstreamState, after_failure: bool) {
        let mut state = self.state.locked();
        state.upstream = upstream;
        if upstream == UpstreamState::Connecting {
            state.preview_connections += 1;
            if after_failure {
                state.reconnects += 1;
            }
        }
    }

    pub fn set_error(&self, error: OscError) {
        let mut state = self.state.locked();
        state.last_error = Some(error);
        state.camera_errors += 1;
        state.failing_since.get_or_insert_with(Instant::now);
    }

    /// What housekeeping learned of the camera while nobody watches: that it does not
    /// answer (so `/status` says so before anyone asks for frames), or that it answers.
    /// While the preview is open its thread's word is the one kept.
    pub fn idle_contact(&self, unanswered: Option<OscError>) {
        let mut state = self.state.locked();
        if state.upstream == UpstreamState::Idle {
            state.last_error = unanswered;
        }
    }

    /// Frames flow again: the last failure is over.
    pub fn frames_flow(&self) {
        let mut state = self.state.locked();
        state.last_error = None;
        state.failing_since = None;
    }

    /// The camera's model, once it said.
    pub fn camera_model(&self) -> Option<String> {
        self.state.locked().camera_model.clone()
    }

    pub fn set_camera_model(&self, model: String) {
        self.state.locked().camera_model = Some(model);
    }

    /// What the upstream thread does, and since when the camera fails (if it does).
    pub fn upstream_state(&self) -> (UpstreamState, Option<Instant>) {
        let state = self.state.locked();
        (state.upstream, state.failing_since)
    }

    /// Why the camera sends no frame, as far as the relay knows.
    pub fn last_error(&self) -> Option<OscError> {
        self.state.locked().last_error.clone()
    }

    pub fn state(&self) -> LinkState {
        self.state.locked().clone()
    }
}
