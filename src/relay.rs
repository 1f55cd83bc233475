//! Puts the relay together: one hub, one upstream thread for the camera, and our HTTP
//! server with the relay's routes. Tests start it exactly as `main` does.

use crate::http::Server;
use crate::hub::Hub;
use crate::osc::{Camera, CameraAddr};
use crate::routes::Routes;
use crate::upstream;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long the camera connection stays open after the last viewer leaves.
pub const LINGER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub listen: String,
    pub camera: CameraAddr,
    /// "direct", "router" or "simulated", for /status.
    pub mode: &'static str,
    pub linger: Duration,
}

/// A running relay.
pub struct Relay {
    server: Server,
    hub: Arc<Hub>,
}

impl Relay {
    pub fn start(config: RelayConfig) -> io::Result<Relay> {
        let hub = Hub::new(config.linger);
        let camera = Arc::new(Camera::new(config.camera));
        let routes = Routes {
            hub: hub.clone(),
            camera: camera.clone(),
            mode: config.mode,
        };
        let server = Server::start(
            config.listen.as_str(),
            Arc::new(move |req| routes.handle(req)),
        )?;
        upstream::spawn(camera, hub.clone())?;
        Ok(Relay { server, hub })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}
