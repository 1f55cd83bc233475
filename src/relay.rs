//! Puts the relay together: a [`Channel`] for the camera and our HTTP server with the
//! relay's routes. Tests start it exactly as `main` does, and stop it (or drop it) when
//! done: the port closes, viewers end at a part boundary and the camera connection closes.

use crate::access::Access;
use crate::channel::{Channel, ChannelConfig};
use crate::http::{Limits, Server};
use crate::routes::Routes;
use crate::timeouts::Timeouts;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

/// Default for `--max-viewers`.
pub const MAX_VIEWERS: usize = 64;
/// Connections beyond the viewers (page loads, JSON, snapshots) served at once; more are
/// refused with 503 so that threads stay bounded by viewers + this.
pub const SPARE_CONNECTIONS: usize = 64;
/// How long a stop waits for viewers to finish their part and the camera connection to close.
const STOP_WAIT: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub listen: String,
    pub camera: ChannelConfig,
    pub access: Access,
    pub timeouts: Timeouts,
}

/// What a service manager is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub alive: bool,
    pub summary: String,
}

/// A running relay; stopped when dropped.
pub struct Relay {
    server: Server,
    channel: Arc<Channel>,
}

impl Relay {
    pub fn start(config: RelayConfig) -> io::Result<Relay> {
        let timeouts = config.timeouts;
        let limits = Limits {
            max_connections: config.camera.max_viewers + SPARE_CONNECTIONS,
            request_timeout: timeouts.request,
            write_timeout: timeouts.write,
        };
        let channel = Channel::start(config.camera, timeouts)?;
        let connections = Arc::new(AtomicUsize::new(0));
        let routes = Routes {
            channel: channel.clone(),
            access: config.access,
            connections: connections.clone(),
        };
        let server = match Server::start_counted(
            config.listen.as_str(),
            limits,
            connections,
            Arc::new(move |req| routes.handle(req)),
        ) {
            Ok(server) => server,
            Err(e) => {
                channel.stop(STOP_WAIT);
                return Err(e);
            }
        };
        Ok(Relay { server, channel })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The first (today: the only) camera's channel.
    pub fn channel(&self) -> &Arc<Channel> {
        &self.channel
    }

    /// Whether it serves and its camera thread is not stuck, and what it does, in one line.
    pub fn health(&self) -> Health {
        Health {
            alive: self.server.is_accepting() && self.channel.upstream_alive(),
            summary: self.channel.summary(),
        }
    }

    /// Stops accepting, ends every stream at a part boundary and closes the camera connection.
    pub fn stop(&self) {
        self.server.stop();
        self.channel.stop(STOP_WAIT);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}
