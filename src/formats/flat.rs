//! Flat views of an equirectangular picture: ffmpeg `v360`'s e→flat geometry as a
//! fixed-point bilinear lookup table per plane, and our planar JPEG decode and encode
//! around it. The code lives in its own crate, `oscstream-pixels` (`src/pixels`), built
//! for speed while the rest of the binary is built for size; this module is its face
//! inside oscstream.

pub use oscstream_pixels::*;
