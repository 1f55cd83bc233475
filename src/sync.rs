//! Locks that stay usable after a thread panicked while holding them: the data behind
//! them is counters and caches that are never left half-written, so the relay goes on
//! rather than turning one bug into a cascade of poisoned locks.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

pub trait Locked<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Waits on `changed` for at most `within`, giving the guard back either way.
pub fn wait_at_most<'a, T>(
    changed: &Condvar,
    guard: MutexGuard<'a, T>,
    within: Duration,
) -> MutexGuard<'a, T> {
    changed
        .wait_timeout(guard, within)
        .unwrap_or_else(|e| e.into_inner())
        .0
}
