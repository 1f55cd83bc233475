//! Every integration test in one binary: cargo runs test binaries one after another,
//! while libtest runs the tests of one binary side by side, so tests from different
//! files (many of them waiting on sockets, browsers and clocks) now overlap. The
//! benchmark and the soak test stay binaries of their own (`tests/bench.rs`,
//! `tests/soak.rs`): they are ignored by default and measure the machine alone.

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod cli;
mod clients;
mod control;
mod faults;
mod hls;
mod hostile;
mod life;
mod multi;
mod proxy;
mod relay;
mod replay;
mod security;
mod service;
mod shapes;
mod unattended;
mod views;
