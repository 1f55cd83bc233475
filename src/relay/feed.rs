//! A feed is what stream viewers and snapshots read from: a hub of newest frames with
//! its fan-out, the places among its viewers, and its slate (the frame drawn while none
//! comes). A camera's own stream is a feed, and so is each of its flat views; the web
//! serves any feed alike, so a viewer's admission, the camera-wait budget and the
//! status cover every feed the same way.
//!
//! A feed's producer publishes through [`Feed::publish`] (the hub, then the fan-out) and
//! is woken by [`Feed::join`] and [`Feed::snapshot`] when it runs only while watched.

use crate::budget::{Budget, Share};
use crate::camera::errors::full_stop;
use crate::formats::mjpeg::Part;
use crate::relay::fanout::Fanout;
use crate::relay::frame::{Frame, unix_secs};
use crate::relay::hub::{Hub, ViewerGuard};
use crate::timeouts::Timeouts;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::SystemTime;

/// What a feed shows while no frame comes, and why none comes.
pub trait Slate: Send + Sync {
    /// The frame drawn while no frame comes (NO SIGNAL, COOLING), given the feed's last
    /// frame, if any, for its size.
    fn drawn(&self, last: Option<&Frame>) -> Arc<[u8]>;
    /// Why no frame comes, in words, when the camera said (its last failure).
    fn why_quiet(&self) -> Option<String>;
}

/// What fills a feed that runs only while watched (a flat view): woken by the first
/// viewer or snapshot, it may refuse (its memory budget is spent).
pub trait Producer: Send + Sync {
    fn wake(&self) -> Result<(), String>;
}

/// Who a feed's viewer places are for, in the sentence of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Places {
    /// The camera's own stream.
    Camera,
    /// The camera's flat views, all together.
    Views,
}

/// Why a viewer or a snapshot was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Every place is taken.
    Full { most: u64, places: Places },
    /// The producer could not start; the sentence says why.
    Producer(String),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Full { most, places } => {
                let (viewers, are) = if *most == 1 {
                    ("viewer", "is")
                } else {
                    ("viewers", "are")
                };
                let of = match places {
                    Places::Camera => "",
                    Places::Views => " this camera's views",
                };
                write!(
                    f,
                    "{most} {viewers} {are} already watching{of}, the most this relay serves (--max-viewers)."
                )
            }
            Refused::Producer(why) => f.write_str(why),
        }
    }
}

/// A viewer let in: its place and its count in the hub, both given back when dropped.
pub struct Viewer {
    _counted: ViewerGuard,
    _place: Share,
}

/// See the module docs.
pub struct Feed {
    hub: Arc<Hub>,
    fanout: Arc<Fanout>,
    /// Places among the viewers: the feed's own, or shared by a camera's views.
    places: Arc<Budget>,
    places_for: Places,
    timeouts: Timeouts,
    slate: Box<dyn Slate>,
    producer: Option<Weak<dyn Producer>>,
}

