//! Flat views through real clients: the ad-hoc `flat.jpg` against ffmpeg's own `v360`
//! rendering of the same camera frame, a configured view as an ordinary MJPEG camera
//! (ffprobe reads its size), one encode per view frame however many watch, nothing spent
//! on a view nobody watches, and bad numbers answered with their ranges.

use crate::common::*;
use oscstream::formats::flat::{self, ViewGeometry};
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
    // ffmpeg 5.1 maps longitude onto W−1 columns and never blends across the seam at
    // ±180°; ours does, the geometrically right choice, so the two differ there.
    assert!(db >= 33.0, "PSNR {db:.1} dB");
}

/// PSNR in dB of plane `b` against plane `a`.
fn plane_psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0 * 255.0 / mse.max(1e-9)).log10()
}

#[test]
fn a_camera_frame_decodes_to_ffmpegs_own_planes_chroma_unblurred() {
    let sim = start_sim_with(oscstream::sim::SimConfig {
        width: 1920,
        height: 960,
        ..sim_config()
    });
    let relay = start_relay(camera_at(sim.addr(), None));
    let (status, jpeg, _) = fetch(relay.addr(), "/snapshot.jpg");
    assert_eq!(status, 200);
    let path = temp_dir("views-planes").join("frame.jpg");
    std::fs::write(&path, &jpeg).unwrap();
    let args = ["-loglevel", "error", "-i", path.to_str().unwrap()];
    // yuvj420p: the JPEG's own full-range planes (yuv420p would rescale them).
    let raw = ["-f", "rawvideo", "-pix_fmt", "yuvj420p", "-"];
    let Some(out) = tool("ffmpeg", &[&args[..], &raw[..]].concat()) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut source = flat::Source::default();
    flat::decode(&jpeg, &mut source, &mut Vec::new()).unwrap();
    let planes = source.to_planes();
    let (luma, chroma) = (1920 * 960, 960 * 480);
    assert_eq!(out.stdout.len(), luma + 2 * chroma);
    let (y, rest) = out.stdout.split_at(luma);
    let (cb, cr) = rest.split_at(chroma);
    let db = [
        plane_psnr(y, &planes.y),
        plane_psnr(cb, &planes.cb),
        plane_psnr(cr, &planes.cr),
    ];
    println!(
        "decoded planes against ffmpeg's: Y {:.1} dB, Cb {:.1} dB, Cr {:.1} dB",
        db[0], db[1], db[2]
    );
    // Chroma upsampled to 4:4:4 and averaged back scored 40 and 36 dB here.
    assert!(db.iter().all(|&d| d >= 50.0), "{db:?}");
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

/// Opens a stream request on its own connection and reads the answer's head: the status,
/// and the body when it is not a stream (a refusal's sentence). The socket stays open.
fn open_stream(addr: std::net::SocketAddr, path: &str) -> (std::net::TcpStream, u16, String) {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(addr).expect("the relay accepts");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match socket.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = String::new();
    if status != 200 {
        let _ = socket.read_to_string(&mut body);
    }
    (socket, status, body)
}

/// How many of `tries` fresh GETs of `path` answer 200.
fn answered(addr: std::net::SocketAddr, path: &str, tries: usize) -> usize {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    (0..tries)
        .filter(|_| {
            agent
                .get(&format!("http://{addr}{path}"))
                .call()
                .is_ok_and(|r| r.status() == 200)
        })
        .count()
}

#[test]
fn views_have_places_of_their_own_inside_the_one_connection_cap() {
    let sim = start_sim();
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.cameras[0].views = vec![
        view_spec("v0", (30.0, 0.0), (64, 36)),
        view_spec("v1", (-30.0, 0.0), (64, 36)),
    ];
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let addr = relay.addr();
    let most = oscstream::relay::channel::MAX_VIEWERS;
    // Twice the views' places, half on each view, one frame a second each.
    let mut open = Vec::new();
    let mut refused = Vec::new();
    for n in 0..2 * most {
        let (socket, status, body) =
            open_stream(addr, &format!("/views/v{}/video_feed?fps=1", n % 2));
        match status {
            200 => open.push(socket),
            _ => refused.push((status, body)),
        }
    }
    assert_eq!(
        open.len(),
        most,
        "the views share {most} places: {refused:?}"
    );
    assert!(
        refused
            .iter()
            .all(|(s, b)| *s == 503 && b.contains("already watching this camera's views")),
        "{refused:?}"
    );
    // The camera's own viewers still find every one of their places.
    for _ in 0..most {
        let (socket, status, body) = open_stream(addr, "/video_feed?fps=1");
        assert_eq!(
            status, 200,
            "a camera viewer beside the views' viewers: {body}"
        );
        open.push(socket);
    }
    let (_, status, body) = open_stream(addr, "/video_feed");
    assert_eq!(status, 503, "the camera's places are full: {body}");
    // And the page and the status are always served.
    for path in ["/status", "/public/index.html", "/cameras"] {
        let ok = answered(addr, path, 10);
        println!("{path}: {ok} of 10 beside {} streams", open.len());
        assert!(
            ok >= 9,
            "{path} answered {ok} of 10 beside {} streams",
            open.len()
        );
    }
}

#[test]
fn view_snapshots_wait_on_the_camera_within_its_budget() {
    // A camera that is not there: every snapshot waits the whole snapshot wait.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let camera = gone.local_addr().unwrap();
    drop(gone);
    let mut config = relay_config(camera_at(camera, None), Duration::from_secs(10));
    config.cameras[0].views = vec![view_spec("v0", (0.0, 0.0), (64, 36))];
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let addr = relay.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flood: Vec<_> = (0..300)
        .map(|_| {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = open_stream(addr, "/views/v0/snapshot.jpg");
                }
            })
        })
        .collect();
    wait_for(Duration::from_secs(30), "the flood under way", || {
        (sent.load(std::sync::atomic::Ordering::Relaxed) >= 600).then_some(())
    });
    let ok = answered(addr, "/status", 15);
    let page = answered(addr, "/public/index.html", 5);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for thread in flood {
        let _ = thread.join();
    }
    println!("beside 300 looping view snapshots: /status {ok} of 15, the page {page} of 5");
    assert!(ok >= 14, "/status answered {ok} of 15");
    assert!(page >= 4, "the page answered {page} of 5");
    // With the camera away, a view's snapshot says why.
    let (status, body) = get_json(&format!("http://{addr}/views/v0/snapshot.jpg"));
    assert_eq!(status, 503, "{body}");
    let why = body["error"].as_str().unwrap_or_default();
    assert!(why.contains("refused") || why.contains("reach"), "{why}");
    let (status, body) = get_json(&format!("http://{addr}/flat.jpg"));
    assert_eq!(status, 503, "{body}");
    let why = body["error"].as_str().unwrap_or_default();
    assert!(why.contains("refused") || why.contains("reach"), "{why}");
}

