//! One-word logging through the host, which tags each line with the plugin id and generation.
//! Never log customer data or credentials.

use crate::host::{self, LogLevel};

/// Logs `message` at debug level.
pub fn debug(message: &str) {
    host::log(LogLevel::Debug, message);
}

/// Logs `message` at info level.
pub fn info(message: &str) {
    host::log(LogLevel::Info, message);
}

/// Logs `message` at warn level.
pub fn warn(message: &str) {
    host::log(LogLevel::Warn, message);
}

/// Logs `message` at error level.
pub fn error(message: &str) {
    host::log(LogLevel::Error, message);
}
