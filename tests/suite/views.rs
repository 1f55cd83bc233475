//! Flat views through real clients: the ad-hoc `flat.jpg` against ffmpeg's own `v360`
//! rendering of the same camera frame, a configured view as an ordinary MJPEG camera
//! (ffprobe reads its size), one encode per view frame however many watch, nothing spent
//! on a view nobody watches, and bad numbers answered with their ranges.

use crate::common::*;
use oscstream::formats::flat::ViewGeometry;
use std::time::{Duration, Instant};

/// GET `path` from the relay: status, body and `X-Timestamp`.
fn fetch(relay: std::net::SocketAddr, path: &str) -> (u16, Vec<u8>, String) {
    let mut resp = agent()
        .get(&format!("http://{relay}{path}"))
        .call()
        .expect("the relay answers");
    let stamp = resp
        .headers()
        .get("x-timestamp")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_vec().unwrap_or_default();
    (status, body, stamp)
}

/// ffmpeg's PSNR of `ours` against `reference` (both JPEG files), averaged over planes.
fn psnr(ours: &std::path::Path, reference: &std::path::Path) -> Option<f64> {
    let out = tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-i",
            ours.to_str()?,
            "-i",
            reference.to_str()?,
            "-lavfi",
            "psnr",
            "-f",
            "null",
            "-",
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stderr);
    let average = text.split("average:").nth(1)?.split_whitespace().next()?;
    Some(if average == "inf" {
        99.0
    } else {
        average.parse().ok()?
    })
}

#[test]
fn flat_jpg_matches_ffmpeg_v360_of_the_same_frame() {
    // Two frames a second, so a snapshot and a render catch the same one.
    let sim = start_sim_with(oscstream::sim::SimConfig {
        fps: 2,
        ..sim_config()
    });
    let relay = start_relay(camera_at(sim.addr(), None));
    let query = "/flat.jpg?yaw=30&pitch=-10&roll=5&fov=90&width=1280&height=720";
    let (source, ours) = wait_for(
        Duration::from_secs(20),
        "a render of the snapshot's frame",
        || {
            let (s1, snapshot, t1) = fetch(relay.addr(), "/snapshot.jpg");
            let (s2, flat, t2) = fetch(relay.addr(), query);
            (s1 == 200 && s2 == 200 && t1 == t2).then_some((snapshot, flat))
        },
    );
    assert_eq!(jpeg_size(&ours), Some((1280, 720)));
    let dir = temp_dir("views-psnr");
    let (src, mine, theirs) = (
        dir.join("src.jpg"),
        dir.join("ours.jpg"),
        dir.join("ffmpeg.jpg"),
    );
    std::fs::write(&src, &source).unwrap();
    std::fs::write(&mine, &ours).unwrap();
    let v_fov = ViewGeometry {
        yaw: 30.0,
        pitch: -10.0,
        roll: 5.0,
        fov: 90.0,
        width: 1280,
        height: 720,
    }
    .v_fov();
    let filter = format!(
        "v360=e:flat:yaw=30:pitch=-10:roll=5:h_fov=90:v_fov={v_fov}:w=1280:h=720:interp=line"
    );
    let Some(out) = tool(
        "ffmpeg",
        &[
            "-loglevel",
            "error",
            "-y",
            "-i",
            src.to_str().unwrap(),
            "-vf",
            &filter,
            "-q:v",
            "4",
            theirs.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = psnr(&mine, &theirs).expect("ffmpeg measures the PSNR");
    let ffmpeg_bytes = std::fs::metadata(&theirs).unwrap().len();
    println!(
        "flat.jpg against ffmpeg v360: PSNR {db:.1} dB; {} bytes (ffmpeg -q:v 4: {ffmpeg_bytes})",
        ours.len()
    );
    assert!(db >= 30.0, "PSNR {db:.1} dB");
}

#[test]
fn a_configured_view_is_an_ordinary_camera_encoded_once_for_all_its_viewers() {
    let sim = start_sim();
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.cameras[0].views = vec![
        view_spec("door", (30.0, -10.0), (640, 360)),
        view_spec("window", (-120.0, -10.0), (640, 360)),
    ];
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let addr = relay.addr();
    let mut viewers: Vec<Viewer> = (0..10)
        .map(|_| Viewer::connect(addr, "/views/door/video_feed"))
        .collect();
    for viewer in &mut viewers {
        let part = viewer.next_part();
        assert_eq!(jpeg_size(&part.jpeg), Some((640, 360)));
    }
    let started = Instant::now();
    for _ in 0..20 {
        for viewer in &mut viewers {
            viewer.next_part();
        }
    }
    let took = started.elapsed();
    let (_, cameras) = get_json(&format!("http://{addr}/cameras"));
    let views = &cameras["cameras"][0]["views"];
    assert_eq!(views[0]["name"], "door", "{cameras}");
    assert_eq!(
        views[0]["urls"]["video_feed"],
        "/cameras/main/views/door/video_feed"
    );
    let text = metrics_text(addr);
    let door = metric(
        &text,
        "oscstream_view_frames_total{camera=\"main\",view=\"door\"}",
    );
    let window = metric(
        &text,
        "oscstream_view_frames_total{camera=\"main\",view=\"window\"}",
    );
    let camera = metric(&text, "oscstream_frames_received_total{camera=\"main\"}");
    println!(
        "views: 10 viewers of door took 20 parts each in {took:?}; door encoded {door} frames \
         of {camera} camera frames; window (unwatched) {window}"
    );
    assert!(
        door >= 20.0 && door <= camera,
        "one encode per camera frame: {door} of {camera}"
    );
    assert_eq!(window, 0.0, "a view nobody watches costs nothing");
    drop(viewers);
    // ffprobe reads the view as any MJPEG camera.
    let url = format!("http://{addr}/cameras/main/views/door/video_feed");
    let Some(out) = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-f",
            "mpjpeg",
            "-i",
            &url,
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ],
    ) else {
        return;
    };
    let size = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(size, "640,360", "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn bad_view_numbers_are_refused_with_their_ranges() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    for (query, says) in [
        ("yaw=500", "yaw takes degrees from -180 to 180"),
        ("pitch=x", "pitch is a number of degrees"),
        ("fov=0", "fov takes degrees from 1 to 179"),
        (
            "width=5000",
            "width takes an even number of pixels from 16 to 1920",
        ),
        (
            "height=1081",
            "height takes an even number of pixels from 16 to 1080",
        ),
    ] {
        let (status, body) = get_json(&format!("http://{}/flat.jpg?{query}", relay.addr()));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }
    let (status, body) = get_json(&format!("http://{}/views/nope/video_feed", relay.addr()));
    assert_eq!(status, 404, "{body}");
}
