//! MJPEG on the wire, both directions: [`Parser`] cuts a camera's
//! `multipart/x-mixed-replace` body into whole JPEG frames, and [`Part`]
//! frames JPEGs for our viewers.
//!
//! The parser is a push parser in the style of `httparse`: feed it bytes as they
//! arrive, split anywhere, and it yields whole frames or counted rejects. It takes
//! every quirk THETA cameras put on the wire: the bare boundary as a
//! delimiter line, header names in any case, extra part headers, zero to two CRLFs
//! after the JPEG. It frames by `Content-Length` and only falls back to searching
//! for the next delimiter when a part has none. It never scans for `FF D9` alone,
//! because EXIF thumbnails carry their own SOI/EOI. It does not de-chunk: the HTTP
//! client hands it the decoded body.

use std::io::{self, IoSlice, Write};
use std::ops::Range;
use std::sync::Arc;

/// A part larger than this is dropped, never buffered further.
pub const MAX_PART_BYTES: usize = 16 << 20;
/// Longest delimiter or header line we keep looking at; longer lines are skipped.
pub const MAX_LINE_BYTES: usize = 16 << 10;
/// Most header bytes one part may carry before it is dropped.
pub const MAX_PART_HEAD_BYTES: usize = 16 << 10;
/// Boundaries at least this long are recognised at the end of a junk line too.
const MIN_SUFFIX_BOUNDARY_BYTES: usize = 12;
/// The boundary THETA cameras use (without the quotes of their header).
pub const THETA_BOUNDARY: &str = "---osclivepreview---";

/// What the parser yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole JPEG (starts with SOI, ends with EOI), bytes exactly as the camera sent them.
    Frame(Arc<[u8]>),
    /// A part that was dropped, with the reason.
    Rejected(Reject),
}

/// Why a part was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// The part's bytes do not start with SOI and end with EOI.
    NotAJpeg,
    /// Declared or found to be larger than [`MAX_PART_BYTES`].
    TooLarge,
    /// The part's headers were longer than [`MAX_PART_HEAD_BYTES`] or unreadable.
    BadHeaders,
    /// The stream ended in the middle of the part.
    Truncated,
    /// The declared Content-Length ran into the next part.
    LengthMismatch,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reject::NotAJpeg => "a part was not a whole JPEG",
            Reject::TooLarge => "a part was larger than 16 MiB",
            Reject::BadHeaders => "a part had unreadable or oversized headers",
            Reject::Truncated => "the stream ended in the middle of a part",
            Reject::LengthMismatch => "a part's Content-Length did not match its bytes",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for a delimiter line; everything else (CRLFs after a JPEG, preamble, garbage) is skipped.
    SeekDelimiter,
    /// Reading part header lines; `head_bytes` counts them against the cap.
    Headers {
        length: Option<usize>,
        head_bytes: usize,
    },
    /// Reading exactly this many body bytes.
    Body { length: usize },
    /// No Content-Length: the body ends at the next delimiter line.
    BodyUntilDelimiter,
    /// Skipping an oversized line until its end, then seeking a delimiter again.
    SkipLine,
}

/// Push parser for a multipart MJPEG body. See the module docs.
#[derive(Debug)]
pub struct Parser {
    boundary: Vec<u8>,
    state: State,
    /// Bytes received but not yet consumed; `pos` is where consumption stands.
    buf: Vec<u8>,
    pos: usize,
    /// In [`State::BodyUntilDelimiter`]: how far into the body the delimiter search has looked.
    scanned: usize,
}

impl Parser {
    /// A parser for parts separated by `boundary` (as in the Content-Type header, quotes removed).
    pub fn new(boundary: &str) -> Parser {
        let boundary = if boundary.is_empty() {
            THETA_BOUNDARY
        } else {
            boundary
        };
        Parser {
            boundary: boundary.as_bytes().to_vec(),
            state: State::SeekDelimiter,
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
        }
    }

