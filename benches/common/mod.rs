//! What the benchmark binaries share.

/// A positive number from the environment, or `default`; a bad value stops the run.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("{name}: expected a positive number, got {v:?}")),
        Err(_) => default,
    }
}
