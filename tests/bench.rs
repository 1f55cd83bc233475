//! The benchmark: what the relay costs, as ratios against reading the camera directly
//! in the same run. Ignored by default; run it with
//!
//! ```sh
//! cargo test --release --test bench -- --ignored --nocapture
//! ```
//!
//! The simulated camera and the relay each run as their own process (so their CPU and
//! memory can be read from /proc); the viewers are threads here. Latency is from the
//! camera writing a frame (the timestamp the simulator stamps into each JPEG's COM
//! segment) to a viewer having read the whole part. The baseline is the same number of
//! viewers each reading their own live preview straight from the simulated camera.
//! `BENCH_SECS` sets the measuring window of each run (default 5); `BENCH_VIEWERS=100`
//! and `BENCH_FORMAT=1920x960` narrow it to one case, e.g. to profile it with
//! `perf record -a -e cpu-clock` alongside.

mod common;

use common::*;
use oscstream::mjpeg::{Parsed, Parser};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const VIEWER_COUNTS: [usize; 4] = [1, 10, 50, 100];
const FORMATS: [(u16, u16, u32); 2] = [(1024, 512, 30), (1920, 960, 8)];

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros()
}

/// CPU time of every thread of `pid`, in seconds, from the scheduler's nanosecond
/// counters (/proc's utime/stime tick only every 10 ms: too coarse for 40 frames).
fn cpu_seconds(pid: u32) -> f64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

/// What one viewer saw in the window: latencies (µs) and camera frame numbers.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u64>,
    seqs: Vec<u64>,
}

fn record(seen: &mut Seen, jpeg: &[u8]) {
    let (seq, t_us) = oscstream::sim::read_stamp(jpeg).expect("stamped frame");
    seen.latencies_us.push(now_us().saturating_sub(t_us) as u64);
    seen.seqs.push(seq);
}

/// A viewer of the relay: the strict reader, so every part is checked whole.
fn relay_viewer(addr: SocketAddr, start: Arc<Barrier>, window: (Duration, Duration)) -> Seen {
    let mut v = Viewer::connect(addr, "/video_feed");
    start.wait();
    let begin = Instant::now() + window.0;
    let end = begin + window.1;
    let mut seen = Seen::default();
    let mut jpeg = Vec::new();
    while Instant::now() < end {
        let (_, arrived) = v.read_part_into(&mut jpeg);
        if arrived >= begin {
            record(&mut seen, &jpeg);
        }
    }
    seen
}

