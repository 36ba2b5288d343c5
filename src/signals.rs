//! SIGINT and SIGTERM as a stream: what the command line's observer of a run, and the demo
//! server, wait on.

use tokio::signal::unix::{Signal as UnixSignal, SignalKind, signal};

/// A stop signal the run reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C: exit code 130.
    Interrupt,
    /// `kill` / SIGTERM: exit code 143.
    Terminate,
}

impl Signal {
    /// The conventional exit code (128 + signal number).
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// Listens for SIGINT and SIGTERM from the moment it is created.
pub struct Signals {
    interrupt: UnixSignal,
    terminate: UnixSignal,
}

impl Signals {
    /// Installs the handlers (replacing the default "die at once").
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next signal.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
        }
    }
}

/// Waits for the first SIGINT or SIGTERM.
pub async fn wait_any() -> std::io::Result<()> {
    Signals::new()?.next().await;
    Ok(())
}
