//! The benchmark: what the relay costs per delivered frame and what latency it adds,
//! as ratios against baselines measured in the same run. Ignored by default; run it with
//!
//! ```sh
//! cargo test --release --test bench -- --ignored --nocapture
//! ```
//!
//! Each case is served, one after another, by:
//! - **relay**: the `oscstream` binary, as its own process;
//! - **floor**: one thread here that reads the camera, cuts frames and writes each part
//!   to every socket with blocking writes: the least any relay must do, so its CPU is
//!   the kernel's TCP path plus one parse;
//! - **peer**: npm `mjpeg-proxy` 0.3.0 under node (installed with npm into a temporary
//!   folder; skipped with a note when npm or node is missing); it reads the simulator's
//!   conventional-boundary preview (`GET /_sim/preview`), as it cannot POST or take
//!   THETA's bare boundary;
//! - **direct**: every viewer reading its own preview from the camera (latency baseline).
//!
//! The viewers are threads here, strict readers of every part. CPU is read from
//! `/proc/PID/task/*/schedstat` (the floor: its one thread's), latency runs from the
//! camera writing a frame (the stamp in each JPEG) to a viewer having read the whole
//! part. Every server runs once per round (`BENCH_ROUNDS`, default 3) and each figure
//! is its median round's. `BENCH_SECS` sets the measuring window (default 4 s after 1 s of warm-up),
//! `BENCH_CASE=3` runs only the third case (for profiling alongside), and
//! `BENCH_OTHER_RELAY=/path/to/oscstream` adds another build (say the previous commit's)
//! as a fifth server.

mod common;

use common::*;
use oscstream::formats::mjpeg::{Parsed, Parser, Part, STREAM_CONTENT_TYPE, STREAM_PREAMBLE};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One measured situation.
struct Case {
    size: (u16, u16),
    fps: u32,
    viewers: usize,
    /// Relay, floor and peer pinned to one core, as on a Pi-class board.
    one_core: bool,
}

const CASES: [Case; 6] = [
    Case {
        size: (1024, 512),
        fps: 30,
        viewers: 1,
        one_core: false,
    },
    Case {
        size: (1024, 512),
        fps: 30,
        viewers: 20,
        one_core: false,
    },
    Case {
        size: (1024, 512),
        fps: 30,
        viewers: 100,
        one_core: false,
    },
    Case {
        size: (1920, 960),
        fps: 30,
        viewers: 100,
        one_core: false,
    },
    Case {
        size: (3840, 1920),
        fps: 30,
        viewers: 10,
        one_core: false,
    },
    Case {
        size: (1024, 512),
        fps: 30,
        viewers: 20,
        one_core: true,
    },
];

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros()
}

/// CPU time of the given threads of `pid` (all when `tid` is `None`), in seconds, from
/// the scheduler's nanosecond counters (utime/stime tick only every 10 ms).
fn cpu_seconds(pid: u32, tid: Option<i32>) -> f64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| tid.is_none_or(|tid| t.file_name().to_str() == Some(&tid.to_string())));
    let ns: u64 = tasks
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

