//! Bytes on the wire, with no threads and no state: each module parses or writes one
//! format, and none imports anything else of ours outside this folder.

pub mod digest;
pub mod dns;
pub mod flat;
pub mod jpeg;
pub mod matroska;
pub mod mjpeg;
pub mod osc;
pub mod picture;
