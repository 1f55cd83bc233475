//! What a stream viewer reads from: a hub of newest frames with its fan-out, the part
//! shown while no frame comes, the viewer cap and the budgets. A camera's own stream is
//! a feed, and so is each of its flat views; the web's streams serve any feed alike.

use crate::formats::mjpeg::Part;
use crate::relay::fanout::Fanout;
use crate::relay::frame::{Frame, unix_secs};
use crate::relay::hub::Hub;
use crate::timeouts::Timeouts;
use std::sync::Arc;
use std::time::SystemTime;

pub trait Feed: Send + Sync {
    fn hub(&self) -> &Arc<Hub>;
    fn fanout(&self) -> &Arc<Fanout>;
    /// Stream requests beyond this many viewers get 503.
    fn max_viewers(&self) -> usize;
    fn timeouts(&self) -> &Timeouts;
    /// The frame the relay draws while no frame comes (NO SIGNAL, COOLING), given the
    /// feed's last frame, if any, for its size.
    fn drawn(&self, last: Option<&Frame>) -> Arc<[u8]>;

    /// The last frame while it is recent, else the drawn one.
    fn quiet(&self) -> Result<Arc<Frame>, Arc<[u8]>> {
        match self.hub().latest() {
            Some(f) if f.received_at.elapsed() < self.timeouts().no_signal_after => Ok(f),
            latest => Err(self.drawn(latest.as_deref())),
        }
    }

    /// The part a viewer gets while no frame comes: the last frame again for a while,
    /// then the drawn one.
    fn quiet_part(&self) -> Part {
        match self.quiet() {
            Ok(frame) => frame.part(),
            Err(drawn) => Part::new(drawn, unix_secs(SystemTime::now())),
        }
    }

    /// The JPEG of [`Feed::quiet_part`].
    fn quiet_jpeg(&self) -> Arc<[u8]> {
        self.quiet()
            .map_or_else(|drawn| drawn, |frame| frame.jpeg.clone())
    }
}