    /// Feeds the next bytes of the body; calls `emit` for every frame or reject they complete.
    pub fn push(&mut self, data: &[u8], mut emit: impl FnMut(Parsed)) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 << 10 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
        while self.step(&mut emit) {}
    }

    /// Tells the parser the stream has ended: a part cut short is reported as truncated.
    pub fn finish(&mut self, mut emit: impl FnMut(Parsed)) {
        let mid_part = match self.state {
            // A delimiter with nothing after it opens no part.
            State::Headers {
                length: None,
                head_bytes: 0,
            } => self.pos < self.buf.len(),
            State::Headers { .. } | State::Body { .. } => true,
            State::BodyUntilDelimiter => self.pos < self.buf.len(),
            State::SeekDelimiter | State::SkipLine => false,
        };
        if mid_part {
            emit(Parsed::Rejected(Reject::Truncated));
        }
        self.state = State::SeekDelimiter;
        self.buf.clear();
        self.pos = 0;
        self.scanned = 0;
    }

    /// Makes one step of progress on the buffered bytes; false when more input is needed.
    fn step(&mut self, emit: &mut impl FnMut(Parsed)) -> bool {
        match self.state {
            State::SeekDelimiter => {
                let Some(line) = self.take_line() else {
                    return self.skip_overlong_line();
                };
                if self.is_delimiter(&self.buf[line]) {
                    self.state = State::Headers {
                        length: None,
                        head_bytes: 0,
                    };
                }
                true
            }
            State::SkipLine => match memchr::memchr(b'\n', &self.buf[self.pos..]) {
                Some(i) => {
                    // The kept tail of the long line may end in a delimiter glued to junk.
                    let tail = self.buf[self.pos..self.pos + i].trim_ascii_end();
                    self.state = if self.ends_with_delimiter(tail) {
                        State::Headers {
                            length: None,
                            head_bytes: 0,
                        }
                    } else {
                        State::SeekDelimiter
                    };
                    self.pos += i + 1;
                    true
                }
                None => {
                    self.keep_tail();
                    false
                }
            },
            State::Headers { length, head_bytes } => {
                let start = self.pos;
                let Some(line) = self.take_line() else {
                    if head_bytes + (self.buf.len() - self.pos) > MAX_PART_HEAD_BYTES {
                        emit(Parsed::Rejected(Reject::BadHeaders));
                        self.state = State::SkipLine;
                        return true;
                    }
                    return false;
                };
                let head_bytes = head_bytes + (self.pos - start);
                let line = &self.buf[line];
                if head_bytes > MAX_PART_HEAD_BYTES {
                    emit(Parsed::Rejected(Reject::BadHeaders));
                    self.state = State::SeekDelimiter;
                    return true;
                }
                if line.is_empty() {
                    self.state = match length {
                        Some(n) if n > MAX_PART_BYTES => {
                            // A lying length must not make us skip real frames: resynchronise on delimiters.
                            emit(Parsed::Rejected(Reject::TooLarge));
                            State::SeekDelimiter
                        }
                        Some(length) => State::Body { length },
                        None => {
                            self.scanned = 0;
                            State::BodyUntilDelimiter
                        }
                    };
                    return true;
                }
                let length = match parse_content_length(line) {
                    Some(Ok(n)) => Some(n),
                    Some(Err(())) => {
                        emit(Parsed::Rejected(Reject::BadHeaders));
                        self.state = State::SeekDelimiter;
                        return true;
                    }
                    None => length,
                };
                self.state = State::Headers { length, head_bytes };
                true
            }
            State::Body { length } => {
                if self.buf.len() - self.pos < length {
                    return false;
                }
                let body = &self.buf[self.pos..self.pos + length];
                if let Some(next_part) = self.delimiter_inside(body) {
                    // The length lied (a cut frame): drop it and read the part it swallowed.
                    emit(Parsed::Rejected(Reject::LengthMismatch));
                    self.pos += next_part;
                } else {
                    emit(checked_frame(body));
                    self.pos += length;
                }
                self.state = State::SeekDelimiter;
                true
            }
            State::BodyUntilDelimiter => self.step_until_delimiter(emit),
        }
    }

    fn step_until_delimiter(&mut self, emit: &mut impl FnMut(Parsed)) -> bool {
        let body = &self.buf[self.pos..];
        // Delimiter lines start after a '\n'; look for the boundary and check what precedes it
        // (a long boundary counts wherever it is, as in `ends_with_delimiter`).
        let from = self.scanned.saturating_sub(self.boundary.len() + 4);
        let mut found = None;
        let mut at = from;
        while let Some(i) = memchr::memmem::find(&body[at..], &self.boundary) {
            let b = at + i;
            let line_start = if b >= 2 && &body[b - 2..b] == b"--" {
                b - 2
            } else {
                b
            };
            let at_line_start = line_start == 0 || body[line_start - 1] == b'\n';
            if at_line_start || self.boundary.len() >= MIN_SUFFIX_BOUNDARY_BYTES {
                found = Some(line_start);
                break;
            }
            at = b + 1;
        }
        match found {
            Some(line_start) => {
                let mut end = line_start;
                if end > 0 && body[end - 1] == b'\n' {
                    end -= 1;
                }
                if end > 0 && body[end - 1] == b'\r' {
                    end -= 1;
                }
                let frame = trim_trailing_newlines(&body[..end]);
                if frame.len() > MAX_PART_BYTES {
                    emit(Parsed::Rejected(Reject::TooLarge));
                } else {
                    emit(checked_frame(frame));
                }
                // The delimiter line itself is read again in SeekDelimiter.
                self.pos += line_start;
                self.state = State::SeekDelimiter;
                true
            }
            None => {
                self.scanned = body.len();
                if body.len() > MAX_PART_BYTES {
                    emit(Parsed::Rejected(Reject::TooLarge));
                    // Keep the tail that might hold the start of a delimiter line.
                    let keep = self.boundary.len() + 4;
                    self.pos = self.buf.len() - keep;
                    self.state = State::SeekDelimiter;
                    return true;
                }
                false
            }
        }
    }

    /// Takes the next whole line from the buffer, if there is one: its range without CR LF.
    fn take_line(&mut self) -> Option<Range<usize>> {
        let start = self.pos;
        let i = memchr::memchr(b'\n', &self.buf[start..])?;
        self.pos += i + 1;
        let end = if i > 0 && self.buf[start + i - 1] == b'\r' {
            start + i - 1
        } else {
            start + i
        };
        Some(start..end)
    }

    /// With no newline in sight, gives up on an overlong line instead of buffering it forever.
    fn skip_overlong_line(&mut self) -> bool {
        if self.buf.len() - self.pos > MAX_LINE_BYTES {
            self.keep_tail();
            self.state = State::SkipLine;
        }
        false
    }

    /// Where a long boundary appears inside a length-framed body (the start of its
    /// delimiter line), which means the declared length swallowed the next part.
    fn delimiter_inside(&self, body: &[u8]) -> Option<usize> {
        if self.boundary.len() < MIN_SUFFIX_BOUNDARY_BYTES {
            return None;
        }
        let b = memchr::memmem::find(body, &self.boundary)?;
        Some(if b >= 2 && &body[b - 2..b] == b"--" {
            b - 2
        } else {
            b
        })
    }

    /// Drops buffered bytes except the few that could still end in a delimiter.
    fn keep_tail(&mut self) {
        let keep = self.boundary.len() + 4;
        self.pos = self.pos.max(self.buf.len().saturating_sub(keep));
    }

    fn is_delimiter(&self, line: &[u8]) -> bool {
        let line = line.trim_ascii_end();
        let b = &self.boundary[..];
        line == b
            || (line.len() == b.len() + 2 && line.starts_with(b"--") && &line[2..] == b)
            || (line.len() == b.len() + 4
                && line.starts_with(b"--")
                && line.ends_with(b"--")
                && &line[2..2 + b.len()] == b)
            || self.ends_with_delimiter(line)
    }

    /// A line of junk that ends in the boundary still marks the next part, so the stream
    /// resynchronises after garbage with no line break. Only for boundaries long enough
    /// that no header or stray text ends in them by chance (THETA's is 20 bytes).
    fn ends_with_delimiter(&self, line: &[u8]) -> bool {
        self.boundary.len() >= MIN_SUFFIX_BOUNDARY_BYTES && line.ends_with(&self.boundary)
    }
}

