//! MJPEG on the wire, both directions: [`Parser`] cuts a camera's
//! `multipart/x-mixed-replace` body into whole JPEG frames, and [`Part`]
//! frames JPEGs for our viewers.

mod parser;
mod writer;

pub use parser::{
    MAX_LINE_BYTES, MAX_PART_BYTES, MAX_PART_HEAD_BYTES, Parsed, Parser, Reject, THETA_BOUNDARY,
    boundary_of,
};
pub use writer::{OUR_BOUNDARY, Part, STREAM_CONTENT_TYPE, STREAM_PREAMBLE, write_all_vectored};

#[cfg(test)]
pub(crate) mod tests;
