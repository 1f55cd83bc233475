//! A whole camera life, compressed: the simulator lives it on its own clock (240 camera
//! seconds per real second), as a THETA does — asleep after `sleepDelay` idle, off
//! `offDelay` later, hot while it streams, factory timers after every power cycle — and
//! the relay, left alone, must keep it alive through all of it. Nobody touches anything:
//! the only way back from a power loss is the relay's own `--on-camera-lost` hook, which
//! asks a "USB hub" (a little always-on server here, as uhubctl on a Pi) to cycle power.
//! The camera comes back from it with its factory timers and, as after a DHCP lease ran
//! out, at a new address: the relay follows it by name (mDNS).

use crate::common::*;
use oscstream::sim::{LifeConfig, SimConfig, Simulator, Timers};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Camera seconds per real second.
const SCALE: f64 = 240.0;

/// A camera of a newer kind out of the box: asleep after a minute, off five minutes later.
const FACTORY: Timers = Timers {
    sleep_delay: 60,
    off_delay: 300,
};

/// What a THETA V or later reads back after both timers were set to "never".
const NEVER: Timers = Timers {
    sleep_delay: 0,
    off_delay: 0,
};

fn camera_config(addr: &str, mdns: &str) -> SimConfig {
    SimConfig {
        listen: addr.into(),
        mdns: Some(mdns.into()),
        life: Some(LifeConfig {
            time_scale: SCALE,
            factory: FACTORY,
            // From 38 °C to HIGH_TEMPERATURE in eight camera minutes of streaming.
            heat_per_minute: 4.0,
            cool_per_minute: 4.0,
        }),
        ..sim_config()
    }
}

/// The camera on its USB port, and the hub that can cycle its power.
struct Hub {
    addr: SocketAddr,
    camera: Arc<Mutex<Option<Simulator>>>,
    /// When power came back, for each cycle.
    cycles: Arc<Mutex<Vec<Instant>>>,
}

impl Hub {
    fn start(camera: Simulator) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mdns = camera.mdns_addr().unwrap().to_string();
        let camera = Arc::new(Mutex::new(Some(camera)));
        let cycles = Arc::new(Mutex::new(Vec::new()));
        let (port, log) = (camera.clone(), cycles.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut line = String::new();
                let _ = BufReader::new(&conn).read_line(&mut line);
                // Power off, then on: the camera boots with its factory timers, and gets
                // a new address (a new port here), announced under its name.
                let mut slot = port.lock().unwrap();
                if let Some(old) = slot.take() {
                    old.kill();
                }
                *slot = Some(Simulator::start(camera_config("127.0.0.1:0", &mdns)).unwrap());
                log.lock().unwrap().push(Instant::now());
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
            }
        });
        Hub {
            addr,
            camera,
            cycles,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Simulator) -> T) -> T {
        f(self
            .camera
            .lock()
            .unwrap()
            .as_ref()
            .expect("a camera on the port"))
    }

    /// A power cut nobody asked for.
    fn cut_power(&self) {
        self.with(Simulator::kill);
    }
}

/// The timeline, in real and camera time since the start.
struct Timeline {
    start: Instant,
    events: Vec<String>,
}

impl Timeline {
    fn mark(&mut self, what: &str) {
        let real = self.start.elapsed().as_secs_f64();
        let line = format!("{real:6.2} s real, {:6.0} s camera: {what}", real * SCALE);
        println!("{line}");
        self.events.push(line);
    }
}

