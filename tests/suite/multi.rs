//! Several cameras, one relay: three simulated THETAs (one behind Digest auth, its
//! password read from a file) from a `--config` file, each over its own one connection,
//! each independent of the others.

use crate::common::*;
use oscstream::app::relay::{Relay, RelayConfig};
use oscstream::camera::client::Mode;
use oscstream::formats::osc::Credentials;
use oscstream::relay::channel::ChannelConfig;
use oscstream::sim::{SimConfig, Simulator};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const ID: &str = "THETAYN10010104";

struct Site {
    sims: Vec<Simulator>,
    relay: Relay,
    _dir: PathBuf,
}

/// Three cameras named front, lobby and roof; lobby wants Digest auth.
fn three_cameras() -> Site {
    // Two tests build a site at once: one folder each.
    let dir = temp_dir(&format!("multi-{:?}", std::thread::current().id()));
    let pwd = dir.join("lobby.pwd");
    std::fs::write(&pwd, "lobby-secret\n").unwrap();
    std::fs::set_permissions(&pwd, std::fs::Permissions::from_mode(0o600)).unwrap();
    let sims = vec![
        start_sim(),
        start_sim_with(SimConfig {
            credentials: Some(Credentials::new(ID, "lobby-secret")),
            ..sim_config()
        }),
        start_sim(),
    ];
    let toml = format!(
        "[[camera]]\nname = \"front\"\nhost = \"127.0.0.1\"\nport = {}\n\n\
         [[camera]]\nname = \"lobby\"\nhost = \"127.0.0.1\"\nport = {}\nid = \"{ID}\"\npwd_file = \"lobby.pwd\"\n\n\
         [[camera]]\nname = \"roof\"\nhost = \"127.0.0.1\"\nport = {}\n",
        sims[0].addr().port(),
        sims[1].addr().port(),
        sims[2].addr().port()
    );
    let file = dir.join("cameras.toml");
    std::fs::write(&file, toml).unwrap();
    let config = oscstream::settings::config::load(&file).expect("the file is good");
    let cameras = config
        .cameras
        .into_iter()
        .map(|spec| ChannelConfig {
            name: spec.name,
            address: spec.addr,
            mode: Mode::Direct,
            max_viewers: 8,
            preview: spec.preview,
            keep_awake: true,
            cool_down: Duration::from_secs(2),
            on_lost: None,
            state_dir: None,
            views: spec.views,
            mount: spec.mount,
        })
        .collect();
    let relay = Relay::start(RelayConfig {
        cameras,
        ..relay_config(camera_at(sims[0].addr(), None), Duration::from_secs(10))
    })
    .unwrap();
    Site {
        sims,
        relay,
        _dir: dir,
    }
}

/// Reads for `window` and returns the camera frame numbers seen.
fn read_for(viewer: &mut Viewer, window: Duration) -> Vec<u64> {
    let t = Instant::now();
    let mut seqs = Vec::new();
    while t.elapsed() < window {
        seqs.push(viewer.next_camera_part().camera_seq());
    }
    seqs
}

