//! The relay as a service: secrets kept off the command line, systemd's notify protocol
//! and watchdog, a clean stop on SIGTERM, `/metrics` for Prometheus, and log lines a
//! hostile camera cannot forge.

use crate::common::*;
use oscstream::app::relay::Relay;
use oscstream::app::service::{Notifier, Supervisor};
use oscstream::formats::osc::Credentials;
use oscstream::sim::SimConfig;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ID: &str = "THETAYL00103139";
const PWD: &str = "s3cret pass";

fn oscstream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oscstream"))
}

fn secret_file(dir: &Path, name: &str, text: &str, mode: u32) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_string_lossy().into_owned()
}

fn digest_camera() -> oscstream::sim::Simulator {
    start_sim_with(SimConfig {
        credentials: Some(Credentials::new(ID, PWD)),
        ..sim_config()
    })
}

fn cmdline(pid: u32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap())
        .replace('\0', " ")
}

#[test]
fn the_password_from_a_file_or_the_environment_reaches_the_camera_and_not_argv() {
    let dir = temp_dir("pwd");
    let file = secret_file(
        &dir,
        "camera.pwd",
        &format!("{PWD}\nignored second line\n"),
        0o600,
    );
    let sim = digest_camera();
    let port = sim.addr().port().to_string();
    let base = [
        "-r",
        "-o",
        "127.0.0.1",
        "-p",
        &port,
        "--id",
        ID,
        "--listen",
        "127.0.0.1:0",
    ];
    let mut from_file = oscstream();
    from_file
        .args(base)
        .args(["--pwd-file", &file])
        .env_remove("OSCSTREAM_PWD");
    let mut from_env = oscstream();
    from_env.args(base).env("OSCSTREAM_PWD", PWD);
    for (how, mut command) in [("file", from_file), ("environment", from_env)] {
        command.stderr(Stdio::null());
        let (relay, url) = start_binary_with(&mut command, "open http://");
        let mut viewer = Viewer::connect(addr_of(&url), "/video_feed");
        viewer.next_part();
        let args = cmdline(relay.0.id());
        assert!(
            !args.contains("s3cret"),
            "argv holds the password ({how}): {args}"
        );
    }
}

#[test]
fn each_bad_secret_source_gives_its_sentence_and_exits_2() {
    let dir = temp_dir("bad-secrets");
    let open_to_all = secret_file(&dir, "open.pwd", "hunter2\n", 0o644);
    let empty = secret_file(&dir, "empty.pwd", "\n", 0o600);
    let good = secret_file(&dir, "good.pwd", "hunter2\n", 0o600);
    let missing = dir.join("missing.pwd").to_string_lossy().into_owned();
    let auth_open = secret_file(&dir, "auth", "me:hunter2\n", 0o640);
    // A FIFO would block the start (before SIGTERM works); a huge file would be read whole.
    let fifo = dir.join("fifo.pwd");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    let fifo = fifo.to_string_lossy().into_owned();
    let huge = secret_file(&dir, "huge.pwd", &"x".repeat(1 << 20), 0o600);
    let camera = ["-r", "-o", "127.0.0.1", "-p", "9", "--id", ID];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            [&camera[..], &["--pwd-file", &missing]].concat(),
            "no such file",
        ),
        ([&camera[..], &["--pwd-file", &empty]].concat(), "empty"),
        (
            [&camera[..], &["--pwd-file", &open_to_all]].concat(),
            "chmod 600",
        ),
        (
            [&camera[..], &["--pwd", "hunter2", "--pwd-file", &good]].concat(),
            "not both",
        ),
        (
            [&camera[..], &["--pwd-file", &fifo]].concat(),
            "not a regular file",
        ),
        ([&camera[..], &["--pwd-file", &huge]].concat(), "more than"),
        (vec!["--auth-file", &missing], "--auth-file"),
        (vec!["--auth", ":hunter2"], "--auth takes USER:PASSWORD"),
        (
            [&camera[..], &["--pwd", "hunter2", "pass"]].concat(),
            "needs quotes",
        ),
    ];
    for (args, sentence) in cases {
        let out = oscstream()
            .args(&args)
            .env_remove("OSCSTREAM_PWD")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(sentence), "{args:?}: {err}");
        assert!(!err.contains("hunter2"), "the secret is not echoed: {err}");
    }
    // Group-readable is fine (root:oscstream 0640 is a normal way to share a secret).
    let out = oscstream()
        .args(["--auth-file", &auth_open, "--frobnicate"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--frobnicate"));
}

/// A fake systemd: the datagram socket a relay is told about in `NOTIFY_SOCKET`.
struct FakeSystemd {
    socket: std::os::unix::net::UnixDatagram,
    path: PathBuf,
}

impl FakeSystemd {
    fn new(name: &str) -> FakeSystemd {
        let path = temp_dir(name).join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        FakeSystemd { socket, path }
    }

    /// The next message within `limit`, or `None`.
    fn next(&self, limit: Duration) -> Option<(Instant, String)> {
        self.socket.set_read_timeout(Some(limit)).unwrap();
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).ok()?;
        Some((
            Instant::now(),
            String::from_utf8_lossy(&buf[..n]).into_owned(),
        ))
    }

    /// Messages until `message` arrives (included), failing after `limit`.
    fn until(&self, message: &str, limit: Duration) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {message} within {limit:?}; got {seen:?}"
            );
            if let Some(m) = self.next(left) {
                let done = m.1 == message;
                seen.push(m);
                if done {
                    return seen;
                }
            }
        }
    }
}

