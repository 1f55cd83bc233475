//! The flat views' benchmark: CPU per view frame against ffmpeg's `v360` (one thread,
//! bilinear, `-q:v 4`) on the same frames at the same output size, as ratios measured
//! in one run, and the JPEG bytes beside ffmpeg's. Ignored by default; run it with
//!
//! ```sh
//! cargo test --release --test views_bench -- --ignored --nocapture
//! ```
//!
//! The frames are ffmpeg's `testsrc2` at each source size (a camera-like mix of flat
//! colour, text and gradients), written once as JPEGs; both sides read the same files.
//! Ours runs in this process on one thread (its CPU from `CLOCK_THREAD_CPUTIME_ID`):
//! one decode per frame, then one remap and encode per view, as the relay's view
//! threads do. ffmpeg's CPU is its own `-benchmark` user + system time. `VIEWS_FRAMES`
//! sets the frames per size (default 60).

mod common;

use common::*;
use oscstream::formats::flat::{self, Mount, Planes, Remap, Source, ViewGeometry};
use std::path::Path;
use std::time::Duration;

fn thread_cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the one timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn view(yaw: f64) -> ViewGeometry {
    ViewGeometry {
        yaw,
        pitch: -10.0,
        roll: 0.0,
        fov: 90.0,
        width: 1280,
        height: 720,
    }
}

/// ffmpeg's `v360` filter for the view `g`: bilinear, as ours.
fn v360(g: &ViewGeometry) -> String {
    format!(
        "v360=e:flat:yaw={}:pitch={}:roll={}:h_fov={}:v_fov={}:w={}:h={}:interp=line",
        g.yaw,
        g.pitch,
        g.roll,
        g.fov,
        g.v_fov(),
        g.width,
        g.height
    )
}

/// ffmpeg's CPU seconds and output bytes for one view of every frame in `dir`.
fn ffmpeg_view(dir: &Path, g: &ViewGeometry) -> Option<(f64, u64)> {
    let filter = v360(g);
    let input = dir.join("f%03d.jpg");
    let output = dir.join("ffmpeg.mjpeg");
    let out = tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-y",
            "-benchmark",
            "-threads",
            "1",
            "-filter_threads",
            "1",
            "-i",
            input.to_str()?,
            "-vf",
            &filter,
            "-c:v",
            "mjpeg",
            "-q:v",
            "4",
            "-f",
            "mjpeg",
            output.to_str()?,
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| -> Option<f64> {
        let rest = text.split(&format!("{name}=")).nth(1)?;
        rest.split('s').next()?.parse().ok()
    };
    Some((
        field("utime")? + field("stime")?,
        std::fs::metadata(output).ok()?.len(),
    ))
}

#[test]
#[ignore = "a benchmark; see the module docs"]
fn bench_views_against_ffmpeg_v360() {
    let frames = env_number("VIEWS_FRAMES", 60) as usize;
    let yaws = [30.0, 120.0, -60.0, -150.0];
    println!(
        "views: CPU per view frame, ours / ffmpeg v360 (one thread, bilinear, -q:v 4), {frames} frames, 1280x720 out"
    );
    for (w, h) in [(1024, 512), (1920, 960), (3840, 1920)] {
        let dir = temp_dir(&format!("views-bench-{w}"));
        let made = tool(
            "ffmpeg",
            &[
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=size={w}x{h}:rate=30"),
                "-frames:v",
                &frames.to_string(),
                "-q:v",
                "3",
                dir.join("f%03d.jpg").to_str().unwrap(),
            ],
        );
        let Some(made) = made else { return };
        assert!(made.status.success());
        let jpegs: Vec<Vec<u8>> = (1..=frames)
            .map(|i| std::fs::read(dir.join(format!("f{i:03}.jpg"))).unwrap())
            .collect();
        let ours = |views: usize| -> (f64, usize) {
            let remaps: Vec<Remap> = yaws[..views]
                .iter()
                .map(|&y| Remap::new(view(y), Mount::default(), (w, h)))
                .collect();
            let (mut planes, mut out, mut scratch) =
                (Source::default(), Planes::default(), Vec::new());
            let mut bytes = 0;
            // The relay decodes only the MCUs its running views read.
            let mut need = flat::McuMask::none(w, h);
            remaps.iter().for_each(|r| need.add(r.mcus()));
            let started = thread_cpu();
            for jpeg in &jpegs {
                flat::decode_needed(jpeg, &mut planes, &mut scratch, Some(&need)).unwrap();
                for remap in &remaps {
                    remap.apply(&planes, &mut out);
                    bytes += flat::encode(&out, flat::VIEW_QUALITY).unwrap().len();
                }
            }
            (
                (thread_cpu() - started) / frames as f64,
                bytes / (frames * views),
            )
        };
        // Where one view's time goes, stage by stage.
        let stages = {
            let remap = Remap::new(view(yaws[0]), Mount::default(), (w, h));
            let (mut planes, mut out, mut scratch) =
                (Source::default(), Planes::default(), Vec::new());
            let mut spent = [0.0; 4];
            for jpeg in &jpegs {
                let t0 = thread_cpu();
                flat::decode(jpeg, &mut planes, &mut scratch).unwrap();
                let t1 = thread_cpu();
                flat::decode_needed(jpeg, &mut planes, &mut scratch, Some(remap.mcus())).unwrap();
                let t2 = thread_cpu();
                remap.apply(&planes, &mut out);
                let t3 = thread_cpu();
                flat::encode(&out, flat::VIEW_QUALITY).unwrap();
                let t4 = thread_cpu();
                for (s, d) in spent.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
                    *s += d * 1e3 / frames as f64;
                }
            }
            format!(
                "decode {:.2} ms (what one view reads: {:.2} ms, {:.0} % of MCUs), remap {:.2} ms, encode {:.2} ms",
                spent[0],
                spent[1],
                remap.mcus().share() * 100.0,
                spent[2],
                spent[3]
            )
        };
        let (one, our_bytes) = ours(1);
        let (four, _) = ours(4);
        let Some((ff_one, ff_bytes)) = ffmpeg_view(&dir, &view(yaws[0])) else {
            return;
        };
        let ff_one = ff_one / frames as f64;
        let mut ff_four = 0.0;
        for &y in &yaws {
            ff_four += ffmpeg_view(&dir, &view(y)).map_or(0.0, |(cpu, _)| cpu) / frames as f64;
        }
        println!(
            "  {w}x{h}: one view {:.2} ms vs ffmpeg {:.2} ms = {:.2}x; four views {:.2} ms vs 4 ffmpeg {:.2} ms = {:.2}x; \
             JPEG {} bytes/frame (q {}) vs ffmpeg {} bytes/frame",
            one * 1e3,
            ff_one * 1e3,
            one / ff_one,
            four * 1e3,
            ff_four * 1e3,
            four / ff_four,
            our_bytes,
            flat::VIEW_QUALITY,
            ff_bytes / frames as u64,
        );
        println!("    ours per stage: {stages}");
    }
}

