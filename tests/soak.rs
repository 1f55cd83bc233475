//! The long soak, ignored by default (it runs for minutes):
//!
//! ```sh
//! cargo test --release --test soak -- --ignored --nocapture     # SOAK_SECS=600 by default
//! ```
//!
//! The relay runs as its own process against a simulated camera in this process. The
//! camera is switched off every 20 s (and on again 3 s later) while 20 viewers keep
//! joining and leaving. It prints what it measured and fails if a viewer ever got a part
//! that was not a whole JPEG, if frames did not resume after a restart within one
//! backoff step, or if the relay's memory or threads grew without bound.

mod common;

use common::*;
use oscstream::sim::{SimConfig, Simulator};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const VIEWERS: usize = 20;
const KILL_EVERY: Duration = Duration::from_secs(20);
const OFF_FOR: Duration = Duration::from_secs(3);

#[test]
#[ignore = "runs for minutes; see the module docs"]
fn soak_camera_killed_every_20s_while_viewers_come_and_go() {
    let secs = env_number("SOAK_SECS", 600);
    let config = SimConfig {
        width: 1024,
        height: 512,
        ..sim_config()
    };
    let mut sim = Simulator::start(config.clone()).unwrap();
    let camera = sim.addr();
    let port = camera.port().to_string();
    let (relay, url) = start_binary(
        &["-o", "127.0.0.1", "-p", &port, "--listen", "127.0.0.1:0"],
        "open http://",
    );
    let addr = addr_of(&url);
    let pid = relay.0.id();

    let stop = Arc::new(AtomicBool::new(false));
    let parts = Arc::new(AtomicU64::new(0));
    let sessions = Arc::new(AtomicU64::new(0));
    let newest_camera_part: Arc<Mutex<Instant>> = Arc::new(Mutex::new(Instant::now()));
    let viewers: Vec<_> = (0..VIEWERS)
        .map(|i| {
            let (stop, parts, sessions, newest) = (
                stop.clone(),
                parts.clone(),
                sessions.clone(),
                newest_camera_part.clone(),
            );
            thread::spawn(move || {
                let mut seed = 0x2545_F491_4F6C_DD1D_u64 ^ i as u64;
                while !stop.load(Ordering::SeqCst) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let stay = Duration::from_millis(2_000 + seed % 13_000);
                    let mut v = Viewer::connect(addr, "/video_feed");
                    sessions.fetch_add(1, Ordering::Relaxed);
                    let until = Instant::now() + stay;
                    let mut last_seq = 0;
                    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                        let part = v.next_part(); // panics on anything but a whole JPEG
                        parts.fetch_add(1, Ordering::Relaxed);
                        let stamp = oscstream::sim::read_stamp(&part.jpeg);
                        if let Some((seq, _)) = stamp.filter(|(seq, _)| *seq > last_seq) {
                            last_seq = seq;
                            *newest.lock().unwrap() = part.arrived;
                        }
                    }
                }
            })
        })
        .collect();

    let start = Instant::now();
    let rss_start = {
        thread::sleep(Duration::from_secs(5)); // let every viewer join before the baseline
        rss_bytes(pid)
    };
    let (mut rss_max, mut threads_max, mut kills) = (rss_start, 0, 0);
    let mut resume_times = Vec::new();
    while start.elapsed() < Duration::from_secs(secs) {
        thread::sleep(KILL_EVERY - OFF_FOR);
        sim.kill();
        kills += 1;
        thread::sleep(OFF_FOR);
        sim = Simulator::start(SimConfig {
            listen: camera.to_string(),
            ..config.clone()
        })
        .expect("camera restarts on its address");
        let on = Instant::now();
        let back = wait_for(Duration::from_secs(10), "frames after a restart", || {
            let t = *newest_camera_part.lock().unwrap();
            (t > on).then_some(t)
        });
        resume_times.push(back - on);
        rss_max = rss_max.max(rss_bytes(pid));
        threads_max = threads_max.max(threads_of(pid));
    }
    stop.store(true, Ordering::SeqCst);
    for v in viewers {
        v.join()
            .expect("a viewer saw something other than whole JPEGs");
    }
    let rss_end = rss_bytes(pid);
    let status = get_json(&format!("http://{addr}/status")).1;
    resume_times.sort();
    let p50 = resume_times[resume_times.len() / 2];
    let max = *resume_times.last().unwrap();
    println!(
        "soak: {:.0} s, camera killed {kills} times, {VIEWERS} viewers",
        start.elapsed().as_secs_f64()
    );
    println!(
        "soak: {} viewer sessions, {} whole JPEG parts delivered, 0 bad parts",
        sessions.load(Ordering::Relaxed),
        parts.load(Ordering::Relaxed)
    );
    println!("soak: frames resumed after restart: p50 {p50:?}, max {max:?}");
    println!(
        "soak: relay RSS start {} KiB, max {} KiB, end {} KiB; threads max {threads_max}",
        rss_start >> 10,
        rss_max >> 10,
        rss_end >> 10
    );
    println!(
        "soak: relay says reconnects {}, frames received {}, dropped {}",
        status["reconnects"], status["frames_received"], status["frames_dropped"]
    );
    assert!(
        max <= Duration::from_secs(5),
        "resumed within one backoff step"
    );
    assert!(rss_max < rss_start + (16 << 20), "memory bounded");
    assert!(threads_max < (VIEWERS as u64) * 2 + 16, "threads bounded");
}
