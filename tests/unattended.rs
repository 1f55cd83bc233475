//! Months unattended, against the simulator: the relay keeps the camera awake (its sleep
//! and power-off timers at "never" while it runs, set again after every reconnect) and
//! puts the camera's own values back on a clean stop.

mod common;

use common::*;
use oscstream::sim::{FACTORY_TIMERS, Fault, Timers};
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
    sim.inject(Fault::DieMidFrame);
    wait_for(Duration::from_secs(5), "the timers to be set again", || {
        viewer.next_part();
        (sim.counters().timer_sets.load(Ordering::SeqCst) >= 2).then_some(())
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
    let relay = oscstream::relay::Relay::start(config).unwrap();
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    for _ in 0..5 {
        viewer.next_part();
    }
    relay.stop();
    assert_eq!(sim.counters().timer_sets.load(Ordering::SeqCst), 0);
    assert_eq!(sim.timers(), FACTORY_TIMERS);
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
