//! The hub of one feed, between its producer (the camera's upstream thread, or a view's
//! thread) and every viewer: the newest frame with its sequence number, and who wants
//! frames (viewers, snapshots, the views reading a camera).
//!
//! It keeps no queue and writes to no socket. The upstream thread publishes each whole
//! frame here and hands it to the fan-out for stream viewers; any other reader (a paced
//! viewer, a snapshot) waits for a sequence number newer than the one it last took,
//! takes the `Arc` and lets go of the lock before writing. A slow reader therefore skips
//! frames instead of queueing them and never slows anyone else.

use crate::relay::frame::{Deliveries, Frame};
use crate::sync::Locked;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, Thread};
use std::time::{Duration, Instant, SystemTime};

/// What the hub itself counts: frames in and viewers. What the camera connection does
/// is the camera's [`crate::relay::link::Link`]; the whole state of a camera is
/// [`crate::relay::status::ChannelStatus`], built in one place from both.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub frames_received: u64,
    /// Frames the producer could not publish (malformed, oversize, undecodable).
    pub frames_dropped: u64,
    pub viewers: usize,
}

/// The hub's reading at one moment: its counts, with the frame rate (0 once frames have
/// stopped for 2 s) and the newest frame's age computed now.
#[derive(Debug, Clone)]
pub struct Reading {
    pub counts: Counts,
    pub fps: f64,
    /// Age of the newest frame, if there is one.
    pub last_frame_age: Option<Duration>,
}

/// How many recent frame arrival times the fps figure is computed from.
const FPS_WINDOW_FRAMES: usize = 16;

struct Inner {
    latest: Option<Arc<Frame>>,
    counts: Counts,
    /// Producers of other feeds reading this one (a camera's views): they keep it open
    /// without being viewers.
    consumers: usize,
    /// Someone asked for a frame without staying (a snapshot); keep the camera open until then.
    demand_until: Option<Instant>,
    recent_arrivals: VecDeque<Instant>,
    /// Threads waiting in `next_frame`, each woken on its own when a frame arrives.
    frame_waiters: Vec<Thread>,
}

/// See the module docs.
///
/// Stream viewers do not wait here: the upstream thread writes to them through the
/// fan-out. Other readers (paced viewers, snapshots) wait by parking and are unparked
/// one by one by the publisher; a `Condvar::notify_all` would wake them all at the same
/// instant, queueing on the mutex. The condvar is kept for demand changes, which only
/// the upstream thread waits for.
pub struct Hub {
    inner: Mutex<Inner>,
    demand_changed: Condvar,
    /// How long the camera stays open after the last viewer or snapshot.
    linger: Duration,
    created: Instant,
    /// When the upstream thread last showed it is alive, in ms since `created`.
    last_beat_ms: AtomicU64,
    /// What reached viewers, counted outside the lock (by the fan-out and by viewers'
    /// own threads), so delivering never queues on it.
    deliveries: Arc<Deliveries>,
    /// The channel is stopping: waits end, viewers leave at their next part boundary.
    /// Shared with the fan-out; set under the lock, so no wait misses it.
    stopping: Arc<AtomicBool>,
}

