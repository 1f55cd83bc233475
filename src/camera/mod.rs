//! One OSC camera, seen from the client side: its requests and answers, its login, and
//! finding it by name on the LAN.

pub mod answers;
pub mod client;
pub mod errors;
pub mod level;
pub mod mdns;
pub mod preview;
pub mod timers;
