//! The page in a real browser: Debian's Chromium, driven by Playwright (both installed
//! by `.ci/run`), shows `/public/index.html` from the relay + simulator, and each test
//! waits on what a person would see — the DOM is read four times a second as the page
//! fills in, until it shows what the test waits for (or a generous deadline passes).
//! With `?probe=1` the page writes what it did into the DOM (frames received and
//! uploaded, a pixel read back from its WebGL canvas, script errors, CSP violations).
//! The page is also left open while the relay restarts, shown as a kiosk, and run
//! without WebGL.
//!
//! Without Chromium or Playwright the tests say so and pass locally, but fail under
//! `CI=true`.

use crate::common::*;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Headless Chromium as root on these machines, without reaching for the network.
const HEADLESS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

fn chromium() -> Option<PathBuf> {
    let found = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        skip("chromium is not installed (apt-get install chromium): the page test did not run");
    }
    found
}

/// Whether Playwright's Python driver is here to drive Chromium with; says so when not.
fn playwright() -> bool {
    let here = Command::new("python3")
        .args(["-c", "import playwright"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !here {
        skip("playwright is not installed (pip install playwright): the page test did not run");
    }
    here
}

/// Shows `url` in Chromium at 1280×800 (driven by Playwright, `tests/page/watch.py`,
/// with `extra` flags) and returns what `check` makes of the first DOM it accepts, read
/// four times a second as the page fills in; fails after `limit` with what the page
/// last showed.
fn page_until<T>(
    url: &str,
    extra: &[&str],
    limit: Duration,
    what: &str,
    mut check: impl FnMut(&str) -> Option<T>,
) -> T {
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::process::CommandExt;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/page/watch.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([url, "1280", "800", &limit.as_secs().to_string()])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("python3 runs");
    let end = |child: &mut std::process::Child| {
        // SAFETY: kill(2) on the process group we started (the driver and its browser).
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
    };
    let mut last = String::new();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let Ok(line) = line else { break };
        let dom: String = serde_json::from_str(&line).unwrap_or_default();
        if let Some(found) = check(&dom) {
            end(&mut child);
            return found;
        }
        last = dom;
    }
    end(&mut child);
    let mut said = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut said);
    }
    let shown: String = last.chars().take(3000).collect();
    panic!("timed out after {limit:?} waiting for {what}; the page showed: {shown}\n{said}");
}

/// The value of `attr="..."` on the element with `id`, from dumped HTML.
fn attribute(dom: &str, id: &str, attr: &str) -> Option<String> {
    let tag_start = dom.find(&format!("id=\"{id}\""))?;
    let tag = &dom[dom[..tag_start].rfind('<')?..];
    let tag = &tag[..tag.find('>')?];
    let value = tag.split(&format!("{attr}=\"")).nth(1)?;
    Some(value[..value.find('"')?].to_string())
}

fn text_of(dom: &str, id: &str) -> Option<String> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let rest = &dom[start..];
    let rest = &rest[rest.find('>')? + 1..];
    Some(rest[..rest.find('<')?].to_string())
}

