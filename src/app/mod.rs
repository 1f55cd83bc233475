//! The wiring: the cameras a request names turned into channels, channels and the
//! server put together as one relay, and running it under a service manager.

pub mod cameras;
pub mod relay;
pub mod service;
