//! Puts the relay together: a [`Channel`] for each camera and our HTTP server with the
//! relay's routes. Tests start it exactly as `main` does, and stop it (or drop it) when
//! done: the port closes, viewers end at a part boundary and the camera connections close.

use crate::budget::Budget;
use crate::http::{Limits, Server};
use crate::relay::channel::{Channel, ChannelConfig};
use crate::timeouts::Timeouts;
use crate::web::access::Access;
use crate::web::routes::Routes;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

/// Connections beyond the viewers (page loads, JSON, snapshots) served at once; more are
/// refused with 503 so that threads stay bounded by viewers + this.
pub const SPARE_CONNECTIONS: usize = 64;
/// Requests waiting on a camera take at most this part of the connection cap (a
/// quarter), so that the rest always has room for the page, `/status` and viewers.
const CAMERA_WAITS_SHARE: usize = 4;
/// Bytes of frames that snapshot readers may keep pinned while they read, all together:
/// a few 4K frames, or hundreds of ordinary ones.
const MAX_PINNED_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub listen: String,
    /// One or more cameras; the first also answers at the seed's routes (`/video_feed`...).
    pub cameras: Vec<ChannelConfig>,
    pub access: Access,
    pub timeouts: Timeouts,
    /// What the flat views of all cameras may keep in memory together, in bytes.
    pub view_memory: u64,
}

/// What a service manager is told: whether the relay is alive, and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceReport {
    pub alive: bool,
    pub summary: String,
}

/// A running relay; stopped when dropped.
pub struct Relay {
    server: Server,
    channels: Vec<Arc<Channel>>,
}

/// Makes the views' large buffers (tables, planes, the decode: megabytes each) mapped
/// and unmapped on their own. glibc otherwise raises its mmap threshold to the largest
/// block freed and keeps such blocks in the arena of each thread that freed one, so the
/// relay's memory would grow with every thread that ever decoded or rendered a view.
/// Camera frames stay below the threshold: mapping each would cost the stream a page
/// fault per 4 KiB (measured: +9 % CPU per delivered frame at 256 KiB). musl returns
/// large blocks by itself.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: i32 = 4 << 20;

fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only changes the allocator's tuning; called once, at start.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        });
    }
}

impl Relay {
    pub fn start(config: RelayConfig) -> io::Result<Relay> {
        return_large_buffers();
        if config.cameras.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the relay needs at least one camera",
            ));
        }
        let timeouts = config.timeouts;
        // Each camera's viewers, and as many again for its views together when it has
        // any: views and the camera's own stream cannot take each other's places, and
        // neither takes the spare ones the page and `/status` need.
        let viewers: usize = config
            .cameras
            .iter()
            .map(|c| c.max_viewers * if c.views.is_empty() { 1 } else { 2 })
            .sum();
        let limits = Limits {
            max_connections: viewers + SPARE_CONNECTIONS,
            request_timeout: timeouts.request,
            write_timeout: timeouts.write,
            eviction_wait: timeouts.eviction,
        };
        let view_memory = Budget::new(config.view_memory);
        let mut channels = Vec::with_capacity(config.cameras.len());
        for camera in config.cameras {
            match Channel::start(camera, timeouts, &view_memory) {
                Ok(channel) => channels.push(channel),
                Err(e) => {
                    channels
                        .iter()
                        .for_each(|c: &Arc<Channel>| c.stop(c.timeouts().stop));
                    return Err(e);
                }
            }
        }
        let connections = Arc::new(AtomicUsize::new(0));
        let routes = Routes {
            channels: channels.clone(),
            access: config.access,
            connections: connections.clone(),
            camera_waits: Budget::new((limits.max_connections / CAMERA_WAITS_SHARE) as u64),
            pinned: Budget::new(MAX_PINNED_BYTES),
            view_memory,
        };
        let server = match Server::start_counted(
            config.listen.as_str(),
            limits,
            connections,
            Arc::new(move |req| routes.handle(req)),
        ) {
            Ok(server) => server,
            Err(e) => {
                channels.iter().for_each(|c| c.stop(c.timeouts().stop));
                return Err(e);
            }
        };
        Ok(Relay { server, channels })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The first camera's channel (the one the seed's routes serve).
    pub fn channel(&self) -> &Arc<Channel> {
        &self.channels[0]
    }

    pub fn channels(&self) -> &[Arc<Channel>] {
        &self.channels
    }

    /// Whether it serves and no camera thread is stuck, and what it does, in one line.
    pub fn report(&self) -> ServiceReport {
        let summary = match self.channels.as_slice() {
            [one] => one.status().summary(),
            all => all
                .iter()
                .map(|c| format!("{}: {}", c.name(), c.status().summary()))
                .collect::<Vec<_>>()
                .join("; "),
        };
        ServiceReport {
            alive: self.server.is_accepting() && self.channels.iter().all(|c| c.upstream_alive()),
            summary,
        }
    }

    /// Stops accepting, ends every stream at a part boundary and closes the camera
    /// connections (all cameras at once, so the stop takes as long as the slowest).
    pub fn stop(&self) {
        self.server.stop();
        std::thread::scope(|scope| {
            for channel in &self.channels {
                scope.spawn(|| channel.stop(channel.timeouts().stop));
            }
        });
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}
