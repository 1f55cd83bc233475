//! The command line: the seed's flags (`-r -o -p -i --pwd`) and ours, read with
//! pico-args into a [`Command`]. Every mistake becomes one sentence naming the flag;
//! `main` prints it and exits with code 2.

use crate::formats::osc::Credentials;
use crate::settings::secret::read_secret_file;
use crate::settings::values;
use crate::sim::SimConfig;
use crate::web::access::{Access, Net};
use crate::web::forwarded::ProxyHeaders;
use std::ffi::OsString;
use std::path::PathBuf;

pub use super::request::*;
use super::targets::{
    CameraFlags, configured_cameras, direct_camera, missing, router_camera, simulated_camera,
};

/// Reads the command line, taking secrets from the process environment where the flags
/// leave them out.
pub fn parse(args: Vec<OsString>) -> Result<Command, CliError> {
    parse_with_env(args, &|name| std::env::var(name).ok())
}

/// [`parse`] with the environment given, so tests do not depend on the process's own.
pub fn parse_with_env(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Command, CliError> {
    let (args, simulated) = take_simulate_count(args)?;
    let mut args = pico_args::Arguments::from_vec(args);
    if args.contains(["-h", "--help"]) {
        return Ok(Command::Help);
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Command::Version);
    }
    let simulate_command = match args.subcommand() {
        Ok(Some(s)) if s == "discover" => return parse_discover(args),
        Ok(Some(s)) if s == "simulate" => true,
        Ok(Some(other)) => {
            return Err(CliError(format!(
                "unknown command or argument '{other}'; run oscstream --help"
            )));
        }
        Ok(None) => false,
        Err(e) => return Err(from_pico(e)),
    };
    if simulate_command {
        parse_simulate(args, env)
    } else {
        parse_relay(args, env, simulated)
    }
}

/// `--simulate` takes an optional count (`--simulate 3`), which pico-args cannot say:
/// take the count out here, leaving the switch.
fn take_simulate_count(mut args: Vec<OsString>) -> Result<(Vec<OsString>, usize), CliError> {
    let Some(at) = args.iter().position(|a| a == "--simulate") else {
        return Ok((args, 1));
    };
    let count = match args.get(at + 1).and_then(|a| a.to_str()) {
        Some(n) if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => {
            let most = MAX_SIMULATED as u64;
            values::number_in(n, 1..=most, "--simulate takes a number of cameras")
                .map_err(CliError)? as usize
        }
        _ => return Ok((args, 1)),
    };
    args.remove(at + 1);
    Ok((args, count))
}

