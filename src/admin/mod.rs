//! Operating the service: commands that read and write the state store (`bootstrap`,
//! `status`); the admin HTTP API will live beside them.

pub mod commands;
