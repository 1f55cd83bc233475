//! The relay end to end: simulated camera ↔ relay ↔ real clients, all on loopback.

use crate::common::*;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn a_viewer_receives_whole_jpegs_from_the_camera_unchanged() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    assert!(viewer.head.contains("Cache-Control: no-store"));
    assert!(viewer.head.contains("multipart/x-mixed-replace; boundary="));
    let parts: Vec<Part> = (0..10).map(|_| viewer.next_camera_part()).collect();
    for pair in parts.windows(2) {
        assert!(
            pair[1].camera_seq() > pair[0].camera_seq(),
            "frames arrive in order, each new"
        );
    }
    for p in &parts {
        assert_eq!(
            jpeg_size(&p.jpeg),
            Some(TEST_SIZE),
            "the camera's picture, unchanged"
        );
        let ts: f64 = p
            .headers
            .iter()
            .find(|(k, _)| k == "X-Timestamp")
            .expect("X-Timestamp")
            .1
            .parse()
            .unwrap();
        assert!(ts > 1.0e9);
    }
}

#[test]
fn the_seeds_other_stream_routes_serve_the_same_stream() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let addr = relay.addr();
    // Ten camera frames from each route, read side by side: the same frames, byte for
    // byte, from the one camera connection.
    let readers: Vec<_> = ["/video_feed", "/stream", "/?action=stream"]
        .into_iter()
        .map(|path| {
            thread::spawn(move || {
                let mut v = Viewer::connect(addr, path);
                (0..10)
                    .map(|_| {
                        let part = v.next_camera_part();
                        (part.camera_seq(), part.jpeg)
                    })
                    .collect::<HashMap<u64, Vec<u8>>>()
            })
        })
        .collect();
    let frames: Vec<HashMap<u64, Vec<u8>>> =
        readers.into_iter().map(|r| r.join().unwrap()).collect();
    for other in &frames[1..] {
        let common: Vec<&u64> = other
            .keys()
            .filter(|seq| frames[0].contains_key(seq))
            .collect();
        assert!(!common.is_empty(), "the routes share camera frames");
        for seq in common {
            assert_eq!(other[seq], frames[0][seq], "frame {seq}, byte for byte");
        }
    }
    assert_eq!(sim.counters().preview_requests.load(Ordering::SeqCst), 1);
}

#[test]
fn three_viewers_share_one_camera_connection_and_receive_byte_identical_frames() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let addr = relay.addr();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            thread::spawn(move || {
                let mut v = Viewer::connect(addr, "/video_feed");
                (0..30).map(|_| v.next_camera_part()).collect::<Vec<Part>>()
            })
        })
        .collect();
    let received: Vec<Vec<Part>> = readers.into_iter().map(|h| h.join().unwrap()).collect();
    let mut by_seq: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
    for parts in &received {
        for p in parts {
            by_seq
                .entry(p.camera_seq())
                .or_default()
                .push(p.jpeg.clone());
        }
    }
    let shared = by_seq.values().filter(|copies| copies.len() == 3).count();
    assert!(
        shared >= 20,
        "the viewers saw the same frames ({shared} of 30 in common)"
    );
    for copies in by_seq.values() {
        assert!(copies.windows(2).all(|w| w[0] == w[1]), "identical bytes");
    }
    assert_eq!(
        sim.counters().preview_requests.load(Ordering::SeqCst),
        1,
        "one camera connection for every viewer"
    );
    assert_eq!(status(&relay)["preview_connections"], 1);
}

#[test]
fn eight_keep_alive_viewers_connecting_at_once_all_get_a_frame_within_a_second() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let mut warm = Viewer::connect(relay.addr(), "/video_feed");
    warm.next_part();
    let addr = relay.addr();
    let barrier = Arc::new(Barrier::new(8));
    let viewers: Vec<_> = (0..8)
        .map(|_| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let mut v = Viewer::connect_with(addr, "/video_feed", "keep-alive");
                v.next_part();
                start.elapsed()
            })
        })
        .collect();
    for (i, h) in viewers.into_iter().enumerate() {
        let waited = h.join().unwrap();
        assert!(
            waited < Duration::from_secs(1),
            "viewer {i} waited {waited:?}"
        );
    }
    assert_eq!(sim.counters().preview_requests.load(Ordering::SeqCst), 1);
}

