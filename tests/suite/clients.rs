//! Tools nobody here wrote read our stream: ffprobe, ffmpeg and curl (Debian packages,
//! installed by `.ci/run`). Without them the tests say so and pass locally, but fail
//! under `CI=true`.

use crate::common::*;
use std::process::Output;

/// What ffprobe says of the first stream in `input`: codec, width, height.
fn ffprobe_stream(input: &str) -> Option<Output> {
    let entries = "stream=codec_name,width,height";
    tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            entries,
            "-of",
            "compact",
            input,
        ],
    )
}

/// Decodes `input_args` to nothing, reporting errors and progress (frames) on stdout.
fn ffmpeg_decode(input_args: &[&str]) -> Option<Output> {
    let mut args = vec!["-v", "error"];
    args.extend_from_slice(input_args);
    args.extend_from_slice(&["-f", "null", "-", "-progress", "pipe:1", "-nostats"]);
    tool("ffmpeg", &args)
}

/// A relay in its own process relaying the simulated camera at its default 1024×512.
fn relay() -> (Running, String) {
    let (relay, url) = start_binary(&["--simulate", "--listen", "127.0.0.1:0"], "open http://");
    let base = url.trim_end_matches("/public/index.html").to_string();
    (relay, base)
}

/// Frames ffmpeg decoded, from its `-progress` output.
fn decoded_frames(progress: &[u8]) -> u64 {
    String::from_utf8_lossy(progress)
        .lines()
        .filter_map(|l| l.strip_prefix("frame="))
        .filter_map(|n| n.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn ffprobe_identifies_the_stream_as_mjpeg_1024x512() {
    let (_relay, base) = relay();
    let url = format!("{base}/video_feed");
    let Some(out) = ffprobe_stream(&url) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("codec_name=mjpeg|width=1024|height=512"),
        "{stdout}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ffmpeg_decodes_two_seconds_without_errors() {
    let (_relay, base) = relay();
    let url = format!("{base}/video_feed");
    let Some(out) = ffmpeg_decode(&["-i", &url, "-t", "2"]) else {
        return;
    };
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "decode errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames = decoded_frames(&out.stdout);
    assert!(frames >= 40, "2 s at 30 fps decoded only {frames} frames");
}

#[test]
fn a_curl_recording_is_a_file_ffmpeg_decodes() {
    let (_relay, base) = relay();
    let file = std::env::temp_dir().join(format!("oscstream-{}.mjpeg", std::process::id()));
    let path = file.to_string_lossy().to_string();
    let url = format!("{base}/video_feed");
    // curl exits 28 when -m ends the endless stream: that is the way to stop a recording.
    // (The first second is the relay waiting out RICOH's pause after setting the camera's
    // sleep timers, with a NO SIGNAL frame.)
    let Some(_) = tool("curl", &["-s", "-m", "3", "-o", &path, &url]) else {
        return;
    };
    let Some(out) = ffmpeg_decode(&["-f", "mpjpeg", "-i", &path]) else {
        return;
    };
    let _ = std::fs::remove_file(&file);
    let frames = decoded_frames(&out.stdout);
    assert!(
        frames >= 40,
        "the recording held only {frames} decodable frames"
    );
    // The last part is cut where curl stopped; that one may be reported, nothing else.
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(errors.lines().count() <= 2, "decode errors: {errors}");
}

#[test]
fn a_curl_snapshot_is_a_jpeg_ffprobe_reads_at_the_right_size() {
    let (_relay, base) = relay();
    let file = std::env::temp_dir().join(format!("oscstream-{}.jpg", std::process::id()));
    let path = file.to_string_lossy().to_string();
    let url = format!("{base}/snapshot.jpg");
    let Some(out) = tool("curl", &["-s", "-f", "-o", &path, &url]) else {
        return;
    };
    assert!(out.status.success());
    let Some(out) = ffprobe_stream(&path) else {
        return;
    };
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("codec_name=mjpeg|width=1024|height=512"),
        "{stdout}"
    );
}

#[test]
fn the_docs_recording_recipe_gives_a_file_at_the_cameras_real_times() {
    let (_relay, base) = relay();
    let recipe = doc_line("ffmpeg ", "theta.mp4");
    let dir = temp_dir("rec");
    let file = dir.join("theta.mp4");
    let recipe = recipe
        .replace("http://RELAY:5000", &base)
        .replace("-t 60", "-t 5")
        .replace("theta.mp4", file.to_str().unwrap());
    let args: Vec<&str> = recipe.split_whitespace().skip(1).collect();
    let mut args = args;
    args.insert(0, "-y");
    args.insert(0, "error");
    args.insert(0, "-v");
    let Some(out) = tool("ffmpeg", &args) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "format=duration:stream=nb_read_frames",
            "-of",
            "default=noprint_wrappers=1",
            file.to_str().unwrap(),
        ],
    )
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = |key: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    let (duration, frames) = (value("duration="), value("nb_read_frames="));
    // The frames' times, as the file holds them.
    let mut times = frame_times(&file);
    times.sort_by(f64::total_cmp);
    let gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]) * 1000.0).collect();
    // On ffmpeg's 1/25 s grid every gap is a multiple of 40 ms (0 included).
    let on_grid = gaps.iter().filter(|&&g| ((g + 0.5) % 40.0) < 1.0).count();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "5 s recording: {duration:.2} s, {frames} frames, {on_grid} of {} gaps on a 40 ms grid",
        gaps.len()
    );
    // The file plays as long as it was recorded, its frame times are the camera's (not
    // the 1/25 s grid ffmpeg's MJPEG reader puts them on). How many frames it holds is how
    // fast libx264 kept up beside the other tests (a slow reader gets the newest frame,
    // never a queue): only a floor is the relay's part, 6 fps of a 30 fps camera.
    assert!((4.5..=5.5).contains(&duration), "plays {duration} s");
    assert!(
        (30.0..=160.0).contains(&frames),
        "{frames} frames from a 30 fps camera"
    );
    // The grid puts three gaps in four (or all) on it; camera times land there only by
    // chance, a few per hundred on a quiet machine, up to one in ten when it is busy and
    // the millisecond stamps jitter.
    assert!(
        (on_grid as f64) < 0.25 * gaps.len() as f64,
        "{on_grid} of {} gaps on a 40 ms grid",
        gaps.len()
    );
}

