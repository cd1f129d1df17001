//! Operating the service: commands that read and write the state store (`bootstrap`,
//! `status`), and the admin HTTP API that exposes them beside health.

pub mod commands;
pub mod http;
pub mod metrics;
pub mod verify;