impl Hub {
    pub fn new(linger: Duration) -> Arc<Hub> {
        Arc::new(Hub {
            inner: Mutex::new(Inner {
                latest: None,
                counts: Counts::default(),
                consumers: 0,
                demand_until: None,
                recent_arrivals: VecDeque::with_capacity(FPS_WINDOW_FRAMES),
                frame_waiters: Vec::new(),
            }),
            demand_changed: Condvar::new(),
            linger,
            created: Instant::now(),
            last_beat_ms: AtomicU64::new(0),
            deliveries: Arc::default(),
            stopping: Arc::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take every viewer down with it: the data stays consistent.
        self.inner.locked()
    }

    /// Makes `jpeg` the newest frame and wakes every waiting reader; the frame is
    /// returned for the fan-out to write to stream viewers.
    pub fn publish(&self, jpeg: Arc<[u8]>) -> Arc<Frame> {
        let now = Instant::now();
        let mut inner = self.lock();
        let seq = inner.latest.as_ref().map_or(1, |f| f.seq + 1);
        let frame = Arc::new(Frame {
            jpeg,
            seq,
            received: SystemTime::now(),
            received_at: now,
        });
        inner.latest = Some(frame.clone());
        inner.counts.frames_received += 1;
        if inner.recent_arrivals.len() == FPS_WINDOW_FRAMES {
            inner.recent_arrivals.pop_front();
        }
        inner.recent_arrivals.push_back(now);
        let waiters = std::mem::take(&mut inner.frame_waiters);
        drop(inner);
        for viewer in waiters {
            viewer.unpark();
        }
        frame
    }

    /// The counters every writer of parts adds to; `status` reads them.
    pub fn deliveries(&self) -> &Arc<Deliveries> {
        &self.deliveries
    }

    /// Waits up to `timeout` for a frame newer than `after` (0 = any frame).
    pub fn next_frame(&self, after: u64, timeout: Duration) -> Option<Arc<Frame>> {
        let deadline = Instant::now() + timeout;
        let me = thread::current();
        loop {
            let mut inner = self.lock();
            if let Some(f) = inner.latest.as_ref().filter(|f| f.seq > after) {
                return Some(f.clone());
            }
            if self.is_stopped() {
                return None;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                // Leave no handle behind: a long outage must not grow the list.
                inner.frame_waiters.retain(|t| t.id() != me.id());
                return None;
            };
            if !inner.frame_waiters.iter().any(|t| t.id() == me.id()) {
                inner.frame_waiters.push(me.clone());
            }
            drop(inner);
            // An unpark that came early (or is left over) only makes this loop look again.
            thread::park_timeout(left);
        }
    }

    /// Where a joining viewer starts: with the newest frame if it is at most `max_age`
    /// old (returned, to send at once), else after it (to wait for a fresh one). The
    /// number is the last frame the viewer counts as had.
    pub fn join(&self, max_age: Duration) -> (u64, Option<Arc<Frame>>) {
        match &self.lock().latest {
            Some(f) if f.received_at.elapsed() <= max_age => (f.seq - 1, Some(f.clone())),
            Some(f) => (f.seq, None),
            None => (0, None),
        }
    }

    /// The newest frame if it is younger than `max_age`, else the next one within `wait`.
    /// Asking keeps the feed open for the linger time, like a short-lived viewer.
    pub fn snapshot(&self, max_age: Duration, wait: Duration) -> Option<Arc<Frame>> {
        match self.ask_for_frame(max_age, wait) {
            Ok(fresh) => Some(fresh),
            Err(after) => self.next_frame(after, wait),
        }
    }

    /// The first half of [`Hub::snapshot`]: the newest frame if it is younger than
    /// `max_age`, else the sequence number to wait beyond, with demand for `wait` and
    /// the linger time after it.
    pub fn ask_for_frame(&self, max_age: Duration, wait: Duration) -> Result<Arc<Frame>, u64> {
        let after = {
            let mut inner = self.lock();
            inner.demand_until = Some(Instant::now() + wait + self.linger);
            match &inner.latest {
                Some(f) if f.received_at.elapsed() <= max_age => return Ok(f.clone()),
                Some(f) => f.seq,
                None => 0,
            }
        };
        self.demand_changed.notify_all();
        Err(after)
    }

    /// Keeps the hub wanting frames for as long as the guard lives, without counting a
    /// viewer: a view's producer reading its camera.
    pub fn consumer(self: &Arc<Self>) -> ConsumerGuard {
        self.lock().consumers += 1;
        self.demand_changed.notify_all();
        ConsumerGuard { hub: self.clone() }
    }

    /// Registers a viewer for as long as the guard lives, unless `max` are already watching.
    pub fn try_viewer(self: &Arc<Self>, max: usize) -> Option<ViewerGuard> {
        let mut inner = self.lock();
        if inner.counts.viewers >= max {
            return None;
        }
        inner.counts.viewers += 1;
        drop(inner);
        self.demand_changed.notify_all();
        Some(ViewerGuard { hub: self.clone() })
    }

    /// Someone who kept the hub open left: the last one starts the linger time.
    fn left(&self, mut inner: MutexGuard<'_, Inner>) {
        if inner.counts.viewers == 0 && inner.consumers == 0 {
            let until = Instant::now() + self.linger;
            inner.demand_until = Some(inner.demand_until.map_or(until, |t| t.max(until)));
        }
        drop(inner);
        self.demand_changed.notify_all();
    }

    /// The newest frame, however old.
    pub fn latest(&self) -> Option<Arc<Frame>> {
        self.lock().latest.clone()
    }

    /// Whether anyone wants frames now (a viewer, or a recent snapshot or viewer within the linger time).
    pub fn has_demand(&self) -> bool {
        self.demand(&self.lock())
    }

    fn demand(&self, inner: &Inner) -> bool {
        !self.is_stopped()
            && (inner.counts.viewers > 0
                || inner.consumers > 0
                || inner.demand_until.is_some_and(|t| Instant::now() < t))
    }

    /// The upstream thread is alive and not stuck (see [`Hub::since_beat`]).
    pub fn beat(&self) {
        let ms = self.created.elapsed().as_millis() as u64;
        self.last_beat_ms.store(ms, Ordering::Relaxed);
    }

    /// How long since the upstream thread last showed it is alive. It beats between
    /// camera calls and at least once a second while waiting, so a long silence means
    /// it is wedged.
    pub fn since_beat(&self) -> Duration {
        let beat = Duration::from_millis(self.last_beat_ms.load(Ordering::Relaxed));
        self.created.elapsed().saturating_sub(beat)
    }

    /// Blocks until someone wants frames (`true`) or the hub stops (`false`).
    pub fn wait_for_demand(&self) -> bool {
        let mut inner = self.lock();
        while !self.demand(&inner) {
            self.beat();
            if self.is_stopped() {
                return false;
            }
            inner = crate::sync::wait_at_most(&self.demand_changed, inner, Duration::from_secs(1));
        }
        !self.is_stopped()
    }

    /// Ends every wait: the upstream thread and viewers see it and leave.
    pub fn stop(&self) {
        let mut inner = self.lock();
        self.stopping.store(true, Ordering::SeqCst);
        let waiters = std::mem::take(&mut inner.frame_waiters);
        drop(inner);
        self.demand_changed.notify_all();
        for viewer in waiters {
            viewer.unpark();
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The flag [`Hub::stop`] sets, for the fan-out to read.
    pub fn stopping(&self) -> &Arc<AtomicBool> {
        &self.stopping
    }

    /// Sleeps up to `pause`, returning early when demand ends (so retries stop for nobody).
    pub fn pause_while_demanded(&self, pause: Duration) {
        let deadline = Instant::now() + pause;
        let mut inner = self.lock();
        while self.demand(&inner) {
            self.beat();
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return;
            };
            inner = crate::sync::wait_at_most(
                &self.demand_changed,
                inner,
                left.min(Duration::from_secs(1)),
            );
        }
    }

    pub fn count_dropped(&self) {
        self.lock().counts.frames_dropped += 1;
    }

    /// The hub's counts, with fps and the newest frame's age computed now.
    pub fn reading(&self) -> Reading {
        let inner = self.lock();
        let counts = inner.counts.clone();
        let fps = match (inner.recent_arrivals.front(), inner.recent_arrivals.back()) {
            (Some(first), Some(last))
                if last.elapsed() < Duration::from_secs(2) && last > first =>
            {
                (inner.recent_arrivals.len() - 1) as f64 / (*last - *first).as_secs_f64()
            }
            _ => 0.0,
        };
        Reading {
            last_frame_age: inner.latest.as_ref().map(|f| f.received_at.elapsed()),
            counts,
            fps,
        }
    }
}

/// Counts one viewer while alive; the last one leaving starts the linger time.
pub struct ViewerGuard {
    hub: Arc<Hub>,
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        let mut inner = self.hub.lock();
        inner.counts.viewers -= 1;
        self.hub.left(inner);
    }
}

/// Keeps a feed open for another feed's producer (see [`Hub::consumer`]).
pub struct ConsumerGuard {
    hub: Arc<Hub>,
}

impl Drop for ConsumerGuard {
    fn drop(&mut self) {
        let mut inner = self.hub.lock();
        inner.consumers -= 1;
        self.hub.left(inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_viewer_gets_the_newest_frame_and_skips_older_ones() {
        let hub = Hub::new(Duration::from_millis(50));
        hub.publish(Arc::from(&b"one"[..]));
        hub.publish(Arc::from(&b"two"[..]));
        let f = hub.next_frame(0, Duration::from_millis(10)).unwrap();
        assert_eq!((&*f.jpeg, f.seq), (&b"two"[..], 2));
        assert!(hub.next_frame(2, Duration::from_millis(10)).is_none());
    }

    #[test]
    fn demand_follows_viewers_and_lingers_after_the_last_leaves() {
        let hub = Hub::new(Duration::from_millis(100));
        assert!(!hub.has_demand());
        let v = hub.try_viewer(1).unwrap();
        assert!(hub.try_viewer(1).is_none(), "the cap holds");
        assert!(hub.has_demand());
        assert_eq!(hub.reading().counts.viewers, 1);
        drop(v);
        assert!(hub.has_demand(), "lingers");
        let deadline = Instant::now() + Duration::from_secs(2);
        while hub.has_demand() {
            assert!(Instant::now() < deadline, "demand never ended");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(hub.reading().counts.viewers, 0);
    }
}