fn probe_number(dom: &str, name: &str) -> u64 {
    attribute(dom, "probe", &format!("data-{name}"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("probe has no number data-{name}"))
}

#[test]
fn the_page_draws_each_new_frame_once_and_shows_the_camera() {
    if !playwright() {
        return;
    }
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let url = format!("http://{}/public/index.html?probe=1", relay.addr());
    // The page fills in as its requests complete; give a slow machine a few tries.
    let dom = page_until(
        &url,
        &[],
        Duration::from_secs(90),
        "the page to draw and fill in",
        |shown| {
            let dom = shown.to_string();
            let drawn = attribute(&dom, "probe", "data-nonblank").as_deref() == Some("true");
            let uploads =
                attribute(&dom, "probe", "data-uploads").and_then(|n| n.parse::<u64>().ok());
            let model = text_of(&dom, "camera-model").is_some_and(|m| m.contains("THETA"));
            let formats = dom.contains("@ 8 fps</option>");
            // The camera's `_batteryState` "disconnect", as a person says it.
            let battery = dom.contains("80 % (on battery)");
            (drawn && uploads >= Some(10) && model && formats && battery).then_some(dom)
        },
    );
    let (received, superseded, uploads, ticks) = (
        probe_number(&dom, "received"),
        probe_number(&dom, "superseded"),
        probe_number(&dom, "uploads"),
        probe_number(&dom, "ticks"),
    );
    println!(
        "page: {received} frames received, {uploads} uploaded and drawn, {superseded} replaced by a \
         newer one before the next animation frame, {ticks} animation frames"
    );
    assert!(uploads >= 10, "the sphere drew live frames: {uploads}");
    assert!(uploads <= received, "no upload without a new frame");
    let (decoding, pending, undecodable) = (
        probe_number(&dom, "decoding"),
        probe_number(&dom, "pending"),
        probe_number(&dom, "undecodable"),
    );
    assert_eq!(
        received,
        uploads + superseded + decoding + pending,
        "each frame received was drawn once, replaced by a newer one, or is on its way \
         ({decoding} decoding, {pending} decoded and waiting for the next animation frame)"
    );
    assert_eq!(undecodable, 0, "every frame decoded");
    assert!(
        ticks > uploads,
        "the animation loop ran more often than it uploaded"
    );
    assert_eq!(probe_number(&dom, "errors"), 0, "no script errors");
    assert_eq!(
        probe_number(&dom, "csp"),
        0,
        "the page works under its Content-Security-Policy"
    );
    assert_eq!(
        text_of(&dom, "camera-model").as_deref(),
        Some("RICOH THETA Z1")
    );
    assert_eq!(text_of(&dom, "camera-firmware").as_deref(), Some("2.20.3"));
    assert!(
        dom.contains("1920×960 @ 8 fps"),
        "the format selector lists the camera's formats"
    );
    // Without ?probe=1 the hooks cost nothing: nothing is written to the probe, though
    // the page shows the camera (and so has had frames).
    let plain = format!("http://{}/public/index.html", relay.addr());
    let dom = page_until(
        &plain,
        &[],
        Duration::from_secs(60),
        "the plain page",
        |shown| {
            let model = text_of(shown, "camera-model").is_some_and(|m| m.contains("THETA"));
            model.then(|| shown.to_string())
        },
    );
    assert_eq!(
        attribute(&dom, "probe", "data-received").as_deref(),
        Some("0")
    );
}

/// A headless Chromium showing `url` until dropped (no DOM dump: it stays open).
struct OpenPage(std::process::Child);

impl OpenPage {
    fn open(browser: &PathBuf, url: &str) -> OpenPage {
        use std::os::unix::process::CommandExt;
        let profile =
            std::env::temp_dir().join(format!("oscstream-chromium-open-{}", std::process::id()));
        let child = Command::new(browser)
            .args(HEADLESS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromium runs");
        OpenPage(child)
    }
}

impl Drop for OpenPage {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group of the browser we started.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

#[test]
fn the_page_reconnects_by_itself_when_the_relay_restarts() {
    let Some(browser) = chromium() else { return };
    let sim = start_sim();
    let first = start_relay(camera_at(sim.addr(), None));
    let addr = first.addr();
    let _page = OpenPage::open(&browser, &format!("http://{addr}/public/index.html"));
    wait_for(Duration::from_secs(20), "the page to watch", || {
        (status(&first)["viewers"] == 1).then_some(())
    });
    first.stop();
    drop(first);
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.listen = addr.to_string();
    let second =
        oscstream::app::relay::Relay::start(config).expect("the relay restarts on its port");
    let back = std::time::Instant::now();
    wait_for(
        Duration::from_secs(10),
        "the page to come back by itself",
        || (status(&second)["viewers"] == 1).then_some(()),
    );
    println!(
        "the page was watching again {:?} after the restart",
        back.elapsed()
    );
}

#[test]
fn kiosk_shows_only_the_view_filling_the_window() {
    if !playwright() {
        return;
    }
    let sim = start_sim();
    // With flat views configured, whose list the page would show under the picture.
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.cameras[0].views = vec![view_spec("door", (30.0, -10.0), (320, 180))];
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let url = format!("http://{}/public/index.html?kiosk=1&probe=1", relay.addr());
    let dom = page_until(
        &url,
        &[],
        Duration::from_secs(60),
        "the kiosk page to draw",
        |shown| {
            let dom = shown.to_string();
            let drawn = attribute(&dom, "probe", "data-nonblank").as_deref() == Some("true");
            // The views' list is filled from /status: the page has it once the model shows.
            let filled = text_of(&dom, "camera-model").is_some_and(|m| m.contains("THETA"));
            (drawn && filled).then_some(dom)
        },
    );
    assert!(dom.contains("class=\"kiosk"), "the body is in kiosk mode");
    assert_eq!(
        attribute(&dom, "probe", "data-kiosk-others-shown").as_deref(),
        Some("0"),
        "header, panels, controls, the finder and the views' list are hidden"
    );
    assert_eq!(
        attribute(&dom, "probe", "data-kiosk-scrolls").as_deref(),
        Some("false"),
        "the page does not scroll"
    );
    let stage = attribute(&dom, "probe", "data-kiosk-stage").unwrap_or_default();
    let window = attribute(&dom, "probe", "data-kiosk-window").unwrap_or_default();
    println!("kiosk: the view is {stage} in a {window} window");
    assert_eq!(stage, window, "the view fills the window");
}

#[test]
fn without_webgl_the_flat_view_shows_with_a_note_and_the_panels_work() {
    if !playwright() {
        return;
    }
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let url = format!("http://{}/public/index.html?probe=1", relay.addr());
    let dom = page_until(
        &url,
        &["--disable-webgl", "--disable-3d-apis"],
        Duration::from_secs(60),
        "the flat page to fill in",
        |shown| {
            let dom = shown.to_string();
            let model = text_of(&dom, "camera-model").is_some_and(|m| m.contains("THETA"));
            let picture = attribute(&dom, "flat", "src").is_some_and(|s| s.starts_with("blob:"));
            // A moving picture, not one frame: several have reached the flat view.
            let frames = attribute(&dom, "probe", "data-received")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= 5);
            (model && picture && frames).then_some(dom)
        },
    );
    assert_eq!(
        attribute(&dom, "probe", "data-flat").as_deref(),
        Some("true")
    );
    let note = text_of(&dom, "gl-note").unwrap_or_default();
    assert!(note.contains("flat picture"), "{note}");
    assert_eq!(attribute(&dom, "gl-note", "hidden"), None, "the note shows");
    assert_eq!(
        attribute(&dom, "flat", "hidden"),
        None,
        "the flat view shows"
    );
    assert_eq!(probe_number(&dom, "errors"), 0, "no script errors");
    assert!(
        probe_number(&dom, "received") >= 5,
        "frames reached the flat view"
    );
}

#[test]
fn with_three_cameras_the_page_shows_a_grid_and_a_click_opens_one() {
    if !playwright() {
        return;
    }
    let sims: Vec<_> = (0..3).map(|_| start_sim()).collect();
    let mut config = relay_config(camera_at(sims[0].addr(), None), Duration::from_secs(10));
    config.cameras = ["front", "lobby", "roof"]
        .iter()
        .zip(&sims)
        .map(|(name, sim)| oscstream::relay::channel::ChannelConfig {
            name: name.to_string(),
            address: camera_at(sim.addr(), None),
            ..config.cameras[0].clone()
        })
        .collect();
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let url = format!("http://{}/public/index.html?probe=1", relay.addr());
    let dom = page_until(
        &url,
        &[],
        Duration::from_secs(60),
        "three live thumbnails",
        |shown| {
            let dom = shown.to_string();
            (attribute(&dom, "probe", "data-thumbs").as_deref() == Some("3")).then_some(dom)
        },
    );
    // Each thumbnail says whether its camera is online and who watches.
    assert!(dom.contains("lobby · RICOH THETA Z1 · "), "{dom}");
    assert!(
        dom.contains(" viewers</p>") || dom.contains(" viewer</p>"),
        "viewers shown"
    );
    assert_eq!(
        attribute(&dom, "main", "hidden").as_deref(),
        Some(""),
        "no single view"
    );
    // A click follows the thumbnail's link: to that camera's sphere view.
    let link = attribute(&dom, "thumb-link-lobby", "href").expect("a link per thumbnail");
    assert_eq!(link, "/public/index.html?camera=lobby");
    let url = format!("http://{}{link}&probe=1", relay.addr());
    let dom = page_until(
        &url,
        &[],
        Duration::from_secs(60),
        "lobby's sphere",
        |shown| {
            let dom = shown.to_string();
            (attribute(&dom, "probe", "data-nonblank").as_deref() == Some("true")).then_some(dom)
        },
    );
    assert_eq!(probe_number(&dom, "errors"), 0);
    assert!(
        sims[1].counters().preview_requests.load(Ordering::SeqCst) >= 1,
        "the sphere read lobby's camera"
    );
    assert_eq!(
        text_of(&dom, "camera-model").as_deref(),
        Some("RICOH THETA Z1")
    );
    // Every route the panel names is lobby's.
    let routes = &dom[dom.find("id=\"routes\"").expect("the Routes panel")..];
    let routes = &routes[..routes.find("</ul>").unwrap()];
    let hrefs: Vec<&str> = routes
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    for stream in [
        "/video_feed",
        "/video.mkv",
        "/snapshot.jpg",
        "/flat.jpg",
        "/status",
    ] {
        let link = format!("/cameras/lobby{stream}");
        assert!(hrefs.contains(&link.as_str()), "{link} in {hrefs:?}");
        assert!(
            !hrefs.contains(&stream),
            "{stream} is the first camera's: {hrefs:?}"
        );
    }
    assert!(
        hrefs.contains(&"/public/index.html?kiosk=1&amp;camera=lobby"),
        "{hrefs:?}"
    );
}

#[test]
fn the_view_finder_shows_ffmpegs_numbers_and_the_views_have_thumbnails() {
    if !playwright() {
        return;
    }
    let sim = start_sim();
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.cameras[0].views = vec![view_spec("door", (30.0, -10.0), (640, 360))];
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    // A link to a view in ffmpeg's numbers opens the sphere looking there.
    let url = format!(
        "http://{}/public/index.html?probe=1#yaw=30&pitch=-10&fov=90",
        relay.addr()
    );
    let dom = page_until(
        &url,
        &[],
        Duration::from_secs(60),
        "the finder and a view thumbnail",
        |shown| {
            let dom = shown.to_string();
            let thumb = attribute(&dom, "view-thumb-door", "src")
                .is_some_and(|src| src.contains("/views/door/snapshot.jpg"));
            thumb.then_some(dom)
        },
    );
    assert_eq!(
        text_of(&dom, "finder-numbers").as_deref(),
        Some("yaw 30° · pitch -10° · fov 90°")
    );
    let link = attribute(&dom, "finder-link", "href")
        .unwrap()
        .replace("&amp;", "&");
    assert_eq!(
        link,
        "/flat.jpg?yaw=30&pitch=-10&roll=0&fov=90&width=1280&height=720"
    );
    // Each view shows its numbers and the links to its stream, snapshot and recording.
    let item = &dom[dom.find("id=\"view-item-door\"").expect("the door view")..];
    let item = &item[..item.find("</li>").unwrap()];
    assert!(
        item.contains("yaw 30°, pitch -10°, roll 0°, fov 90°"),
        "{item}"
    );
    for what in ["video_feed", "snapshot.jpg", "video.mkv"] {
        assert!(
            item.contains(&format!("href=\"/views/door/{what}\"")),
            "{what}: {item}"
        );
    }
    let snippet = text_of(&dom, "finder-snippet").unwrap();
    assert!(
        snippet.contains("[[camera.view]]")
            && [
                "yaw = 30",
                "pitch = -10",
                "roll = 0",
                "fov = 90",
                "# fps = "
            ]
            .iter()
            .all(|line| snippet.contains(line)),
        "{snippet}"
    );
    // The link works: it renders that view.
    let (code, _) = raw_request(
        relay.addr(),
        &format!("GET {link} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    );
    assert!(code.contains("200"), "{code}");
}
