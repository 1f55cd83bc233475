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

/// ffmpeg's CPU seconds and output bytes for one view of every frame in `dir`.
fn ffmpeg_view(dir: &Path, g: &ViewGeometry) -> Option<(f64, u64)> {
    let filter = format!(
        "v360=e:flat:yaw={}:pitch={}:roll={}:h_fov={}:v_fov={}:w={}:h={}:interp=line",
        g.yaw,
        g.pitch,
        g.roll,
        g.fov,
        g.v_fov(),
        g.width,
        g.height
    );
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
