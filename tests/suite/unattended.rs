//! Months unattended, against the simulator: the relay keeps the camera awake (its sleep
//! and power-off timers at "never" while it runs, set again after every reconnect) and
//! puts the camera's own values back on a clean stop.

use crate::common::*;
use oscstream::sim::{FACTORY_TIMERS, Fault, SimConfig, Timers};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What a THETA V or later reads back after both timers were set to 65535 ("never").
const NEVER: Timers = Timers {
    sleep_delay: 0,
    off_delay: 0,
};

#[test]
fn the_timers_are_set_after_connecting_again_after_a_reconnect_and_put_back_on_stop() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    assert_eq!(sim.timers(), FACTORY_TIMERS);
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    viewer.next_part();
    wait_for(Duration::from_secs(5), "the timers to be set", || {
        (sim.timers() == NEVER).then_some(())
    });
    assert_eq!(sim.counters().timer_sets.load(Ordering::SeqCst), 1);
    // A plain reconnect finds them still at "never": one read, no set, no pause.
    let opened = sim.counters().preview_requests.load(Ordering::SeqCst);
    sim.inject(Fault::DieMidFrame);
    wait_for(Duration::from_secs(5), "the preview to reopen", || {
        viewer.next_part();
        (sim.counters().preview_requests.load(Ordering::SeqCst) > opened).then_some(())
    });
    assert_eq!(sim.counters().timer_sets.load(Ordering::SeqCst), 1);
    // A camera that lost power has its own values again: set again after the reconnect.
    sim.reset_timers();
    sim.inject(Fault::DieMidFrame);
    wait_for(Duration::from_secs(5), "the timers to be set again", || {
        viewer.next_part();
        let c = sim.counters().timer_sets.load(Ordering::SeqCst);
        (c == 2 && sim.timers() == NEVER).then_some(())
    });
    relay.stop();
    assert_eq!(
        sim.timers(),
        FACTORY_TIMERS,
        "the camera's own values are back"
    );
}

#[test]
fn let_camera_sleep_leaves_the_timers_alone() {
    let sim = start_sim();
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.cameras[0].keep_awake = false;
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    for _ in 0..5 {
        viewer.next_part();
    }
    relay.stop();
    assert_eq!(sim.counters().timer_sets.load(Ordering::SeqCst), 0);
    assert_eq!(sim.timers(), FACTORY_TIMERS);
}

#[test]
fn with_let_camera_sleep_an_idle_relay_keeps_the_cameras_last_failure() {
    // The relay does not ask a camera it lets sleep anything while nobody watches, so
    // nothing it learns then can clear why the camera last failed.
    let sim = start_sim();
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_millis(200));
    config.cameras[0].keep_awake = false;
    config.timeouts.awake_check = Duration::from_millis(100);
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    viewer.next_part();
    sim.kill();
    wait_for(Duration::from_secs(20), "the camera's failure", || {
        status(&relay)["last_error"].is_string().then_some(())
    });
    drop(viewer);
    wait_upstream(&relay, "idle", Duration::from_secs(20));
    // Many housekeeping rounds (one every 100 ms) later, the failure is still said.
    let until = std::time::Instant::now() + Duration::from_millis(1500);
    while std::time::Instant::now() < until {
        let s = status(&relay);
        assert!(s["last_error"].is_string(), "{s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_puts_the_timers_back() {
    let sim = start_sim();
    let port = sim.addr().port().to_string();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oscstream"));
    command
        .args(["-o", "127.0.0.1", "-p", &port, "--listen", "127.0.0.1:0"])
        .stderr(Stdio::null());
    let (mut relay, url) = start_binary_with(&mut command, "open http://");
    let mut viewer = Viewer::connect(addr_of(&url), "/video_feed");
    viewer.next_part();
    wait_for(Duration::from_secs(5), "the timers to be set", || {
        (sim.timers() == NEVER).then_some(())
    });
    // SAFETY: kill(2) on the child we started.
    assert_eq!(unsafe { libc::kill(relay.0.id() as i32, libc::SIGTERM) }, 0);
    let status = wait_for(Duration::from_secs(3), "the relay to exit", || {
        relay.0.try_wait().unwrap()
    });
    assert!(status.success());
    assert_eq!(
        sim.timers(),
        FACTORY_TIMERS,
        "the camera's own values are back"
    );
}

#[test]
fn status_shows_the_cameras_health_and_metrics_export_it() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    sim.set_state(serde_json::json!({"_batteryState": "charging", "batteryLevel": 0.55}));
    let health = wait_for(Duration::from_secs(5), "the health to be asked", || {
        viewer.next_part();
        let s = status(&relay);
        (s["health"]["battery_state"] == "charging").then(|| s["health"].clone())
    });
    assert_eq!(health["battery"], 0.55);
    assert_eq!(health["board_temp"], 38.5);
    assert_eq!(health["cooling_until"], serde_json::Value::Null);
    let metrics = metrics_text(relay.addr());
    assert!(
        metrics.contains("oscstream_camera_battery_ratio{camera=\"main\"} 0.55"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "oscstream_camera_temperature_celsius{camera=\"main\",sensor=\"board\"} 38.5"
        )
    );
}