#[test]
fn a_camera_left_alone_lives_through_sleep_timers_heat_a_power_loss_and_a_restart() {
    let hub = Hub::start(Simulator::start(camera_config("127.0.0.1:0", "127.0.0.1:0")).unwrap());
    let first_addr = hub.with(Simulator::addr);
    // As `-o THETAYN10010001.local --mdns ADDR` builds it: the name, resolved by mDNS.
    let camera = oscstream::camera::client::CameraAddr {
        set_in: Default::default(),
        host: "THETAYN10010001.local".into(),
        port: 80,
        credentials: None,
        mdns: Some(oscstream::camera::client::MdnsName {
            target: hub.with(|c| c.mdns_addr().unwrap()),
            port_given: false,
        }),
    };
    let mut config = relay_config(camera, Duration::from_secs(1));
    config.timeouts.awake_check = Duration::from_millis(500);
    config.cameras[0].cool_down = Duration::from_secs(2);
    config.cameras[0].on_lost = Some(oscstream::relay::lost::LostHook {
        command: format!("curl -s -m 5 http://{}/cycle", hub.addr),
        // Longer than finding the camera again at its new address takes.
        after: Duration::from_secs(3),
    });
    let mut life = Timeline {
        start: Instant::now(),
        events: Vec::new(),
    };
    let relay = oscstream::app::relay::Relay::start(config.clone()).unwrap();
    life.mark("relay up, nobody watching");

    // Three of the camera's sleep + off periods with nobody watching.
    let period =
        Duration::from_secs_f64(f64::from(FACTORY.sleep_delay + FACTORY.off_delay) / SCALE);
    let idle = Instant::now();
    while idle.elapsed() < period * 3 {
        assert_eq!(
            hub.with(Simulator::switched_off),
            None,
            "switched off while idle"
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(hub.with(Simulator::timers), NEVER);
    assert_eq!(
        hub.with(|c| c.counters().preview_requests.load(Ordering::SeqCst)),
        0
    );
    life.mark(
        "three sleep+off periods idle: timers at never, never asleep long enough to switch off",
    );

    // A viewer comes and stays; the camera heats up; the relay lets it cool down.
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    wait_for(Duration::from_secs(5), "camera frames", || {
        oscstream::sim::read_stamp(&viewer.next_part().jpeg).map(drop)
    });
    life.mark("a viewer joins: camera frames");
    wait_for(
        Duration::from_secs(15),
        "the relay to let the camera cool down",
        || {
            viewer.next_part();
            (status(&relay)["upstream"] == "cooling").then_some(())
        },
    );
    life.mark("HIGH_TEMPERATURE: the relay closed the preview to cool down");
    wait_for(Duration::from_secs(10), "the preview to open again", || {
        viewer.next_part();
        (status(&relay)["upstream"] == "streaming").then_some(())
    });
    life.mark("cooled down: streaming again");
    assert_eq!(
        hub.with(Simulator::switched_off),
        None,
        "switched off by heat"
    );

    // Power is lost; only the relay's hook can bring it back.
    hub.cut_power();
    life.mark("power lost");
    let back = wait_for(
        Duration::from_secs(30),
        "the hook to cycle the power",
        || {
            viewer.next_part();
            hub.cycles.lock().unwrap().first().copied()
        },
    );
    life.mark("the hook cycled the power: the camera boots with factory timers");
    let back_wall = SystemTime::now() - back.elapsed();
    wait_for(
        Duration::from_secs(30),
        "frames from the camera that came back",
        || {
            let part = viewer.next_part();
            let stamp = oscstream::sim::read_stamp(&part.jpeg)?;
            let written = SystemTime::UNIX_EPOCH + Duration::from_micros(stamp.1 as u64);
            (written >= back_wall).then_some(())
        },
    );
    let recovery = back.elapsed();
    let moved_to = hub.with(Simulator::addr);
    life.mark(&format!(
        "frames again, {recovery:.2?} after the camera was back, now at {moved_to} (was {first_addr})"
    ));
    assert!(recovery < Duration::from_secs(30), "{recovery:?}");
    assert_ne!(moved_to, first_addr, "the camera moved");
    assert_eq!(
        hub.cycles.lock().unwrap().len(),
        1,
        "one power cycle, by the hook"
    );
    let counters = hub.with(|c| {
        (
            c.counters().preview_requests.load(Ordering::SeqCst),
            c.counters().timer_sets.load(Ordering::SeqCst),
        )
    });
    assert_eq!(
        hub.with(Simulator::timers),
        NEVER,
        "previews, timer sets: {counters:?}"
    );
    assert_eq!(
        hub.with(|c| c.counters().previews_with_own_timers.load(Ordering::SeqCst)),
        0,
        "no preview opened on the camera that came back before its timers were at never"
    );
    life.mark("timers at never before its first new preview");

    // A clean stop puts the camera's own values back; the next relay sets them again.
    drop(viewer);
    relay.stop();
    assert_eq!(
        hub.with(Simulator::timers),
        FACTORY,
        "restored on a clean stop"
    );
    life.mark("relay stopped: factory timers back");
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    wait_for(
        Duration::from_secs(3),
        "the restarted relay to set the timers",
        || (hub.with(Simulator::timers) == NEVER).then_some(()),
    );
    life.mark("relay started again: timers at never");
    relay.stop();
    assert_eq!(hub.with(Simulator::switched_off), None);
    assert_eq!(
        hub.cycles.lock().unwrap().len(),
        1,
        "one power cycle, by the hook"
    );
}
