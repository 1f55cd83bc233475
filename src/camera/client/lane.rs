//! The camera's one lane: it answers one request at a time, so JSON commands take turns
//! here, with a short queue behind the running one.

use crate::sync::Locked;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Camera commands waiting for their turn beyond the one running; more get `Busy`.
const MAX_QUEUED_COMMANDS: usize = 4;

/// One camera command at a time, with a short queue behind it. A command that cannot
/// get its turn within `wait` (the camera is slow, or dripping) gives up instead of
/// holding its caller's thread.
#[derive(Default)]
pub(super) struct Lane {
    state: Mutex<LaneState>,
    turn_free: Condvar,
}

#[derive(Default)]
struct LaneState {
    running: bool,
    waiting: usize,
}

/// A turn in the lane, given back when dropped.
pub(super) struct Turn<'a>(&'a Lane);

impl Lane {
    pub(super) fn enter(&self, wait: Duration) -> Option<Turn<'_>> {
        let deadline = Instant::now() + wait;
        let mut state = self.state.locked();
        if state.running && state.waiting >= MAX_QUEUED_COMMANDS {
            return None;
        }
        state.waiting += 1;
        while state.running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.waiting -= 1;
                return None;
            }
            state = crate::sync::wait_at_most(&self.turn_free, state, left);
        }
        state.waiting -= 1;
        state.running = true;
        Some(Turn(self))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.state.locked().running = false;
        self.0.turn_free.notify_one();
    }
}
