//! The relay's streams over HTTP: `/video_feed` (every newest frame through the
//! fan-out, or `?fps=N` paced from the hub) and `/snapshot.jpg`. A viewer's thread
//! lives here: it writes only what the fan-out hands it and the parts of quiet spells,
//! each under the part deadline, until the viewer leaves or the relay stops.

use crate::formats::jpeg::jpeg_dimensions;
use crate::formats::{matroska, mjpeg};
use crate::relay::fanout::{Job, Outgoing};
use crate::relay::feed::Feed;
use crate::relay::frame::frames_missed;
use crate::relay::hub::ViewerGuard;
use crate::web::http::{DeadlineWriter, Response, Status};
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most frames a second a viewer may ask for with `?fps=N`.
pub const MAX_VIEWER_FPS: u32 = 60;

/// The stream; for HEAD only its headers, without counting a viewer (which would
/// open the camera for nobody).
pub fn video_feed(channel: Arc<dyn Feed>, head_only: bool, fps: Option<&str>) -> Response {
    live_stream(
        channel,
        (head_only, fps),
        mjpeg::STREAM_CONTENT_TYPE,
        |channel, out, min_gap| {
            out.write_all(mjpeg::STREAM_PREAMBLE.as_bytes())?;
            match min_gap {
                None => feed_viewer(channel, out),
                Some(gap) => feed_paced_viewer(channel, out, gap),
            }
        },
    )
}

/// What a viewer's thread does with its socket: the channel, the socket, `?fps=N` as
/// the shortest gap between two frames.
type Writer = fn(&dyn Feed, &mut TcpStream, Option<Duration>) -> io::Result<()>;

