//! The `oscstream` binary as a user runs it: flags, exit codes, what it prints.

use crate::common::*;
use std::process::{Command, Output};
use std::time::Duration;

fn oscstream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oscstream"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).trim().to_string();
    assert_eq!(text.lines().count(), 1, "one sentence: {text:?}");
    text
}

#[test]
fn bad_flags_exit_2_with_one_sentence() {
    for (args, names) in [
        (
            &["-r", "-o", "127.0.0.1", "-p", "80", "--id", "X"][..],
            "--pwd",
        ),
        (
            &["-r", "-o", "127.0.0.1", "--id", "X", "--pwd", "Y"][..],
            "--port",
        ),
        (&["-r", "-p", "80", "--id", "X", "--pwd", "Y"][..], "--host"),
        (&["-r", "-o", "h", "-p", "80", "--pwd", "Y"][..], "--id"),
        (&["--port", "eighty"][..], "port"),
        (&["--frobnicate"][..], "--frobnicate"),
        (&["--listen", "nowhere"][..], "--listen"),
        (&["simulate", "--fps", "0"][..], "framerate"),
        (&["--id", "X", "--pwd", "Y"][..], "-r"),
        (&["-o", "http://192.168.1.1/"][..], "not a camera address"),
        (
            &["--trust-proxy", "the-proxy"][..],
            "--trust-proxy takes an IP address",
        ),
        (
            &["-r", "-o", "10.0.0.5", "-p", "0", "--id", "X", "--pwd", "Y"][..],
            "1-65535",
        ),
    ] {
        let out = oscstream(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = one_line(&out.stderr);
        assert!(
            err.starts_with("oscstream: ") && err.contains(names),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn help_explains_both_modes_and_version_prints() {
    let out = oscstream(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("MODE 1") && help.contains("MODE 2") && help.contains("--simulate"));
    assert!(help.contains("-r -o 192.168.0.101 -p 80 --id THETAYL00103139 --pwd 00103139"));
    let out = oscstream(&["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("oscstream 0."));
}

#[test]
fn the_readme_first_command_relays_the_simulated_camera() {
    let (_relay, url) = start_binary(&["--simulate", "--listen", "127.0.0.1:0"], "open http://");
    assert!(url.ends_with("/public/index.html"), "{url}");
    let mut viewer = Viewer::connect(addr_of(&url), "/video_feed");
    let part = viewer.next_part();
    assert_eq!(
        jpeg_size(&part.jpeg),
        Some((1024, 512)),
        "the simulator's default size"
    );
}

#[test]
fn simulate_alone_serves_a_camera() {
    let (_sim, url) = start_binary(
        &[
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--size",
            "320x160",
            "--fps",
            "10",
        ],
        "simulated camera",
    );
    let (code, info) = get_json(&url);
    assert_eq!(
        (code, info["model"].as_str()),
        (200, Some("RICOH THETA Z1"))
    );
}

#[test]
fn a_wrong_password_at_start_exits_1_naming_id_and_pwd_without_showing_it() {
    let (_sim, url) = start_binary(
        &[
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--id",
            "THETAYL00103139",
            "--pwd",
            "00103139",
        ],
        "simulated camera",
    );
    let camera = addr_of(&url);
    let port = camera.port().to_string();
    let out = oscstream(&[
        "-r",
        "-o",
        "127.0.0.1",
        "-p",
        &port,
        "--id",
        "THETAYL00103139",
        "--pwd",
        "not-the-pwd",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = one_line(&out.stderr);
    assert!(err.contains("--id") && err.contains("--pwd"), "{err}");
    assert!(
        !err.contains("not-the-pwd")
            && !String::from_utf8_lossy(&out.stdout).contains("not-the-pwd")
    );
}

#[test]
fn preview_sets_the_cameras_format_before_streaming() {
    let (_relay, url) = start_binary(
        &[
            "--simulate",
            "--listen",
            "127.0.0.1:0",
            "--preview",
            "640x320@30",
        ],
        "open http://",
    );
    let mut viewer = Viewer::connect(addr_of(&url), "/video_feed");
    // Frames the relay draws while the format is set come at that size already.
    for _ in 0..3 {
        assert_eq!(jpeg_size(&viewer.next_part().jpeg), Some((640, 320)));
    }
    let camera_frame = wait_for(Duration::from_secs(5), "a camera frame", || {
        let part = viewer.next_part();
        oscstream::sim::read_stamp(&part.jpeg)
            .is_some()
            .then_some(part)
    });
    assert_eq!(jpeg_size(&camera_frame.jpeg), Some((640, 320)));
}

#[test]
fn a_preview_format_the_camera_lacks_exits_2_naming_the_allowed_ones() {
    let (_sim, url) = start_binary(&["simulate", "--listen", "127.0.0.1:0"], "simulated camera");
    let port = addr_of(&url).port().to_string();
    let out = oscstream(&[
        "-o",
        "127.0.0.1",
        "-p",
        &port,
        "--preview",
        "1920x1080@30",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = one_line(&out.stderr);
    assert!(
        err.contains("1920x1080@30") && err.contains("1920x960@8"),
        "{err}"
    );
    for (args, names) in [
        (&["--preview", "big"][..], "--preview"),
        (&["--auth", "nopassword"][..], "--auth"),
    ] {
        let out = oscstream(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(one_line(&out.stderr).contains(names));
    }
}

/// The `--flags` named in `text`.
fn flags_in(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2 && w.as_bytes()[2].is_ascii_lowercase())
        .map(str::to_string)
        .collect()
}

#[test]
fn help_and_the_docs_flag_table_name_the_same_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_oscstream"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let (relay, simulate) = help
        .split_once("SIMULATE OPTIONS")
        .expect("--help has the simulator's options apart");
    let relay_options = relay.split_once("OPTIONS:").expect("an OPTIONS section").1;
    let reference = DOCS
        .iter()
        .find(|(name, _)| *name == "docs/reference.md")
        .unwrap()
        .1;
    let table: String = reference
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(1))
        .collect();
    let (in_help, in_table) = (flags_in(relay_options), flags_in(&table));
    assert_eq!(
        in_help, in_table,
        "--help and the flag table of docs/reference.md differ"
    );
    let simulate_line = reference
        .lines()
        .find(|l| l.starts_with("`oscstream simulate"))
        .expect("docs/reference.md names oscstream simulate's flags");
    let simulate_help = simulate.split_once("\n\n").map_or(simulate, |(s, _)| s);
    assert_eq!(flags_in(simulate_help), flags_in(simulate_line));
}

#[test]
fn the_parser_takes_every_flag_the_help_names() {
    let help = String::from_utf8_lossy(&oscstream(&["--help"]).stdout).into_owned();
    let (relay, simulate) = help.split_once("SIMULATE OPTIONS").unwrap();
    let options = relay.split_once("OPTIONS:").unwrap().1;
    let lines = |text: &str| -> Vec<(String, Option<String>)> {
        text.lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace().skip_while(|w| !w.starts_with("--"));
                let flag = words.next()?.trim_end_matches(',').to_string();
                let value = words
                    .next()
                    .filter(|w| w.chars().all(|c| !c.is_ascii_lowercase()) && !w.starts_with('-'))
                    .map(str::to_string);
                Some((flag, value))
            })
            .collect()
    };
    let simulate = simulate.split_once("\n\n").map_or(simulate, |(s, _)| s);
    let (relay_flags, simulate_flags) = (lines(options), lines(simulate));
    assert!(relay_flags.len() > 20 && simulate_flags.len() > 5);
    // Each flag, with a stand-in for its value, then a flag nobody knows: the parser must
    // complain about the stranger (or the stand-in value), never about the flag itself.
    for (prefix, flags) in [(None, &relay_flags), (Some("simulate"), &simulate_flags)] {
        for (flag, value) in flags
            .iter()
            .filter(|(f, _)| f != "--help" && f != "--version")
        {
            let mut args: Vec<&str> = prefix.into_iter().collect();
            args.push(flag);
            args.extend(value.as_deref());
            args.push("--not-a-flag");
            let out = oscstream(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(!err.contains(&format!("'{flag}'")), "{args:?}: {err}");
        }
    }
}
