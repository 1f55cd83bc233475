//! The decode of a camera's frames for its flat views: the newest frame decoded once
//! into planes, shared by every view of the camera, and kept only while one of them (or
//! a render) reads it. Its buffers are drawn from the views' memory budget for the
//! frame size at hand; a frame far too small for the size it claims is not decoded.

use crate::budget::Share;
use crate::formats::flat::{self, McuMask, Source};
use crate::formats::jpeg::jpeg_dimensions;
use crate::relay::frame::Frame;
use crate::relay::hub::Hub;
use crate::sync::Locked;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why a camera frame gave the views no planes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecoded {
    Decode(flat::DecodeError),
    /// Its entropy-coded data is far too small for the size it claims: not worth a decode.
    Implausible {
        bytes: usize,
        width: u16,
        height: u16,
    },
    /// The decode of a frame this size would go over the views' memory budget.
    OverBudget(String),
}

impl std::fmt::Display for Undecoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecoded::Decode(e) => e.fmt(f),
            Undecoded::Implausible {
                bytes,
                width,
                height,
            } => write!(
                f,
                "the frame claims {width}×{height} in only {bytes} bytes, too few to be a picture"
            ),
            Undecoded::OverBudget(why) => f.write_str(why),
        }
    }
}

/// A camera frame's planes, or why there are none.
pub type Decoding = Result<Arc<Source>, Undecoded>;

/// Fewer bytes than this per pixel cannot be a baseline picture: every 8×8 block takes
/// at least a DC code and an end-of-block code, two bits, so even a flat grey frame has
/// about one byte per 170 pixels (4:2:0) or 256 (grey).
const MIN_PIXELS_PER_BYTE: usize = 512;

/// The newest camera frame decoded, shared by the views of one camera and kept only
/// while one of them runs (or a render is under way).
#[derive(Default)]
pub struct Decoded {
    state: Mutex<DecodeState>,
    failures: AtomicU64,
}

/// Where the decode draws its memory from: the views' budget.
pub trait Memory {
    /// `bytes` for what `what` names, or the sentence saying why not.
    fn reserve(&self, bytes: u64, what: &str) -> Result<Share, String>;
}

#[derive(Default)]
struct DecodeState {
    /// Running views and renders that read the decode.
    users: usize,
    /// The frame's sequence number, the MCUs its decode transformed (all: `None`), and
    /// its planes (or why there are none).
    newest: Option<(u64, Option<McuMask>, Decoding)>,
    /// Every MCU the views asked for since the first of them came (one camera frame
    /// size); the decode transforms these and skips the rest.
    wanted: Option<McuMask>,
    /// The decoder's buffer, kept from frame to frame.
    scratch: Vec<u8>,
    /// The budget share for decoding frames of this size.
    reserved: Option<((usize, usize), Share)>,
}

/// A reader of a camera's decode; the last one leaving frees its buffers.
pub struct DecodeUser(Arc<Decoded>);

impl Drop for DecodeUser {
    fn drop(&mut self) {
        let mut state = self.0.state.locked();
        state.users -= 1;
        if state.users == 0 {
            *state = DecodeState::default();
        }
    }
}

impl Decoded {
    /// Camera frames that gave the views no planes.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// A reader of the decode, with its memory drawn for the camera's frame size (the
    /// largest a camera sends, before its first frame) when it is the first.
    pub fn enter(
        self: &Arc<Self>,
        camera: &Hub,
        memory: &dyn Memory,
        what: &str,
    ) -> Result<DecodeUser, String> {
        let mut state = self.state.locked();
        if state.reserved.is_none() {
            let size = camera
                .latest()
                .and_then(|f| jpeg_dimensions(&f.jpeg))
                .map_or(
                    (flat::MAX_SOURCE_WIDTH, flat::MAX_SOURCE_HEIGHT),
                    |(w, h)| (usize::from(w), usize::from(h)),
                );
            let share = memory.reserve(flat::decode_bytes(size.0, size.1) as u64, what)?;
            state.reserved = Some((size, share));
        }
        state.users += 1;
        Ok(DecodeUser(self.clone()))
    }

    /// `frame` decoded, with at least the MCUs `need` marks (all without it): by the
    /// first view to ask, reused by the others.
    pub fn of(&self, frame: &Frame, memory: &dyn Memory, need: Option<&McuMask>) -> Decoding {
        let mut state = self.state.locked();
        if let Some((seq, covered, planes)) = state.newest.as_ref()
            && *seq == frame.seq
            && match (covered, need) {
                (None, _) => true,
                (Some(covered), Some(need)) => covered.covers(need),
                (Some(_), None) => false,
            }
        {
            return planes.clone();
        }
        // Read once: the mask's size and the decode's budget both go by it.
        let dimensions = jpeg_dimensions(&frame.jpeg);
        let size = dimensions.map(|(w, h)| (usize::from(w), usize::from(h)));
        let mask = need.filter(|m| Some(m.size()) == size).map(|need| {
            let wanted = match state.wanted.take() {
                Some(mut wanted) if wanted.size() == need.size() => {
                    wanted.add(need);
                    wanted
                }
                _ => need.clone(),
            };
            state.wanted = Some(wanted.clone());
            wanted
        });
        let result = Self::decode(&mut state, frame, dimensions, memory, mask.as_ref());
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        state.newest = Some((frame.seq, mask, result.clone()));
        result
    }

    /// `frame` (whose header says `dimensions`) decoded into the last frame's buffers
    /// when it can.
    fn decode(
        state: &mut DecodeState,
        frame: &Frame,
        dimensions: Option<(u16, u16)>,
        memory: &dyn Memory,
        need: Option<&McuMask>,
    ) -> Decoding {
        if let Some((w, h)) = dimensions {
            let size = (usize::from(w), usize::from(h));
            if frame.jpeg.len() < size.0 * size.1 / MIN_PIXELS_PER_BYTE {
                return Err(Undecoded::Implausible {
                    bytes: frame.jpeg.len(),
                    width: w,
                    height: h,
                });
            }
            if state.reserved.as_ref().is_none_or(|(s, _)| *s != size) && fits_decoder(size) {
                // The newest planes are of the old size: let them go with their share.
                state.newest = None;
                state.scratch = Vec::new();
                state.reserved = None;
                let bytes = flat::decode_bytes(size.0, size.1) as u64;
                let what = format!("Decoding the camera's {w}×{h} frames");
                let share = memory
                    .reserve(bytes, &what)
                    .map_err(Undecoded::OverBudget)?;
                state.reserved = Some((size, share));
            }
        }
        // The last frame's buffers, when no view still reads them: no allocation, no
        // fresh pages to fault in, for every frame.
        let mut planes = match state.newest.take() {
            Some((_, _, Ok(last))) => Arc::try_unwrap(last).unwrap_or_default(),
            _ => Source::default(),
        };
        flat::decode_needed(&frame.jpeg, &mut planes, &mut state.scratch, need)
            .map(|()| Arc::new(planes))
            .map_err(Undecoded::Decode)
    }
}

/// Whether the decoder takes frames of `size` at all (larger ones are refused unread).
fn fits_decoder((w, h): (usize, usize)) -> bool {
    w <= flat::MAX_SOURCE_WIDTH && h <= flat::MAX_SOURCE_HEIGHT
}
