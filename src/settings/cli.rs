//! The command line: the seed's flags (`-r -o -p -i --pwd`) and ours, read with
//! pico-args into a [`Command`]. Every mistake becomes one sentence naming the flag;
//! `main` prints it and exits with code 2.

use crate::camera::client::{CameraAddr, MdnsName};
use crate::formats::osc::{Credentials, PreviewFormat};
use crate::relay::channel::Mode;
use crate::settings::secret::read_secret_file;
use crate::settings::values;
use crate::sim::SimConfig;
use crate::web::access::{Access, Net};
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:5000";
/// Default for `--lost-after`.
pub const DEFAULT_LOST_AFTER: std::time::Duration = std::time::Duration::from_secs(120);
/// Default for `--cool-down`: how long an overheated camera's preview stays closed.
pub const DEFAULT_COOL_DOWN: std::time::Duration = std::time::Duration::from_secs(300);
/// Where a THETA is on its own Wi-Fi (Mode 1).
pub const DIRECT_HOST: &str = "192.168.1.1";
pub const DIRECT_PORT: u16 = 80;

pub const HELP: &str = "\
oscstream — relay the live 360° preview of an OSC camera (RICOH THETA S, SC, V, Z1, X, SC2) to
browsers, curl, VLC, ffmpeg and home automation, over one camera connection.

USAGE:
  oscstream [OPTIONS]            relay a camera
  oscstream simulate [OPTIONS]   run only the simulated camera
  oscstream discover [--timeout SECS] [--mdns ADDR:PORT]
                                 find cameras on your network by name (DNS-SD)

MODE 1 — this computer joined the camera's own Wi-Fi (camera at 192.168.1.1:80, no login):
  oscstream

MODE 2 — the camera joined your router; every camera request uses Digest auth:
  oscstream -r -o 192.168.0.101 -p 80 --id THETAYL00103139 --pwd 00103139

TRY IT WITHOUT A CAMERA:
  oscstream --simulate

OPTIONS:
  -r, --router          the camera is on your router (Mode 2): needs -o, -p (unless -o is a
                        name), --id and a password
  -o, --host HOST       the camera's address (default 192.168.1.1), or its name:
                        THETAYN10010104.local (found by mDNS again whenever it moves)
      --mdns ADDR:PORT  send mDNS queries to this responder instead of the group
  -p, --port PORT       the camera's port (default 80)
  -i, --id ID           the camera's id, e.g. THETAYL00103139 (Mode 2)
      --pwd PASSWORD    the camera's password, e.g. 00103139 (Mode 2); never printed.
                        Any local user can read a command line: prefer one of
      --pwd-file PATH   the camera's password from the first line of PATH (chmod 600), or
                        the environment variable OSCSTREAM_PWD
      --listen ADDR     where viewers connect (default 127.0.0.1:5000; 0.0.0.0:5000 for your LAN)
      --max-viewers N   stream viewers served at once (default 64); more get 503
      --preview WxH@FPS set the camera's preview format first, e.g. 1024x512@30, 1920x960@8
      --auth USER:PASS  HTTP Basic auth on every route (viewers and control); or
      --auth-file PATH  a USER:PASS line from PATH, or the variable OSCSTREAM_AUTH
      --read-only       refuse every POST route (no pictures, no format changes) with 403
      --cool-down SECS  when the camera reports overheating, close its preview this long
                        (default 300); viewers see a COOLING frame meanwhile
      --on-camera-lost CMD  run CMD (sh -c, with OSCSTREAM_CAMERA=host:port) when a camera
                        has failed for --lost-after SECS (default 120), then at most once
                        per that while it stays lost; e.g. 'uhubctl -a cycle -l 1-1 -p 2'
      --let-camera-sleep  leave the camera's sleep and power-off timers alone (by default
                        they are set to never while the relay runs, and put back on stop)
      --state-dir DIR   keep each camera's own timers in DIR, so that they are put back
                        even after a crash or kill -9 (default $STATE_DIRECTORY, if set)
      --allow-origin O  allow web pages from origin O to use the relay (CORS) and to
                        change the camera; other sites' pages may not
      --trust-proxy ADDR  believe X-Forwarded-For/-Proto/-Host (or Forwarded) from this
                        proxy (an IP or CIDR, repeatable): client addresses, the public
                        scheme and host come from them
      --allow-host NAME answer to this host name too (repeatable); IP addresses,
                        localhost and this computer's names always work; '*' any name
      --simulate [N]    relay a simulated camera (or N of them) started on free loopback
                        ports; with -r --id --pwd they demand Digest auth with those
      --config FILE     several cameras from a TOML file ([[camera]] name, host, port,
                        id, pwd_file, preview); each at /cameras/NAME/, the first also at /
  -h, --help            this text
  -V, --version         the version