fn checked_frame(body: &[u8]) -> Parsed {
    if is_whole_jpeg(body) {
        Parsed::Frame(Arc::from(body))
    } else {
        Parsed::Rejected(Reject::NotAJpeg)
    }
}

/// True when `bytes` start with SOI (`FF D8`) and end with EOI (`FF D9`).
pub fn is_whole_jpeg(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes.starts_with(&[0xFF, 0xD8]) && bytes.ends_with(&[0xFF, 0xD9])
}

/// Width and height from a JPEG's start-of-frame segment; `None` for anything that is not
/// a JPEG with one within its first 64 KiB (a hostile frame costs a bounded scan).
pub fn jpeg_dimensions(jpeg: &[u8]) -> Option<(u16, u16)> {
    let mut i = 2;
    let limit = jpeg.len().min(64 << 10);
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    while i + 9 < limit {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let length = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), which share the range.
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let height = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
            let width = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
            return (width > 0 && height > 0).then_some((width, height));
        }
        if length < 2 {
            return None;
        }
        i += 2 + length;
    }
    None
}

/// `Some(Ok(n))` for a Content-Length header line, `Some(Err)` for an unreadable one, `None` for other headers.
fn parse_content_length(line: &[u8]) -> Option<Result<usize, ()>> {
    let colon = memchr::memchr(b':', line)?;
    let name = line[..colon].trim_ascii();
    if !name.eq_ignore_ascii_case(b"content-length") {
        return None;
    }
    let value = line[colon + 1..].trim_ascii();
    if value.is_empty() || value.len() > 12 || !value.iter().all(u8::is_ascii_digit) {
        return Some(Err(()));
    }
    Some(
        std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(()),
    )
}