/// The camera password: `--pwd`, else `--pwd-file`, else `$OSCSTREAM_PWD`.
fn camera_password(
    args: &mut pico_args::Arguments,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, CliError> {
    let given: Option<String> = args.opt_value_from_str("--pwd").map_err(from_pico)?;
    let file: Option<PathBuf> = args.opt_value_from_str("--pwd-file").map_err(from_pico)?;
    secret(
        given,
        file,
        env("OSCSTREAM_PWD"),
        ("--pwd", "--pwd-file", "the camera password"),
    )
}

/// One secret from its three sources; the sentences name the source, never the secret.
fn secret(
    given: Option<String>,
    file: Option<PathBuf>,
    from_env: Option<String>,
    (flag, file_flag, what): (&str, &str, &str),
) -> Result<Option<String>, CliError> {
    match (given, file) {
        (Some(_), Some(_)) => Err(CliError(format!(
            "give {what} once: {flag} or {file_flag}, not both"
        ))),
        (Some(value), None) => Ok(Some(value)),
        (None, Some(path)) => read_secret_file(&path, file_flag, what)
            .map(Some)
            .map_err(CliError),
        (None, None) => Ok(from_env.filter(|v| !v.is_empty())),
    }
}

fn parse_relay(
    mut args: pico_args::Arguments,
    env: &dyn Fn(&str) -> Option<String>,
    simulated: usize,
) -> Result<Command, CliError> {
    let flags = read_camera_flags(&mut args, env)?;
    let listen = parse_listen(args.opt_value_from_str("--listen").map_err(from_pico)?)?;
    let max_viewers = args
        .opt_value_from_fn("--max-viewers", |s: &str| {
            values::number_in(s, 1..=10_000, "--max-viewers takes a number").map(|n| n as usize)
        })
        .map_err(from_pico)?
        .unwrap_or(crate::relay::channel::MAX_VIEWERS);
    let view_memory_mib = args
        .opt_value_from_fn("--view-memory", |s: &str| {
            values::number_in(s, 16..=65_536, "--view-memory takes a number of MiB")
        })
        .map_err(from_pico)?
        .unwrap_or(crate::relay::views::VIEW_MEMORY_MIB);
    let preview = args
        .opt_value_from_fn("--preview", values::preview_format)
        .map_err(from_pico)?;
    let proxy_headers = args
        .opt_value_from_fn("--proxy-headers", ProxyHeaders::parse)
        .map_err(from_pico)?;
    let mut access = read_access(&mut args, env)?;
    access.proxy_headers = proxy_headers.unwrap_or_default();
    let keep_awake = !args.contains("--let-camera-sleep");
    let state_dir = read_state_dir(&mut args, env)?;
    let cool_down = args
        .opt_value_from_fn("--cool-down", |s: &str| {
            values::seconds_in(s, 10..=86_400, "--cool-down")
        })
        .map_err(from_pico)?
        .unwrap_or(DEFAULT_COOL_DOWN);
    let on_lost = read_lost_hook(&mut args)?;
    reject_leftovers(args)?;
    let (camera, listen, preview) = match &flags.config {
        Some(path) => {
            let (cameras, file) = configured_cameras(&flags, preview.is_some(), path)?;
            access.trust_proxy.extend(file.trust_proxy);
            if let (None, Some(headers)) = (proxy_headers, file.proxy_headers) {
                access.proxy_headers = headers;
            }
            (cameras, listen.or(file.listen), None)
        }
        None if flags.simulate => (simulated_camera(flags, simulated)?, listen, preview),
        None if flags.router => (router_camera(flags)?, listen, preview),
        None => (direct_camera(flags)?, listen, preview),
    };
    let listen = listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    parse_listen(Some(listen.clone()))?;
    Ok(Command::Relay(RelayRequest {
        listen,
        camera,
        max_viewers,
        view_memory: view_memory_mib << 20,
        preview,
        access,
        keep_awake,
        cool_down,
        on_lost,
        state_dir,
    }))
}

fn read_camera_flags(
    args: &mut pico_args::Arguments,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CameraFlags, CliError> {
    Ok(CameraFlags {
        router: args.contains(["-r", "--router"]),
        simulate: args.contains("--simulate"),
        config: args.opt_value_from_str("--config").map_err(from_pico)?,
        host: args
            .opt_value_from_fn(["-o", "--host"], values::camera_host)
            .map_err(from_pico)?,
        port: args
            .opt_value_from_fn(["-p", "--port"], values::port_text)
            .map_err(from_pico)?,
        id: args.opt_value_from_str(["-i", "--id"]).map_err(from_pico)?,
        pwd: camera_password(args, env)?,
        mdns_target: parse_mdns(args.opt_value_from_str("--mdns").map_err(from_pico)?)?,
    })
}

/// `--auth`/`--auth-file`, `--read-only`, `--allow-origin`, `--allow-host`, `--trust-proxy`.
fn read_access(
    args: &mut pico_args::Arguments,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Access, CliError> {
    let auth: Option<String> = args.opt_value_from_str("--auth").map_err(from_pico)?;
    let auth_file: Option<PathBuf> = args.opt_value_from_str("--auth-file").map_err(from_pico)?;
    let basic_auth = secret(
        auth,
        auth_file,
        env("OSCSTREAM_AUTH"),
        ("--auth", "--auth-file", "the viewers' USER:PASSWORD"),
    )?
    .map(|pair| parse_user_pass(&pair))
    .transpose()?;
    Ok(Access {
        basic_auth,
        read_only: args.contains("--read-only"),
        allow_origin: args
            .opt_value_from_str("--allow-origin")
            .map_err(from_pico)?,
        allow_hosts: args
            .values_from_fn("--allow-host", values::host_name)
            .map_err(from_pico)?,
        trust_proxy: args
            .values_from_fn("--trust-proxy", Net::parse)
            .map_err(from_pico)?,
        ..Access::default()
    })
}

/// `--state-dir`, else the first of systemd's `$STATE_DIRECTORY` (it may list several,
/// separated by ':').
fn read_state_dir(
    args: &mut pico_args::Arguments,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<PathBuf>, CliError> {
    let given: Option<PathBuf> = args.opt_value_from_str("--state-dir").map_err(from_pico)?;
    Ok(given.or_else(|| {
        let dirs = env("STATE_DIRECTORY")?;
        dirs.split(':')
            .next()
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    }))
}

/// `--on-camera-lost CMD` with its `--lost-after`.
fn read_lost_hook(
    args: &mut pico_args::Arguments,
) -> Result<Option<crate::relay::lost::LostHook>, CliError> {
    let command: Option<String> = args
        .opt_value_from_str("--on-camera-lost")
        .map_err(from_pico)?;
    let after = args
        .opt_value_from_fn("--lost-after", |s: &str| {
            values::seconds_in(s, 1..=86_400, "--lost-after")
        })
        .map_err(from_pico)?;
    match (command, after) {
        (Some(command), after) => Ok(Some(crate::relay::lost::LostHook {
            command,
            after: after.unwrap_or(DEFAULT_LOST_AFTER),
        })),
        (None, Some(_)) => Err(CliError(
            "--lost-after goes with --on-camera-lost 'COMMAND'".into(),
        )),
        (None, None) => Ok(None),
    }
}

fn parse_simulate(
    mut args: pico_args::Arguments,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Command, CliError> {
    let id: Option<String> = args.opt_value_from_str(["-i", "--id"]).map_err(from_pico)?;
    let pwd = camera_password(&mut args, env)?;
    let listen = parse_listen(args.opt_value_from_str("--listen").map_err(from_pico)?)?
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let size = args
        .opt_value_from_fn("--size", values::size)
        .map_err(from_pico)?;
    let fps = args
        .opt_value_from_fn("--fps", |s: &str| {
            values::number_in(s, 1..=120, "--fps takes a framerate").map(|n| n as u32)
        })
        .map_err(from_pico)?;
    let mdns: Option<String> = args.opt_value_from_str("--mdns").map_err(from_pico)?;
    let model: Option<String> = args
        .opt_value_from_fn("--model", |m: &str| match m {
            crate::sim::MODEL | crate::sim::MODEL_S => Ok(m.to_string()),
            _ => Err(format!(
                "--model is \"{}\" or \"{}\" (got '{m}')",
                crate::sim::MODEL,
                crate::sim::MODEL_S
            )),
        })
        .map_err(from_pico)?;
    let time_scale = args
        .opt_value_from_fn("--time-scale", |k: &str| match k.parse::<f64>() {
            Ok(k) if (0.001..=100_000.0).contains(&k) => Ok(k),
            _ => Err(format!(
                "--time-scale is a factor from 0.001 to 100000 (got '{k}')"
            )),
        })
        .map_err(from_pico)?;
    reject_leftovers(args)?;
    let credentials = match (id, pwd) {
        (Some(id), Some(pwd)) => Some(Credentials::new(id, pwd)),
        (None, None) => None,
        (Some(_), None) => return Err(missing("--pwd", "the password to go with --id")),
        (None, Some(_)) => return Err(missing("--id", "the id to go with --pwd")),
    };
    let defaults = SimConfig::default();
    let (width, height) = size.unwrap_or((defaults.width, defaults.height));
    Ok(Command::Simulate(SimConfig {
        listen,
        credentials,
        width,
        height,
        fps: fps.unwrap_or(defaults.fps),
        model: model.unwrap_or(defaults.model),
        firmware: None,
        mdns,
        life: time_scale.map(|time_scale| crate::sim::LifeConfig {
            time_scale,
            ..Default::default()
        }),
    }))
}

fn parse_discover(mut args: pico_args::Arguments) -> Result<Command, CliError> {
    let timeout = args
        .opt_value_from_fn("--timeout", |t: &str| {
            values::seconds_in(t, 1..=60, "--timeout")
        })
        .map_err(from_pico)?
        .unwrap_or(std::time::Duration::from_secs(3));
    let target = parse_mdns(args.opt_value_from_str("--mdns").map_err(from_pico)?)?;
    reject_leftovers(args)?;
    Ok(Command::Discover { timeout, target })
}

/// Anything left over is a mistake. A flag is named; a bare word is not repeated, since
/// it may be the rest of a password with a space in it.
fn reject_leftovers(args: pico_args::Arguments) -> Result<(), CliError> {
    match args.finish().first().map(|a| a.to_string_lossy().into_owned()) {
        None => Ok(()),
        Some(flag) if flag.starts_with('-') => Err(CliError(format!(
            "unknown argument '{flag}'; run oscstream --help"
        ))),
        Some(_) => Err(CliError(
            "an extra word on the command line that no flag takes (a value with spaces needs quotes); run oscstream --help".into(),
        )),
    }
}

/// `--mdns ADDR:PORT`: where mDNS queries go (one responder), else the mDNS group.
fn parse_mdns(value: Option<String>) -> Result<std::net::SocketAddr, CliError> {
    let text = value.unwrap_or_else(|| crate::camera::mdns::MDNS_GROUP.to_string());
    text.parse().map_err(|_| {
        CliError(format!(
            "--mdns takes IP:PORT, e.g. 224.0.0.251:5353 (got '{text}')"
        ))
    })
}

fn parse_listen(value: Option<String>) -> Result<Option<String>, CliError> {
    match value {
        Some(v)
            if v.rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err()) =>
        {
            Err(CliError(format!(
                "--listen takes ADDRESS:PORT, e.g. 0.0.0.0:5000 (got '{v}')"
            )))
        }
        other => Ok(other),
    }
}

fn parse_user_pass(s: &str) -> Result<(String, String), CliError> {
    match s.split_once(':') {
        Some((user, pass)) if !user.is_empty() && !pass.is_empty() => {
            Ok((user.to_string(), pass.to_string()))
        }
        _ => Err(CliError(
            "--auth takes USER:PASSWORD, both non-empty".to_string(),
        )),
    }
}

fn from_pico(e: pico_args::Error) -> CliError {
    use pico_args::Error as E;
    CliError(match e {
        E::OptionWithoutAValue(flag) => format!("{flag} needs a value"),
        // The value is not repeated: it may be a secret. Our own causes quote it where safe.
        E::Utf8ArgumentParsingFailed { cause, .. } => cause,
        E::ArgumentParsingFailed { cause } => cause,
        E::NonUtf8Argument => "an argument is not valid UTF-8".into(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::client::Mode;

    fn parse_str(args: &[&str]) -> Result<Command, CliError> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn every_flag_the_parser_reads_is_in_the_help() {
        let source = include_str!("cli.rs");
        let parser = &source[..source.find("#[cfg(test)]").unwrap()];
        let flags: std::collections::BTreeSet<&str> = parser
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                s.starts_with("--") && s[2..].chars().all(|c| c.is_ascii_lowercase() || c == '-')
            })
            .collect();
        assert!(flags.len() > 25, "{flags:?}");
        let help = crate::settings::help::HELP;
        let missing: Vec<_> = flags.iter().filter(|f| !help.contains(*f)).collect();
        assert!(
            missing.is_empty(),
            "read by the parser, not in --help: {missing:?}"
        );
    }

    #[test]
    fn no_flags_is_mode_1_at_the_cameras_own_address() {
        match parse_str(&[]).unwrap() {
            Command::Relay(RelayRequest {
                listen,
                camera: CameraTarget::Real { addr, mode },
                ..
            }) => {
                assert_eq!(listen, "127.0.0.1:5000");
                assert_eq!(
                    (addr.host.as_str(), addr.port, mode),
                    ("192.168.1.1", 80, Mode::Direct)
                );
                assert!(addr.credentials.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_seeds_mode_2_example_parses() {
        let cmd = parse_str(&[
            "-r",
            "-o",
            "192.168.0.101",
            "-p",
            "80",
            "--id",
            "THETAYL00103139",
            "--pwd",
            "00103139",
        ])
        .unwrap();
        match cmd {
            Command::Relay(RelayRequest {
                camera: CameraTarget::Real { addr, mode },
                ..
            }) => {
                assert_eq!(mode, Mode::Router);
                assert_eq!(
                    addr.credentials,
                    Some(Credentials::new("THETAYL00103139", "00103139"))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_missing_mode_2_flag_is_named() {
        let full = ["-r", "-o", "h", "-p", "80", "-i", "ID", "--pwd", "P"];
        for (skip, name) in [(1, "--host"), (3, "--port"), (5, "--id"), (7, "--pwd")] {
            let args: Vec<&str> = full
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip && *i != skip + 1)
                .map(|(_, a)| *a)
                .collect();
            let err = parse_str(&args).unwrap_err();
            assert!(err.0.contains(name), "{err} should name {name}");
        }
    }

    #[test]
    fn a_camera_name_is_found_by_mdns_and_needs_no_port() {
        let cmd = parse_str(&[
            "-r",
            "-o",
            "THETAYN10010104.local",
            "--id",
            "THETAYN10010104",
            "--pwd",
            "p",
            "--mdns",
            "127.0.0.1:5353",
        ])
        .unwrap();
        match cmd {
            Command::Relay(RelayRequest {
                camera: CameraTarget::Real { addr, .. },
                ..
            }) => {
                let mdns = addr.mdns.expect("resolved by mDNS");
                assert_eq!(mdns.target.to_string(), "127.0.0.1:5353");
                assert!(!mdns.port_given);
            }
            other => panic!("{other:?}"),
        }
        let direct = parse_str(&["-o", "10.0.0.5"]).unwrap();
        assert!(
            matches!(direct, Command::Relay(RelayRequest { camera: CameraTarget::Real { addr, .. }, .. }) if addr.mdns.is_none())
        );
    }

    #[test]
    fn bad_values_are_named() {
        assert!(parse_str(&["-p", "http"]).unwrap_err().0.contains("port"));
        assert!(
            parse_str(&["--listen", "5000"])
                .unwrap_err()
                .0
                .contains("--listen")
        );
        assert!(parse_str(&["--bogus"]).unwrap_err().0.contains("--bogus"));
        assert!(
            parse_str(&["simulate", "--size", "big"])
                .unwrap_err()
                .0
                .contains("size")
        );
    }
}
