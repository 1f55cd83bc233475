//! oscstream relays the live preview of an OSC camera (RICOH THETA) to any number of
//! HTTP viewers over one camera connection.
//!
//! The folders follow the path of a frame, and imports only go down it:
//!
//! ```text
//! camera ─HTTP─> camera::client ─bytes─> formats::mjpeg::Parser ─jpeg─> relay::hub ─Arc<Frame>─> relay::fanout ─> sockets
//!                (relay::upstream owns the one connection)                        (web serves the requests)
//! ```
//!
//! - [`formats`]: bytes on the wire, no threads, no state: the multipart parser and our
//!   part writer, Digest, DNS messages, the OSC words client and simulator share, the
//!   frames the binary draws itself.
//! - [`camera`]: one OSC camera, the client side: requests, Digest login, mDNS lookups.
//! - [`relay`]: one camera connection to many viewers, with no HTTP types: the channel,
//!   its upstream thread, hub and fan-out, its one status, camera control, health, the
//!   lost hook, and its flat views (each a feed of its own).
//! - [`http`]: our std::net HTTP server (one thread per connection, `httparse` for the
//!   head, bounded everything), under both the relay's face and the simulator.
//! - [`web`]: the HTTP face: the route table, access rules, streams (of the camera and
//!   of its views), camera control over HTTP, `/status`, `/metrics`.
//! - [`sim`]: a simulated THETA, written from the camera's side, for trying the relay
//!   out and for the tests.
//! - [`settings`]: what the user asked for: flags, the config file, secret files.
//! - [`app`]: the wiring: a relay of channels behind one server, systemd and signals.
//! - [`budget`], [`log`], [`sync`] and [`timeouts`]: bounded shares (viewer places,
//!   camera waits, the views' memory); one escaped line per event; locks that outlive a
//!   panic; every duration waited for.

pub mod budget;
pub mod log;
pub mod sync;
pub mod timeouts;

pub mod formats;

pub mod camera;

pub mod relay;

pub mod http;

pub mod web;

pub mod sim;

pub mod settings;

pub mod app;
