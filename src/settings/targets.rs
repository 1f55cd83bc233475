//! Which camera the relay flags point at: cameras from a config file, simulated ones,
//! a camera on the router (Mode 2) or on its own Wi-Fi (Mode 1). Each is one function
//! that checks its flags against each other.

use super::request::{CameraTarget, CliError, DIRECT_HOST, DIRECT_PORT};
use crate::camera::client::Mode;
use crate::camera::client::{CameraAddr, MdnsName};
use crate::camera::errors::SetIn;
use crate::formats::osc::Credentials;
use crate::web::access::Net;
use crate::web::forwarded::ProxyHeaders;
use std::path::PathBuf;

/// The flags that say which camera to relay, as given, before they are checked
/// against each other.
pub(super) struct CameraFlags {
    pub(super) router: bool,
    pub(super) simulate: bool,
    pub(super) config: Option<PathBuf>,
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) id: Option<String>,
    pub(super) pwd: Option<String>,
    pub(super) mdns_target: std::net::SocketAddr,
}

/// What a config file says beside its cameras: `listen`, `trust_proxy`, `proxy_headers`.
pub(super) struct FileSettings {
    pub(super) listen: Option<String>,
    pub(super) trust_proxy: Vec<Net>,
    pub(super) proxy_headers: Option<ProxyHeaders>,
}

/// `--config FILE`: its cameras and its other settings; the camera flags belong in the
/// file.
pub(super) fn configured_cameras(
    flags: &CameraFlags,
    preview_given: bool,
    path: &std::path::Path,
) -> Result<(CameraTarget, FileSettings), CliError> {
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
        FileSettings {
            listen: file.listen,
            trust_proxy: file.trust_proxy,
            proxy_headers: file.proxy_headers,
        },
    ))
}

/// `--simulate [N]`: the simulated cameras, with Digest when `-r --id --pwd` ask for it.
pub(super) fn simulated_camera(flags: CameraFlags, count: usize) -> Result<CameraTarget, CliError> {
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
pub(super) fn router_camera(flags: CameraFlags) -> Result<CameraTarget, CliError> {
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
        .ok_or_else(|| {
            missing(
                "--pwd",
                "the camera password, e.g. 00103139 (or --pwd-file PATH, or the variable OSCSTREAM_PWD)",
            )
        })?;
    Ok(CameraTarget::Real {
        addr: CameraAddr {
            set_in: SetIn::Flags,
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
pub(super) fn direct_camera(flags: CameraFlags) -> Result<CameraTarget, CliError> {
    if flags.id.is_some() || flags.pwd.is_some() {
        return Err(id_without_router());
    }
    let host = flags.host.unwrap_or_else(|| DIRECT_HOST.to_string());
    Ok(CameraTarget::Real {
        addr: CameraAddr {
            set_in: SetIn::Flags,
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

pub(super) fn missing(flag: &str, what: &str) -> CliError {
    CliError(format!("Mode 2 (-r/--router) needs {flag}: {what}"))
}

fn id_without_router() -> CliError {
    CliError("--id and --pwd are for a camera on your router: add -r (Mode 2)".into())
}