impl Feed {
    /// A feed whose viewers take `places`; `producer` is woken by viewers and snapshots
    /// when it runs only while watched.
    pub fn new(
        (places, places_for): (Arc<Budget>, Places),
        timeouts: Timeouts,
        slate: Box<dyn Slate>,
        producer: Option<Weak<dyn Producer>>,
    ) -> Feed {
        let hub = Hub::new(timeouts.linger);
        let fanout = Fanout::new(hub.deliveries().clone(), hub.stopping().clone());
        Feed {
            hub,
            fanout,
            places,
            places_for,
            timeouts,
            slate,
            producer,
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn fanout(&self) -> &Arc<Fanout> {
        &self.fanout
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Makes `jpeg` the newest frame and writes it to every ready stream viewer.
    pub fn publish(&self, jpeg: Arc<[u8]>) -> Arc<Frame> {
        let frame = self.hub.publish(jpeg);
        self.fanout.deliver(&frame);
        frame
    }

    /// Ends every wait and every viewer at its next part boundary.
    pub fn stop(&self) {
        self.hub.stop();
        self.fanout.stop();
    }

    /// A place among the viewers, counted while the viewer stays; the producer is woken.
    pub fn join(&self) -> Result<Viewer, Refused> {
        let place = self.places.try_take(1).ok_or(Refused::Full {
            most: self.places.max(),
            places: self.places_for,
        })?;
        // Counted before the producer is woken, so a producer about to stop sees it.
        let counted = self
            .hub
            .try_viewer(usize::MAX)
            .ok_or(Refused::Producer("the relay is stopping.".into()))?;
        self.wake()?;
        Ok(Viewer {
            _counted: counted,
            _place: place,
        })
    }

    fn wake(&self) -> Result<(), Refused> {
        match self.producer.as_ref().and_then(Weak::upgrade) {
            Some(producer) => producer.wake().map_err(Refused::Producer),
            None => Ok(()),
        }
    }

    /// The newest frame if it is recent, else the next one within the snapshot wait; the
    /// sentence says why none came.
    pub fn snapshot(&self) -> Result<Arc<Frame>, String> {
        let t = &self.timeouts;
        let after = match self.hub.ask_for_frame(t.snapshot_max_age, t.snapshot_wait) {
            Ok(fresh) => return Ok(fresh),
            Err(after) => after,
        };
        self.wake().map_err(|refused| refused.to_string())?;
        self.hub.next_frame(after, t.snapshot_wait).ok_or_else(|| {
            let why = self
                .slate
                .why_quiet()
                .unwrap_or_else(|| "the camera sent no frame".into());
            full_stop(&format!(
                "No frame arrived within {:?}: {why}",
                t.snapshot_wait
            ))
        })
    }

    /// The last frame while it is recent, else the drawn one.
    pub fn quiet(&self) -> Result<Arc<Frame>, Arc<[u8]>> {
        match self.hub.latest() {
            Some(f) if f.received_at.elapsed() < self.timeouts.no_signal_after => Ok(f),
            latest => Err(self.slate.drawn(latest.as_deref())),
        }
    }

    /// The part a viewer gets while no frame comes: the last frame again for a while,
    /// then the drawn one.
    pub fn quiet_part(&self) -> Part {
        match self.quiet() {
            Ok(frame) => frame.part(),
            Err(drawn) => Part::new(drawn, unix_secs(SystemTime::now())),
        }
    }

    /// The JPEG of [`Feed::quiet_part`].
    pub fn quiet_jpeg(&self) -> Arc<[u8]> {
        self.quiet()
            .map_or_else(|drawn| drawn, |frame| frame.jpeg.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Blank;

    impl Slate for Blank {
        fn drawn(&self, _last: Option<&Frame>) -> Arc<[u8]> {
            Arc::from(&b"blank"[..])
        }

        fn why_quiet(&self) -> Option<String> {
            None
        }
    }

    /// A producer with nothing to give (a view over its memory budget).
    struct Refusing;

    impl Producer for Refusing {
        fn wake(&self) -> Result<(), String> {
            Err("over the budget.".into())
        }
    }

    #[test]
    fn viewers_take_places_and_give_them_back() {
        let feed = Feed::new(
            (Budget::new(1), Places::Views),
            Timeouts::default(),
            Box::new(Blank),
            None,
        );
        let first = feed.join().expect("a place");
        let Err(refused) = feed.join() else {
            panic!("a second viewer in one place");
        };
        assert_eq!(
            refused.to_string(),
            "1 viewer is already watching this camera's views, the most this relay serves (--max-viewers)."
        );
        drop(first);
        assert!(feed.join().is_ok(), "the place came back");
        assert_eq!(feed.hub().reading().counts.viewers, 0);
    }

    #[test]
    fn a_producer_that_cannot_start_refuses_the_viewer_and_keeps_no_place() {
        let refusing: Arc<dyn Producer> = Arc::new(Refusing);
        let places = Budget::new(4);
        let feed = Feed::new(
            (places.clone(), Places::Views),
            Timeouts::default(),
            Box::new(Blank),
            Some(Arc::downgrade(&refusing)),
        );
        let Err(refused) = feed.join() else {
            panic!("a viewer of a producer that refused");
        };
        assert_eq!(refused, Refused::Producer("over the budget.".into()));
        assert_eq!(places.used(), 0);
        assert_eq!(feed.hub().reading().counts.viewers, 0);
        assert_eq!(feed.snapshot().unwrap_err(), "over the budget.");
    }
}
