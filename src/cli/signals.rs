//! The signals that stop a long-running command (`batch`, `serve`) cleanly.

/// SIGINT and SIGTERM (Ctrl+C only, off Unix).
#[cfg(unix)]
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// Starts listening (inside the runtime): from now on these signals no longer kill
    /// the process.
    pub fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves at the next signal.
    pub async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// SIGINT and SIGTERM (Ctrl+C only, off Unix).
#[cfg(not(unix))]
pub struct Signals;

#[cfg(not(unix))]
impl Signals {
    /// Starts listening (inside the runtime): from now on these signals no longer kill
    /// the process.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self)
    }

    /// Resolves at the next signal.
    pub async fn next(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