/// `ffprobe`'s width, height and frame rate of the stream at `url`.
fn probe(url: &str) -> Option<(String, f64)> {
    let out = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-i",
            url,
            "-show_entries",
            "stream=width,height,r_frame_rate",
            "-of",
            "csv=p=0",
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut fields = text.split(',');
    let size = format!("{}x{}", fields.next()?, fields.next()?);
    let (num, den) = fields.next()?.split_once('/')?;
    Some((size, num.parse::<f64>().ok()? / den.parse::<f64>().ok()?))
}

#[test]
fn video_mkv_declares_the_rate_frames_really_come_at_for_cameras_and_views() {
    let sim = start_sim_with(oscstream::sim::SimConfig {
        fps: 8,
        ..sim_config()
    });
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_millis(500));
    config.cameras[0].views = vec![view_spec("door", (30.0, -10.0), (320, 180))];
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let addr = relay.addr();
    // The first viewer: the camera opens for it, nothing is known of its rate yet.
    let Some((size, fps)) = probe(&format!("http://{addr}/video.mkv")) else {
        return;
    };
    println!("cold /video.mkv of an 8 fps camera: {size} at {fps:.2} fps");
    assert_eq!(size, "256x128");
    assert!((7.0..=9.0).contains(&fps), "{fps} fps");
    let (size, fps) = probe(&format!("http://{addr}/cameras/main/views/door/video.mkv")).unwrap();
    println!("a view's video.mkv: {size} at {fps:.2} fps");
    assert_eq!(size, "320x180");
    assert!((7.0..=9.0).contains(&fps), "{fps} fps");
    let (_, status) = get_json(&format!("http://{addr}/status"));
    let urls = &status["views"][0]["urls"];
    assert_eq!(
        urls["video_mkv"], "/cameras/main/views/door/video.mkv",
        "{status}"
    );
    assert_eq!(status["views"][0]["yaw"], 30.0, "{status}");
}

