//! One camera connection to many viewers, with no HTTP types: a channel per camera, its
//! upstream thread, the hub of the newest frame, the fan-out to viewers' sockets, and
//! what keeps the camera well (control, health, the lost hook).

pub mod channel;
pub mod control;
pub mod decode;
pub mod fanout;
pub mod feed;
pub mod frame;
pub mod health;
pub mod hub;
pub mod link;
pub mod lost;
pub mod state_file;
pub mod status;
pub mod upstream;
pub mod views;