#[test]
fn three_cameras_stream_at_once_each_over_one_connection() {
    let site = three_cameras();
    let addr = site.relay.addr();
    let mut viewers: Vec<Viewer> = ["front", "lobby", "roof"]
        .iter()
        .map(|name| Viewer::connect(addr, &format!("/cameras/{name}/video_feed")))
        .collect();
    // The first camera also answers at the seed's route: the same one connection.
    viewers.push(Viewer::connect(addr, "/video_feed"));
    for v in &mut viewers {
        v.next_part();
    }
    for (i, sim) in site.sims.iter().enumerate() {
        assert_eq!(
            sim.counters().preview_requests.load(Ordering::SeqCst),
            1,
            "camera {i} saw exactly one preview connection"
        );
    }
    let (code, list) = get_json(&format!("http://{addr}/cameras"));
    assert_eq!(code, 200);
    let names: Vec<&str> = list["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["front", "lobby", "roof"]);
    let front = &list["cameras"][0];
    assert_eq!(front["viewers"], 2);
    assert_eq!(front["urls"]["video_feed"], "/cameras/front/video_feed");
    assert_eq!(
        get_json(&format!("http://{addr}/cameras/lobby/status")).1["viewers"],
        1
    );
    assert_eq!(
        get_json(&format!("http://{addr}/cameras/nope/status")).0,
        404
    );
    let (code, info) = get_json(&format!("http://{addr}/cameras/lobby/info"));
    assert_eq!(
        (code, info["model"].as_str()),
        (200, Some("RICOH THETA Z1")),
        "Digest camera answers"
    );
    let metrics = metrics_text(addr);
    for name in ["front", "lobby", "roof"] {
        assert!(
            metrics.contains(&format!("oscstream_viewers{{camera=\"{name}\"}}")),
            "{name}"
        );
    }
}

#[test]
fn a_camera_that_stops_leaves_the_others_at_full_rate() {
    let site = three_cameras();
    let addr = site.relay.addr();
    let mut front = Viewer::connect(addr, "/cameras/front/video_feed");
    let mut lobby = Viewer::connect(addr, "/cameras/lobby/video_feed");
    let mut roof = Viewer::connect(addr, "/cameras/roof/video_feed");
    front.next_part();
    roof.next_part();
    lobby.next_part();
    site.sims[1].kill();
    let window = Duration::from_secs(2);
    let roof_reader = std::thread::spawn(move || read_for(&mut roof, window));
    let lobby_reader = std::thread::spawn(move || {
        let t = Instant::now();
        let mut parts = 0;
        while t.elapsed() < window {
            lobby.next_part(); // NO SIGNAL frames: the viewer stays fed
            parts += 1;
        }
        parts
    });
    let front_seqs = read_for(&mut front, window);
    let roof_seqs = roof_reader.join().unwrap();
    let lobby_parts = lobby_reader.join().unwrap();
    for (name, seqs) in [("front", &front_seqs), ("roof", &roof_seqs)] {
        let span = seqs.last().unwrap() - seqs.first().unwrap() + 1;
        let share = seqs.len() as f64 / span as f64;
        println!(
            "{name}: {} frames in 2 s while lobby was off ({:.0} % of the camera's)",
            seqs.len(),
            share * 100.0
        );
        assert!(
            share >= 0.95 && seqs.len() >= 55,
            "{name} kept its full rate: {seqs:?}"
        );
    }
    assert!(lobby_parts >= 2, "the lobby viewer is still fed");
    let lobby_status = get_json(&format!("http://{addr}/cameras/lobby/status")).1;
    assert_eq!(lobby_status["online"], false);
}

#[test]
fn config_file_mistakes_exit_2_with_the_line() {
    let dir = temp_dir("badconf");
    let cases = [
        (
            "[[camera]]\nname = \"a\"\nhost = \"h\"\nspeed = 3\n",
            "line 4",
        ),
        (
            "[[camera]]\nname = \"a\"\nhost = \"h\"\n\n[[camera]]\nname = \"a\"\nhost = \"i\"\n",
            "line 6",
        ),
        (
            "[[camera]]\nname = \"a\"\nhost = \"h\"\nid = \"X\"\npwd_file = \"missing.pwd\"\n",
            "line 5",
        ),
    ];
    for (i, (text, line)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_oscstream"))
            .args(["--config", file.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(line) && err.contains(&format!("bad{i}.toml")),
            "{err}"
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oscstream"))
        .args([
            "--config",
            dir.join("bad0.toml").to_str().unwrap(),
            "--simulate",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("leave out --simulate"));
}

#[test]
fn simulate_n_relays_n_cameras() {
    let (_relay, url) = start_binary(
        &["--simulate", "3", "--listen", "127.0.0.1:0"],
        "open http://",
    );
    let addr = addr_of(&url);
    let (code, list) = get_json(&format!("http://{addr}/cameras"));
    assert_eq!(code, 200);
    assert_eq!(list["cameras"].as_array().unwrap().len(), 3);
    let mut viewer = Viewer::connect(addr, "/cameras/sim3/video_feed");
    assert_eq!(jpeg_size(&viewer.next_part().jpeg), Some((1024, 512)));
}

#[test]
fn an_unreachable_config_camera_is_reported_before_anyone_watches_and_names_its_line() {
    // A port nobody listens on: the camera "is off".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = format!("[[camera]]\nname = \"porch\"\nhost = \"127.0.0.1\"\nport = {port}\n");
    let (_relay, addr) = relay_on_config("config-unreachable", &config);
    let status = wait_for(
        Duration::from_secs(30),
        "/status to say the camera does not answer",
        || {
            let (_, s) = get_json(&format!("http://{addr}/status"));
            s["last_error"].is_string().then_some(s)
        },
    );
    assert_eq!(status["upstream"], "idle", "{status}");
    let error = status["last_error"].as_str().unwrap();
    assert!(error.contains("cannot reach the camera"), "{error}");
    // The hint names the config's line, not flags the user never gave.
    assert!(
        error.contains("cameras.toml, line 3") && !error.contains("-o/-p"),
        "{error}"
    );
    let reason = status["offline_reason"].as_str().unwrap();
    assert!(
        reason.contains("nobody is watching") && reason.contains("does not answer"),
        "{reason}"
    );
}