#[test]
fn full_hd_views_of_a_4k_camera_stay_within_the_views_memory_budget() {
    // Camera and relay as separate processes, so the relay's memory is its own.
    let (_sim, sim_url) = start_binary(
        &[
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--size",
            "3840x1920",
            "--fps",
            "4",
        ],
        "simulated camera",
    );
    let camera = addr_of(&sim_url);
    let config = camera_with_views("main", camera.port(), 15, "1920x1080", (-180, 24));
    let (relay, addr) = relay_on_config("views-memory", &config);
    let mut watching = Vec::new();
    let mut refused = Vec::new();
    for n in 0..15 {
        match open_stream(addr, &format!("/views/v{n}/video_feed")) {
            (socket, 200, _) => watching.push(socket),
            (_, status, body) => refused.push((status, body)),
        }
    }
    assert!(
        watching.len() >= 4,
        "{} views started: {refused:?}",
        watching.len()
    );
    assert!(
        refused
            .iter()
            .all(|(s, b)| *s == 503 && b.contains("memory budget") && b.contains("--view-memory")),
        "{refused:?}"
    );
    // The views that started draw real pictures, several frames each.
    wait_for(
        Duration::from_secs(90),
        "frames from every started view",
        || {
            let (_, status) = get_json(&format!("http://{addr}/status"));
            let drawing = status["views"]
                .as_array()?
                .iter()
                .filter(|v| v["frames_encoded"].as_u64().unwrap_or(0) >= 5)
                .count();
            (drawing == watching.len()).then_some(())
        },
    );
    let peak = peak_rss_bytes(relay.0.id());
    let used = metric(&metrics_text(addr), "oscstream_view_memory_bytes");
    println!(
        "15 views of 1920×1080 from 3840×1920: {} started, {} refused; views' memory {:.0} MiB \
         of 192; relay peak RSS {:.0} MiB",
        watching.len(),
        refused.len(),
        used / 1048576.0,
        peak as f64 / 1048576.0
    );
    assert!(used <= (192 << 20) as f64, "{used}");
    assert!(peak <= 320 << 20, "peak RSS {} MiB", peak >> 20);
}

#[test]
fn a_thousand_views_nobody_watches_cost_no_threads_and_do_not_slow_the_start() {
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = gone.local_addr().unwrap().port();
    drop(gone);
    let config: String = (0..20)
        .map(|camera| camera_with_views(&format!("c{camera}"), port, 50, "64x36", (-175, 7)))
        .collect();
    let started = Instant::now();
    let (relay, addr) = relay_on_config("views-many", &config);
    let (status, cameras) = get_json(&format!("http://{addr}/cameras"));
    let threads = threads_of(relay.0.id());
    println!(
        "20 cameras × 50 views: /cameras answered {:?} after the start, {threads} threads",
        started.elapsed()
    );
    assert_eq!(status, 200);
    assert_eq!(cameras["cameras"][19]["views"][49]["name"], "v49");
    assert!(threads < 100, "{threads} threads for views nobody watches");
}

/// A `[[camera]]` named `name` at 127.0.0.1:`port` with `views` views of `size`, their
/// yaws from `first` on, `step` degrees apart.
fn camera_with_views(
    name: &str,
    port: u16,
    views: i32,
    size: &str,
    (first, step): (i32, i32),
) -> String {
    let mut config =
        format!("[[camera]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\n");
    for n in 0..views {
        config += &format!(
            "[[camera.view]]\nname = \"v{n}\"\nyaw = {}\npitch = 0\nfov = 90\nsize = \"{size}\"\n",
            first + n * step
        );
    }
    config
}

/// The keys of a JSON object.
fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn status_and_cameras_keep_the_keys_pages_and_scripts_read() {
    let sim = start_sim();
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.cameras[0].views = vec![view_spec("door", (30.0, -10.0), (640, 360))];
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let (code, status) = get_json(&format!("http://{}/status", relay.addr()));
    assert_eq!(code, 200);
    assert_eq!(
        keys(&status),
        [
            "camera",
            "camera_address",
            "camera_model",
            "fps",
            "frames_dropped",
            "frames_received",
            "health",
            "last_error",
            "mode",
            "mount",
            "offline_reason",
            "online",
            "preview_connections",
            "reconnects",
            "upstream",
            "viewers",
            "views",
        ]
    );
    assert_eq!(
        keys(&status["health"]),
        [
            "battery",
            "battery_state",
            "battery_temp",
            "board_temp",
            "cooling_until",
            "errors"
        ]
    );
    assert_eq!(keys(&status["mount"]), ["pitch", "roll", "yaw"]);
    let view_keys = [
        "fov",
        "fps",
        "fps_limit",
        "frames_dropped",
        "frames_encoded",
        "height",
        "name",
        "pitch",
        "roll",
        "urls",
        "viewers",
        "width",
        "yaw",
    ];
    let view = &status["views"][0];
    assert_eq!(keys(view), view_keys);
    assert_eq!(
        view["urls"]["video_mkv"],
        "/cameras/main/views/door/video.mkv"
    );
    assert_eq!(keys(&view["urls"]), ["snapshot", "video_feed", "video_mkv"]);
    let (code, list) = get_json(&format!("http://{}/cameras", relay.addr()));
    assert_eq!(code, 200);
    let camera = &list["cameras"][0];
    assert_eq!(
        keys(camera),
        [
            "address", "model", "name", "online", "urls", "viewers", "views"
        ]
    );
    assert_eq!(
        keys(&camera["urls"]),
        [
            "flat",
            "page",
            "snapshot",
            "status",
            "video_feed",
            "video_mkv"
        ]
    );
    assert_eq!(camera["urls"]["page"], "/public/index.html?camera=main");
    assert_eq!(keys(&camera["views"][0]), view_keys);
}
