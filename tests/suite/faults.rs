//! Fault injection through real sockets: a camera that dies, sleeps, vanishes, sends
//! junk or stales its nonce, and clients that stall or attack. Each test checks that
//! viewers connected before are still connected after, that they only ever received
//! whole JPEGs with exact lengths (the strict reader in `common` checks every part),
//! that the stream resumed in the promised time, and that `/status` told the truth.

use crate::common::*;
use oscstream::sim::{Fault, SimConfig, Simulator};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What a background viewer saw: when each part arrived and the camera's frame number
/// (`None` for a frame the relay made itself, like NO SIGNAL).
type Seen = Arc<Mutex<Vec<(Instant, Option<u64>)>>>;

/// A viewer reading in the background until dropped; its thread panics (failing the
/// test at `finish`) on any part that is not a whole JPEG with an exact length.
struct Watcher {
    seen: Seen,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(relay: SocketAddr) -> Watcher {
        let seen: Seen = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let mut viewer = Viewer::connect(relay, "/video_feed");
        let (s, st) = (seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let part = viewer.next_part();
                let seq = oscstream::sim::read_stamp(&part.jpeg).map(|(seq, _)| seq);
                s.lock().unwrap().push((part.arrived, seq));
            }
        });
        Watcher {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits for a new camera frame (not a repeat) that arrived after `since`.
    fn wait_camera_frame_after(&self, since: Instant, limit: Duration) -> Instant {
        wait_for(limit, "new camera frames to reach the viewer", || {
            let seen = self.seen.lock().unwrap();
            let known = seen
                .iter()
                .filter(|(t, _)| *t <= since)
                .filter_map(|(_, s)| *s)
                .max()
                .unwrap_or(0);
            seen.iter()
                .find(|(t, s)| *t > since && s.is_some_and(|s| s > known))
                .map(|(t, _)| *t)
        })
    }

    fn longest_gap_between(&self, from: Instant, to: Instant) -> Duration {
        let seen = self.seen.lock().unwrap();
        let times: Vec<Instant> = seen
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| *t >= from && *t <= to)
            .collect();
        times
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default()
    }

    fn relay_made_frames_after(&self, since: Instant) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(t, s)| *t > since && s.is_none())
            .count()
    }

    /// Stops reading and surfaces any failure of the reader thread.
    fn finish(mut self) -> Vec<(Instant, Option<u64>)> {
        self.stop.store(true, Ordering::SeqCst);
        if let Err(panic) = self.thread.take().unwrap().join() {
            std::panic::resume_unwind(panic);
        }
        self.seen.lock().unwrap().clone()
    }
}

fn streaming_pair() -> (Simulator, oscstream::app::relay::Relay, Watcher, Watcher) {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let a = Watcher::start(relay.addr());
    let b = Watcher::start(relay.addr());
    a.wait_camera_frame_after(Instant::now(), Duration::from_secs(5));
    b.wait_camera_frame_after(Instant::now(), Duration::from_secs(5));
    (sim, relay, a, b)
}

#[test]
fn a_camera_dying_mid_frame_costs_viewers_nothing_but_a_pause() {
    let (sim, relay, a, b) = streaming_pair();
    let before = status(&relay);
    let t = Instant::now();
    sim.inject(Fault::DieMidFrame);
    a.wait_camera_frame_after(t + Duration::from_millis(100), Duration::from_secs(2));
    b.wait_camera_frame_after(t + Duration::from_millis(100), Duration::from_secs(2));
    let s = status(&relay);
    assert_eq!(s["viewers"], 2, "both viewers are still connected");
    assert!(
        s["frames_dropped"].as_u64() > before["frames_dropped"].as_u64(),
        "the cut frame was dropped and counted: {s}"
    );
    assert!(s["reconnects"].as_u64().unwrap() >= 1);
    assert!(sim.counters().preview_requests.load(Ordering::SeqCst) >= 2);
    a.finish();
    b.finish();
}