#[test]
fn a_viewer_joining_late_gets_a_frame_within_one_frame_period() {
    let sim = start_sim_with(oscstream::sim::SimConfig {
        fps: 5,
        ..sim_config()
    });
    let relay = start_relay(camera_at(sim.addr(), None));
    let mut first = Viewer::connect(relay.addr(), "/video_feed");
    first.next_part();
    first.next_part();
    let mut late = Viewer::connect(relay.addr(), "/video_feed");
    late.next_part();
    let waited = late.connected.elapsed();
    assert!(
        waited < Duration::from_millis(200),
        "one frame period at 5 fps is 200 ms; waited {waited:?}"
    );
}

#[test]
fn snapshot_is_the_newest_frame_as_a_jpeg() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    for path in ["/snapshot.jpg", "/snapshot", "/?action=snapshot"] {
        let mut resp = agent()
            .get(&format!("http://{}{path}", relay.addr()))
            .call()
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["content-type"], "image/jpeg");
        let jpeg = resp.body_mut().read_to_vec().unwrap();
        assert!(oscstream::formats::jpeg::is_whole_jpeg(&jpeg));
        assert_eq!(jpeg_size(&jpeg), Some(TEST_SIZE));
    }
    assert_eq!(sim.counters().preview_requests.load(Ordering::SeqCst), 1);
}

#[test]
fn snapshot_without_a_camera_is_503_with_a_sentence() {
    // A port nobody listens on: bind one, learn it, close it.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let relay = start_relay(camera_at(free, None));
    let started = Instant::now();
    let (code, body) = get_json(&format!("http://{}/snapshot.jpg", relay.addr()));
    assert_eq!(code, 503);
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("cannot reach the camera"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(8), "bounded wait");
}

#[test]
fn status_tells_the_upstream_state_and_counts() {
    let sim = start_sim();
    let relay = start_relay_lingering(camera_at(sim.addr(), None), Duration::from_millis(300));
    let s = status(&relay);
    assert_eq!(s["upstream"], "idle");
    assert_eq!(s["viewers"], 0);
    assert_eq!(s["camera"], format!("127.0.0.1:{}", sim.addr().port()));
    let mut v = Viewer::connect(relay.addr(), "/video_feed");
    for _ in 0..20 {
        v.next_part();
    }
    wait_upstream(&relay, "streaming", Duration::from_secs(5));
    // The first parts can be NO SIGNAL while the camera opens its preview, so the
    // camera's count may reach the parts read a frame or two later.
    let s = wait_for(Duration::from_secs(2), "20 frames received", || {
        let s = status(&relay);
        (s["frames_received"].as_u64()? >= 20).then_some(s)
    });
    assert_eq!(s["viewers"], 1);
    assert_eq!(s["camera_model"], "RICOH THETA Z1");
    assert!(s["fps"].as_f64().unwrap() > 10.0, "{s}");
    assert_eq!(s["frames_dropped"], 0);
    drop(v);
    // The camera connection closes once the last viewer has gone for the linger time.
    wait_upstream(&relay, "idle", Duration::from_secs(5));
    wait_for(Duration::from_secs(5), "the camera preview to end", || {
        (sim.counters().previews_running.load(Ordering::SeqCst) == 0).then_some(())
    });
    assert_eq!(status(&relay)["viewers"], 0);
}

#[test]
fn camera_info_and_state_pass_through() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let base = format!("http://{}", relay.addr());
    let (code, info) = get_json(&format!("{base}/info"));
    assert_eq!(
        (code, info["model"].as_str()),
        (200, Some("RICOH THETA Z1"))
    );
    assert_eq!(
        info_without_uptime(&get_json(&format!("{base}/osc/info")).1),
        info_without_uptime(&info)
    );
    let (code, state) = get_json(&format!("{base}/state"));
    assert_eq!(code, 200);
    assert!(state["batteryLevel"].is_number(), "{state}");
    let (code, full) = post_json(&format!("{base}/osc/state"), "");
    assert_eq!(code, 200);
    assert!(full["fingerprint"].is_string() && full["state"].is_object());
}