#[test]
fn a_curl_recording_of_video_mkv_is_matroska_at_the_cameras_real_rate() {
    let (_relay, base) = relay();
    let dir = temp_dir("mkv");
    let file = dir.join("theta.mkv");
    let url = format!("{base}/video.mkv");
    // A relay whose camera streams already (a snapshot opened it): the recording then
    // starts with the first second.
    agent().get(&format!("{base}/snapshot.jpg")).call().unwrap();
    // The docs' recording, 5 s instead of 60: no ffmpeg needed to record.
    let Some(out) = tool(
        "curl",
        &["-s", "--max-time", "5", "-o", file.to_str().unwrap(), &url],
    ) else {
        return;
    };
    assert_eq!(out.status.code(), Some(28), "curl stops at --max-time");
    let Some(out) = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=format_name,duration:stream=codec_name,width,height,avg_frame_rate",
            "-of",
            "default=noprint_wrappers=1",
            file.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("ffprobe of a 5 s /video.mkv recording:\n{text}");
    assert!(text.contains("format_name=matroska,webm"), "{text}");
    assert!(text.contains("codec_name=mjpeg"), "{text}");
    assert!(
        text.contains("width=1024") && text.contains("height=512"),
        "{text}"
    );
    let times = frame_times(&file);
    let span = times.last().unwrap() - times.first().unwrap();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let mut sorted = gaps.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    println!(
        "{} frames over {span:.2} s, median gap {:.1} ms",
        times.len(),
        median * 1000.0
    );
    assert!(
        gaps.iter().all(|g| *g > 0.0),
        "timestamps strictly increase"
    );
    assert!(
        (4.5..=5.2).contains(&span),
        "a 5 s recording spans {span} s"
    );
    assert!(
        (0.025..=0.042).contains(&median),
        "about 33 ms apart: {median}"
    );
    assert!(times.len() >= 100, "{} frames", times.len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The video frames' times in the file at `path`, in seconds, as ffprobe reads them.
fn frame_times(path: &std::path::Path) -> Vec<f64> {
    let out = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            path.to_str().unwrap(),
        ],
    )
    .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}