#[test]
fn a_silent_camera_is_detected_viewers_are_fed_meanwhile_and_it_reconnects() {
    let (sim, relay, a, b) = streaming_pair();
    let t = Instant::now();
    sim.inject(Fault::GoSilent);
    // After 3 s without frames the relay says so, to viewers and in /status.
    let s = wait_for(Duration::from_secs(6), "status to go offline", || {
        let s = status(&relay);
        (s["online"] == false).then_some(s)
    });
    assert!(
        s["offline_reason"].as_str().unwrap().contains("no frame"),
        "{s}"
    );
    // The 5 s read timeout ends the silent connection and the relay opens a new one.
    let back = a.wait_camera_frame_after(t + Duration::from_secs(1), Duration::from_secs(10));
    assert!(
        back - t < Duration::from_secs(8),
        "resumed after {:?}",
        back - t
    );
    b.wait_camera_frame_after(t + Duration::from_secs(1), Duration::from_secs(2));
    assert!(
        a.relay_made_frames_after(t) >= 1,
        "viewers saw NO SIGNAL while it was silent"
    );
    assert!(
        a.longest_gap_between(t, back) <= Duration::from_millis(1500),
        "a frame at least once a second during the outage"
    );
    let s = status(&relay);
    assert_eq!(
        (s["viewers"].as_u64(), s["online"].as_bool()),
        (Some(2), Some(true))
    );
    a.finish();
    b.finish();
}

#[test]
fn a_camera_switched_off_and_on_again_streams_to_the_same_viewers() {
    let (sim, relay, a, b) = streaming_pair();
    let camera = sim.addr();
    let t = Instant::now();
    sim.kill();
    let s = wait_for(
        Duration::from_secs(6),
        "status to report the camera gone",
        || {
            let s = status(&relay);
            (s["online"] == false && s["offline_reason"].as_str()?.contains("cannot reach"))
                .then_some(s)
        },
    );
    assert_eq!(s["upstream"], "retrying");
    assert_eq!(s["viewers"], 2);
    let off = t.elapsed();
    let _again = Simulator::start(SimConfig {
        listen: camera.to_string(),
        ..sim_config()
    })
    .expect("the camera comes back on the same address");
    let on = Instant::now();
    let back = a.wait_camera_frame_after(on, Duration::from_secs(8));
    b.wait_camera_frame_after(on, Duration::from_secs(3));
    // Off for `off`, so the backoff step is at most twice that (capped at 5 s).
    let step = (off * 2).min(Duration::from_secs(5)) + Duration::from_secs(1);
    assert!(
        back - on <= step,
        "back after {:?}, step {step:?}",
        back - on
    );
    assert!(a.longest_gap_between(t, back) <= Duration::from_millis(1500));
    a.finish();
    b.finish();
}

#[test]
fn garbage_between_parts_is_dropped_and_counted_and_frames_keep_coming() {
    let (sim, relay, a, b) = streaming_pair();
    let t = Instant::now();
    sim.inject(Fault::GarbageBetweenParts);
    wait_for(
        Duration::from_secs(5),
        "the bogus parts to be counted",
        || (status(&relay)["frames_dropped"].as_u64()? >= 3).then_some(()),
    );
    let later = a.wait_camera_frame_after(t + Duration::from_millis(300), Duration::from_secs(2));
    assert!(a.longest_gap_between(t, later) < Duration::from_millis(500));
    assert_eq!(
        sim.counters().preview_requests.load(Ordering::SeqCst),
        1,
        "junk does not break the connection"
    );
    a.finish();
    b.finish();
}

#[test]
fn a_stale_nonce_is_answered_again_once_and_streaming_resumes() {
    let (id, pwd) = ("THETAYL00103139", "00103139");
    let sim = start_sim_with(SimConfig {
        credentials: Some(oscstream::formats::osc::Credentials::new(id, pwd)),
        ..sim_config()
    });
    let relay = start_relay(camera_at(sim.addr(), Some((id, pwd))));
    let a = Watcher::start(relay.addr());
    a.wait_camera_frame_after(Instant::now(), Duration::from_secs(5));
    let refused_before = sim.counters().unauthorized.load(Ordering::SeqCst);
    sim.inject(Fault::StaleNonce);
    let t = Instant::now();
    sim.inject(Fault::DieMidFrame); // makes the relay log in again with its old nonce
    a.wait_camera_frame_after(t + Duration::from_millis(100), Duration::from_secs(3));
    assert_eq!(
        sim.counters().unauthorized.load(Ordering::SeqCst),
        refused_before + 1,
        "exactly one stale answer, then the new nonce worked"
    );
    let s = status(&relay);
    assert!(!s["last_error"].to_string().contains("--pwd"), "{s}");
    a.finish();
}