/// A viewer reading its own live preview straight from the camera: the baseline.
fn direct_viewer(camera: SocketAddr, start: Arc<Barrier>, window: (Duration, Duration)) -> Seen {
    let agent = agent();
    let resp = agent
        .post(&format!("http://{camera}/osc/commands/execute"))
        .header("Content-Type", "application/json;charset=utf-8")
        .send(r#"{"name":"camera.getLivePreview","parameters":{}}"#)
        .expect("preview opens");
    let mut body = resp.into_body().into_reader();
    let mut parser = Parser::new(oscstream::mjpeg::THETA_BOUNDARY);
    let mut buf = vec![0u8; 64 << 10];
    start.wait();
    let begin = Instant::now() + window.0;
    let end = begin + window.1;
    let mut seen = Seen::default();
    while Instant::now() < end {
        let n = body.read(&mut buf).expect("preview reads");
        parser.push(&buf[..n], |p| match p {
            Parsed::Frame(jpeg) if Instant::now() >= begin => record(&mut seen, &jpeg),
            _ => {}
        });
    }
    seen
}

struct Run {
    delivered_min_pct: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    cpu_per_1000: f64,
    rss_kib: u64,
    threads: u64,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs `viewers` viewer threads and measures the process `pid` that serves them.
fn measure(
    viewers: usize,
    pid: u32,
    window: (Duration, Duration),
    spawn: impl Fn(Arc<Barrier>) -> thread::JoinHandle<Seen>,
) -> Run {
    let start = Arc::new(Barrier::new(viewers + 1));
    let handles: Vec<_> = (0..viewers).map(|_| spawn(start.clone())).collect();
    start.wait();
    thread::sleep(window.0); // warm-up, part of the measuring protocol
    let cpu_before = cpu_seconds(pid);
    thread::sleep(window.1);
    let cpu = cpu_seconds(pid) - cpu_before;
    let (rss_kib, threads) = (rss_bytes(pid) >> 10, threads_of(pid));
    let seen: Vec<Seen> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let delivered: usize = seen.iter().map(|s| s.seqs.len()).sum();
    let delivered_min_pct = seen
        .iter()
        .map(|s| {
            let span = s.seqs.iter().max().unwrap() - s.seqs.iter().min().unwrap() + 1;
            100.0 * s.seqs.len() as f64 / span as f64
        })
        .fold(f64::MAX, f64::min);
    let mut all: Vec<u64> = seen.iter().flat_map(|s| s.latencies_us.clone()).collect();
    all.sort_unstable();
    Run {
        delivered_min_pct,
        p50_us: percentile(&all, 0.5),
        p99_us: percentile(&all, 0.99),
        max_us: *all.last().unwrap(),
        cpu_per_1000: cpu / (delivered as f64 / 1000.0),
        rss_kib,
        threads,
    }
}

#[test]
#[ignore = "a benchmark; see the module docs"]
fn bench_relay_against_direct_camera_reads() {
    let secs = env_number("BENCH_SECS", 5);
    let window = (Duration::from_secs(1), Duration::from_secs(secs));
    // BENCH_VIEWERS=100 or BENCH_FORMAT=1920x960 narrow the run (for profiling one case).
    let only_viewers: Option<usize> = std::env::var("BENCH_VIEWERS")
        .ok()
        .and_then(|v| v.parse().ok());
    let only_format = std::env::var("BENCH_FORMAT").ok();
    println!();
    println!(
        "| format | viewers | delivered (min per viewer) | relay latency p50 / p99 / max | direct p50 / p99 | added p50 / p99 | relay CPU s per 1000 frames | direct CPU s per 1000 | CPU ratio | relay RSS | relay threads |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (w, h, fps) in FORMATS {
        let size = format!("{w}x{h}");
        if only_format.as_ref().is_some_and(|f| *f != size) {
            continue;
        }
        let fps_arg = fps.to_string();
        let (sim, sim_url) = start_binary(
            &[
                "simulate",
                "--listen",
                "127.0.0.1:0",
                "--size",
                &size,
                "--fps",
                &fps_arg,
            ],
            "simulated camera",
        );
        let camera = addr_of(&sim_url);
        let port = camera.port().to_string();
        let (relay, relay_url) = start_binary(
            &[
                "-o",
                "127.0.0.1",
                "-p",
                &port,
                "--listen",
                "127.0.0.1:0",
                "--max-viewers",
                "200",
            ],
            "open http://",
        );
        let relay_addr = addr_of(&relay_url);
        for n in VIEWER_COUNTS {
            if only_viewers.is_some_and(|only| only != n) {
                continue;
            }
            let via_relay = measure(n, relay.0.id(), window, |b| {
                thread::spawn(move || relay_viewer(relay_addr, b, window))
            });
            // Let the relay close its camera connection before the baseline reads directly.
            wait_for(Duration::from_secs(30), "the relay to go idle", || {
                (get_json(&format!("http://{relay_addr}/status")).1["upstream"] == "idle")
                    .then_some(())
            });
            let direct = measure(n, sim.0.id(), window, |b| {
                thread::spawn(move || direct_viewer(camera, b, window))
            });
            let ms = |us: u64| us as f64 / 1000.0;
            println!(
                "| {w}×{h}@{fps} | {n} | {:.1} % | {:.2} / {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:+.2} / {:+.2} ms | {:.3} | {:.3} | {:.2} | {:.1} MB | {} |",
                via_relay.delivered_min_pct,
                ms(via_relay.p50_us),
                ms(via_relay.p99_us),
                ms(via_relay.max_us),
                ms(direct.p50_us),
                ms(direct.p99_us),
                ms(via_relay.p50_us) - ms(direct.p50_us),
                ms(via_relay.p99_us) - ms(direct.p99_us),
                via_relay.cpu_per_1000,
                direct.cpu_per_1000,
                via_relay.cpu_per_1000 / direct.cpu_per_1000.max(1e-9),
                via_relay.rss_kib as f64 / 1024.0,
                via_relay.threads,
            );
        }
    }
}
