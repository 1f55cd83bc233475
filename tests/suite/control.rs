//! Camera control and access rules through the relay's routes, against the simulator,
//! with viewers connected throughout.

use crate::common::*;
use oscstream::web::access::Access;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Reads parts until one has `size`; fails after `limit`.
fn wait_for_size(viewer: &mut Viewer, size: (u16, u16), limit: Duration) -> Part {
    let deadline = Instant::now() + limit;
    loop {
        let part = viewer.next_part();
        if jpeg_size(&part.jpeg) == Some(size) {
            return part;
        }
        assert!(
            Instant::now() < deadline,
            "no {size:?} frame within {limit:?}"
        );
    }
}

#[test]
fn preview_formats_list_what_the_camera_supports_and_uses() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let (code, formats) = get_json(&format!("http://{}/api/preview-formats", relay.addr()));
    assert_eq!(code, 200);
    let supported = formats["supported"].as_array().unwrap();
    assert!(supported.contains(&serde_json::json!({"width": 1920, "height": 960, "framerate": 8})));
    assert_eq!(
        formats["current"],
        serde_json::json!({"width": TEST_SIZE.0, "height": TEST_SIZE.1, "framerate": TEST_FPS})
    );
}

#[test]
fn switching_the_preview_format_reaches_connected_viewers_without_reconnecting() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    assert_eq!(jpeg_size(&viewer.next_part().jpeg), Some(TEST_SIZE));
    let (code, body) = post_json(
        &format!("http://{}/api/preview-format", relay.addr()),
        r#"{"width":640,"height":320,"framerate":30}"#,
    );
    assert_eq!(code, 200, "{body}");
    wait_for_size(&mut viewer, (640, 320), Duration::from_secs(5));
    let (_, formats) = get_json(&format!("http://{}/api/preview-formats", relay.addr()));
    assert_eq!(formats["current"]["width"], 640);
    assert_eq!(status(&relay)["viewers"], 1);
}

#[test]
fn an_unsupported_preview_format_is_refused_naming_the_allowed_ones() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let url = format!("http://{}/api/preview-format", relay.addr());
    let (code, body) = post_json(&url, r#"{"width":1920,"height":1080,"framerate":30}"#);
    assert_eq!(code, 400);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("1920x1080@30") && error.contains("1024x512@30"),
        "{error}"
    );
    let (code, body) = post_json(&url, "not json");
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("width"));
}

#[test]
fn a_picture_is_taken_listed_downloadable_and_the_stream_comes_back() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let base = format!("http://{}", relay.addr());
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    let before = viewer.next_camera_part().camera_seq();
    let (code, picture) = post_json(&format!("{base}/api/picture"), "");
    assert_eq!(code, 200, "{picture}");
    let shot = Instant::now();
    let file_url = picture["fileUrl"].as_str().unwrap();
    assert!(file_url.ends_with(".JPG"), "{file_url}");
    // The camera ended its preview when it shot; the same viewer gets new frames within 2 s.
    loop {
        let part = viewer.next_camera_part();
        if part.arrived > shot && part.camera_seq() > before {
            assert!(
                shot.elapsed() < Duration::from_secs(2),
                "resumed after {:?}",
                shot.elapsed()
            );
            break;
        }
        assert!(
            shot.elapsed() < Duration::from_secs(2),
            "no new frame within 2 s"
        );
    }
    assert!(
        sim.counters()
            .preview_requests
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 2
    );
    let (code, files) = get_json(&format!("{base}/api/files?count=5"));
    assert_eq!(code, 200);
    let entry = &files["entries"][0];
    assert_eq!(entry["fileUrl"], file_url);
    let relay_url = entry["url"].as_str().unwrap();
    assert_eq!(relay_url, picture["url"].as_str().unwrap());
    let mut resp = agent().get(&format!("{base}{relay_url}")).call().unwrap();
    assert_eq!(resp.status(), 200);
    let jpeg = resp.body_mut().read_to_vec().unwrap();
    assert!(oscstream::formats::jpeg::is_whole_jpeg(&jpeg));
    assert_eq!(jpeg.len() as u64, entry["size"].as_u64().unwrap());
    for bad in [
        "/camera-files/../osc/info",
        "/camera-files/%2e%2e/x",
        "/camera-files/",
    ] {
        assert_eq!(get_json(&format!("{base}{bad}")).0, 404, "{bad}");
    }
    assert_eq!(get_json(&format!("{base}/api/files?count=0")).0, 400);
}