#[test]
fn an_overheated_camera_cools_down_while_viewers_stay_fed_then_streams_again() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None)); // cool-down 2 s in the tests
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    viewer.next_part();
    let opened = sim.counters().preview_requests.load(Ordering::SeqCst);
    // A warning is shown only.
    sim.set_state(serde_json::json!({"_cameraError": ["HIGH_TEMPERATURE_WARNING"]}));
    wait_for(Duration::from_secs(5), "the warning to show", || {
        viewer.next_part();
        (status(&relay)["health"]["errors"][0] == "HIGH_TEMPERATURE_WARNING").then_some(())
    });
    assert_eq!(status(&relay)["upstream"], "streaming");
    // Too hot: the preview closes, viewers get COOLING frames of the stream's size.
    sim.set_state(serde_json::json!({"_cameraError": ["HIGH_TEMPERATURE"], "_boardTemp": 71.0}));
    let s = wait_for(Duration::from_secs(5), "the cool-down", || {
        viewer.next_part();
        let s = status(&relay);
        (s["upstream"] == "cooling").then_some(s)
    });
    assert!(
        s["offline_reason"]
            .as_str()
            .unwrap()
            .contains("HIGH_TEMPERATURE"),
        "{s}"
    );
    // Prometheus sees the cool-down too: it is one of the upstream states.
    let metrics = metrics_text(relay.addr());
    assert_eq!(
        metric(
            &metrics,
            "oscstream_upstream_state{camera=\"main\",state=\"cooling\"}"
        ),
        1.0
    );
    wait_for(Duration::from_secs(2), "the preview to close", || {
        viewer.next_part();
        (sim.counters().previews_running.load(Ordering::SeqCst) == 0).then_some(())
    });
    sim.set_state(serde_json::json!({"_cameraError": [], "_boardTemp": 45.0}));
    let cooling_started = std::time::Instant::now();
    let mut last = std::time::Instant::now();
    let mut relay_made = 0;
    let back = loop {
        let part = viewer.next_part();
        assert!(
            part.arrived - last <= Duration::from_millis(1500),
            "a frame at least once a second"
        );
        last = part.arrived;
        assert_eq!(
            jpeg_size(&part.jpeg),
            Some(TEST_SIZE),
            "at the stream's size"
        );
        if oscstream::sim::read_stamp(&part.jpeg).is_some() {
            if relay_made > 0 {
                break part.arrived;
            }
        } else {
            relay_made += 1;
        }
        assert!(
            cooling_started.elapsed() < Duration::from_secs(8),
            "the preview never came back"
        );
    };
    println!(
        "{relay_made} COOLING frames, then the camera again after {:?}",
        back - cooling_started
    );
    assert!(relay_made >= 1);
    assert!(
        sim.counters().preview_requests.load(Ordering::SeqCst) > opened,
        "the preview was reopened"
    );
}

