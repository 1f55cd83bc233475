//! Puts the relay together: one hub, one upstream thread for the camera, and our HTTP
//! server with the relay's routes. Tests start it exactly as `main` does.

use crate::control::Control;
use crate::http::Server;
use crate::hub::Hub;
use crate::osc::{Camera, CameraAddr, PreviewFormat};
use crate::picture;
use crate::routes::{Access, Routes};
use crate::upstream;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long the camera connection stays open after the last viewer leaves.
pub const LINGER: Duration = Duration::from_secs(10);
/// Default for `--max-viewers`.
pub const MAX_VIEWERS: usize = 64;
/// Connections beyond the viewers (page loads, JSON, snapshots) served at once; more are
/// refused with 503 so that threads stay bounded by viewers + this.
pub const SPARE_CONNECTIONS: usize = 64;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub listen: String,
    pub camera: CameraAddr,
    /// "direct", "router" or "simulated", for /status.
    pub mode: &'static str,
    pub linger: Duration,
    /// Stream requests beyond this many viewers get 503.
    pub max_viewers: usize,
    /// A preview format to set before the first preview opens.
    pub preview: Option<PreviewFormat>,
    pub access: Access,
}

/// A running relay.
pub struct Relay {
    server: Server,
    hub: Arc<Hub>,
}

impl Relay {
    pub fn start(config: RelayConfig) -> io::Result<Relay> {
        let hub = Hub::new(config.linger);
        let no_signal = Arc::from(picture::no_signal_jpeg(&config.camera.host_port()));
        let camera = Arc::new(Camera::new(config.camera));
        let control = Control::new();
        if let Some(format) = config.preview {
            control.set_pending_format(format);
        }
        let routes = Routes {
            hub: hub.clone(),
            camera: camera.clone(),
            control: control.clone(),
            access: config.access,
            mode: config.mode,
            max_viewers: config.max_viewers,
            no_signal,
        };
        let server = Server::start(
            config.listen.as_str(),
            config.max_viewers + SPARE_CONNECTIONS,
            Arc::new(move |req| routes.handle(req)),
        )?;
        upstream::spawn(camera, hub.clone(), control)?;
        Ok(Relay { server, hub })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}
