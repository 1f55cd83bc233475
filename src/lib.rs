//! oscstream relays the live preview of an OSC 2.0 camera (RICOH THETA V, Z1, X, SC2)
//! to any number of HTTP viewers over one camera connection.
//!
//! Data flows camera → [`osc`] → [`mjpeg::Parser`] → [`hub`] → viewer threads in
//! [`routes`] → [`http`] → sockets. [`upstream`] owns the one camera connection,
//! [`relay`] puts the pieces together, and [`sim`] is a simulated THETA for trying it
//! out and for the tests. [`cli`] reads the command line.

pub mod api;
pub mod cli;
pub mod control;
pub mod digest;
pub mod http;
pub mod hub;
pub mod mjpeg;
pub mod osc;
pub mod picture;
pub mod relay;
pub mod routes;
pub mod sim;
pub mod upstream;
