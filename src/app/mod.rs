//! The wiring: channels and the server put together as one relay, and running it under
//! a service manager.

pub mod relay;
pub mod service;
