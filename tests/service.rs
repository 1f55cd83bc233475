//! The relay as a service: secrets kept off the command line, systemd's notify protocol
//! and watchdog, a clean stop on SIGTERM, `/metrics` for Prometheus, and log lines a
//! hostile camera cannot forge.

mod common;

use common::*;
use oscstream::osc::Credentials;
use oscstream::sim::SimConfig;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ID: &str = "THETAYL00103139";
const PWD: &str = "s3cret pass";

fn oscstream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oscstream"))
}

/// A fresh temporary folder for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oscstream-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