/// A viewer of a multipart stream at `path`: the strict reader, so every part is checked whole.
fn stream_viewer(addr: SocketAddr, path: &str, start: Arc<Barrier>, window: Window) -> Seen {
    let mut v = Viewer::connect(addr, path);
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

/// A viewer of npm `mjpeg-proxy`, which answers in chunked encoding (which the strict
/// reader does not take): ureq de-chunks, our parser cuts parts at its `--frame`.
fn peer_viewer(addr: SocketAddr, start: Arc<Barrier>, window: Window) -> Seen {
    let body = agent()
        .get(&format!("http://{addr}/"))
        .call()
        .expect("the peer answers")
        .into_body()
        .into_reader();
    read_frames(body, "frame", start, window)
}

/// Opens a live preview on the camera, as a THETA serves it.
fn open_preview(camera: SocketAddr) -> impl Read {
    agent()
        .post(&format!("http://{camera}/osc/commands/execute"))
        .header("Content-Type", "application/json;charset=utf-8")
        .send(r#"{"name":"camera.getLivePreview","parameters":{}}"#)
        .expect("preview opens")
        .into_body()
        .into_reader()
}

/// A viewer reading its own live preview straight from the camera.
fn direct_viewer(camera: SocketAddr, start: Arc<Barrier>, window: Window) -> Seen {
    let body = open_preview(camera);
    read_frames(
        body,
        oscstream::formats::mjpeg::THETA_BOUNDARY,
        start,
        window,
    )
}

/// Reads whole frames from a multipart body with our parser (frames are still checked whole).
fn read_frames(mut body: impl Read, boundary: &str, start: Arc<Barrier>, window: Window) -> Seen {
    let mut parser = Parser::new(boundary);
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

/// Warm-up, then the measuring window.
type Window = (Duration, Duration);

struct Run {
    delivered_min_pct: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    cpu_us_per_frame: f64,
    rss_kib: u64,
    threads: u64,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs `viewers` viewer threads against a server whose CPU `cpu` reads; `pid` for
/// its memory and threads.
fn measure(
    viewers: usize,
    pid: u32,
    cpu: &dyn Fn() -> f64,
    window: Window,
    spawn: impl Fn(Arc<Barrier>) -> thread::JoinHandle<Seen>,
) -> Run {
    let start = Arc::new(Barrier::new(viewers + 1));
    let handles: Vec<_> = (0..viewers).map(|_| spawn(start.clone())).collect();
    start.wait();
    thread::sleep(window.0); // warm-up, part of the measuring protocol
    let cpu_before = cpu();
    thread::sleep(window.1);
    let cpu_spent = cpu() - cpu_before;
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
        cpu_us_per_frame: cpu_spent * 1e6 / delivered as f64,
        rss_kib,
        threads,
    }
}

/// Pins the calling thread to CPU 0.
fn pin_to_first_core() {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it, and
    // sched_setaffinity reads exactly its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The floor: one thread reading the camera and writing every part to every socket.
struct Floor {
    addr: SocketAddr,
    tid: Arc<AtomicI32>,
    stop: Arc<AtomicBool>,
    writer: Option<thread::JoinHandle<()>>,
}

impl Floor {
    fn start(camera: SocketAddr, one_core: bool) -> Floor {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sockets: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (accepted, stopping) = (sockets.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let mut s = conn.unwrap();
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                s.set_nodelay(true).unwrap();
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: {STREAM_CONTENT_TYPE}\r\nConnection: close\r\n\r\n{STREAM_PREAMBLE}"
                )
                .unwrap();
                accepted.lock().unwrap().push(s);
            }
        });
        let tid = Arc::new(AtomicI32::new(0));
        let (my_tid, stopping) = (tid.clone(), stop.clone());
        let writer = thread::spawn(move || {
            if one_core {
                pin_to_first_core();
            }
            // SAFETY: gettid has no preconditions.
            my_tid.store(unsafe { libc::gettid() }, Ordering::SeqCst);
            let mut body = open_preview(camera);
            let mut parser = Parser::new(oscstream::formats::mjpeg::THETA_BOUNDARY);
            let mut buf = vec![0u8; 64 << 10];
            while !stopping.load(Ordering::SeqCst) {
                let n = body.read(&mut buf).expect("preview reads");
                parser.push(&buf[..n], |p| {
                    if let Parsed::Frame(jpeg) = p {
                        let part = Part::new(jpeg, now_us() as f64 / 1e6);
                        sockets
                            .lock()
                            .unwrap()
                            .retain_mut(|s| part.write_from(s, 0).is_ok());
                    }
                });
            }
        });
        wait_for(Duration::from_secs(5), "the floor to read", || {
            (tid.load(Ordering::SeqCst) != 0).then_some(())
        });
        Floor {
            addr,
            tid,
            stop,
            writer: Some(writer),
        }
    }

    fn cpu(&self) -> f64 {
        cpu_seconds(std::process::id(), Some(self.tid.load(Ordering::SeqCst)))
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // ends the accept loop
        let _ = self.writer.take().unwrap().join();
    }
}

/// Installs npm `mjpeg-proxy` 0.3.0 and a five-line server for it; `None` (said why)
/// when npm or node is missing or the registry is out of reach.
fn install_peer() -> Option<std::path::PathBuf> {
    let dir = temp_dir("bench-peer");
    let installed = Command::new("npm")
        .args(["install", "--no-save", "--silent", "--prefix"])
        .arg(&dir)
        .arg("mjpeg-proxy@0.3.0")
        .stdout(Stdio::null())
        .status();
    if !installed.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED the peer: `npm install mjpeg-proxy@0.3.0` did not work here");
        return None;
    }
    std::fs::write(
        dir.join("server.js"),
        "const http = require('http');\n\
         const { MjpegProxy } = require('mjpeg-proxy');\n\
         const proxy = new MjpegProxy(process.argv[2]);\n\
         const server = http.createServer((req, res) => proxy.proxyRequest(req, res));\n\
         server.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port + '/'));\n",
    )
    .unwrap();
    Some(dir)
}