fn pings(messages: &[(Instant, String)]) -> Vec<Instant> {
    messages
        .iter()
        .filter(|(_, m)| m == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn systemd_hears_ready_status_watchdog_and_a_clean_stop_on_sigterm() {
    let systemd = FakeSystemd::new("notify");
    let mut command = oscstream();
    command
        .args(["--simulate", "--listen", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &systemd.path)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stderr(Stdio::null());
    let (mut relay, url) = start_binary_with(&mut command, "open http://");
    let first = systemd
        .next(Duration::from_secs(5))
        .expect("a first message");
    assert_eq!(first.1, "READY=1", "READY comes first");
    let addr = addr_of(&url);
    // Three viewers reading everything until the relay closes their stream.
    let viewers: Vec<std::thread::JoinHandle<std::io::Result<Vec<u8>>>> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(s, "GET /video_feed HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                let mut bytes = Vec::new();
                s.read_to_end(&mut bytes).map(|_| bytes)
            })
        })
        .collect();
    let seen = systemd.until(
        "STATUS=streaming 30 fps to 3 viewers",
        Duration::from_secs(10),
    );
    let mut seen = [seen, systemd.until("WATCHDOG=1", Duration::from_secs(2))].concat();
    for _ in 0..4 {
        seen.extend(systemd.until("WATCHDOG=1", Duration::from_secs(2)));
    }
    let times = pings(&seen);
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(150) && gap <= Duration::from_millis(400),
            "pings every WATCHDOG_USEC/2 = 200 ms, got {gap:?}"
        );
    }
    // SIGTERM with three viewers connected: STOPPING=1, exit 0 within 2 s, each stream
    // ending right after a whole part.
    let t = Instant::now();
    let pid = relay.0.id() as i32;
    // SAFETY: kill(2) on the child we started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    systemd.until("STOPPING=1", Duration::from_secs(2));
    let status = wait_for(Duration::from_secs(3), "the relay to exit", || {
        relay.0.try_wait().unwrap()
    });
    let took = t.elapsed();
    assert!(status.success(), "exit status {status:?}");
    println!("SIGTERM to exit: {took:?}");
    assert!(took < Duration::from_secs(2), "stopped in {took:?}");
    for viewer in viewers {
        let bytes = viewer
            .join()
            .unwrap()
            .expect("the stream ends with a close, not a reset");
        assert!(
            bytes.ends_with(b"\r\n--oscstreamframe\r\n"),
            "the stream ends at a part boundary"
        );
    }
}

