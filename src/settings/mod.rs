//! What the user asked for: the command line, the config file for several cameras, and
//! the secret files both read; every mistake is one sentence.

pub mod cli;
pub mod config;
pub mod help;
pub mod request;
pub mod secret;
pub mod targets;
pub mod values;
pub mod views;
