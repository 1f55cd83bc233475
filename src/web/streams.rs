//! The streams of any feed (a camera's, or one of its flat views) over HTTP:
//! `video_feed` (every newest frame through the fan-out, or `?fps=N` paced from the
//! hub), `video.mkv` and `snapshot.jpg`. A viewer's thread lives here: it writes only
//! what the fan-out hands it and the parts of quiet spells, each under the part
//! deadline, until the viewer leaves or the relay stops.

use crate::budget::Share;
use crate::formats::jpeg::jpeg_dimensions;
use crate::formats::{matroska, mjpeg};
use crate::http::{DeadlineWriter, Response, Status};
use crate::relay::fanout::{Job, Outgoing};
use crate::relay::feed::{Feed, Refused, Viewer};
use crate::relay::frame::{Frame, frames_missed};
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A share of the camera-wait budget: whatever waits on a camera for a frame takes one
/// (see `Routes::camera_wait`), so no route can wait without it.
pub struct CameraWait(
    #[expect(
        dead_code,
        reason = "held for its drop: the share goes back with the answer"
    )]
    pub(crate) Share,
);

/// Most frames a second a viewer may ask for with `?fps=N`.
pub const MAX_VIEWER_FPS: u32 = 60;

/// The stream; for HEAD only its headers, without counting a viewer (which would
/// open the camera for nobody).
pub fn video_feed(feed: Arc<Feed>, head_only: bool, fps: Option<&str>) -> Response {
    live_stream(
        feed,
        (head_only, fps),
        mjpeg::STREAM_CONTENT_TYPE,
        |feed, out, min_gap| {
            out.write_all(mjpeg::STREAM_PREAMBLE.as_bytes())?;
            match min_gap {
                None => feed_viewer(feed, out),
                Some(gap) => feed_paced_viewer(feed, out, gap),
            }
        },
    )
}

/// What a viewer's thread does with its socket: the feed, the socket, `?fps=N` as
/// the shortest gap between two frames.
type Writer = fn(&Feed, &mut TcpStream, Option<Duration>) -> io::Result<()>;

/// A live stream of `content_type` of `feed` that `writer` writes: `?fps=N` checked, a
/// place among the viewers taken (not for HEAD, which gets only the headers and opens
/// nothing), the part deadline set, and the stream headers.
fn live_stream(
    feed: Arc<Feed>,
    (head_only, fps): (bool, Option<&str>),
    content_type: &str,
    writer: Writer,
) -> Response {
    let min_gap = match min_gap(fps) {
        Ok(gap) => gap,
        Err(refused) => return refused,
    };
    if head_only {
        return stream_headers(Response::stream(content_type, Box::new(|_| Ok(()))));
    }
    let viewer = match join(&feed) {
        Ok(viewer) => viewer,
        Err(refused) => return refused,
    };
    stream_headers(Response::stream(
        content_type,
        Box::new(move |out: &mut TcpStream| {
            let _viewer = viewer;
            // Each part gets `write` (see DeadlineWriter): the socket starts from it.
            out.set_write_timeout(Some(feed.timeouts().write))?;
            writer(&feed, out, min_gap)
        }),
    ))
}

/// `?fps=N` as the shortest gap between two frames; 400 with the range when it is wrong.
fn min_gap(fps: Option<&str>) -> Result<Option<Duration>, Response> {
    match fps.map(str::parse::<u32>) {
        None => Ok(None),
        Some(Ok(n)) if (1..=MAX_VIEWER_FPS).contains(&n) => Ok(Some(Duration::from_secs(1) / n)),
        Some(_) => Err(Response::error(
            Status::BAD_REQUEST,
            format!("fps is a number of frames a second from 1 to {MAX_VIEWER_FPS}."),
        )),
    }
}

/// A place among the feed's viewers, or 503 with the reason (all places taken, or the
/// feed's producer could not start).
fn join(feed: &Feed) -> Result<Viewer, Response> {
    feed.join().map_err(|refused: Refused| {
        Response::error(Status::SERVICE_UNAVAILABLE, refused.to_string())
            .with_header("Retry-After", "5")
    })
}

/// `/video.mkv`: the same frames, unchanged, in Matroska, each stamped with when the
/// relay received it, so players and ffmpeg keep the camera's real rate (an MJPEG
/// stream has no timestamps, and every player guesses 25 fps). `?fps=N` as for
/// `/video_feed`. Each viewer's thread takes the newest frame from the hub itself.
pub fn video_mkv(feed: Arc<Feed>, head_only: bool, fps: Option<&str>) -> Response {
    live_stream(
        feed,
        (head_only, fps),
        matroska::CONTENT_TYPE,
        |feed, out, min_gap| feed_mkv_viewer(feed, out, min_gap.unwrap_or(Duration::ZERO)),
    )
}

