//! Our side of MJPEG: each JPEG framed once as a part of our own
//! `multipart/x-mixed-replace` stream, then written to every viewer from the shared bytes.

use std::io::{self, IoSlice, Write};
use std::sync::Arc;

/// The boundary of our own streams, said once; the constants below are spelled from it.
macro_rules! our_boundary {
    () => {
        "oscstreamframe"
    };
}

pub const OUR_BOUNDARY: &str = our_boundary!();

/// The Content-Type header value of our streams.
pub const STREAM_CONTENT_TYPE: &str =
    concat!("multipart/x-mixed-replace; boundary=", our_boundary!());

/// The bytes that open our stream bodies: the first delimiter line.
pub const STREAM_PREAMBLE: &str = concat!("--", our_boundary!(), "\r\n");

/// CRLF after the JPEG and the next delimiter line, the same for every part.
const PART_TAIL: &str = concat!("\r\n--", our_boundary!(), "\r\n");

/// Room for our part head: fixed text, a length and a timestamp (about 90 bytes).
const PART_HEAD_CAPACITY: usize = 160;

/// One JPEG framed as a part of our `multipart/x-mixed-replace` stream, RFC style
/// (`--boundary`): headers, the JPEG bytes as they are, and the next delimiter line.
///
/// A part is framed once per frame and written to every viewer from the shared JPEG.
/// It ends with the next delimiter line, so a browser draws a frame as soon as its
/// bytes arrive instead of waiting for the next part to begin.
pub struct Part {
    head: [u8; PART_HEAD_CAPACITY],
    head_len: usize,
    jpeg: Arc<[u8]>,
}

impl Part {
    pub fn new(jpeg: Arc<[u8]>, timestamp_secs: f64) -> Part {
        let mut head = [0u8; PART_HEAD_CAPACITY];
        let mut cursor = io::Cursor::new(&mut head[..]);
        // The fixed text, a usize and an f64 with six decimals always fit.
        write!(
            cursor,
            "Content-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {:.6}\r\n\r\n",
            jpeg.len(),
            timestamp_secs
        )
        .expect("a part head fits its buffer");
        let head_len = cursor.position() as usize;
        Part {
            head,
            head_len,
            jpeg,
        }
    }

    /// The whole part's length in bytes.
    pub fn byte_len(&self) -> usize {
        self.head_len + self.jpeg.len() + PART_TAIL.len()
    }

    /// The JPEG's length, as viewers' byte counts report it.
    pub fn jpeg_len(&self) -> usize {
        self.jpeg.len()
    }

    /// The part's bytes from `offset` on, as slices for one vectored write.
    pub fn slices_from(&self, mut offset: usize) -> [IoSlice<'_>; 3] {
        [
            &self.head[..self.head_len],
            &self.jpeg[..],
            PART_TAIL.as_bytes(),
        ]
        .map(|piece| {
            let skip = offset.min(piece.len());
            offset -= skip;
            IoSlice::new(&piece[skip..])
        })
    }

    /// Writes the part from `offset` on (the bytes before it went out earlier).
    pub fn write_from(&self, out: &mut impl Write, offset: usize) -> io::Result<()> {
        write_all_vectored(out, &mut self.slices_from(offset))
    }
}

/// `Write::write_all_vectored` is not stable yet; this is it.
pub fn write_all_vectored(out: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match out.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    out.flush()
}
