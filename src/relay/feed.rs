//! What a stream viewer reads from: a hub of newest frames with its fan-out, the part
//! shown while no frame comes, the viewer cap and the budgets. A camera's own stream is
//! a feed, and so is each of its flat views; the web's streams serve any feed alike.

use crate::formats::mjpeg::Part;
use crate::relay::fanout::Fanout;
use crate::relay::hub::Hub;
use crate::timeouts::Timeouts;
use std::sync::Arc;

pub trait Feed: Send + Sync {
    fn hub(&self) -> &Arc<Hub>;
    fn fanout(&self) -> &Arc<Fanout>;
    /// Stream requests beyond this many viewers get 503.
    fn max_viewers(&self) -> usize;
    fn timeouts(&self) -> &Timeouts;
    /// The part a viewer gets while no frame comes: the last frame again for a while,
    /// then a frame the relay draws (NO SIGNAL, COOLING).
    fn quiet_part(&self) -> Part;
    /// The JPEG of [`Feed::quiet_part`].
    fn quiet_jpeg(&self) -> Arc<[u8]>;
}