fn info_without_uptime(info: &serde_json::Value) -> serde_json::Value {
    // /osc/info is the same answer; uptime may have ticked between the two calls.
    let mut v = info.clone();
    v["uptime"] = serde_json::Value::Null;
    v
}

#[test]
fn a_preview_ended_by_take_picture_resumes_for_connected_viewers() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    let before = viewer.next_camera_part().camera_seq();
    let (code, answer) = post_json(
        &format!("http://{}/osc/commands/execute", sim.addr()),
        r#"{"name":"camera.takePicture"}"#,
    );
    assert_eq!((code, answer["state"].as_str()), (200, Some("inProgress")));
    let shot = Instant::now();
    wait_for(
        Duration::from_secs(5),
        "the relay to reopen the preview",
        || (sim.counters().preview_requests.load(Ordering::SeqCst) >= 2).then_some(()),
    );
    // The same viewer, never reconnected, keeps getting new frames.
    let mut after = viewer.next_camera_part();
    while after.arrived < shot {
        after = viewer.next_camera_part();
    }
    assert!(after.camera_seq() > before);
    assert!(
        shot.elapsed() < Duration::from_secs(2),
        "resumed within 2 s"
    );
    let s = status(&relay);
    assert!(s["reconnects"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["viewers"], 1);
}

#[test]
fn mode_2_streams_with_digest_auth() {
    let sim = start_sim_with(oscstream::sim::SimConfig {
        credentials: Some(oscstream::formats::osc::Credentials::new(
            "THETAYL00103139",
            "00103139",
        )),
        ..sim_config()
    });
    let relay = start_relay(camera_at(sim.addr(), Some(("THETAYL00103139", "00103139"))));
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    viewer.next_part();
    let (code, info) = get_json(&format!("http://{}/info", relay.addr()));
    assert_eq!(
        (code, info["model"].as_str()),
        (200, Some("RICOH THETA Z1"))
    );
    // The simulator really demanded auth: a request without it is refused.
    let (code, _) = get_json(&format!("http://{}/osc/info", sim.addr()));
    assert_eq!(code, 401);
}

#[test]
fn a_wrong_password_is_a_clear_error_that_never_shows_the_password() {
    let sim = start_sim_with(oscstream::sim::SimConfig {
        credentials: Some(oscstream::formats::osc::Credentials::new(
            "THETAYL00103139",
            "00103139",
        )),
        ..sim_config()
    });
    let relay = start_relay(camera_at(
        sim.addr(),
        Some(("THETAYL00103139", "wrong-secret")),
    ));
    let (code, body) = get_json(&format!("http://{}/info", relay.addr()));
    assert_eq!(code, 502);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("rejected id THETAYL00103139") && error.contains("--pwd"),
        "{error}"
    );
    assert!(!error.contains("wrong-secret"));
    let (code, _) = get_json(&format!("http://{}/snapshot.jpg", relay.addr()));
    assert_eq!(code, 503);
    let s = status(&relay);
    assert!(
        s["last_error"]
            .as_str()
            .unwrap()
            .contains("check --id and --pwd"),
        "{s}"
    );
    assert!(!s.to_string().contains("wrong-secret"));
}

#[test]
fn a_camera_without_auth_settings_that_asks_for_login_says_how_to_log_in() {
    let sim = start_sim_with(oscstream::sim::SimConfig {
        credentials: Some(oscstream::formats::osc::Credentials::new(
            "THETAYL00103139",
            "00103139",
        )),
        ..sim_config()
    });
    let relay = start_relay(camera_at(sim.addr(), None));
    let (code, body) = get_json(&format!("http://{}/info", relay.addr()));
    assert_eq!(code, 502);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("-r --id ID --pwd PASSWORD")
    );
}

