//! The relay's HTTP face: the route table and the access rules applied before every
//! route, the streams, camera control over HTTP, the status and `/metrics` — served by
//! our std::net server (`crate::http`, which the simulator uses too).

pub mod access;
pub mod api;
pub mod forwarded;
pub mod metrics;
pub mod routes;
pub mod status;
pub mod streams;
pub mod views;
