//! The cameras a relay request names, turned into channels (starting the simulated
//! ones), checked once at start, and found on the LAN by `oscstream discover`.

use crate::camera::client::{Camera, CameraAddr, Mode};
use crate::camera::errors::SetIn;
use crate::camera::preview::{FormatError, check_supported};
use crate::formats::flat::Mount;
use crate::formats::osc::PreviewFormat;
use crate::log;
use crate::relay::channel::{ChannelConfig, FIRST_CAMERA};
use crate::settings::cli::{CameraTarget, RelayRequest};
use crate::sim::{SimConfig, Simulator};
use crate::timeouts::Timeouts;
use std::net::SocketAddr;
use std::time::Duration;

/// One channel per camera the request names, and the simulators started for it (they
/// live as long as the relay runs).
pub fn channel_configs(
    request: &RelayRequest,
) -> Result<(Vec<ChannelConfig>, Vec<Simulator>), String> {
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

/// Why a camera checked at start ends the process.
pub enum Unusable {
    /// The user asked for a preview format the camera does not offer (a wrong request).
    Format(String),
    /// The camera refused the login.
    Login(String),
}

/// Asks the camera who it is (its model, and the address it answers at), and whether
/// it offers the wanted preview format. A wrong login or a format the camera lacks make
/// it unusable; an unreachable camera is only a warning, because the relay keeps trying
/// and a camera may wake up later.
pub fn check_camera(
    addr: &CameraAddr,
    preview: Option<PreviewFormat>,
    timeouts: &Timeouts,
) -> Result<(Option<String>, String), Unusable> {
    let camera = Camera::new(addr.clone(), timeouts);
    let info = camera.info();
    if let (Ok(_), Some(wanted)) = (&info, preview) {
        match check_supported(&camera, wanted) {
            Ok(()) => {}
            Err(e @ (FormatError::Unsupported { .. } | FormatError::TooLarge { .. })) => {
                return Err(Unusable::Format(e.to_string()));
            }
            Err(e) => log::warning(format_args!("{e}; will set the preview format later")),
        }
    }
    match info {
        Ok(info) => Ok((info.model, camera.address_in_use())),
        Err(e) if e.is_login_refused() => Err(Unusable::Login(e.to_string())),
        Err(e) => {
            log::warning(format_args!("{e}; will keep trying"));
            Ok((None, camera.address_in_use()))
        }
    }
}

/// `oscstream discover`: for every OSC camera that answers a DNS-SD query, a line of
/// what it is and the command line that relays it; the sentence why not when none does.
pub fn discover(timeout: Duration, target: SocketAddr) -> Result<Vec<String>, String> {
    let found = crate::camera::mdns::discover(target, timeout);
    if found.is_empty() {
        return Err(format!(
            "no camera answered a DNS-SD query for _osc._tcp.local within {timeout:?}; \
             look for a client named THETA... in your router's list, or in the THETA app, \
             and use -o ADDRESS"
        ));
    }
    let timeouts = Timeouts::default();
    // The group is the default; a responder given with --mdns must be given again.
    let mdns_flag = if target == crate::camera::mdns::mdns_group() {
        String::new()
    } else {
        format!(" --mdns {target}")
    };
    let mut lines = Vec::new();
    for camera in found {
        let port = camera.port.unwrap_or(80);
        let address = camera
            .addr
            .map_or_else(|| "no address".to_string(), |a| format!("{a}:{port}"));
        let (what, needs_login) = match camera.addr {
            None => ("did not say its address".to_string(), false),
            Some(ip) => what_answers(ip.to_string(), port, &timeouts),
        };
        let name = log::escape(&camera.instance);
        let host = log::escape(&camera.host);
        lines.push(format!("{name} at {address} ({host}): {what}"));
        let login = if needs_login {
            format!("-r -o {host} -p {port} --id {name} --pwd-file ~/.theta-pwd")
        } else {
            format!("-o {host} -p {port}")
        };
        lines.push(format!("  oscstream {login}{mdns_flag}"));
    }
    Ok(lines)
}

/// What the camera at `host:port` says it is, and whether it wants a login.
fn what_answers(host: String, port: u16, timeouts: &Timeouts) -> (String, bool) {
    let client = Camera::new(
        CameraAddr {
            set_in: SetIn::Flags,
            host,
            port,
            credentials: None,
            mdns: None,
        },
        timeouts,
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
