//! The docs' path beyond one box, run as written: the relay, nginx with the docs'
//! RTMP/HLS config (ports and folders moved into a temporary directory), and the docs'
//! ffmpeg line parsed out of it, so the two cannot drift. Needs `nginx`,
//! `libnginx-mod-rtmp` and `ffmpeg` (`.ci/run` installs them); without them it says
//! `SKIPPED` locally and fails under `CI=true`.

use crate::common::*;
use oscstream::sim::SimConfig;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's libnginx-mod-rtmp puts the module.
const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
/// Debian's nginx, which is not on an ordinary user's PATH.
const NGINX: &str = "/usr/sbin/nginx";

/// A child process killed (and reaped) when dropped.
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child; SIGTERM lets nginx stop its workers too.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The docs' nginx.conf with its ports and folders moved under `dir`, run in the
/// foreground with its pid and logs there too.
fn nginx_conf(dir: &Path, rtmp_port: u16, http_port: u16) -> String {
    let conf = doc_block("nginx", "rtmp {");
    let dir = dir.display();
    let conf = conf
        .replace(
            "include /etc/nginx/modules-enabled/*.conf;",
            &format!("load_module {RTMP_MODULE};\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;"),
        )
        .replace("listen 127.0.0.1:1935;", &format!("listen 127.0.0.1:{rtmp_port};"))
        .replace("listen 8080;", &format!("listen 127.0.0.1:{http_port};"))
        .replace("/var/www", &format!("{dir}/www"))
        .replace(
            "http {",
            &format!(
                "http {{\n    access_log {dir}/access.log;\n    client_body_temp_path {dir}/body;\n    proxy_temp_path {dir}/proxy;\n    fastcgi_temp_path {dir}/fastcgi;\n    uwsgi_temp_path {dir}/uwsgi;\n    scgi_temp_path {dir}/scgi;"
            ),
        );
    assert!(
        !conf.contains("1935") && !conf.contains("/var/www"),
        "{conf}"
    );
    conf
}

/// The docs' ffmpeg line, pointed at this relay and this nginx.
fn readme_ffmpeg(relay: &str, rtmp_port: u16) -> Vec<String> {
    let block = doc_block("sh", "rtmp://");
    let line = block
        .lines()
        .find(|l| l.starts_with("ffmpeg ") && l.contains("rtmp://"))
        .expect("the docs' ffmpeg line");
    line.replace("http://127.0.0.1:5000", &format!("http://{relay}"))
        .replace(
            "rtmp://127.0.0.1:1935",
            &format!("rtmp://127.0.0.1:{rtmp_port}"),
        )
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// One HLS playlist's segments: (name, duration in seconds).
fn segments(playlist: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut duration = None;
    for line in playlist.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = d
                .trim_end_matches(',')
                .split(',')
                .next()
                .and_then(|d| d.parse().ok());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            out.push((line.trim().to_string(), duration.take().unwrap_or(0.0)));
        }
    }
    out
}

#[test]
fn the_readmes_hls_path_serves_h264_that_ffmpeg_reads_in_real_time() {
    let have_tools = tool(NGINX, &["-v"]).is_some() && tool("ffmpeg", &["-version"]).is_some();
    if !have_tools {
        return;
    }
    if !Path::new(RTMP_MODULE).exists() {
        skip("libnginx-mod-rtmp is not installed: the HLS test did not run");
        return;
    }
    let sim = start_sim_with(SimConfig {
        width: 1024,
        height: 512,
        ..sim_config()
    });
    let relay = start_relay(camera_at(sim.addr(), None));
    let dir = TempDir(temp_dir("hls"));
    std::fs::create_dir_all(dir.0.join("www/hls")).unwrap();
    let (rtmp_port, http_port) = (free_port(), free_port());
    let conf = dir.0.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&dir.0, rtmp_port, http_port)).unwrap();
    let nginx = Owned(
        Command::new(NGINX)
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx starts"),
    );
    wait_for(Duration::from_secs(10), "nginx to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", http_port)).ok()
    });
    let args = readme_ffmpeg(&relay.addr().to_string(), rtmp_port);
    let started = Instant::now();
    let push = Owned(
        Command::new(&args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg starts"),
    );
    let playlist_url = format!("http://127.0.0.1:{http_port}/hls/theta.m3u8");
    // The relay sees ffmpeg as a viewer from its first frame on: the clock for the delay.
    let first_frame = wait_for(Duration::from_secs(10), "ffmpeg to read the relay", || {
        (status(&relay)["viewers"] == 1).then(Instant::now)
    });
    // Each segment's arrival, against when its first frame left the camera.
    let mut arrivals: Vec<(String, f64, Duration)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while arrivals.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no playlist with three segments; nginx said {:?}",
            std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default()
        );
        if let Ok(mut resp) = agent().get(&playlist_url).call()
            && resp.status() == 200
        {
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            for (name, duration) in segments(&text) {
                if !arrivals.iter().any(|(n, _, _)| *n == name) {
                    arrivals.push((name, duration, first_frame.elapsed()));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "compact",
            &playlist_url,
        ],
    )
    .unwrap();
    let probed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        probed.contains("codec_name=h264|width=1024|height=512"),
        "{probed}"
    );
    let out = tool(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            &playlist_url,
            "-t",
            "5",
            "-f",
            "null",
            "-",
            "-progress",
            "pipe:1",
        ],
    )
    .unwrap();
    let progress = String::from_utf8_lossy(&out.stdout).into_owned();
    let frames: u64 = progress
        .lines()
        .filter_map(|l| l.strip_prefix("frame="))
        .next_back()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    // Segment k holds the frames from (the durations of the segments before it) after
    // the first frame, for its own duration. Skipping the first segment (it may hold
    // frames from before the clock started), each is listed this long after its newest
    // and its oldest frame left the camera.
    let mut delays = Vec::new();
    let mut start = arrivals[0].1;
    for (_, duration, listed) in &arrivals[1..] {
        let listed = listed.as_secs_f64();
        delays.push(format!(
            "{:.2}..{:.2}",
            listed - start - duration,
            listed - start
        ));
        start += duration;
    }
    println!(
        "HLS: first segment listed {:.1} s after ffmpeg started; segment lengths {:?} s; \
         5 s read back as {frames} frames; glass-to-playlist per segment (newest..oldest frame): {delays:?} s",
        (arrivals[0].2 + (first_frame - started)).as_secs_f64(),
        arrivals.iter().map(|(_, d, _)| *d).collect::<Vec<_>>(),
    );
    // How many frames 5 s hold is how fast libx264 kept up beside the other tests; the
    // relay's part is that they come, at least 6 a second of the camera's 30.
    assert!(
        (30..=160).contains(&frames),
        "5 s at 30 fps read back as {frames} frames"
    );
    drop(push);
    drop(nginx);
}

#[test]
fn the_readmes_go2rtc_config_is_yaml() {
    let yaml = doc_block("yaml", "theta_h264:");
    let Some(python) = tool("python3", &["-c", "import yaml"]) else {
        return;
    };
    if !python.status.success() {
        skip("python3 has no yaml module (pip install pyyaml): the go2rtc YAML was not parsed");
        return;
    }
    let out = run_with_input(
        Command::new("python3").args([
            "-c",
            "import sys, yaml; d = yaml.safe_load(sys.stdin); print(sorted(d['streams']))",
        ]),
        &yaml,
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "['theta', 'theta_h264']"
    );
}