SIMULATE OPTIONS (oscstream simulate):
      --listen ADDR     where the simulated camera listens (default 127.0.0.1:8080)
      --mdns ADDR:PORT  answer DNS-SD queries there (UDP), as THETAYN10010001.local
  -i, --id ID --pwd PASSWORD   demand Digest auth with these credentials
      --size WxH        preview size (default 1024x512)
      --fps N           preview framerate (default 30)
      --model NAME      'RICOH THETA Z1' (default) or 'RICOH THETA S' (API level 1 until
                        a client sets clientVersion 2; 640x320@10 only)
      --time-scale K    live a camera's life K times faster than real time: sleep after
                        sleepDelay, switch off offDelay later, heat up while streaming

Then open http://127.0.0.1:5000/public/index.html, or record: curl http://127.0.0.1:5000/video_feed > out.mjpeg
";

/// What the command line asks for. (Built once at start, so the size of the `Relay`
/// variant does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    Relay(RelayRequest),
    Simulate(SimConfig),
    /// Find cameras by DNS-SD and say how to relay each.
    Discover {
        timeout: std::time::Duration,
        target: std::net::SocketAddr,
    },
    Help,
    Version,
}

/// What `oscstream` with relay flags (or `--config`) asks for.
#[derive(Debug)]
pub struct RelayRequest {
    pub listen: String,
    pub camera: CameraTarget,
    pub max_viewers: usize,
    pub preview: Option<PreviewFormat>,
    pub access: Access,
    /// Keep the cameras' sleep timers at "never" (not `--let-camera-sleep`).
    pub keep_awake: bool,
    /// How long an overheated camera's preview stays closed.
    pub cool_down: std::time::Duration,
    /// `--on-camera-lost CMD` with `--lost-after`.
    pub on_lost: Option<crate::relay::lost::LostHook>,
    /// `--state-dir`, or systemd's `$STATE_DIRECTORY`.
    pub state_dir: Option<PathBuf>,
}

/// Which camera the relay reads.
#[derive(Debug)]
pub enum CameraTarget {
    Real {
        addr: CameraAddr,
        mode: Mode,
    },
    /// Start `count` simulated cameras and relay them.
    Simulated {
        credentials: Option<Credentials>,
        count: usize,
    },
    /// The cameras of a `--config` file.
    Configured(Vec<crate::settings::config::CameraSpec>),
}

/// Most simulated cameras `--simulate N` starts.
pub const MAX_SIMULATED: usize = 16;

/// A command-line mistake, worded for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

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
        Some(n) if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => match n.parse() {
            Ok(count) if (1..=MAX_SIMULATED).contains(&count) => count,
            _ => {
                return Err(CliError(format!(
                    "--simulate takes a number of cameras from 1 to {MAX_SIMULATED} (got '{n}')"
                )));
            }
        },
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

/// The flags that say which camera to relay, as given, before they are checked
/// against each other.
struct CameraFlags {
    router: bool,
    simulate: bool,
    config: Option<PathBuf>,
    host: Option<String>,
    port: Option<u16>,
    id: Option<String>,
    pwd: Option<String>,
    mdns_target: std::net::SocketAddr,
}