/// `command` prefixed with `taskset -c 0` when pinned.
fn command(one_core: bool, program: &str) -> Command {
    if one_core {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", program]);
        c
    } else {
        Command::new(program)
    }
}

struct Row {
    server: &'static str,
    run: Run,
}

/// Per server, the run with the median CPU per frame across rounds.
fn median_rows(rounds: Vec<Vec<Row>>) -> Vec<Row> {
    let servers: Vec<&'static str> = rounds[0].iter().map(|r| r.server).collect();
    let mut by_server: Vec<Vec<Run>> = servers.iter().map(|_| Vec::new()).collect();
    for rows in rounds {
        for Row { server, run } in rows {
            let i = servers.iter().position(|s| *s == server).unwrap();
            by_server[i].push(run);
        }
    }
    servers
        .into_iter()
        .zip(by_server)
        .map(|(server, mut runs)| {
            runs.sort_by(|a, b| a.cpu_us_per_frame.total_cmp(&b.cpu_us_per_frame));
            let run = runs.swap_remove(runs.len() / 2);
            Row { server, run }
        })
        .collect()
}

#[test]
#[ignore = "a benchmark; see the module docs"]
fn bench_relay_against_floor_peer_and_direct_reads() {
    let window = (
        Duration::from_secs(1),
        Duration::from_secs(env_number("BENCH_SECS", 4)),
    );
    let only_case = std::env::var("BENCH_CASE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let other_relay = std::env::var("BENCH_OTHER_RELAY").ok();
    let peer = install_peer();
    let relay_bin = env!("CARGO_BIN_EXE_oscstream");
    let mut summary = Vec::new();
    println!();
    println!(
        "| case | server | delivered (worst viewer) | latency p50 / p99 / max | added p50 / p99 vs direct | CPU µs per delivered frame | ÷ floor | RSS | threads |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (number, case) in CASES.iter().enumerate().map(|(i, c)| (i + 1, c)) {
        if only_case.is_some_and(|only| only != number) {
            continue;
        }
        let (w, h) = case.size;
        let size = format!("{w}x{h}");
        let fps = case.fps.to_string();
        let (sim, sim_url) = start_binary(
            &[
                "simulate",
                "--listen",
                "127.0.0.1:0",
                "--size",
                &size,
                "--fps",
                &fps,
            ],
            "simulated camera",
        );
        let camera = addr_of(&sim_url);
        let n = case.viewers;
        // Every server once per round, rounds one after another, so that drift of this
        // shared machine hits all of them; each figure is then the median round's.
        let mut rounds: Vec<Vec<Row>> = Vec::new();
        for _ in 0..env_number("BENCH_ROUNDS", 3) {
            let mut rows = Vec::new();

            let relays = std::iter::once(("relay", relay_bin.to_string()))
                .chain(other_relay.clone().map(|bin| ("other relay", bin)));
            for (server, bin) in relays {
                let (relay, url) = start_binary_with(
                    command(case.one_core, &bin)
                        .args(["-o", "127.0.0.1", "-p", &camera.port().to_string()])
                        .args(["--listen", "127.0.0.1:0", "--max-viewers", "200"])
                        .stderr(Stdio::null()),
                    "open http://",
                );
                let addr = addr_of(&url);
                let pid = relay.0.id();
                // The camera opens (keep-awake timers, RICOH's pause) before viewers come,
                // and stays open for the linger time: viewers join a running stream.
                let snapshot = agent().get(&format!("http://{addr}/snapshot")).call();
                assert_eq!(snapshot.map(|r| r.status().as_u16()).ok(), Some(200));
                let run = measure(n, pid, &|| cpu_seconds(pid, None), window, |b| {
                    thread::spawn(move || stream_viewer(addr, "/video_feed", b, window))
                });
                rows.push(Row { server, run });
            }

            let floor = Floor::start(camera, case.one_core);
            let floor_addr = floor.addr;
            let run = measure(n, std::process::id(), &|| floor.cpu(), window, |b| {
                thread::spawn(move || stream_viewer(floor_addr, "/", b, window))
            });
            drop(floor);
            rows.push(Row {
                server: "floor",
                run,
            });

            if let Some(dir) = &peer {
                let (node, url) = start_binary_with(
                    command(case.one_core, "node")
                        .current_dir(dir)
                        .arg("server.js")
                        .arg(format!("http://{camera}/_sim/preview"))
                        .stderr(Stdio::null()),
                    "listening on http://",
                );
                let addr = addr_of(&url);
                let pid = node.0.id();
                let run = measure(n, pid, &|| cpu_seconds(pid, None), window, |b| {
                    thread::spawn(move || peer_viewer(addr, b, window))
                });
                rows.push(Row {
                    server: "mjpeg-proxy",
                    run,
                });
            }

            let sim_pid = sim.0.id();
            let direct = measure(n, sim_pid, &|| cpu_seconds(sim_pid, None), window, |b| {
                thread::spawn(move || direct_viewer(camera, b, window))
            });
            rows.push(Row {
                server: "direct",
                run: direct,
            });
            rounds.push(rows);
        }
        let floor_ratios: Vec<String> = rounds
            .iter()
            .map(|rows| {
                let cpu = |name: &str| {
                    rows.iter()
                        .find(|r| r.server == name)
                        .map(|r| r.run.cpu_us_per_frame)
                        .unwrap()
                };
                format!("{:.2}", cpu("relay") / cpu("floor"))
            })
            .collect();
        let rows = median_rows(rounds);

        let label = format!(
            "{w}×{h}@{} × {n}{}",
            case.fps,
            if case.one_core { ", one core" } else { "" }
        );
        let find = |name: &str| rows.iter().find(|r| r.server == name).map(|r| &r.run);
        let (floor_cpu, direct) = (
            find("floor").unwrap().cpu_us_per_frame,
            find("direct").unwrap(),
        );
        let ms = |us: u64| us as f64 / 1000.0;
        for Row { server, run } in &rows {
            // The camera numbers frames across all its previews, so a direct viewer's
            // share cannot be read from its numbers; the floor shares this process.
            let delivered = match *server {
                "direct" => "—".to_string(),
                _ => format!("{:.1} %", run.delivered_min_pct),
            };
            let (rss, threads) = match *server {
                "floor" => ("—".to_string(), "1".to_string()),
                _ => (
                    format!("{:.1} MB", run.rss_kib as f64 / 1024.0),
                    run.threads.to_string(),
                ),
            };
            println!(
                "| {label} | {server} | {delivered} | {:.2} / {:.2} / {:.2} ms | {:+.2} / {:+.2} ms | {:.1} | {:.2} | {rss} | {threads} |",
                ms(run.p50_us),
                ms(run.p99_us),
                ms(run.max_us),
                ms(run.p50_us) - ms(direct.p50_us),
                ms(run.p99_us) - ms(direct.p99_us),
                run.cpu_us_per_frame,
                run.cpu_us_per_frame / floor_cpu,
            );
        }
        let relay = find("relay").unwrap();
        let mut line = format!(
            "{label}: relay CPU {:.2}× floor",
            relay.cpu_us_per_frame / floor_cpu
        );
        if let Some(other) = find("other relay") {
            line += &format!(
                ", other relay {:.2}× floor",
                other.cpu_us_per_frame / floor_cpu
            );
        }
        if let Some(proxy) = find("mjpeg-proxy") {
            line += &format!(
                ", {:.2}× mjpeg-proxy's CPU, p50 {:.2} ms against its {:.2} ms",
                relay.cpu_us_per_frame / proxy.cpu_us_per_frame,
                ms(relay.p50_us),
                ms(proxy.p50_us)
            );
        }
        line += &format!(
            ", frames {:.1} %, added p50 {:+.2} ms, p99 {:.2} ms, RSS {:.1} MB",
            relay.delivered_min_pct,
            ms(relay.p50_us) - ms(direct.p50_us),
            ms(relay.p99_us),
            relay.rss_kib as f64 / 1024.0
        );
        line += &format!(" (relay ÷ floor per round: {})", floor_ratios.join(", "));
        summary.push(line);
    }
    println!();
    for line in summary {
        println!("{line}");
    }
}