/// A live stream of `content_type` that `feed` writes: `?fps=N` checked, a place among
/// the viewers taken (not for HEAD, which gets only the headers and opens nothing), the
/// part deadline set, and the stream headers.
fn live_stream(
    channel: Arc<dyn Feed>,
    (head_only, fps): (bool, Option<&str>),
    content_type: &str,
    feed: Writer,
) -> Response {
    let min_gap = match min_gap(fps) {
        Ok(gap) => gap,
        Err(refused) => return refused,
    };
    if head_only {
        return stream_headers(Response::stream(content_type, Box::new(|_| Ok(()))));
    }
    let viewer = match join(&*channel) {
        Ok(viewer) => viewer,
        Err(refused) => return refused,
    };
    stream_headers(Response::stream(
        content_type,
        Box::new(move |out: &mut TcpStream| {
            let _viewer = viewer;
            // Each part gets `write` (see DeadlineWriter): the socket starts from it.
            out.set_write_timeout(Some(channel.timeouts().write))?;
            feed(&*channel, out, min_gap)
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

/// A place among the channel's viewers, or 503 when all are taken.
fn join(channel: &dyn Feed) -> Result<ViewerGuard, Response> {
    channel.hub().try_viewer(channel.max_viewers()).ok_or_else(|| {
        let most = channel.max_viewers();
        let (viewers, are) = if most == 1 {
            ("viewer", "is")
        } else {
            ("viewers", "are")
        };
        Response::error(
            Status::SERVICE_UNAVAILABLE,
            format!(
                "{most} {viewers} {are} already watching, the most this relay serves (--max-viewers)."
            ),
        )
    })
}

/// `/video.mkv`: the same frames, unchanged, in Matroska, each stamped with when the
/// relay received it, so players and ffmpeg keep the camera's real rate (an MJPEG
/// stream has no timestamps, and every player guesses 25 fps). `?fps=N` as for
/// `/video_feed`. Each viewer's thread takes the newest frame from the hub itself.
pub fn video_mkv(channel: Arc<dyn Feed>, head_only: bool, fps: Option<&str>) -> Response {
    live_stream(
        channel,
        (head_only, fps),
        matroska::CONTENT_TYPE,
        |channel, out, min_gap| feed_mkv_viewer(channel, out, min_gap.unwrap_or(Duration::ZERO)),
    )
}

/// Writes the Matroska stream: its head once the first frame tells the size, then every
/// newest frame (at most one per `min_gap`), and the quiet-spell frame while the camera
/// sends none, all stamped from the stream's start.
fn feed_mkv_viewer(channel: &dyn Feed, out: &mut TcpStream, min_gap: Duration) -> io::Result<()> {
    let hub = channel.hub();
    let t = channel.timeouts();
    let (mut seq, fresh) = hub.join(t.join_max_age);
    // The first frame gives the track's size: the camera's, once it sends one.
    let first = match fresh.or_else(|| hub.next_frame(seq, t.snapshot_wait)) {
        Some(frame) => {
            seq = frame.seq;
            frame.jpeg.clone()
        }
        None if hub.is_stopped() => return Ok(()),
        None => channel.quiet_jpeg(),
    };
    let (width, height) = jpeg_dimensions(&first).unwrap_or((1024, 512));
    let camera_fps = hub.reading().fps;
    let interval = if camera_fps >= 1.0 {
        Duration::from_secs_f64(1.0 / camera_fps)
    } else {
        Duration::from_secs(1) / 30
    };
    let frame_ns = interval.max(min_gap).as_nanos() as u64;
    let started = Instant::now();
    let mut clusters = matroska::Clusters::default();
    let mut write = |out: &mut TcpStream, jpeg: &[u8], at: Instant| -> io::Result<()> {
        let at_ms = at.saturating_duration_since(started).as_millis() as u64;
        let head = clusters.before_frame(at_ms, jpeg.len());
        let mut writer = DeadlineWriter::new(out, t.write);
        writer.write_all(&head)?;
        writer.write_all(jpeg)?;
        hub.deliveries().count(1, jpeg.len() as u64, 0);
        Ok(())
    };
    DeadlineWriter::new(out, t.write).write_all(&matroska::stream_head(width, height, frame_ns))?;
    write(out, &first, started)?;
    let mut next_allowed = Instant::now() + min_gap;
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
            None => write(out, &channel.quiet_jpeg(), Instant::now())?,
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
/// channel stops. This thread writes only what the fan-out hands it (the rest of a
/// part its socket could not take at once, a frame that came meanwhile) and the
/// parts of quiet spells. Each part must be taken whole within the write timeout,
/// or the viewer is dropped.
fn feed_viewer(channel: &dyn Feed, out: &mut TcpStream) -> io::Result<()> {
    let t = channel.timeouts();
    let (seq, fresh) = channel.hub().join(t.join_max_age);
    let first = fresh.map(|f| Outgoing::of(&f));
    let membership = channel.fanout().join(out, seq, first);
    let deliveries = channel.hub().deliveries();
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
            Job::Quiet => write_quiet_part(channel, out)?,
            Job::Stop => return Ok(()),
        }
    }
}

/// `?fps=N`: this viewer's thread takes the newest frame from the hub itself, at
/// most once per `min_gap`: fewer frames for it, the same for everyone else.
fn feed_paced_viewer(channel: &dyn Feed, out: &mut TcpStream, min_gap: Duration) -> io::Result<()> {
    let hub = channel.hub();
    let t = channel.timeouts();
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
            write_quiet_part(channel, out)?;
        }
    }
}

/// The camera is quiet: what the channel shows meanwhile, under the part deadline.
fn write_quiet_part(channel: &dyn Feed, out: &mut TcpStream) -> io::Result<()> {
    let part = channel.quiet_part();
    part.write_from(&mut DeadlineWriter::new(out, channel.timeouts().write), 0)?;
    channel
        .hub()
        .deliveries()
        .count(1, part.jpeg_len() as u64, 0);
    Ok(())
}

/// The newest frame as a JPEG, or 503 with the reason when none comes in time.
pub fn snapshot(channel: &dyn Feed) -> Response {
    let t = channel.timeouts();
    match channel.hub().snapshot(t.snapshot_max_age, t.snapshot_wait) {
        Some(frame) => Response::shared(Status::OK, "image/jpeg", frame.jpeg.clone())
            .with_header("Cache-Control", "no-store")
            .with_header("X-Timestamp", format!("{:.6}", frame.timestamp_secs())),
        None => {
            let why = channel
                .hub()
                .reading()
                .counts
                .last_error
                .map_or_else(|| "the camera sent no frame".into(), |e| e.to_string());
            Response::error(
                Status::SERVICE_UNAVAILABLE,
                format!("No frame arrived within {:?}: {why}.", t.snapshot_wait),
            )
        }
    }
}
