//! The simulated camera's live preview: its loop of test pictures played at the preview
//! framerate in THETA's exact multipart format, each JPEG stamped with its sequence
//! number and the moment it was written, and the faults a broken camera shows.

use super::{Faults, MAX_SILENCE, SimCamera, pattern};
use crate::formats::mjpeg::THETA_BOUNDARY;
use crate::formats::osc::PreviewFormat;
use crate::sync::Locked;
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One loop second of frames (at most 30 distinct pictures). Formats come only from the
/// supported list, whose sizes fit a JPEG's 16-bit dimensions.
pub(super) fn render_for(format: PreviewFormat) -> Vec<Arc<[u8]>> {
    let side = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
    pattern::render_loop(
        side(format.width),
        side(format.height),
        format.framerate.clamp(1, 30) as usize,
    )
}

/// How preview parts are delimited.
#[derive(Debug, Clone, Copy)]
pub(super) enum Delimiter {
    /// THETA's: the bare boundary `---osclivepreview---` as the delimiter line.
    Theta,
    /// RFC 2046's: `--frame`.
    Conventional,
}

impl Delimiter {
    pub(super) fn content_type(self) -> String {
        match self {
            Delimiter::Theta => format!("multipart/x-mixed-replace; boundary=\"{THETA_BOUNDARY}\""),
            Delimiter::Conventional => "multipart/x-mixed-replace; boundary=frame".into(),
        }
    }

    fn line(self) -> &'static str {
        match self {
            Delimiter::Theta => THETA_BOUNDARY,
            Delimiter::Conventional => "--frame",
        }
    }
}

/// One running live preview: the loop of pictures it plays and the generation it belongs to.
pub(super) struct PreviewRun {
    pub(super) delimiter: Delimiter,
    pub(super) generation: u64,
    pub(super) period: Duration,
    pub(super) frames: Arc<Vec<Arc<[u8]>>>,
}

impl PreviewRun {
    pub(super) fn run(self, camera: &SimCamera, out: &mut TcpStream) -> io::Result<()> {
        let counters = &camera.counters;
        counters.previews_running.fetch_add(1, Ordering::SeqCst);
        let result = self.play(camera, out);
        counters.previews_running.fetch_sub(1, Ordering::SeqCst);
        if result.is_err() {
            // The link dropped: a level-1 camera forgets clientVersion, as a THETA S does.
            let mut api = camera.api.locked();
            if api.speaks_level_1 {
                api.level = 1;
                api.session = None;
            }
        }
        result
    }