#[test]
fn a_wedged_upstream_thread_stops_the_watchdog_pings() {
    let systemd = FakeSystemd::new("wedge");
    let sim = start_sim();
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    // Wedged is two camera calls' worth of silence: 2 × (0.1 + 0.2) + 0.05 = 0.65 s here.
    config.timeouts.camera_connect = Duration::from_millis(100);
    config.timeouts.camera_answer = Duration::from_millis(200);
    config.timeouts.set_options_pause = Duration::from_millis(50);
    let relay = Arc::new(Relay::start(config).unwrap());
    let notifier = Notifier::new(systemd.path.to_str().unwrap()).unwrap();
    let supervisor =
        Supervisor::start(relay.clone(), notifier, Some(Duration::from_millis(100))).unwrap();
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    viewer.next_part();
    systemd.until("WATCHDOG=1", Duration::from_secs(2));
    systemd.until("WATCHDOG=1", Duration::from_secs(2));
    relay.channel().control().inject_stall();
    let stalled = Instant::now();
    // Pings go on until the silence counts as wedged, then stop for good.
    let mut last_ping = stalled;
    while let Some((t, m)) = systemd.next(Duration::from_millis(500)) {
        assert!(t - stalled < Duration::from_secs(3), "pings never stopped");
        if m == "WATCHDOG=1" {
            last_ping = t;
        }
    }
    assert!(
        last_ping - stalled < Duration::from_millis(1500),
        "the last ping came {:?} after the stall",
        last_ping - stalled
    );
    assert!(
        systemd
            .next(Duration::from_millis(800))
            .is_none_or(|(_, m)| m != "WATCHDOG=1")
    );
    supervisor.stop();
    assert_eq!(systemd.until("STOPPING=1", Duration::from_secs(1)).len(), 1);
}

#[test]
fn metrics_pass_promtool_and_their_counters_move_as_frames_flow() {
    let sim = start_sim();
    let relay = start_relay(camera_at(sim.addr(), None));
    let url = format!("http://{}/metrics", relay.addr());
    let before = metrics_text(relay.addr());
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    for _ in 0..10 {
        viewer.next_part();
    }
    let content_type = agent().get(&url).call().unwrap().headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    // A part is counted just after its send returns, so the reader can be a moment
    // ahead of the counters; and the first parts may be the relay's own NO SIGNAL
    // frames while the camera pauses before its preview. So wait for them.
    let counters = [
        "oscstream_frames_received_total{camera=\"main\"}",
        "oscstream_frames_delivered_total{camera=\"main\"}",
        "oscstream_sent_bytes_total{camera=\"main\"}",
    ];
    let after = wait_for(
        Duration::from_secs(3),
        "every counter to move by at least the 10 parts read",
        || {
            let after = metrics_text(relay.addr());
            counters
                .iter()
                .all(|c| metric(&after, c) >= metric(&before, c) + 10.0)
                .then_some(after)
        },
    );
    assert_eq!(metric(&after, "oscstream_viewers{camera=\"main\"}"), 1.0);
    assert_eq!(
        metric(
            &after,
            "oscstream_upstream_state{camera=\"main\",state=\"streaming\"}"
        ),
        1.0
    );
    // The real linter, from Debian's prometheus package.
    if tool("promtool", &["--version"]).is_none() {
        return;
    }
    let out = run_with_input(Command::new("promtool").args(["check", "metrics"]), &after);
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_are_behind_auth_and_never_show_a_password() {
    let sim = start_sim_with(SimConfig {
        credentials: Some(Credentials::new(ID, PWD)),
        ..sim_config()
    });
    let mut config = relay_config(
        camera_at(sim.addr(), Some((ID, PWD))),
        Duration::from_secs(10),
    );
    config.access.basic_auth = Some(("viewer".into(), "viewerpw".into()));
    let relay = Relay::start(config).unwrap();
    let url = format!("http://{}/metrics", relay.addr());
    assert_eq!(get_json(&url).0, 401);
    let mut resp = agent()
        .get(&url)
        .header("Authorization", "Basic dmlld2VyOnZpZXdlcnB3")
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.body_mut().read_to_string().unwrap();
    assert!(!text.contains("s3cret") && !text.contains("viewerpw"));
}

#[test]
fn a_camera_error_with_newlines_and_escapes_is_logged_as_one_escaped_line() {
    let sim = start_sim();
    sim.inject(oscstream::sim::Fault::HostileErrorMessage);
    let port = sim.addr().port().to_string();
    let mut child = oscstream()
        .args(["-o", "127.0.0.1", "-p", &port, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let stderr = child.stderr.take().unwrap();
    let running = Running(child);
    use std::io::BufRead;
    let url = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(str::to_string)
        })
        .unwrap();
    let mut viewer = Viewer::connect(addr_of(&url), "/video_feed");
    // A camera frame (not the relay's own NO SIGNAL): the refusal was logged, then the retry streamed.
    while oscstream::sim::read_stamp(&viewer.next_part().jpeg).is_none() {}
    drop(viewer);
    drop(running); // ends stderr
    let mut log = Vec::new();
    std::io::BufReader::new(stderr)
        .read_to_end(&mut log)
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "no raw escape reaches the terminal: {log:?}"
    );
    let line = log
        .lines()
        .find(|l| l.contains("FORGED LINE"))
        .unwrap_or_else(|| panic!("the refusal is logged: {log:?}"));
    assert!(line.starts_with("oscstream: warning: "), "{line}");
    assert!(
        line.contains("busy\\n<3>error: FORGED LINE \\x1b[31mred"),
        "{line}"
    );
    assert!(
        !log.lines().any(|l| l.starts_with("<3>")),
        "no forged line: {log:?}"
    );
}