#[test]
fn options_can_be_read_and_the_seeds_set_option_is_gone() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let base = format!("http://{}", relay.addr());
    let (code, options) = get_json(&format!(
        "{base}/api/options?names=previewFormat,captureMode"
    ));
    assert_eq!(code, 200);
    assert_eq!(options["captureMode"], "image");
    assert_eq!(options["previewFormat"]["width"], TEST_SIZE.0);
    assert_eq!(get_json(&format!("{base}/api/options")).0, 400);
    // The camera's own 400 for an option it does not know is passed on as 400.
    let (code, body) = get_json(&format!("{base}/api/options?names=noSuchOption"));
    assert_eq!(code, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("invalidParameterName")
    );
    assert_eq!(get_json(&format!("{base}/getOption/noSuchOption")).0, 400);
    let (code, option) = get_json(&format!("{base}/getOption/previewFormat"));
    assert_eq!(
        (code, &option["previewFormat"]["height"]),
        (200, &TEST_SIZE.1.into())
    );
    let (code, body) = get_json(&format!("{base}/setOption/previewFormat/1024x512"));
    assert_eq!(code, 410);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("POST /api/preview-format")
    );
}

#[test]
fn basic_auth_guards_every_route() {
    let sim = start_sim();
    let relay = relay_with_basic_auth(&sim, "viewer", "s3cret");
    let addr = relay.addr();
    for path in [
        "/status",
        "/video_feed",
        "/snapshot.jpg",
        "/public/index.html",
        "/api/files",
    ] {
        let (line, text) = raw_request(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
        );
        assert!(line.starts_with("HTTP/1.1 401"), "{path}: {line}");
        assert!(text.contains("WWW-Authenticate: Basic realm=\"oscstream\""));
    }
    let wrong = "Authorization: Basic dmlld2VyOnNlY3JldA==\r\n"; // viewer:secret
    let (line, _) = raw_request(
        addr,
        &format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n{wrong}Connection: close\r\n\r\n"),
    );
    assert!(line.starts_with("HTTP/1.1 401"), "{line}");
    let right = "Authorization: Basic dmlld2VyOnMzY3JldA==\r\n"; // viewer:s3cret
    let (line, _) = raw_request(
        addr,
        &format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n{right}Connection: close\r\n\r\n"),
    );
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let (line, text) = raw_request(
        addr,
        &format!(
            "GET /snapshot.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\n{right}Connection: close\r\n\r\n"
        ),
    );
    assert!(
        line.starts_with("HTTP/1.1 200") && text.contains("image/jpeg"),
        "{line}"
    );
}

#[test]
fn read_only_refuses_every_post_and_keeps_reads() {
    let sim = start_sim();
    let relay = relay_with(
        &sim,
        Access {
            read_only: true,
            ..Access::default()
        },
    );
    let base = format!("http://{}", relay.addr());
    for path in ["/api/picture", "/api/preview-format", "/osc/state"] {
        let (code, body) = post_json(&format!("{base}{path}"), "{}");
        assert_eq!(code, 403, "{path}");
        assert!(body["error"].as_str().unwrap().contains("read-only"));
    }
    assert_eq!(
        sim.counters()
            .pictures_taken
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(get_json(&format!("{base}/status")).0, 200);
    Viewer::connect(relay.addr(), "/video_feed").next_part();
}

#[test]
fn cors_head_and_options_are_answered() {
    let sim = start_sim();
    let relay = relay_with(
        &sim,
        Access {
            allow_origin: Some("https://ha.example".into()),
            ..Access::default()
        },
    );
    let addr = relay.addr();
    let (line, text) = raw_request(
        addr,
        "OPTIONS /api/picture HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://ha.example\r\nConnection: close\r\n\r\n",
    );
    assert!(line.starts_with("HTTP/1.1 204"), "{line}");
    assert!(text.contains("Access-Control-Allow-Origin: https://ha.example"));
    assert!(text.contains("Access-Control-Allow-Methods: GET, HEAD, POST, OPTIONS"));
    let (line, text) = raw_request(
        addr,
        "HEAD /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    assert!(text.contains("Access-Control-Allow-Origin: https://ha.example"));
    assert!(text.ends_with("\r\n\r\n"), "HEAD has no body: {text:?}");
    // HEAD of the stream answers its headers without opening the camera.
    let (line, text) = raw_request(
        addr,
        "HEAD /video_feed HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(line.starts_with("HTTP/1.1 200") && text.contains("multipart/x-mixed-replace"));
    assert!(text.ends_with("\r\n\r\n"), "no body: {text:?}");
    // A proxy must pass each part on at once (nginx buffers unless told not to).
    assert!(text.contains("X-Accel-Buffering: no\r\n"), "{text}");
    assert!(
        !relay.channel().feed().hub().has_demand(),
        "a HEAD is not a viewer"
    );
    for path in ["/video_feed", "/video_feed?fps=5"] {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.contains("X-Accel-Buffering: no\r\n"), "{path}: {head}");
    }
    // Without --allow-origin no CORS header is sent.
    let plain = start_relay(camera_at(sim.addr(), None));
    let (_, text) = raw_request(
        plain.addr(),
        "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(!text.contains("Access-Control-Allow-Origin"));
}