/// User plus system CPU seconds of process `pid` so far, threads that ended included.
fn process_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(14) + ticks(15)) / hz
}

/// Parts read from `url`'s stream until `until`.
fn count_parts(addr: std::net::SocketAddr, path: &str, until: std::time::Instant) -> u64 {
    let mut viewer = Viewer::connect(addr, path);
    let mut parts = 0;
    while std::time::Instant::now() < until {
        viewer.next_part();
        parts += 1;
    }
    parts
}

/// The relay's CPU per view frame on a live stream (the simulator's preview, one
/// 1280×720 view watched by one viewer: the relay process's whole CPU, camera reading
/// included) against an ffmpeg process doing the same view of the same stream
/// (`-threads 1`, reading the relay's `/video.mkv`, `v360`, `-q:v 4`), one after the
/// other, for a THETA Z1's two preview formats. `VIEWS_LIVE_SECS` sets each window
/// (default 10).
#[test]
#[ignore = "a benchmark; see the module docs"]
fn bench_a_live_view_against_ffmpeg_on_the_same_stream() {
    let secs = env_number("VIEWS_LIVE_SECS", 10);
    for (width, height, fps) in [(1920, 960, 8), (1024, 512, 30)] {
        let Some((ours, frames, theirs, ff_frames)) = live_case((width, height, fps), secs) else {
            return;
        };
        println!(
            "live view, {width}x{height}@{fps} camera, 1280x720 view: relay {:.2} ms CPU per view frame \
             ({frames} frames) vs ffmpeg {:.2} ms ({ff_frames} frames) = {:.2}x",
            ours * 1e3,
            theirs * 1e3,
            ours / theirs
        );
    }
}

/// One live case: our CPU seconds per view frame and frames, ffmpeg's and its frames.
fn live_case((width, height, fps): (u16, u16, u32), secs: u64) -> Option<(f64, u64, f64, f64)> {
    let sim = start_sim_with(oscstream::sim::SimConfig {
        width,
        height,
        fps,
        ..sim_config()
    });
    let g = view(30.0);
    let config = format!(
        "[[camera]]\nname = \"live\"\nhost = \"127.0.0.1\"\nport = {}\n\n[[camera.view]]\nname = \"bench\"\n\
         yaw = {}\npitch = {}\nfov = {}\nsize = \"{}x{}\"\n",
        sim.addr().port(),
        g.yaw,
        g.pitch,
        g.fov,
        g.width,
        g.height
    );
    let (relay, addr) = relay_on_config("views-live", &config);
    // Warm up: the camera connection, the table, the first frames.
    count_parts(
        addr,
        "/views/bench/video_feed",
        std::time::Instant::now() + Duration::from_secs(2),
    );
    let pid = relay.0.id();
    let before = process_cpu(pid);
    let window = Duration::from_secs(secs);
    let frames = count_parts(
        addr,
        "/views/bench/video_feed",
        std::time::Instant::now() + window,
    );
    let ours = (process_cpu(pid) - before) / frames.max(1) as f64;
    let filter = v360(&g);
    let source = format!("http://{addr}/video.mkv");
    let out = tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-benchmark",
            "-threads",
            "1",
            "-filter_threads",
            "1",
            "-i",
            &source,
            "-t",
            &secs.to_string(),
            "-vf",
            &filter,
            "-c:v",
            "mjpeg",
            "-q:v",
            "4",
            "-f",
            "null",
            "-",
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| -> Option<f64> {
        let rest = text.rsplit(&format!("{name}=")).next()?;
        rest.trim_start()
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()?
            .parse()
            .ok()
    };
    let (Some(utime), Some(stime), Some(ff_frames)) =
        (field("utime"), field("stime"), field("frame"))
    else {
        panic!("ffmpeg's benchmark line: {text}");
    };
    Some((
        ours,
        frames,
        (utime + stime) / ff_frames.max(1.0),
        ff_frames,
    ))
}