#[test]
fn a_viewer_that_stops_reading_costs_the_others_nothing() {
    // The relay runs as its own process so its memory can be read apart from the tests';
    // its simulated camera sends real-sized 1024×512 frames, which fill the stalled socket quickly.
    let (relay, url) = start_binary(&["--simulate", "--listen", "127.0.0.1:0"], "open http://");
    let addr = addr_of(&url);
    let mut stalled = TcpStream::connect(addr).unwrap();
    write!(
        stalled,
        "GET /video_feed HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let a = Watcher::start(addr);
    let b = Watcher::start(addr);
    a.wait_camera_frame_after(Instant::now(), Duration::from_secs(5));
    let rss_before = rss_bytes(relay.0.id());
    thread::sleep(Duration::from_millis(2500)); // the measurement window, not synchronisation
    let (sa, sb) = (a.finish(), b.finish());
    for seen in [sa, sb] {
        let seqs: Vec<u64> = seen.iter().filter_map(|(_, s)| *s).collect();
        let span = seqs.last().unwrap() - seqs.first().unwrap() + 1;
        let share = seqs.len() as f64 / span as f64;
        assert!(
            share >= 0.95,
            "a reading viewer got {:.1}% of frames",
            share * 100.0
        );
    }
    let grown = rss_bytes(relay.0.id()).saturating_sub(rss_before);
    assert!(
        grown < 4 << 20,
        "memory stays flat: grew {} KiB",
        grown >> 10
    );
    drop(stalled);
}

#[test]
fn a_viewer_that_reads_in_bursts_gets_whole_parts_and_skips_instead_of_queueing() {
    // Real-sized frames, so that a pause fills the socket and the fan-out hands the rest
    // of a part to the viewer's own thread, which finishes it while newer frames wait
    // as "next" (only the newest).
    let sim = start_sim_with(SimConfig {
        width: 1024,
        height: 512,
        ..sim_config()
    });
    let relay = start_relay(camera_at(sim.addr(), None));
    let steady = Watcher::start(relay.addr());
    let mut bursty = Viewer::connect(relay.addr(), "/video_feed");
    let pause = Duration::from_millis(1200);
    let mut seqs = Vec::new();
    let mut fresh_after_pause = Vec::new();
    for _ in 0..3 {
        for _ in 0..10 {
            seqs.push(bursty.next_camera_part().camera_seq());
        }
        // The reader's pause is the behaviour under test, not synchronisation.
        thread::sleep(pause);
        let resumed = Instant::now();
        // What the socket buffers held comes first; then the newest frame, not a queue.
        let caught_up = (1..=60)
            .find(|_| {
                let part = bursty.next_camera_part();
                seqs.push(part.camera_seq());
                let (_, stamped_us) = oscstream::sim::read_stamp(&part.jpeg).unwrap();
                let now_us = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_micros();
                now_us.saturating_sub(stamped_us) < 100_000
            })
            .expect("the viewer catches up with the camera");
        fresh_after_pause.push((caught_up, resumed.elapsed()));
    }
    let steady_seen = steady.finish();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "frames only ever go forward: {seqs:?}"
    );
    let largest_skip = seqs.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    let metrics = metrics_text(relay.addr());
    let handed_over = metric(
        &metrics,
        "oscstream_parts_handed_over_total{camera=\"main\"}",
    );
    let skipped = metric(&metrics, "oscstream_frames_skipped_total{camera=\"main\"}");
    println!(
        "parts read until fresh after each {pause:?} pause: {fresh_after_pause:?}; largest skip {largest_skip}; handed over {handed_over}; skipped {skipped}"
    );
    assert!(handed_over > 0.0, "a full socket hands the part over");
    assert!(
        largest_skip > 10,
        "a paused viewer skips frames instead of queueing them: {seqs:?}"
    );
    let steady_seqs: Vec<u64> = steady_seen.iter().filter_map(|(_, s)| *s).collect();
    let span = steady_seqs.last().unwrap() - steady_seqs.first().unwrap() + 1;
    assert!(
        steady_seqs.len() as f64 >= 0.95 * span as f64,
        "the steady viewer got {} of {span} frames",
        steady_seqs.len()
    );
}