/// Frames whose arrival a `video.mkv` viewer measures the rate from, when it joins a
/// feed that has no recent rate (the first viewer of a camera, for one).
const RATE_FRAMES: usize = 5;
/// How long a joining `video.mkv` viewer collects frames for the rate, at most.
const RATE_WAIT: Duration = Duration::from_secs(2);

/// The first frames of a `video.mkv` stream, and the frame interval they show: the
/// feed's rate when it has a recent one, else measured from the arrival of the frames
/// collected here (a camera over Wi-Fi often sends fewer than its format says). `None`
/// when fewer than two frames came: the stamps alone then say the rate.
fn first_frames(
    feed: &Feed,
    seq: &mut u64,
    fresh: Option<Arc<Frame>>,
) -> (Vec<Arc<Frame>>, Option<Duration>) {
    let hub = feed.hub();
    let t = feed.timeouts();
    let mut frames: Vec<Arc<Frame>> = fresh.into_iter().collect();
    let known = hub.reading().fps;
    if known >= 1.0 && !frames.is_empty() {
        return (frames, Some(Duration::from_secs_f64(1.0 / known)));
    }
    let deadline = Instant::now() + RATE_WAIT.max(t.snapshot_wait);
    while frames.len() < RATE_FRAMES {
        let left = deadline.saturating_duration_since(Instant::now());
        // Once one frame is here, collect for the rate only as long as RATE_WAIT.
        let left = if frames.is_empty() {
            left
        } else {
            left.min(RATE_WAIT)
        };
        match hub.next_frame(*seq, left) {
            Some(frame) => {
                *seq = frame.seq;
                frames.push(frame);
            }
            None => break,
        }
    }
    // The median gap: the first frames of a camera just opened (or of a view building
    // its table) may come in a burst or late, and must not set the rate.
    let mut gaps: Vec<Duration> = frames
        .windows(2)
        .map(|w| w[1].received_at.saturating_duration_since(w[0].received_at))
        .collect();
    gaps.sort();
    let interval = gaps.get(gaps.len() / 2).copied().filter(|g| !g.is_zero());
    (frames, interval)
}

/// Writes the Matroska stream: its head once the first frames tell the size and the
/// rate, then every newest frame (at most one per `min_gap`), and the quiet-spell frame
/// while the camera sends none, each stamped with when it arrived, from the first
/// frame's arrival on.
fn feed_mkv_viewer(feed: &Feed, out: &mut TcpStream, min_gap: Duration) -> io::Result<()> {
    let hub = feed.hub();
    let t = feed.timeouts();
    let (mut seq, fresh) = hub.join(t.join_max_age);
    let (first, interval) = first_frames(feed, &mut seq, fresh);
    if first.is_empty() && hub.is_stopped() {
        return Ok(());
    }
    let quiet_first = first.is_empty().then(|| feed.quiet_jpeg());
    let size_of = first
        .first()
        .map_or_else(|| quiet_first.clone(), |f| Some(f.jpeg.clone()));
    let (width, height) = size_of
        .and_then(|jpeg| jpeg_dimensions(&jpeg))
        .unwrap_or((1024, 512));
    let frame_ns = interval.map(|i| i.max(min_gap).as_nanos() as u64);
    let started = first.first().map_or_else(Instant::now, |f| f.received_at);
    let mut clusters = matroska::Clusters::default();
    let mut last_ms: Option<u64> = None;
    let mut write = |out: &mut TcpStream, jpeg: &[u8], at: Instant| -> io::Result<()> {
        // Stamps only ever grow: a frame that arrived in the same millisecond gets the next.
        let at_ms = at.saturating_duration_since(started).as_millis() as u64;
        let at_ms = last_ms.map_or(at_ms, |last| at_ms.max(last + 1));
        last_ms = Some(at_ms);
        let head = clusters.before_frame(at_ms, jpeg.len());
        let mut writer = DeadlineWriter::new(out, t.write);
        writer.write_all(&head)?;
        writer.write_all(jpeg)?;
        hub.deliveries().count(1, jpeg.len() as u64, 0);
        Ok(())
    };
    DeadlineWriter::new(out, t.write).write_all(&matroska::stream_head(width, height, frame_ns))?;
    if let Some(jpeg) = quiet_first {
        write(out, &jpeg, started)?;
    }
    let mut next_allowed = Instant::now();
    for frame in first {
        if frame.received_at >= next_allowed || min_gap.is_zero() {
            write(out, &frame.jpeg, frame.received_at)?;
            next_allowed = frame.received_at + min_gap;
        }
    }
    loop {
        let wait = next_allowed.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        next_allowed = Instant::now().max(next_allowed) + min_gap;
        match hub.next_frame(seq, t.keepalive) {
            Some(frame) => {
                write(out, &frame.jpeg, frame.received_at)?;
                seq = frame.seq;
            }
            None if hub.is_stopped() => return Ok(()),
            None => write(out, &feed.quiet_jpeg(), Instant::now())?,
        }
    }
}

