//! The `oscstream` command: read the flags, start the relay (and the simulated camera
//! when asked), say where to look, and turn failures into one sentence and an exit code
//! (2 for a command-line mistake, 1 for anything else).

use oscstream::app::relay::{Relay, RelayConfig};
use oscstream::app::service::{self, Supervisor};
use oscstream::camera::client::Mode;
use oscstream::camera::client::{Camera, CameraAddr};
use oscstream::camera::errors::SetIn;
use oscstream::camera::preview::{FormatError, check_supported};
use oscstream::formats::flat::Mount;
use oscstream::formats::osc::PreviewFormat;
use oscstream::log;
use oscstream::relay::channel::{ChannelConfig, FIRST_CAMERA};
use oscstream::settings::cli::{self, CameraTarget, Command, RelayRequest};
use oscstream::sim::{SimConfig, Simulator};
use oscstream::timeouts::Timeouts;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    // Before any thread starts, so that every thread inherits it; the main thread takes
    // the signals with sigwait and stops the relay cleanly.
    service::block_stop_signals();
    let command = match cli::parse(std::env::args_os().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            log::error(e);
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit(code, message)) => {
            log::error(message);
            ExitCode::from(code)
        }
    }
}

/// Prints a line for the person who started the relay. Nobody may be reading (stdout
/// closed, or a pipe whose reader left): that is no reason to fail, unlike `println!`.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// A failure: the exit code (2 for what the user asked wrongly, 1 otherwise) and the sentence.
struct Exit(u8, String);

impl From<String> for Exit {
    fn from(message: String) -> Exit {
        Exit(1, message)
    }
}

