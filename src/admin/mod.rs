//! Operating the service: the preflight (`check`), commands that read and write the state store
//! (`bootstrap`, `status`), `verify --repair`, and the admin HTTP API that exposes them beside
//! health and metrics.

pub mod check;
pub mod check_joined;
pub mod commands;
pub mod http;
pub mod verify;