    fn play(&self, camera: &SimCamera, out: &mut TcpStream) -> io::Result<()> {
        let faults = &camera.faults;
        let mut next = Instant::now();
        for i in 0.. {
            if faults.killed.load(Ordering::SeqCst) {
                return Err(io::ErrorKind::ConnectionAborted.into());
            }
            if faults.go_silent.swap(false, Ordering::SeqCst) {
                return hold_silently(out, faults);
            }
            if camera.preview_generation.load(Ordering::SeqCst) != self.generation {
                // A picture or a format change ends the preview: last chunk, then close.
                out.write_all(b"0\r\n\r\n")?;
                return Ok(());
            }
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else if now - next > self.period * 4 {
                next = now; // fell far behind (a slow reader): do not burst to catch up
            }
            next += self.period;
            let seq = camera.next_frame_seq.fetch_add(1, Ordering::Relaxed);
            let jpeg = &self.frames[i % self.frames.len()];
            let stamp = stamp_segment(seq);
            let junk = if take_one(&faults.garbage_parts) {
                garbage()
            } else {
                Vec::new()
            };
            let head = format!(
                "{}\r\nContent-type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                self.delimiter.line(),
                jpeg.len() + stamp.len()
            );
            let part_len = junk.len() + head.len() + jpeg.len() + stamp.len() + 2;
            let declared = if faults.lying_chunk.swap(false, Ordering::SeqCst) {
                part_len + 64
            } else {
                part_len
            };
            // One buffer, one copy of the JPEG: the camera's own cost stays honest as the
            // benchmark's baseline. The stamp goes right after SOI.
            let mut chunk = Vec::with_capacity(part_len + 16);
            chunk.extend_from_slice(format!("{declared:X}\r\n").as_bytes());
            chunk.extend_from_slice(&junk);
            chunk.extend_from_slice(head.as_bytes());
            chunk.extend_from_slice(&jpeg[..2]);
            chunk.extend_from_slice(&stamp);
            chunk.extend_from_slice(&jpeg[2..]);
            chunk.extend_from_slice(b"\r\n\r\n");
            if faults.die_mid_frame.swap(false, Ordering::SeqCst) {
                out.write_all(&chunk[..chunk.len() / 2])?;
                return Err(io::ErrorKind::ConnectionAborted.into());
            }
            out.write_all(&chunk)?;
            camera.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Junk a broken camera or network might put between parts: stray lines, a lone SOI,
/// bytes that are not UTF-8, and a part whose body is not a JPEG.
fn garbage() -> Vec<u8> {
    let mut junk = b"\r\nGARBAGE\xff\xd8\xff\xe0 junk\r\n\x00\x01\xfe\xff\xd9\r\n".to_vec();
    junk.extend_from_slice(THETA_BOUNDARY.as_bytes());
    junk.extend_from_slice(
        b"\r\nContent-type: image/jpeg\r\nContent-Length: 10\r\n\r\nNOTAJPEG!!\r\n",
    );
    junk
}

fn take_one(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Keeps the connection open without sending, like a camera that fell asleep, until the
/// client gives up (or the camera is switched off).
fn hold_silently(out: &mut TcpStream, faults: &Faults) -> io::Result<()> {
    out.set_read_timeout(Some(Duration::from_millis(100)))?;
    let until = Instant::now() + MAX_SILENCE;
    let mut probe = [0u8; 1];
    while Instant::now() < until && !faults.killed.load(Ordering::SeqCst) {
        match out.peek(&mut probe) {
            Ok(0) => return Ok(()), // the client closed
            Ok(_) => thread::sleep(Duration::from_millis(100)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::ErrorKind::ConnectionAborted.into())
}

/// Prefix of the COM segment the simulator stamps into every preview frame.
pub const STAMP_PREFIX: &str = "oscstream-sim ";

/// A COM segment `oscstream-sim seq=N t_us=T`, stamped now, to go right after SOI.
fn stamp_segment(seq: u64) -> Vec<u8> {
    let t_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let text = format!("{STAMP_PREFIX}seq={seq} t_us={t_us}");
    let len = (text.len() + 2) as u16;
    let mut segment = Vec::with_capacity(text.len() + 4);
    segment.extend_from_slice(&[0xFF, 0xFE]);
    segment.extend_from_slice(&len.to_be_bytes());
    segment.extend_from_slice(text.as_bytes());
    segment
}

/// Reads the simulator's stamp back: `(seq, microseconds since the epoch when the camera wrote it)`.
pub fn read_stamp(jpeg: &[u8]) -> Option<(u64, u128)> {
    if jpeg.get(2..4)? != [0xFF, 0xFE] {
        return None;
    }
    let len = u16::from_be_bytes([*jpeg.get(4)?, *jpeg.get(5)?]) as usize;
    let text = std::str::from_utf8(jpeg.get(6..4 + len)?).ok()?;
    let rest = text.strip_prefix(STAMP_PREFIX)?;
    let mut seq = None;
    let mut t_us = None;
    for field in rest.split(' ') {
        match field.split_once('=') {
            Some(("seq", v)) => seq = v.parse().ok(),
            Some(("t_us", v)) => t_us = v.parse().ok(),
            _ => {}
        }
    }
    Some((seq?, t_us?))
}