fn trim_trailing_newlines(mut b: &[u8]) -> &[u8] {
    while let Some(rest) = b.strip_suffix(b"\n") {
        b = rest.strip_suffix(b"\r").unwrap_or(rest);
    }
    b
}

/// The boundary parameter of a `multipart/x-mixed-replace` Content-Type, quotes removed.
pub fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// The boundary of our own streams.
pub const OUR_BOUNDARY: &str = "oscstreamframe";

/// The Content-Type header value of our streams.
pub const STREAM_CONTENT_TYPE: &str = "multipart/x-mixed-replace; boundary=oscstreamframe";

/// The bytes that open our stream bodies: the first delimiter line.
pub const STREAM_PREAMBLE: &str = "--oscstreamframe\r\n";

/// CRLF after the JPEG and the next delimiter line, the same for every part.
const PART_TAIL: &str = "\r\n--oscstreamframe\r\n";

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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn jpeg(tag: u8, len: usize) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        // An embedded thumbnail-like SOI/EOI pair in the middle must not end the frame.
        v.extend_from_slice(&[0xFF, 0xD8, tag, 0xFF, 0xD9]);
        v.resize(len - 2, tag);
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    fn part(delim: &str, headers: &str, body: &[u8], after: &str) -> Vec<u8> {
        let mut v = format!("{delim}\r\n{headers}\r\n").into_bytes();
        v.extend_from_slice(body);
        v.extend_from_slice(after.as_bytes());
        v
    }

    fn run(boundary: &str, bytes: &[u8], split: &[usize]) -> Vec<Parsed> {
        let mut p = Parser::new(boundary);
        let mut out = Vec::new();
        let mut last = 0;
        for &s in split.iter().chain(std::iter::once(&bytes.len())) {
            p.push(&bytes[last..s], |e| out.push(e));
            last = s;
        }
        p.finish(|e| out.push(e));
        out
    }

    fn frames(out: &[Parsed]) -> Vec<Vec<u8>> {
        out.iter()
            .filter_map(|p| match p {
                Parsed::Frame(f) => Some(f.to_vec()),
                _ => None,
            })
            .collect()
    }

    fn rejects(out: &[Parsed]) -> Vec<Reject> {
        out.iter()
            .filter_map(|p| match p {
                Parsed::Rejected(r) => Some(*r),
                _ => None,
            })
            .collect()
    }

    const B: &str = THETA_BOUNDARY;

    fn theta_part(body: &[u8]) -> Vec<u8> {
        part(
            B,
            &format!(
                "Content-type: image/jpeg\r\nContent-Length: {}\r\n",
                body.len()
            ),
            body,
            "\r\n",
        )
    }

    #[test]
    fn theta_wire_format_gives_whole_frames() {
        let (a, b) = (jpeg(1, 300), jpeg(2, 500));
        let stream = [theta_part(&a), theta_part(&b)].concat();
        let out = run(B, &stream, &[]);
        assert_eq!(frames(&out), vec![a, b]);
        assert!(rejects(&out).is_empty());
    }

    #[test]
    fn every_split_position_of_a_two_part_stream_gives_the_same_frames() {
        let (a, b) = (jpeg(1, 40), jpeg(2, 60));
        let stream = [theta_part(&a), theta_part(&b)].concat();
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let out = run(B, &stream, &[i, j]);
                assert_eq!(frames(&out), vec![a.clone(), b.clone()], "split at {i},{j}");
                assert!(rejects(&out).is_empty(), "split at {i},{j}");
            }
        }
    }

    #[test]
    fn byte_by_byte_feeding_gives_the_same_frames() {
        let (a, b) = (jpeg(1, 40), jpeg(2, 60));
        let stream = [theta_part(&a), theta_part(&b)].concat();
        let splits: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(frames(&run(B, &stream, &splits)), vec![a, b]);
    }

    #[test]
    fn rfc_delimiters_with_dashes_and_the_close_delimiter_are_accepted() {
        let a = jpeg(3, 100);
        let head = format!(
            "Content-Type: image/jpeg\r\nContent-Length: {}\r\n",
            a.len()
        );
        let stream = [
            part("--frame", &head, &a, "\r\n"),
            part("--frame", &head, &a, "\r\n"),
            b"--frame--\r\n".to_vec(),
        ]
        .concat();
        assert_eq!(frames(&run("frame", &stream, &[])), vec![a.clone(), a]);
    }

    #[test]
    fn header_names_in_any_case_and_extra_headers_are_taken() {
        let a = jpeg(4, 100);
        let head = format!(
            "X-Timestamp: 12.5\r\nCONTENT-TYPE: image/jpeg\r\ncontent-LENGTH:{}\r\nX-Other: y\r\n",
            a.len()
        );
        let stream = part(B, &head, &a, "\r\n");
        assert_eq!(frames(&run(B, &stream, &[])), vec![a]);
    }

    #[test]
    fn zero_one_or_two_crlfs_after_the_jpeg_are_taken() {
        let a = jpeg(5, 100);
        for after in ["", "\r\n", "\r\n\r\n", "\n"] {
            let head = format!("Content-Length: {}\r\n", a.len());
            let stream = [part(B, &head, &a, after), part(B, &head, &a, after)].concat();
            let out = run(B, &stream, &[]);
            assert_eq!(frames(&out), vec![a.clone(), a.clone()], "after {after:?}");
            assert!(rejects(&out).is_empty(), "after {after:?}");
        }
    }

    #[test]
    fn a_part_without_content_length_ends_at_the_next_delimiter() {
        let (a, b) = (jpeg(6, 100), jpeg(7, 120));
        let stream = [
            part(B, "Content-Type: image/jpeg\r\n", &a, "\r\n"),
            part(B, "Content-Type: image/jpeg\r\n", &b, "\r\n"),
            format!("{B}\r\n").into_bytes(),
        ]
        .concat();
        for split in 0..=stream.len() {
            assert_eq!(
                frames(&run(B, &stream, &[split])),
                vec![a.clone(), b.clone()],
                "split at {split}"
            );
        }
    }

    #[test]
    fn a_part_that_is_not_a_jpeg_is_dropped_and_counted() {
        let a = jpeg(8, 100);
        let not_jpeg = vec![b'x'; 50];
        let truncated = &a[..60];
        let stream = [theta_part(&not_jpeg), theta_part(truncated), theta_part(&a)].concat();
        let out = run(B, &stream, &[]);
        assert_eq!(frames(&out), vec![a]);
        assert_eq!(rejects(&out), vec![Reject::NotAJpeg, Reject::NotAJpeg]);
    }

    #[test]
    fn an_oversized_declared_length_is_dropped_without_buffering_and_the_stream_resyncs() {
        let a = jpeg(9, 100);
        let stream = [
            part(
                B,
                "Content-Length: 99999999999\r\n",
                b"\xFF\xD8junk",
                "\r\n",
            ),
            theta_part(&a),
        ]
        .concat();
        let out = run(B, &stream, &[]);
        assert_eq!(frames(&out), vec![a]);
        assert_eq!(rejects(&out), vec![Reject::TooLarge]);
    }

    #[test]
    fn garbage_lengths_are_dropped() {
        let a = jpeg(10, 100);
        let stream = [
            part(B, "Content-Length: -5\r\n", b"junk", "\r\n"),
            part(B, "Content-Length: 12abc\r\n", b"junk", "\r\n"),
            theta_part(&a),
        ]
        .concat();
        let out = run(B, &stream, &[]);
        assert_eq!(frames(&out), vec![a]);
        assert_eq!(rejects(&out), vec![Reject::BadHeaders, Reject::BadHeaders]);
    }

    #[test]
    fn garbage_between_parts_and_endless_lines_are_skipped() {
        let a = jpeg(11, 100);
        let mut stream = b"preamble text\r\n".to_vec();
        stream.extend(vec![b'g'; 100_000]);
        stream.extend_from_slice(b"\r\n");
        stream.extend(theta_part(&a));
        stream.extend_from_slice(b"more garbage\r\n");
        stream.extend(theta_part(&a));
        let out = run(B, &stream, &[7, 50_000]);
        assert_eq!(frames(&out), vec![a.clone(), a]);
    }

    #[test]
    fn endless_part_headers_are_dropped() {
        let a = jpeg(12, 100);
        let mut stream = format!("{B}\r\n").into_bytes();
        for i in 0..2000 {
            stream.extend(format!("X-Header-{i}: value\r\n").into_bytes());
        }
        stream.extend_from_slice(b"\r\n");
        stream.extend(theta_part(&a));
        let out = run(B, &stream, &[]);
        assert_eq!(frames(&out), vec![a]);
        assert_eq!(rejects(&out), vec![Reject::BadHeaders]);
    }

    #[test]
    fn a_stream_cut_mid_frame_reports_truncation_and_no_frame() {
        let a = jpeg(13, 100);
        let stream = theta_part(&a);
        let out = run(B, &stream[..stream.len() - 30], &[]);
        assert!(frames(&out).is_empty());
        assert_eq!(rejects(&out), vec![Reject::Truncated]);
    }

    #[test]
    fn boundary_is_read_from_content_type() {
        assert_eq!(
            boundary_of("multipart/x-mixed-replace; boundary=\"---osclivepreview---\"").as_deref(),
            Some("---osclivepreview---")
        );
        assert_eq!(
            boundary_of("multipart/x-mixed-replace;boundary=frame").as_deref(),
            Some("frame")
        );
        assert_eq!(boundary_of("image/jpeg"), None);
    }

    #[test]
    fn our_parts_parse_back_to_the_same_jpegs() {
        let (a, b) = (jpeg(14, 100), jpeg(15, 80));
        let mut out = STREAM_PREAMBLE.as_bytes().to_vec();
        Part::new(a.clone().into(), 1.0)
            .write_from(&mut out, 0)
            .unwrap();
        let second = Part::new(b.clone().into(), 2.0);
        // A part written in two goes, as a viewer's thread finishes what the socket did not take.
        let mut first_go = Vec::new();
        second.write_from(&mut first_go, 0).unwrap();
        out.extend_from_slice(&first_go[..50]);
        second.write_from(&mut out, 50).unwrap();
        assert_eq!(second.byte_len(), first_go.len());
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with(
            "--oscstreamframe\r\nContent-Type: image/jpeg\r\nContent-Length: 100\r\n"
        ));
        assert!(text.ends_with("\r\n--oscstreamframe\r\n"));
        assert_eq!(frames(&run(OUR_BOUNDARY, &out, &[])), vec![a, b]);
        assert_eq!(
            boundary_of(STREAM_CONTENT_TYPE).as_deref(),
            Some(OUR_BOUNDARY)
        );
        assert_eq!(STREAM_PREAMBLE, format!("--{OUR_BOUNDARY}\r\n"));
    }

    /// A small deterministic generator, so failures reproduce (also the DNS fuzz's).
    pub(crate) struct Rng(pub(crate) u64);

    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// A well-formed part in one of the shapes cameras send.
    fn random_valid_part(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
        let delim = [B.to_string(), format!("--{B}")][rng.below(2)].clone();
        let name = ["Content-Length", "content-length", "CONTENT-LENGTH"][rng.below(3)];
        let extra = ["", "X-Timestamp: 1\r\n", "Content-type: image/jpeg\r\n"][rng.below(3)];
        let after = ["", "\r\n", "\r\n\r\n"][rng.below(3)];
        let head = if rng.below(4) == 0 {
            // No length: framed by the next delimiter, which needs a line break before it.
            return part(&delim, extra, body, "\r\n");
        } else {
            format!("{extra}{name}: {}\r\n", body.len())
        };
        part(&delim, &head, body, after)
    }

    fn random_splits(rng: &mut Rng, len: usize) -> Vec<usize> {
        let mut cuts: Vec<usize> = (0..rng.below(8)).map(|_| rng.below(len + 1)).collect();
        cuts.sort_unstable();
        cuts
    }

    #[test]
    fn generated_well_formed_streams_give_exactly_their_frames() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..20_000 {
            let bodies: Vec<Vec<u8>> = (0..1 + rng.below(4))
                .map(|i| jpeg(i as u8 + 1, 20 + rng.below(200)))
                .collect();
            let mut stream: Vec<u8> = bodies
                .iter()
                .flat_map(|b| random_valid_part(&mut rng, b))
                .collect();
            stream.extend_from_slice(format!("{B}\r\n").as_bytes());
            let out = run(B, &stream, &random_splits(&mut rng, stream.len()));
            assert_eq!(
                frames(&out),
                bodies,
                "round {round}: {:?}",
                String::from_utf8_lossy(&stream)
            );
            assert!(
                rejects(&out).is_empty(),
                "round {round}: {:?} {:?}",
                rejects(&out),
                String::from_utf8_lossy(&stream)
            );
        }
    }

    #[test]
    fn generated_hostile_streams_never_panic_and_never_yield_a_corrupt_frame() {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let known: Vec<Vec<u8>> = (0..4).map(|i| jpeg(i + 1, 50 + 30 * i as usize)).collect();
        for round in 0..20_000 {
            let mut stream = Vec::new();
            for _ in 0..1 + rng.below(6) {
                let body = &known[rng.below(known.len())];
                match rng.below(7) {
                    0 | 1 => stream.extend(random_valid_part(&mut rng, body)),
                    2 => {
                        // A length that lies by a little, either way.
                        let lie = body.len() + 1 + rng.below(10);
                        let lie = if rng.below(2) == 0 {
                            lie
                        } else {
                            body.len() - 1 - rng.below(10)
                        };
                        stream.extend(part(B, &format!("Content-Length: {lie}\r\n"), body, "\r\n"));
                    }
                    3 => stream.extend((0..rng.below(300)).map(|_| rng.next() as u8)),
                    4 => {
                        let junk = [
                            "Content-Length: 99999999999999999999",
                            "Content-Length: -1",
                            "Content-Length:",
                            "",
                        ];
                        let head = format!("{}\r\n", junk[rng.below(junk.len())]);
                        stream.extend(part(B, &head, &body[..body.len() / 2], "\r\n"));
                    }
                    5 => stream.extend_from_slice(b"\r\n\r\n\n"),
                    _ => {
                        let cut = rng.below(body.len());
                        stream.extend(part(
                            B,
                            &format!("Content-Length: {}\r\n", body.len()),
                            &body[..cut],
                            "",
                        ));
                    }
                }
            }
            let mut parser = Parser::new(B);
            let mut out = Vec::new();
            let mut last = 0;
            for cut in random_splits(&mut rng, stream.len())
                .into_iter()
                .chain([stream.len()])
            {
                parser.push(&stream[last..cut], |p| out.push(p));
                last = cut;
                assert!(
                    parser.buf.len() <= stream.len(),
                    "round {round}: buffer bounded by input"
                );
            }
            parser.finish(|p| out.push(p));
            for f in frames(&out) {
                assert!(
                    known.contains(&f),
                    "round {round}: a frame that was never sent: {:?}\nin {:?}",
                    f,
                    stream
                );
            }
        }
    }

    #[test]
    fn a_part_without_length_that_never_ends_is_dropped_with_bounded_memory() {
        let mut p = Parser::new(B);
        let mut out = Vec::new();
        p.push(
            format!("{B}\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
            |e| out.push(e),
        );
        let chunk = vec![0x55u8; 64 << 10];
        let mut peak = 0;
        for _ in 0..(20 << 20) / chunk.len() {
            p.push(&chunk, |e| out.push(e));
            peak = peak.max(p.buf.len() - p.pos);
        }
        assert!(peak <= MAX_PART_BYTES + chunk.len(), "peak {peak}");
        assert_eq!(rejects(&out), vec![Reject::TooLarge]);
        let a = jpeg(1, 100);
        p.push(&theta_part(&a), |e| out.push(e));
        assert_eq!(frames(&out), vec![a], "the stream recovers");
    }
}