#[test]
fn public_serves_only_the_embedded_page() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let addr = relay.addr();
    let (line, page) = raw_request(
        addr,
        "GET /public/index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    assert!(page.contains("<canvas id=\"sphere\"") && page.contains("/public/app.js"));
    let (line, text) = raw_request(
        addr,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(line.starts_with("HTTP/1.1 302") && text.contains("Location: /public/index.html"));
    for path in [
        "/public/../Cargo.toml",
        "/public/%2e%2e/Cargo.toml",
        "/public/%2E%2E%2FCargo.toml",
        "/public//etc/passwd",
        "/public/..\\Cargo.toml",
        "/public/./index.html/..",
        "/public/src/main.rs",
    ] {
        let (line, text) = raw_request(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
        );
        assert!(line.starts_with("HTTP/1.1 404"), "{path}: {line}");
        assert!(text.contains("{\"error\":"), "{path}: JSON error body");
    }
}

#[test]
fn unknown_routes_and_methods_answer_json_errors() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let (code, body) = get_json(&format!("http://{}/nope", relay.addr()));
    assert_eq!(code, 404);
    assert!(body["error"].is_string());
    let (code, body) = post_json(&format!("http://{}/video_feed", relay.addr()), "{}");
    assert_eq!(code, 405);
    assert!(body["error"].is_string());
}

#[test]
fn keep_alive_serves_several_small_requests_on_one_connection() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let req = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let last = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let (_, text) = raw_request(relay.addr(), &format!("{req}{req}{last}"));
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
}

#[test]
fn fps_gives_one_viewer_fewer_frames_and_the_others_all_of_them() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let mut slow = Viewer::connect(relay.addr(), "/video_feed?fps=5");
    let mut full = Viewer::connect(relay.addr(), "/stream");
    slow.next_part();
    full.next_part();
    let window = Duration::from_secs(2);
    let reader = std::thread::spawn(move || {
        let t = Instant::now();
        let mut seqs = Vec::new();
        while t.elapsed() < window {
            seqs.push(full.next_camera_part().camera_seq());
        }
        seqs
    });
    let t = Instant::now();
    let mut slow_seqs = Vec::new();
    while t.elapsed() < window {
        slow_seqs.push(slow.next_camera_part().camera_seq());
    }
    let full_seqs = reader.join().unwrap();
    println!(
        "in 2 s: ?fps=5 got {}, the other viewer {}",
        slow_seqs.len(),
        full_seqs.len()
    );
    assert!((8..=12).contains(&slow_seqs.len()), "{slow_seqs:?}");
    assert!(full_seqs.len() >= 55, "{} frames", full_seqs.len());
    // Always the newest: a limited viewer skips frames, never lags behind.
    let newest_gap = full_seqs
        .last()
        .unwrap()
        .saturating_sub(*slow_seqs.last().unwrap());
    assert!(
        newest_gap <= 8,
        "the limited viewer is {newest_gap} frames behind"
    );
    for bad in ["0", "61", "ten", ""] {
        let (code, body) = get_json(&format!("http://{}/video_feed?fps={bad}", relay.addr()));
        assert_eq!(code, 400, "fps={bad}");
        assert!(body["error"].as_str().unwrap().contains("1 to 60"));
    }
}

#[test]
fn the_simulators_get_preview_is_the_same_stream_with_a_conventional_boundary() {
    // For MJPEG tools that can only GET (the benchmark's peer, npm mjpeg-proxy).
    let sim = start_sim();
    let response = agent()
        .get(&format!("http://{}/_sim/preview", sim.addr()))
        .call()
        .unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        oscstream::formats::mjpeg::boundary_of(&content_type).as_deref(),
        Some("frame")
    );
    let mut body = response.into_body().into_reader();
    let mut parser = oscstream::formats::mjpeg::Parser::new("frame");
    let mut frames = Vec::new();
    let mut buf = [0u8; 16 << 10];
    while frames.len() < 3 {
        let n = std::io::Read::read(&mut body, &mut buf).unwrap();
        assert!(n > 0, "the preview goes on");
        parser.push(&buf[..n], |p| match p {
            oscstream::formats::mjpeg::Parsed::Frame(jpeg) => frames.push(jpeg),
            rejected => panic!("{rejected:?}"),
        });
    }
    let seqs: Vec<u64> = frames
        .iter()
        .map(|f| oscstream::sim::read_stamp(f).unwrap().0)
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}
