//! The relay's HTTP face: our std::net server, the route table and the access rules
//! applied before every route, camera control over HTTP and `/metrics`.

pub mod access;
pub mod api;
pub mod forwarded;
pub mod http;
pub mod metrics;
pub mod routes;
pub mod status;
pub mod streams;
pub mod views;
