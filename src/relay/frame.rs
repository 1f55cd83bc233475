//! What travels from the hub to viewers: a whole camera frame, shared as an `Arc`, and
//! the counters of what reached them. Both the hub (which makes frames) and the fan-out
//! (which writes them) use these; neither needs the other.

use crate::formats::mjpeg::Part;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A whole JPEG from the camera, shared by every viewer.
#[derive(Debug)]
pub struct Frame {
    pub jpeg: Arc<[u8]>,
    pub seq: u64,
    /// When the relay received it (wall clock, for `X-Timestamp`).
    pub received: SystemTime,
    pub received_at: Instant,
}

impl Frame {
    pub fn timestamp_secs(&self) -> f64 {
        unix_secs(self.received)
    }

    /// This frame as a part of our stream, stamped with when it arrived.
    pub fn part(&self) -> Part {
        Part::new(self.jpeg.clone(), self.timestamp_secs())
    }
}

/// Camera frames a reader never got between the one it last had (`last`, 0 for none
/// yet) and frame `seq`.
pub fn frames_missed(last: u64, seq: u64) -> u64 {
    if last == 0 { 0 } else { seq - last - 1 }
}

/// Seconds since the Unix epoch, as `X-Timestamp` carries them.
pub fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What reached viewers, counted outside any lock by whichever thread wrote it (the
/// fan-out's round or a viewer's own thread), so delivering never queues on the hub.
#[derive(Default)]
pub struct Deliveries {
    parts: AtomicU64,
    bytes: AtomicU64,
    skipped: AtomicU64,
    handed_over: AtomicU64,
}

/// A reading of [`Deliveries`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivered {
    pub parts: u64,
    pub bytes: u64,
    pub skipped: u64,
    pub handed_over: u64,
}

impl Deliveries {
    /// Viewers were sent `parts` parts holding `bytes` JPEG bytes, having skipped
    /// `skipped` newer frames before them.
    pub fn count(&self, parts: u64, bytes: u64, skipped: u64) {
        self.parts.fetch_add(parts, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if skipped > 0 {
            self.skipped.fetch_add(skipped, Ordering::Relaxed);
        }
    }

    /// `parts` parts went only partly, and viewers' own threads were handed the rest.
    pub fn count_handed_over(&self, parts: u64) {
        if parts > 0 {
            self.handed_over.fetch_add(parts, Ordering::Relaxed);
        }
    }

    pub fn read(&self) -> Delivered {
        Delivered {
            parts: self.parts.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            handed_over: self.handed_over.load(Ordering::Relaxed),
        }
    }
}