#[test]
fn the_readmes_systemd_unit_passes_systemd_analyze_verify() {
    let unit = doc_block("ini", "Type=notify");
    for needed in [
        "Type=notify",
        "DynamicUser=yes",
        "LoadCredential=",
        "Restart=on-failure",
        "WatchdogSec=30",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ] {
        assert!(unit.contains(needed), "the unit has {needed}");
    }
    // verify checks that ExecStart's program exists: point it at the binary under test.
    let unit = unit.replace("/usr/local/bin/oscstream", env!("CARGO_BIN_EXE_oscstream"));
    let dir = temp_dir("unit");
    let path = dir.join("oscstream.service");
    std::fs::write(&path, unit).unwrap();
    systemd_verify(&path);
}

/// `systemd-analyze verify` accepts the unit at `path` without a word about it.
fn systemd_verify(path: &Path) {
    let Some(out) = tool("systemd-analyze", &["verify", path.to_str().unwrap()]) else {
        return;
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "systemd-analyze verify: {said}");
    // It only warns about unknown keys and bad values, so any word about the unit fails.
    let unit = path.file_name().unwrap().to_string_lossy();
    assert!(!said.contains(&*unit), "systemd-analyze verify: {said}");
}

#[test]
fn the_readmes_alert_rule_passes_promtool() {
    let rules = doc_block("yaml", "alert: ThetaOffline");
    let dir = temp_dir("rules");
    let path = dir.join("rules.yml");
    std::fs::write(&path, rules).unwrap();
    let Some(out) = tool("promtool", &["check", "rules", path.to_str().unwrap()]) else {
        return;
    };
    assert!(
        out.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_readmes_hls_push_unit_passes_systemd_analyze_verify() {
    let unit = doc_block("ini", "BindsTo=oscstream.service");
    // verify checks that ExecStart's program exists: the ffmpeg this machine has.
    let Some(ffmpeg) = which("ffmpeg") else {
        skip("ffmpeg is not installed: systemd-analyze cannot verify the HLS unit");
        return;
    };
    let unit = unit.replace("/usr/bin/ffmpeg", &ffmpeg);
    let dir = temp_dir("hls-unit");
    // BindsTo= names the relay's unit: verify it beside the docs' relay unit.
    let relay_unit = doc_block("ini", "Type=notify")
        .replace("/usr/local/bin/oscstream", env!("CARGO_BIN_EXE_oscstream"));
    std::fs::write(dir.join("oscstream.service"), relay_unit).unwrap();
    let path = dir.join("oscstream-hls.service");
    std::fs::write(&path, unit).unwrap();
    systemd_verify(&path);
}

fn which(program: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| format!("{dir}/{program}"))
        .find(|p| Path::new(p).exists())
}

#[test]
fn a_camera_error_message_reaches_systemd_as_one_escaped_status_line() {
    let sim = start_sim();
    let systemd = FakeSystemd::new("notify-escaped");
    let port = sim.addr().port().to_string();
    let mut command = oscstream();
    command
        .args(["-o", "127.0.0.1", "-p", &port, "--listen", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &systemd.path)
        .stderr(Stdio::null());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Every preview request is refused with the hostile message while this runs.
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                sim.inject(oscstream::sim::Fault::HostileErrorMessage);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let (_relay, url) = start_binary_with(&mut command, "open http://");
        let _viewer = Viewer::connect(addr_of(&url), "/video_feed");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        let forged = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no STATUS with the camera's message: {seen:?}"
            );
            if let Some((_, message)) = systemd.next(left) {
                seen.push(message.clone());
                if message.contains("FORGED LINE") {
                    break message;
                }
            }
        };
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for message in &seen {
            assert!(
                !message.contains('\n'),
                "one assignment per message: {message:?}"
            );
        }
        assert!(forged.starts_with("STATUS=reconnecting: "), "{forged}");
        assert!(
            forged.contains(r"busy\n<3>error: FORGED LINE \x1b[31mred"),
            "{forged}"
        );
    });
}

