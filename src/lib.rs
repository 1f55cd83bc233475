//! oscstream relays the live preview of an OSC camera (RICOH THETA) to any number of
//! HTTP viewers over one camera connection.
//!
//! Data flows camera → [`osc`] → [`mjpeg::Parser`] → [`hub`] → [`fanout`] → viewers'
//! sockets. The modules, in that order:
//!
//! - [`osc`]: the camera client (ureq, with [`digest`] auth in Mode 2).
//! - [`upstream`]: the thread that owns the one camera connection and feeds the parser.
//! - [`mjpeg`]: cuts the camera's multipart stream into whole JPEGs and writes our own.
//! - [`hub`]: the newest frame and the readers waiting for it.
//! - [`fanout`]: writes each frame to every ready viewer's socket without blocking.
//! - [`channel`]: one camera's unit: client, hub, control, upstream thread, viewer loop, status.
//! - [`health`]: the camera's battery, temperatures and errors; cool-down when it overheats.
//! - [`mdns`]: finding cameras by name (DNS-SD, one-shot queries).
//! - [`lost`]: the `--on-camera-lost` hook.
//! - [`control`]: changing the camera while it streams (preview format, RICOH's pauses).
//! - [`api`]: camera control over HTTP (options, formats, pictures, files).
//! - [`access`]: who may use the relay (Basic auth, read-only, allowed origins).
//! - [`routes`]: the route table and its dispatch.
//! - [`metrics`]: `/metrics` for Prometheus.
//! - [`http`]: our std::net HTTP/1.1 server.
//! - [`relay`]: puts a channel and the server together.
//! - [`service`]: systemd's notify protocol and watchdog, and the signals that stop it.
//! - [`timeouts`]: every duration the relay waits for.
//! - [`picture`]: frames the binary draws itself (NO SIGNAL, the simulator's pattern).
//! - [`sim`]: a simulated THETA for trying the relay out and for the tests.
//! - [`log`]: one escaped line per event, with journald priorities under systemd.
//! - [`cli`]: the command line; [`config`]: several cameras from a TOML file.

pub mod access;
pub mod api;
pub mod channel;
pub mod cli;
pub mod config;
pub mod control;
pub mod digest;
pub mod fanout;
pub mod health;
pub mod http;
pub mod hub;
pub mod log;
pub mod lost;
pub mod mdns;
pub mod metrics;
pub mod mjpeg;
pub mod osc;
pub mod picture;
pub mod relay;
pub mod routes;
pub mod service;
pub mod sim;
pub mod timeouts;
pub mod upstream;
