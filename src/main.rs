//! The `oscstream` command: read the flags, start the relay (and the simulated camera
//! when asked), say where to look, and turn failures into one sentence and an exit code
//! (2 for a command-line mistake, 1 for anything else).

use oscstream::app::cameras::{self, Unusable};
use oscstream::app::relay::{Relay, RelayConfig};
use oscstream::app::service::{self, Supervisor};
use oscstream::log;
use oscstream::relay::channel::ChannelConfig;
use oscstream::settings::cli::{self, Command, RelayRequest};
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
    let (cameras, simulators) = cameras::channel_configs(&request)?;
    for sim in &simulators {
        say!("simulated camera at http://{}", sim.addr());
    }
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
    match cameras::check_camera(&camera.address, camera.preview, timeouts) {
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
        // A format the camera lacks is a wrong request (2), a refused login a failure (1).
        Err(Unusable::Format(message)) => {
            log::error(message);
            std::process::exit(2);
        }
        Err(Unusable::Login(message)) => {
            log::error(message);
            std::process::exit(1);
        }
    }
}

/// `oscstream discover`: every OSC camera that answers a DNS-SD query, with what it is
/// and the command line that relays it.
fn discover(timeout: std::time::Duration, target: std::net::SocketAddr) -> Result<(), Exit> {
    for line in cameras::discover(timeout, target)? {
        say!("{line}");
    }
    Ok(())
}