/// What every live stream answers with: never cached, and never buffered by a proxy
/// (nginx holds each part until the next one unless told so; others ignore it).
fn stream_headers(response: Response) -> Response {
    response
        .with_header("Cache-Control", "no-store, no-cache, must-revalidate")
        .with_header("Pragma", "no-cache")
        .with_header("X-Accel-Buffering", "no")
}

/// Feeds one viewer every newest frame through the fan-out until it goes or the
/// feed stops. This thread writes only what the fan-out hands it (the rest of a
/// part its socket could not take at once, a frame that came meanwhile) and the
/// parts of quiet spells. Each part must be taken whole within the write timeout,
/// or the viewer is dropped.
fn feed_viewer(feed: &Feed, out: &mut TcpStream) -> io::Result<()> {
    let t = feed.timeouts();
    let (seq, fresh) = feed.hub().join(t.join_max_age);
    let first = fresh.map(|f| Outgoing::of(&f));
    let membership = feed.fanout().join(out, seq, first);
    let deliveries = feed.hub().deliveries();
    loop {
        match membership.next_job(t.keepalive)? {
            Job::Write {
                outgoing,
                offset,
                skipped,
            } => {
                let part = &outgoing.part;
                part.write_from(&mut DeadlineWriter::new(out, t.write), offset)?;
                deliveries.count(1, part.jpeg_len() as u64, skipped);
            }
            Job::Quiet => write_quiet_part(feed, out)?,
            Job::Stop => return Ok(()),
        }
    }
}

/// `?fps=N`: this viewer's thread takes the newest frame from the hub itself, at
/// most once per `min_gap`: fewer frames for it, the same for everyone else.
fn feed_paced_viewer(feed: &Feed, out: &mut TcpStream, min_gap: Duration) -> io::Result<()> {
    let hub = feed.hub();
    let t = feed.timeouts();
    // The fresh frame, if any, comes from the hub's wait below, at this viewer's pace.
    let (mut seq, _) = hub.join(t.join_max_age);
    let mut next_allowed = Instant::now();
    loop {
        let wait = next_allowed.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        next_allowed = Instant::now().max(next_allowed) + min_gap;
        if let Some(frame) = hub.next_frame(seq, t.keepalive) {
            frame
                .part()
                .write_from(&mut DeadlineWriter::new(out, t.write), 0)?;
            let skipped = frames_missed(seq, frame.seq);
            hub.deliveries().count(1, frame.jpeg.len() as u64, skipped);
            seq = frame.seq;
        } else if hub.is_stopped() {
            return Ok(());
        } else {
            write_quiet_part(feed, out)?;
        }
    }
}

/// The camera is quiet: what the feed shows meanwhile, under the part deadline.
fn write_quiet_part(feed: &Feed, out: &mut TcpStream) -> io::Result<()> {
    let part = feed.quiet_part();
    part.write_from(&mut DeadlineWriter::new(out, feed.timeouts().write), 0)?;
    feed.hub().deliveries().count(1, part.jpeg_len() as u64, 0);
    Ok(())
}

/// The newest frame as a JPEG, or 503 with the reason when none comes in time. It may
/// wait on the camera, so it takes a camera wait.
pub fn snapshot(feed: &Feed, _waiting: &CameraWait) -> Response {
    match feed.snapshot() {
        Ok(frame) => Response::shared(Status::OK, "image/jpeg", frame.jpeg.clone())
            .with_header("Cache-Control", "no-store")
            .with_header("X-Timestamp", format!("{:.6}", frame.timestamp_secs())),
        Err(why) => Response::error(Status::SERVICE_UNAVAILABLE, why),
    }
}
