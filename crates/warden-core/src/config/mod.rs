//! What the rules check against and how every function is configured.

mod env;
mod rules;

pub use env::{ConfigError, DEFAULT_SECRET_PREFIX, Env};
pub use rules::Rules;