#[test]
fn a_stop_signal_during_a_waiting_start_ends_the_process_at_once() {
    // A discovery nobody answers waits its whole timeout; SIGTERM must not.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = silent.local_addr().unwrap().to_string();
    let mut child = oscstream()
        .args(["discover", "--timeout", "20", "--mdns", &target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once the query came, the command is surely waiting.
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    silent
        .recv_from(&mut [0u8; 512])
        .expect("the discovery's query");
    let t = Instant::now();
    // SAFETY: kill(2) on the child we started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = wait_for(Duration::from_secs(3), "the command to end", || {
        child.try_wait().unwrap()
    });
    println!(
        "SIGTERM during discovery: ended after {:?} ({status})",
        t.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(1));
}

/// The package's files, as the repository holds them.
fn package_file(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/package")
            .join(name),
    )
    .unwrap()
}

#[test]
fn the_packages_unit_passes_systemd_analyze_verify() {
    let unit = package_file("oscstream.service");
    for needed in [
        "Type=notify",
        "ExecStart=/usr/bin/oscstream --config /etc/oscstream/cameras.toml",
        "LoadCredential=camera-pwd:/etc/oscstream/camera-pwd",
        "DynamicUser=yes",
        "StateDirectory=oscstream",
        "WatchdogSec=30",
        "ProtectSystem=strict",
    ] {
        assert!(unit.contains(needed), "the unit has {needed}");
    }
    let unit = unit.replace("/usr/bin/oscstream", env!("CARGO_BIN_EXE_oscstream"));
    let dir = temp_dir("package-unit");
    let path = dir.join("oscstream.service");
    std::fs::write(&path, unit).unwrap();
    systemd_verify(&path);
}

#[test]
fn the_packages_config_names_no_camera_and_its_examples_work_once_uncommented() {
    let text = package_file("cameras.toml");
    let dir = temp_dir("package-config");
    let path = dir.join("cameras.toml");
    let refused = oscstream::settings::config::parse(&text, &path).unwrap_err();
    assert!(refused.0.contains("names no camera"), "{}", refused.0);
    // The first camera (client mode, with its password file) and the view, uncommented.
    std::fs::write(dir.join("camera-pwd"), "10010104\n").unwrap();
    std::fs::set_permissions(
        dir.join("camera-pwd"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // Commented settings are '#' then the setting; prose is '# ' then words.
    let examples: String = text
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(setting) if !setting.starts_with([' ', '#']) && !setting.is_empty() => setting,
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let config = oscstream::settings::config::parse(&examples, &path)
        .unwrap_or_else(|e| panic!("{}\n{examples}", e.0));
    assert_eq!(config.cameras.len(), 1, "{examples}");
    assert_eq!(config.cameras[0].views.len(), 1);
    assert_eq!(config.listen.as_deref(), Some("127.0.0.1:5000"));
}