fn run(command: Command) -> Result<(), Exit> {
    match command {
        Command::Help => {
            print!("{}", oscstream::settings::help::HELP);
            Ok(())
        }
        Command::Version => {
            say!("oscstream {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Discover { timeout, target } => discover(timeout, target),
        Command::Simulate(config) => simulate(config),
        Command::Relay(request) => relay(request),
    }
}

/// `oscstream simulate`: only the simulated camera, until a stop signal.
fn simulate(config: SimConfig) -> Result<(), Exit> {
    let listen = config.listen.clone();
    let sim = Simulator::start(config)
        .map_err(|e| format!("cannot start the simulated camera on {listen}: {e}"))?;
    say!(
        "simulated camera ({}) at http://{}/osc/info",
        oscstream::sim::MODEL,
        sim.addr()
    );
    service::wait_for_stop_signal();
    sim.kill();
    Ok(())
}

/// The relay: its channels, its server and systemd's supervisor, until a stop signal.
fn relay(request: RelayRequest) -> Result<(), Exit> {
    // The simulators live as long as the relay runs.
    let (cameras, _simulators) = channel_configs(&request)?;
    let timeouts = Timeouts::default();
    // The relay may change the cameras from here on: a signal now stops it cleanly.
    service::stop_cleanly_on_signal();
    let listen = &request.listen;
    let relay = Relay::start(RelayConfig {
        listen: listen.clone(),
        cameras: cameras.clone(),
        access: request.access.clone(),
        timeouts,
        view_memory: request.view_memory,
    })
    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let relay = Arc::new(relay);
    let supervisor = match service::Notifier::from_env() {
        Some(notifier) => Some(
            Supervisor::start(relay.clone(), notifier, service::watchdog_from_env())
                .map_err(|e| format!("cannot start the systemd supervisor: {e}"))?,
        ),
        None => None,
    };
    say_where_to_look(&relay, &request, cameras.len());
    // The relay already serves; the cameras are checked beside it, so a slow or absent
    // camera delays nothing. A wrong login or format ends the process.
    for camera in cameras {
        std::thread::Builder::new()
            .name("startup-check".into())
            .spawn(move || check_in_background(&camera, &timeouts))
            .map_err(|e| format!("cannot start the camera check: {e}"))?;
    }
    let signal = service::wait_for_stop_signal();
    log::info(format_args!("stopping on signal {signal}"));
    if let Some(supervisor) = supervisor {
        supervisor.stop();
    }
    relay.stop();
    Ok(())
}

/// One channel per camera the request names (starting the simulated ones), and the
/// simulators to keep alive.
fn channel_configs(request: &RelayRequest) -> Result<(Vec<ChannelConfig>, Vec<Simulator>), Exit> {
    let channel = |name: String, camera: CameraAddr, mode: Mode, preview| ChannelConfig {
        views: Vec::new(),
        mount: Mount::default(),
        name,
        address: camera,
        mode,
        max_viewers: request.max_viewers,
        preview,
        keep_awake: request.keep_awake,
        cool_down: request.cool_down,
        on_lost: request.on_lost.clone(),
        state_dir: request.state_dir.clone(),
    };
    let mut simulators = Vec::new();
    let cameras = match &request.camera {
        CameraTarget::Real { addr, mode } => {
            vec![channel(
                FIRST_CAMERA.into(),
                addr.clone(),
                *mode,
                request.preview,
            )]
        }
        CameraTarget::Simulated { credentials, count } => {
            let mut cameras = Vec::new();
            for n in 1..=*count {
                let sim = Simulator::start(SimConfig {
                    credentials: credentials.clone(),
                    ..SimConfig::default()
                })
                .map_err(|e| format!("cannot start the simulated camera: {e}"))?;
                say!("simulated camera at http://{}", sim.addr());
                let camera = CameraAddr {
                    set_in: SetIn::Flags,
                    mdns: None,
                    host: "127.0.0.1".into(),
                    port: sim.addr().port(),
                    credentials: credentials.clone(),
                };
                simulators.push(sim);
                let name = if *count == 1 {
                    FIRST_CAMERA.into()
                } else {
                    format!("sim{n}")
                };
                cameras.push(channel(name, camera, Mode::Simulated, request.preview));
            }
            cameras
        }
        CameraTarget::Configured(specs) => specs
            .iter()
            .map(|spec| {
                let mode = if spec.addr.credentials.is_some() {
                    Mode::Router
                } else {
                    Mode::Direct
                };
                ChannelConfig {
                    views: spec.views.clone(),
                    mount: spec.mount,
                    ..channel(spec.name.clone(), spec.addr.clone(), mode, spec.preview)
                }
            })
            .collect(),
    };
    Ok((cameras, simulators))
}

/// The page's address, and a warning when anyone on the network may use it.
fn say_where_to_look(relay: &Relay, request: &RelayRequest, cameras: usize) {
    let local = relay.addr();
    let shown = if local.ip().is_unspecified() {
        format!("<this computer's address>:{}", local.port())
    } else {
        local.to_string()
    };
    say!("open http://{shown}/public/index.html  (stream: http://{shown}/video_feed)");
    if !local.ip().is_loopback() && request.access.basic_auth.is_none() {
        log::warning(format_args!(
            "listening on {local} without --auth: anyone on your network can watch and control the camera"
        ));
    }
    if cameras > 1 {
        say!("cameras: http://{shown}/cameras");
    }
    for wide in request
        .access
        .trust_proxy
        .iter()
        .filter(|net| net.is_wide())
    {
        log::warning(format_args!(
            "--trust-proxy {wide} is a wide range: a client inside it is believed about its own address and escapes the lock-out; name the proxy's own address"
        ));
    }
    if let Some(warning) = request
        .state_dir
        .as_deref()
        .and_then(oscstream::relay::state_file::shared_dir_warning)
    {
        log::warning(format_args!("{warning}"));
    }
}

/// Says which camera a channel relays once it answered; ends the process on a wrong
/// login or a format the camera lacks.
fn check_in_background(camera: &ChannelConfig, timeouts: &Timeouts) {
    let label = camera.address.host_port();
    match check_camera(&camera.address, camera.preview, timeouts) {
        Ok((model, address)) => {
            let found = if address == label {
                String::new()
            } else {
                format!(" ({address})")
            };
            say!(
                "relaying {} at {label}{found} as {}",
                model.as_deref().unwrap_or("the camera"),
                camera.name
            )
        }
        Err(Exit(code, message)) => {
            log::error(message);
            std::process::exit(code.into());
        }
    }
}

/// `oscstream discover`: every OSC camera that answers a DNS-SD query, with what it is
/// and the command line that relays it.
fn discover(timeout: std::time::Duration, target: std::net::SocketAddr) -> Result<(), Exit> {
    let found = oscstream::camera::mdns::discover(target, timeout);
    if found.is_empty() {
        return Err(Exit(
            1,
            format!(
                "no camera answered a DNS-SD query for _osc._tcp.local within {timeout:?}; \
                 look for a client named THETA... in your router's list, or in the THETA app, \
                 and use -o ADDRESS"
            ),
        ));
    }
    let timeouts = Timeouts::default();
    // The group is the default; a responder given with --mdns must be given again.
    let mdns_flag = if target == oscstream::camera::mdns::mdns_group() {
        String::new()
    } else {
        format!(" --mdns {target}")
    };
    for camera in found {
        let port = camera.port.unwrap_or(80);
        let address = camera
            .addr
            .map_or_else(|| "no address".to_string(), |a| format!("{a}:{port}"));
        let (what, needs_login) = match camera.addr {
            None => ("did not say its address".to_string(), false),
            Some(ip) => {
                let client = Camera::new(
                    CameraAddr {
                        set_in: SetIn::Flags,
                        host: ip.to_string(),
                        port,
                        credentials: None,
                        mdns: None,
                    },
                    &timeouts,
                );
                match client.info() {
                    Ok(info) => (
                        format!(
                            "{}, firmware {}",
                            log::escape(info.model.as_deref().unwrap_or("an OSC camera")),
                            log::escape(info.firmware_version.as_deref().unwrap_or("unknown"))
                        ),
                        false,
                    ),
                    Err(e) if e.is_login_refused() => ("needs --id/--pwd".to_string(), true),
                    Err(e) => (format!("does not answer: {e}"), false),
                }
            }
        };
        let name = log::escape(&camera.instance);
        let host = log::escape(&camera.host);
        say!("{name} at {address} ({host}): {what}");
        let login = if needs_login {
            format!("-r -o {host} -p {port} --id {name} --pwd-file ~/.theta-pwd")
        } else {
            format!("-o {host} -p {port}")
        };
        say!("  oscstream {login}{mdns_flag}");
    }
    Ok(())
}

/// Asks the camera who it is, and whether it offers the wanted preview format. A wrong
/// login is fatal, as is a format the camera does not offer; an unreachable camera is
/// only a warning, because the relay keeps trying and a camera may wake up later.
fn check_camera(
    addr: &CameraAddr,
    preview: Option<PreviewFormat>,
    timeouts: &Timeouts,
) -> Result<(Option<String>, String), Exit> {
    let camera = Camera::new(addr.clone(), timeouts);
    let info = camera.info();
    if let (Ok(_), Some(wanted)) = (&info, preview) {
        match check_supported(&camera, wanted) {
            Ok(()) => {}
            Err(e @ (FormatError::Unsupported { .. } | FormatError::TooLarge { .. })) => {
                return Err(Exit(2, e.to_string()));
            }
            Err(e) => log::warning(format_args!("{e}; will set the preview format later")),
        }
    }
    match info {
        Ok(info) => Ok((info.model, camera.address_in_use())),
        Err(e) if e.is_login_refused() => Err(Exit(1, e.to_string())),
        Err(e) => {
            log::warning(format_args!("{e}; will keep trying"));
            Ok((None, camera.address_in_use()))
        }
    }
}