#[test]
fn the_lost_hook_runs_once_lost_and_no_more_often_than_allowed() {
    let sim = start_sim();
    let camera = sim.addr();
    let runs = temp_dir("lost").join("runs");
    let mut config = relay_config(camera_at(camera, None), Duration::from_secs(10));
    config.cameras[0].on_lost = Some(oscstream::relay::lost::LostHook {
        command: format!(
            "echo \"$OSCSTREAM_CAMERA\" >> '{}'; echo cycled",
            runs.display()
        ),
        after: Duration::from_millis(500),
    });
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    viewer.next_part();
    let lines = || {
        std::fs::read_to_string(&runs)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    std::thread::sleep(Duration::from_millis(800)); // streaming: never lost
    assert!(lines().is_empty(), "the hook ran for a camera that streams");
    sim.kill();
    let lost = std::time::Instant::now();
    let first = wait_for(Duration::from_secs(5), "the hook to run", || {
        viewer.next_part();
        (!lines().is_empty()).then(std::time::Instant::now)
    });
    assert!(
        first - lost >= Duration::from_millis(450),
        "ran after {:?}",
        first - lost
    );
    assert_eq!(
        lines()[0],
        camera.to_string(),
        "OSCSTREAM_CAMERA is the camera"
    );
    let window = std::time::Instant::now();
    while window.elapsed() < Duration::from_millis(1250) {
        viewer.next_part();
    }
    let count = lines().len();
    assert!(
        (2..=4).contains(&count),
        "{count} runs in about 1.75 s with --lost-after 0.5 s"
    );
}

fn theta_s(firmware: Option<&str>) -> oscstream::sim::Simulator {
    start_sim_with(oscstream::sim::SimConfig {
        model: oscstream::sim::MODEL_S.into(),
        firmware: firmware.map(str::to_string),
        ..sim_config()
    })
}

#[test]
fn a_theta_s_is_switched_to_api_level_2_and_streams_across_three_link_drops() {
    let sim = theta_s(None);
    let relay = start_relay(camera_at(sim.addr(), None));
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    let first = wait_for(Duration::from_secs(5), "a frame from the S", || {
        let part = viewer.next_part();
        oscstream::sim::read_stamp(&part.jpeg)
            .is_some()
            .then_some(part)
    });
    assert_eq!(
        jpeg_size(&first.jpeg),
        Some((640, 320)),
        "an S previews at 640x320"
    );
    assert_eq!(sim.counters().handshakes.load(Ordering::SeqCst), 1);
    for drop in 1..=3 {
        sim.inject(Fault::DieMidFrame); // the link drops: the S is back at level 1
        wait_for(Duration::from_secs(5), "the S to stream again", || {
            viewer.next_part();
            (sim.counters().handshakes.load(Ordering::SeqCst) == 1 + drop
                && status(&relay)["online"] == true)
                .then_some(())
        });
    }
}

#[test]
fn another_app_holding_the_camera_is_said_in_a_sentence_and_retried() {
    let sim = theta_s(None);
    sim.set_exclusive_use(true);
    let relay = start_relay(camera_at(sim.addr(), None));
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    let reason = wait_for(Duration::from_secs(5), "the sentence", || {
        viewer.next_part();
        let s = status(&relay);
        s["offline_reason"]
            .as_str()
            .filter(|r| r.contains("close the THETA app on your phone"))
            .map(str::to_string)
    });
    println!("{reason}");
    sim.set_exclusive_use(false);
    wait_for(Duration::from_secs(5), "the retry to stream", || {
        viewer.next_part();
        (status(&relay)["online"] == true).then_some(())
    });
}

#[test]
fn a_theta_s_with_old_firmware_is_said_once_and_clearly() {
    let sim = theta_s(Some("01.42"));
    let relay = start_relay(camera_at(sim.addr(), None));
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    let reason = wait_for(Duration::from_secs(5), "the sentence", || {
        viewer.next_part();
        status(&relay)["offline_reason"]
            .as_str()
            .filter(|r| r.contains("01.42") && r.contains("01.62"))
            .map(str::to_string)
    });
    println!("{reason}");
    assert_eq!(sim.counters().preview_requests.load(Ordering::SeqCst), 0);
}

fn named_sim(mdns: &str) -> oscstream::sim::Simulator {
    start_sim_with(oscstream::sim::SimConfig {
        mdns: Some(mdns.into()),
        ..sim_config()
    })
}

#[test]
fn discover_finds_the_camera_by_name() {
    let sim = named_sim("127.0.0.1:0");
    let mdns = sim.mdns_addr().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oscstream"))
        .args(["discover", "--timeout", "1", "--mdns", &mdns])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = sim.addr().port();
    assert!(
        text.contains(&format!("THETAYN10010001 at 127.0.0.1:{port} (THETAYN10010001.local): RICOH THETA Z1, firmware 2.20.3")),
        "{text}"
    );
    // No login asked for: Mode 1's flags, and the responder that answered.
    assert!(
        text.contains(&format!(
            "  oscstream -o THETAYN10010001.local -p {port} --mdns {mdns}\n"
        )),
        "{text}"
    );
    // A camera that asks for Digest auth gets Mode 2's flags.
    let locked = start_sim_with(oscstream::sim::SimConfig {
        mdns: Some("127.0.0.1:0".into()),
        credentials: Some(oscstream::formats::osc::Credentials::new(
            "THETAYN10010001",
            "x",
        )),
        ..sim_config()
    });
    let locked_mdns = locked.mdns_addr().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oscstream"))
        .args(["discover", "--timeout", "1", "--mdns", &locked_mdns])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let port = locked.addr().port();
    assert!(
        text.contains(&format!(
            "  oscstream -r -o THETAYN10010001.local -p {port} --id THETAYN10010001 --pwd-file ~/.theta-pwd --mdns {locked_mdns}\n"
        )),
        "{text}"
    );
    // Nobody there: a sentence on how else to look.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oscstream"))
        .args(["discover", "--timeout", "1", "--mdns", "127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("router"));
}

#[test]
fn a_relay_by_name_follows_the_camera_to_a_new_port() {
    let first = named_sim("127.0.0.1:0");
    let mdns = first.mdns_addr().unwrap();
    // As `-o THETAYN10010001.local --mdns ADDR` builds it: no port, the name resolved by mDNS.
    let camera = oscstream::camera::client::CameraAddr {
        set_in: Default::default(),
        host: "THETAYN10010001.local".into(),
        port: 80,
        credentials: None,
        mdns: Some(oscstream::camera::client::MdnsName {
            target: mdns,
            port_given: false,
        }),
    };
    let relay = start_relay(camera);
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    wait_for(
        Duration::from_secs(5),
        "frames from the first address",
        || {
            let part = viewer.next_part();
            oscstream::sim::read_stamp(&part.jpeg)
                .is_some()
                .then_some(())
        },
    );
    first.kill();
    // The camera comes back with a new HTTP port, announced under the same name.
    let second = named_sim(&mdns.to_string());
    wait_for(Duration::from_secs(10), "frames from the new port", || {
        viewer.next_part();
        (second.counters().frames_sent.load(Ordering::SeqCst) > 0).then_some(())
    });
    drop(relay);
}

#[test]
fn the_camera_is_kept_awake_from_the_first_second_with_nobody_watching() {
    let sim = start_sim();
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    // RICOH's real pause, so that a pause on the viewer's path would show.
    config.timeouts.set_options_pause = Duration::from_secs(1);
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    wait_for(Duration::from_secs(3), "the timers to be set", || {
        (sim.timers() == NEVER).then_some(())
    });
    let s = status(&relay);
    assert_eq!(sim.counters().preview_requests.load(Ordering::SeqCst), 0);
    assert_eq!(s["upstream"], "idle", "{s}");
    assert_eq!(s["fps"], 0.0, "{s}");
    let (_, cameras) = get_json(&format!("http://{}/cameras", relay.addr()));
    assert_eq!(
        cameras["cameras"][0]["model"],
        oscstream::sim::MODEL,
        "{cameras}"
    );
    // A relay up a little while: RICOH's pause after the set is over before anyone comes.
    wait_out_ricohs_pause(&relay);
    let t = std::time::Instant::now();
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    while oscstream::sim::read_stamp(&viewer.next_part().jpeg).is_none() {}
    let first = t.elapsed();
    println!("first camera frame {first:?} after the viewer joined");
    // Well under RICOH's one-second pause, which is what this guards against.
    assert!(first < Duration::from_millis(800), "{first:?}");
    assert_eq!(sim.counters().timer_sets.load(Ordering::SeqCst), 1);
}

#[test]
fn timers_lost_or_unreachable_while_nobody_watches_are_set_at_the_next_contact() {
    // The camera is off when the relay starts: the first contact fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut config = relay_config(camera_at(addr, None), Duration::from_secs(10));
    config.timeouts.awake_check = Duration::from_millis(300);
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    std::thread::sleep(Duration::from_millis(300)); // the camera stays off a while
    // It comes on: found with factory timers, which are set without anyone watching.
    let sim = start_sim_with(SimConfig {
        listen: addr.to_string(),
        ..sim_config()
    });
    wait_for(Duration::from_secs(3), "the timers to be set", || {
        (sim.timers() == NEVER).then_some(())
    });
    // It loses power and comes back with factory timers, still with nobody watching.
    sim.reset_timers();
    wait_for(Duration::from_secs(3), "the timers to be set again", || {
        (sim.timers() == NEVER).then_some(())
    });
    assert_eq!(sim.counters().timer_sets.load(Ordering::SeqCst), 2);
    assert_eq!(sim.counters().preview_requests.load(Ordering::SeqCst), 0);
    relay.stop();
    assert_eq!(
        sim.timers(),
        FACTORY_TIMERS,
        "the camera's own values are back"
    );
}

#[test]
fn a_lost_hook_that_prints_more_than_a_pipe_holds_is_not_blocked() {
    let sim = start_sim();
    let dir = temp_dir("lost-loud");
    let done = dir.join("done");
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.cameras[0].on_lost = Some(oscstream::relay::lost::LostHook {
        // 200 KB of output, more than a pipe holds, then a mark that it got past it.
        command: format!(
            "head -c 200000 /dev/zero | tr '\\0' x; echo; touch '{}'",
            done.display()
        ),
        after: Duration::from_millis(300),
    });
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    viewer.next_part();
    sim.kill();
    wait_for(
        Duration::from_secs(5),
        "the hook to get past its output",
        || {
            viewer.next_part();
            done.exists().then_some(())
        },
    );
}

#[test]
fn a_relay_killed_with_sigkill_leaves_the_cameras_own_timers_to_the_next() {
    let sim = start_sim();
    let port = sim.addr().port().to_string();
    let state = temp_dir("state-dir");
    let relay = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oscstream"));
        command
            .args(["-o", "127.0.0.1", "-p", &port, "--listen", "127.0.0.1:0"])
            .env("STATE_DIRECTORY", &state)
            .stderr(Stdio::null());
        start_binary_with(&mut command, "open http://")
    };
    let (first, _) = relay();
    wait_for(Duration::from_secs(5), "the timers to be set", || {
        (sim.timers() == NEVER).then_some(())
    });
    drop(first); // SIGKILL: nothing put back
    assert_eq!(sim.timers(), NEVER);
    // The next relay finds "never" on the camera, but knows the camera's own values.
    let (mut second, url) = relay();
    let sets = sim.counters().timer_sets.load(Ordering::SeqCst);
    // The model is learnt right after the timers were read, at first contact.
    wait_for(
        Duration::from_secs(5),
        "the next relay's first contact",
        || {
            let (_, s) = get_json(&format!("http://{}/status", addr_of(&url)));
            (!s["camera_model"].is_null()).then_some(())
        },
    );
    // SAFETY: kill(2) on the child we started.
    assert_eq!(
        unsafe { libc::kill(second.0.id() as i32, libc::SIGTERM) },
        0
    );
    let status = wait_for(Duration::from_secs(3), "the relay to exit", || {
        second.0.try_wait().unwrap()
    });
    assert!(status.success());
    assert_eq!(sim.counters().timer_sets.load(Ordering::SeqCst), sets + 1);
    assert_eq!(
        sim.timers(),
        FACTORY_TIMERS,
        "the camera's own values are back after a kill -9 and a clean stop"
    );
    assert!(
        std::fs::read_dir(&state).unwrap().next().is_none(),
        "the state file is gone once they are back"
    );
}

#[test]
fn a_settled_relay_by_name_gets_its_first_frame_as_fast_as_by_address() {
    let sim = named_sim("127.0.0.1:0");
    let by_name = oscstream::camera::client::CameraAddr {
        set_in: Default::default(),
        host: "THETAYN10010001.local".into(),
        port: 80,
        credentials: None,
        mdns: Some(oscstream::camera::client::MdnsName {
            target: sim.mdns_addr().unwrap(),
            port_given: false,
        }),
    };
    let first_frame = |camera: oscstream::camera::client::CameraAddr| {
        let mut config = relay_config(camera, Duration::from_secs(10));
        config.timeouts.set_options_pause = Duration::from_secs(1);
        let relay = oscstream::app::relay::Relay::start(config).unwrap();
        // Settled: it reached the camera (timers read, model known) and RICOH's pause is over.
        wait_for(Duration::from_secs(3), "first contact", || {
            (!status(&relay)["camera_model"].is_null()).then_some(())
        });
        wait_out_ricohs_pause(&relay);
        let t = std::time::Instant::now();
        let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
        while oscstream::sim::read_stamp(&viewer.next_part().jpeg).is_none() {}
        let took = t.elapsed();
        (took, status(&relay))
    };
    let (ip_time, _) = first_frame(camera_at(sim.addr(), None));
    let (name_time, s) = first_frame(by_name);
    println!(
        "first camera frame of a settled relay: by address {ip_time:?}, by name {name_time:?}"
    );
    // Well under RICOH's one-second pause, which a settled relay no longer waits.
    assert!(name_time < Duration::from_millis(800), "{name_time:?}");
    assert_eq!(s["camera"], "THETAYN10010001.local:80");
    assert_eq!(s["camera_address"], sim.addr().to_string(), "{s}");
}

#[test]
fn only_the_timers_the_relay_writes_are_read_back_from_the_state_file() {
    let sim = start_sim();
    let state = temp_dir("state-file-foreign");
    // A file the relay did not write: other options, and a timer out of any range.
    std::fs::write(
        state.join("timers-main.json"),
        r#"{"iso":100,"_shutterVolume":50,"captureMode":7,"sleepDelay":300,"offDelay":600,"_offDelayUSB":99999999}"#,
    )
    .unwrap();
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.cameras[0].state_dir = Some(state.clone());
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    wait_for(Duration::from_secs(5), "the timers to be set", || {
        (sim.timers() == NEVER).then_some(())
    });
    relay.stop();
    // The camera refuses setOptions naming an option it lacks: had iso or captureMode
    // been sent back, nothing would have been put back.
    assert_eq!(
        sim.timers(),
        Timers {
            sleep_delay: 300,
            off_delay: 600
        }
    );
}

#[test]
fn a_fifo_or_a_symlink_to_dev_zero_in_place_of_the_state_file_is_refused_and_the_camera_streams() {
    for planted in ["fifo", "symlink"] {
        let sim = start_sim();
        let state = temp_dir(&format!("state-file-{planted}"));
        let file = state.join("timers-main.json");
        if planted == "fifo" {
            let path = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
            // SAFETY: mkfifo reads the one path it is given.
            assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        } else {
            std::os::unix::fs::symlink("/dev/zero", &file).unwrap();
        }
        let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
        config.cameras[0].state_dir = Some(state.clone());
        let relay = oscstream::app::relay::Relay::start(config).unwrap();
        let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
        let part = viewer.next_part();
        assert!(part.camera_seq() > 0, "{planted}: the camera streams");
        wait_for(Duration::from_secs(5), "the timers to be set", || {
            (sim.timers() == NEVER).then_some(())
        });
        drop(viewer);
        relay.stop();
        assert_eq!(sim.timers(), FACTORY_TIMERS, "{planted}: put back");
    }
}

/// Waits until RICOH's pause after the relay's last `setOptions` is over.
fn wait_out_ricohs_pause(relay: &oscstream::app::relay::Relay) {
    wait_for(Duration::from_secs(10), "RICOH's pause to end", || {
        let control = relay.channel().control();
        control.pause_left().is_zero().then_some(())
    });
}