#[test]
fn a_viewer_that_stops_reading_is_dropped_soon_after_the_write_timeout() {
    // Small frames at 30 fps: before the send buffer was bounded, the kernel's buffers
    // took tens of seconds to fill, and only then did the write timeout start counting.
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let addr = relay.addr();
    let reading = Watcher::start(addr);
    reading.wait_camera_frame_after(Instant::now(), Duration::from_secs(5));
    let mut stalled = TcpStream::connect(addr).unwrap();
    write!(
        stalled,
        "GET /video_feed HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    wait_for(
        Duration::from_secs(5),
        "the stalled viewer to count",
        || (status(&relay)["viewers"] == 2).then_some(()),
    );
    let t = Instant::now();
    let write_timeout = test_timeouts().write;
    wait_for(
        write_timeout * 3,
        "the stalled viewer to be dropped",
        || (status(&relay)["viewers"] == 1).then_some(()),
    );
    println!("stalled viewer dropped after {:?}", t.elapsed());
    reading.finish();
    drop(stalled);
}

#[test]
fn max_viewers_refuses_the_next_stream_with_503() {
    let sim = start_sim();
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.cameras[0].max_viewers = 2;
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let first = Viewer::connect(relay.addr(), "/video_feed");
    let _second = Viewer::connect(relay.addr(), "/video_feed");
    let (code, body) = get_json(&format!("http://{}/video_feed", relay.addr()));
    assert_eq!(code, 503);
    assert!(body["error"].as_str().unwrap().contains("--max-viewers"));
    drop(first);
    wait_for(Duration::from_secs(5), "a place to free up", || {
        (status(&relay)["viewers"] == 1).then_some(())
    });
    Viewer::connect(relay.addr(), "/video_feed").next_part();
}

#[test]
fn one_viewer_at_most_is_said_in_the_singular() {
    let sim = start_sim();
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.cameras[0].max_viewers = 1;
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let _only = Viewer::connect(relay.addr(), "/video_feed");
    let (code, body) = get_json(&format!("http://{}/video_feed", relay.addr()));
    assert_eq!(code, 503);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("1 viewer is already watching"),
        "{body}"
    );
}

#[test]
fn nothing_a_client_sends_crashes_or_stalls_the_server() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let addr = relay.addr();
    // A slow trickle that never completes a request is cut off after 10 s.
    let slow = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let start = Instant::now();
        for b in b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if s.write_all(&[*b]).is_err() || start.elapsed() > Duration::from_secs(30) {
                break;
            }
            thread::sleep(Duration::from_millis(200));
        }
        start.elapsed()
    });
    let big = format!(
        "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert!(raw_request(addr, &big).0.starts_with("HTTP/1.1 431"));
    let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
    let many = format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n{many}\r\n");
    assert!(raw_request(addr, &many).0.starts_with("HTTP/1.1 431"));
    assert!(
        raw_request(addr, "BREW /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .0
            .starts_with("HTTP/1.1 405")
    );
    assert!(
        raw_request(addr, "\x00\x01\x02 garbage\r\n\r\n")
            .0
            .starts_with("HTTP/1.1 400")
    );
    let body_too_big =
        "POST /osc/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999\r\n\r\n";
    assert!(
        raw_request(addr, body_too_big)
            .0
            .starts_with("HTTP/1.1 413")
    );
    let mut seed = 7u32;
    for _ in 0..200 {
        let junk: Vec<u8> = (0..(seed % 300))
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as u8
            })
            .collect();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let _ = s.write_all(&junk);
        let _ = s.write_all(b"\r\n\r\n");
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = s.read_to_end(&mut Vec::new());
    }
    let started = Instant::now();
    assert_eq!(get_json(&format!("http://{addr}/status")).0, 200);
    assert!(started.elapsed() < Duration::from_secs(2), "still quick");
    let cut_after = slow.join().unwrap();
    assert!(
        cut_after < Duration::from_secs(15),
        "the trickling client was cut off after {cut_after:?}"
    );
}

