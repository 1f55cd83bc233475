//! The camera side of MJPEG: a push parser in the style of `httparse`. Feed it bytes as
//! they arrive, split anywhere, and it yields whole frames or counted rejects. It takes
//! every quirk THETA cameras put on the wire: the bare boundary as a
//! delimiter line, header names in any case, extra part headers, zero to two CRLFs
//! after the JPEG. It frames by `Content-Length` and only falls back to searching
//! for the next delimiter when a part has none. It never scans for `FF D9` alone,
//! because EXIF thumbnails carry their own SOI/EOI. It does not de-chunk: the HTTP
//! client hands it the decoded body.

use crate::formats::jpeg::is_whole_jpeg;
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
            State::SeekDelimiter => self.step_seeking_delimiter(),
            State::SkipLine => self.step_skipping_line(),
            State::Headers { length, head_bytes } => self.step_header(length, head_bytes, emit),
            State::Body { length } => self.step_body(length, emit),
            State::BodyUntilDelimiter => self.step_until_delimiter(emit),
        }
    }

    const FIRST_HEADER: State = State::Headers {
        length: None,
        head_bytes: 0,
    };

    fn step_seeking_delimiter(&mut self) -> bool {
        let Some(line) = self.take_line() else {
            return self.skip_overlong_line();
        };
        if self.is_delimiter(&self.buf[line]) {
            self.state = Self::FIRST_HEADER;
        }
        true
    }

    fn step_skipping_line(&mut self) -> bool {
        let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..]) else {
            self.keep_tail();
            return false;
        };
        // The kept tail of the long line may end in a delimiter glued to junk.
        let tail = self.buf[self.pos..self.pos + i].trim_ascii_end();
        self.state = if self.ends_with_delimiter(tail) {
            Self::FIRST_HEADER
        } else {
            State::SeekDelimiter
        };
        self.pos += i + 1;
        true
    }

    /// One part header line, `head_bytes` of them read so far, `length` from any
    /// Content-Length among them.
    fn step_header(
        &mut self,
        length: Option<usize>,
        head_bytes: usize,
        emit: &mut impl FnMut(Parsed),
    ) -> bool {
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
            self.state = self.body_state(length, emit);
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

    /// After the blank line: how the body is read, or skipped when its length is too large.
    fn body_state(&mut self, length: Option<usize>, emit: &mut impl FnMut(Parsed)) -> State {
        match length {
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
        }
    }

    fn step_body(&mut self, length: usize, emit: &mut impl FnMut(Parsed)) -> bool {
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
    /// Bytes the parser holds, for the tests' memory bounds.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.buf.len()
    }

    /// Bytes held and not yet consumed.
    #[cfg(test)]
    pub(super) fn unread(&self) -> usize {
        self.buf.len() - self.pos
    }

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
