//! The `kefu` binary's library half: configuration, logging and the wiring
//! of adapters to ports ([`App`]). Integration tests build the same `App`.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit_heads;
pub mod cli;
pub mod config;
pub mod logging;
pub mod otlp;
pub mod secrets;

pub use app::App;
pub use config::Settings;
