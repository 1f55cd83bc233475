//! MJPEG on the wire, both directions: [`Parser`] cuts a camera's
//! `multipart/x-mixed-replace` body into whole JPEG frames, and [`PartWriter`]
//! frames JPEGs for our viewers.
//!
//! The parser is a push parser in the style of `httparse`: feed it bytes as they
//! arrive, split anywhere, and it yields whole frames or counted rejects. It takes
//! every quirk THETA cameras put on the wire (see OSC.md): the bare boundary as a
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
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reject::NotAJpeg => "a part was not a whole JPEG",
            Reject::TooLarge => "a part was larger than 16 MiB",
            Reject::BadHeaders => "a part had unreadable or oversized headers",
            Reject::Truncated => "the stream ended in the middle of a part",
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
            State::SkipLine => match memchr(b'\n', &self.buf[self.pos..]) {
                Some(i) => {
                    self.pos += i + 1;
                    self.state = State::SeekDelimiter;
                    true
                }
                None => {
                    self.pos = self.buf.len();
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
                emit(checked_frame(body));
                self.pos += length;
                self.state = State::SeekDelimiter;
                true
            }
            State::BodyUntilDelimiter => self.step_until_delimiter(emit),
        }
    }

    fn step_until_delimiter(&mut self, emit: &mut impl FnMut(Parsed)) -> bool {
        let body = &self.buf[self.pos..];
        // Delimiter lines start after a '\n'; look for the boundary and check what precedes it.
        let from = self.scanned.saturating_sub(self.boundary.len() + 4);
        let mut found = None;
        let mut at = from;
        while let Some(i) = find(&body[at..], &self.boundary) {
            let b = at + i;
            let line_start = if b >= 2 && &body[b - 2..b] == b"--" {
                b - 2
            } else {
                b
            };
            if line_start == 0 || body[line_start - 1] == b'\n' {
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
        let i = memchr(b'\n', &self.buf[start..])?;
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
            self.pos = self.buf.len();
            self.state = State::SkipLine;
        }
        false
    }

    fn is_delimiter(&self, line: &[u8]) -> bool {
        let line = trim_ascii_end(line);
        let b = &self.boundary[..];
        line == b
            || (line.len() == b.len() + 2 && line.starts_with(b"--") && &line[2..] == b)
            || (line.len() == b.len() + 4
                && line.starts_with(b"--")
                && line.ends_with(b"--")
                && &line[2..2 + b.len()] == b)
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

/// `Some(Ok(n))` for a Content-Length header line, `Some(Err)` for an unreadable one, `None` for other headers.
fn parse_content_length(line: &[u8]) -> Option<Result<usize, ()>> {
    let colon = memchr(b':', line)?;
    let name = trim_ascii(&line[..colon]);
    if !name.eq_ignore_ascii_case(b"content-length") {
        return None;
    }
    let value = trim_ascii(&line[colon + 1..]);
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

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

fn trim_ascii_end(b: &[u8]) -> &[u8] {
    b.trim_ascii_end()
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut i = 0;
    while let Some(j) = memchr(first, &hay[i..=hay.len() - needle.len()]) {
        let at = i + j;
        if &hay[at..at + needle.len()] == needle {
            return Some(at);
        }
        i = at + 1;
    }
    None
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

/// Writes JPEGs as parts of a `multipart/x-mixed-replace` body, RFC style (`--boundary`).
///
/// Each part ends with the next delimiter line, so a browser draws a frame as soon as
/// its bytes arrive instead of waiting for the next part to begin.
pub struct PartWriter {
    boundary: &'static str,
}

/// The boundary of our own streams.
pub const OUR_BOUNDARY: &str = "oscstreamframe";

impl Default for PartWriter {
    fn default() -> Self {
        PartWriter {
            boundary: OUR_BOUNDARY,
        }
    }
}

impl PartWriter {
    /// The Content-Type header value for the stream.
    pub fn content_type(&self) -> String {
        format!("multipart/x-mixed-replace; boundary={}", self.boundary)
    }

    /// The bytes that open the body: the first delimiter line.
    pub fn preamble(&self) -> String {
        format!("--{}\r\n", self.boundary)
    }

    /// Writes one part: headers, the JPEG bytes as they are, and the next delimiter line.
    pub fn write_part(
        &self,
        out: &mut impl Write,
        jpeg: &[u8],
        timestamp_secs: f64,
    ) -> io::Result<()> {
        let head = format!(
            "Content-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {:.6}\r\n\r\n",
            jpeg.len(),
            timestamp_secs
        );
        let tail = format!("\r\n--{}\r\n", self.boundary);
        write_all_vectored(
            out,
            &mut [
                IoSlice::new(head.as_bytes()),
                IoSlice::new(jpeg),
                IoSlice::new(tail.as_bytes()),
            ],
        )
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
mod tests {
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
        let w = PartWriter::default();
        let (a, b) = (jpeg(14, 100), jpeg(15, 80));
        let mut out = w.preamble().into_bytes();
        w.write_part(&mut out, &a, 1.0).unwrap();
        w.write_part(&mut out, &b, 2.0).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with(
            "--oscstreamframe\r\nContent-Type: image/jpeg\r\nContent-Length: 100\r\n"
        ));
        assert!(text.ends_with("\r\n--oscstreamframe\r\n"));
        assert_eq!(frames(&run(OUR_BOUNDARY, &out, &[])), vec![a, b]);
    }
}
