//! Bytes on the wire, with no threads and no state: each module parses or writes one
//! format. Nothing here imports anything of ours outside this folder but the pixel
//! crate (`oscstream-pixels`), whose JPEG code `flat` re-exports and `picture` encodes with.

pub mod digest;
pub mod dns;
pub mod flat;
pub mod jpeg;
pub mod matroska;
pub mod mjpeg;
pub mod osc;
pub mod picture;