#[test]
fn idle_connections_cannot_pile_up_threads_or_crowd_out_requests_and_viewers() {
    // --max-viewers 1 allows 1 + 64 connections at once. 130 connections that never ask
    // fill that; each newcomer then closes the one that has waited longest.
    let (relay, url) = start_binary(
        &[
            "--simulate",
            "--listen",
            "127.0.0.1:0",
            "--max-viewers",
            "1",
        ],
        "open http://",
    );
    let addr = addr_of(&url);
    let mut viewer = Viewer::connect(addr, "/video_feed");
    viewer.next_part();
    let mut idle: Vec<TcpStream> = (0..130)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let mut served = 0;
    for round in 0..3 {
        for _ in 0..50 {
            let (line, _) = raw_request(
                addr,
                "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            );
            assert!(line.starts_with("HTTP/1.1 200"), "round {round}: {line}");
            served += 1;
        }
        // The flood reopens what was closed, as an attacker would.
        idle.extend((0..60).map(|_| TcpStream::connect(addr).unwrap()));
        let threads = threads_of(relay.0.id());
        assert!(
            threads <= 65 + 8,
            "{threads} threads with {} idle connections",
            idle.len()
        );
    }
    assert_eq!(served, 150, "every real request was answered");
    viewer.next_part(); // the viewer was never closed to make room
    drop(idle);
}

#[test]
fn a_chunk_size_that_lies_costs_viewers_nothing_but_a_pause() {
    let (sim, relay, a, b) = streaming_pair();
    let t = Instant::now();
    sim.inject(Fault::LyingChunkSize);
    // The relay's HTTP client finds the chunking broken, the stream is dropped and reopened.
    wait_for(
        Duration::from_secs(5),
        "the broken stream to be reopened",
        || (sim.counters().preview_requests.load(Ordering::SeqCst) >= 2).then_some(()),
    );
    a.wait_camera_frame_after(t + Duration::from_millis(100), Duration::from_secs(3));
    b.wait_camera_frame_after(t + Duration::from_millis(100), Duration::from_secs(3));
    assert_eq!(status(&relay)["viewers"], 2);
    a.finish(); // every part they got was a whole JPEG with an exact length
    b.finish();
}

#[test]
fn reconnects_count_failures_only_and_last_error_clears_when_frames_flow() {
    let sim = start_sim();
    let relay = start_relay_lingering(camera_at(sim.addr(), None), Duration::from_millis(200));
    // Open, close for idleness, open again: no failure, so no reconnect. A viewer's
    // first part can come before the camera is open (the last frame repeated, or NO
    // SIGNAL), so each viewer reads until the preview streams.
    let watch_until_streaming = |viewer: &mut Viewer| {
        wait_for(Duration::from_secs(5), "the preview to stream", || {
            viewer.next_part();
            let s = status(&relay);
            (s["upstream"] == "streaming").then_some(s)
        })
    };
    watch_until_streaming(&mut Viewer::connect(relay.addr(), "/video_feed"));
    wait_upstream(&relay, "idle", Duration::from_secs(5));
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    let s = watch_until_streaming(&mut viewer);
    assert_eq!(
        (s["preview_connections"].as_u64(), s["reconnects"].as_u64()),
        (Some(2), Some(0)),
        "{s}"
    );
    // A failure is a reconnect, and its error goes once frames flow again. (The camera
    // notices the closed first preview only at its next write: wait for that, so the
    // fault reaches the preview the relay reads.)
    wait_for(Duration::from_secs(2), "the first preview to end", || {
        let c = sim.counters();
        let second_open = c.preview_requests.load(Ordering::SeqCst) == 2;
        (second_open && c.previews_running.load(Ordering::SeqCst) == 1).then_some(())
    });
    sim.inject(Fault::DieMidFrame);
    let s = wait_for(
        Duration::from_secs(5),
        "the reconnect to be counted",
        || {
            viewer.next_part(); // keep reading, or the relay drops this viewer
            let s = status(&relay);
            (s["reconnects"] == 1).then_some(s)
        },
    );
    assert_eq!(s["preview_connections"], 3, "{s}");
    wait_for(Duration::from_secs(5), "last_error to clear", || {
        viewer.next_part();
        status(&relay)["last_error"].is_null().then_some(())
    });
}

#[test]
fn no_signal_frames_come_at_the_streams_own_size() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    assert_eq!(jpeg_size(&viewer.next_part().jpeg), Some(TEST_SIZE));
    sim.kill();
    let relay_made = wait_for(Duration::from_secs(5), "a NO SIGNAL frame", || {
        let part = viewer.next_part();
        oscstream::sim::read_stamp(&part.jpeg)
            .is_none()
            .then_some(part)
    });
    assert_eq!(
        jpeg_size(&relay_made.jpeg),
        Some(TEST_SIZE),
        "players never see the size change"
    );
    // A camera never seen: a THETA's usual 1024×512.
    let unreachable = start_relay(camera_at(sim.addr(), None));
    let mut viewer = Viewer::connect(unreachable.addr(), "/video_feed");
    assert_eq!(jpeg_size(&viewer.next_part().jpeg), Some((1024, 512)));
}