fn parse_relay(
    mut args: pico_args::Arguments,
    env: &dyn Fn(&str) -> Option<String>,
    simulated: usize,
) -> Result<Command, CliError> {
    let flags = read_camera_flags(&mut args, env)?;
    let listen = parse_listen(args.opt_value_from_str("--listen").map_err(from_pico)?)?;
    let max_viewers = args
        .opt_value_from_fn("--max-viewers", parse_max_viewers)
        .map_err(from_pico)?
        .unwrap_or(crate::relay::channel::MAX_VIEWERS);
    let preview = args
        .opt_value_from_fn("--preview", parse_preview)
        .map_err(from_pico)?;
    let mut access = read_access(&mut args, env)?;
    let keep_awake = !args.contains("--let-camera-sleep");
    let state_dir = read_state_dir(&mut args, env)?;
    let cool_down = args
        .opt_value_from_fn("--cool-down", parse_cool_down)
        .map_err(from_pico)?
        .unwrap_or(DEFAULT_COOL_DOWN);
    let on_lost = read_lost_hook(&mut args)?;
    reject_leftovers(args)?;
    let (camera, listen, preview) = match &flags.config {
        Some(path) => {
            let (cameras, file_listen, trust_proxy) =
                configured_cameras(&flags, preview.is_some(), path)?;
            access.trust_proxy.extend(trust_proxy);
            (cameras, listen.or(file_listen), None)
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
            .opt_value_from_fn(["-p", "--port"], parse_port)
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
            .values_from_fn("--allow-host", parse_host_name)
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
        .opt_value_from_fn("--lost-after", parse_lost_after)
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

/// `--config FILE`: its cameras, its `listen` and its `trust_proxy`; the camera flags
/// belong in the file.
fn configured_cameras(
    flags: &CameraFlags,
    preview_given: bool,
    path: &std::path::Path,
) -> Result<(CameraTarget, Option<String>, Vec<Net>), CliError> {
    let given = [
        (flags.router, "-r"),
        (flags.simulate, "--simulate"),
        (flags.host.is_some(), "-o/--host"),
        (flags.port.is_some(), "-p/--port"),
        (flags.id.is_some(), "--id"),
        (flags.pwd.is_some(), "--pwd"),
        (preview_given, "--preview"),
    ];
    if let Some((_, flag)) = given.iter().find(|(given, _)| *given) {
        return Err(CliError(format!(
            "--config names the cameras; leave out {flag} (put it in the file)"
        )));
    }
    let file = crate::settings::config::load(path).map_err(|e| CliError(e.0))?;
    Ok((
        CameraTarget::Configured(file.cameras),
        file.listen,
        file.trust_proxy,
    ))
}

/// `--simulate [N]`: the simulated cameras, with Digest when `-r --id --pwd` ask for it.
fn simulated_camera(flags: CameraFlags, count: usize) -> Result<CameraTarget, CliError> {
    if flags.host.is_some() || flags.port.is_some() {
        return Err(CliError(
            "--simulate starts its own camera; leave out -o/--host and -p/--port".into(),
        ));
    }
    let credentials = match (flags.router, flags.id, flags.pwd) {
        (true, Some(id), Some(pwd)) => Some(Credentials::new(id, pwd)),
        (true, None, _) => return Err(missing("--id", "the camera id the simulator demands")),
        (true, _, None) => {
            return Err(missing(
                "--pwd",
                "the camera password the simulator demands",
            ));
        }
        (false, None, None) => None,
        (false, _, _) => return Err(id_without_router()),
    };
    Ok(CameraTarget::Simulated { credentials, count })
}

/// Mode 2: a camera on the router, with Digest auth.
fn router_camera(flags: CameraFlags) -> Result<CameraTarget, CliError> {
    let host = flags
        .host
        .ok_or_else(|| missing("-o/--host", "the camera's address on your router"))?;
    // A name found by mDNS announces its port; an address needs one.
    let by_name = crate::camera::mdns::is_mdns_name(&host);
    let port = match flags.port {
        Some(port) => port,
        None if by_name => DIRECT_PORT,
        None => return Err(missing("-p/--port", "the camera's port, usually 80")),
    };
    let id = flags
        .id
        .ok_or_else(|| missing("-i/--id", "the camera id, e.g. THETAYL00103139"))?;
    let pwd = flags
        .pwd
        .ok_or_else(|| missing("--pwd", "the camera password, e.g. 00103139"))?;
    Ok(CameraTarget::Real {
        addr: CameraAddr {
            mdns: by_name.then_some(MdnsName {
                target: flags.mdns_target,
                port_given: flags.port.is_some(),
            }),
            host,
            port,
            credentials: Some(Credentials::new(id, pwd)),
        },
        mode: Mode::Router,
    })
}

/// Mode 1: the camera's own Wi-Fi, 192.168.1.1:80 unless told otherwise, no login.
fn direct_camera(flags: CameraFlags) -> Result<CameraTarget, CliError> {
    if flags.id.is_some() || flags.pwd.is_some() {
        return Err(id_without_router());
    }
    let host = flags.host.unwrap_or_else(|| DIRECT_HOST.to_string());
    Ok(CameraTarget::Real {
        addr: CameraAddr {
            mdns: crate::camera::mdns::is_mdns_name(&host).then_some(MdnsName {
                target: flags.mdns_target,
                port_given: flags.port.is_some(),
            }),
            host,
            port: flags.port.unwrap_or(DIRECT_PORT),
            credentials: None,
        },
        mode: Mode::Direct,
    })
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
        .opt_value_from_fn("--size", parse_size)
        .map_err(from_pico)?;
    let fps = args
        .opt_value_from_fn("--fps", parse_fps)
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
        .opt_value_from_fn("--timeout", |t: &str| match t.parse::<u64>() {
            Ok(n) if (1..=60).contains(&n) => Ok(std::time::Duration::from_secs(n)),
            _ => Err(format!("--timeout takes seconds from 1 to 60 (got '{t}')")),
        })
        .map_err(from_pico)?
        .unwrap_or(std::time::Duration::from_secs(3));
    let target = parse_mdns(args.opt_value_from_str("--mdns").map_err(from_pico)?)?;
    reject_leftovers(args)?;
    Ok(Command::Discover { timeout, target })
}

fn missing(flag: &str, what: &str) -> CliError {
    CliError(format!("Mode 2 (-r/--router) needs {flag}: {what}"))
}

fn id_without_router() -> CliError {
    CliError("--id and --pwd are for a camera on your router: add -r (Mode 2)".into())
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

fn parse_preview(s: &str) -> Result<PreviewFormat, String> {
    PreviewFormat::parse(s).ok_or_else(|| {
        format!("--preview takes WIDTHxHEIGHT@FPS, e.g. 1024x512@30 or 1920x960@8 (got '{s}')")
    })
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

fn parse_host_name(s: &str) -> Result<String, String> {
    let name = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid = name == "*"
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "--allow-host takes a host name like camera.example.org, or '*' (got '{s}')"
        ))
    }
}

fn parse_lost_after(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<u64>() {
        Ok(n) if (1..=86_400).contains(&n) => Ok(std::time::Duration::from_secs(n)),
        _ => Err(format!(
            "--lost-after takes seconds from 1 to 86400 (got '{s}')"
        )),
    }
}

fn parse_cool_down(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<u64>() {
        Ok(n) if (10..=86_400).contains(&n) => Ok(std::time::Duration::from_secs(n)),
        _ => Err(format!(
            "--cool-down takes seconds from 10 to 86400 (got '{s}')"
        )),
    }
}

fn parse_max_viewers(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "--max-viewers takes a number from 1 to 10000 (got '{s}')"
        )),
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.parse::<u64>()
        .map_err(|_| format!("'{s}' is not a port number (1-65535)"))
        .and_then(values::port)
}

fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.parse::<u16>().ok()?, h.parse::<u16>().ok()?)));
    match parsed {
        Some((w, h)) if (16..=8192).contains(&w) && (16..=8192).contains(&h) => Ok((w, h)),
        _ => Err(format!(
            "'{s}' is not a size like 1024x512 (16 to 8192 pixels a side)"
        )),
    }
}

fn parse_fps(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (1..=120).contains(&n) => Ok(n),
        _ => Err(format!("'{s}' is not a framerate from 1 to 120")),
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

    fn parse_str(args: &[&str]) -> Result<Command, CliError> {
        parse(args.iter().map(OsString::from).collect())
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
