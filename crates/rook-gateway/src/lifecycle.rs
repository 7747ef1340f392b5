//! The gateway's lifecycle phase (running, draining, ending streams), set by the
//! app and watched by relayed streams and readiness.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;

/// Lifecycle phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Serving.
    Running,
    /// Not accepting; in-flight work is finishing.
    Draining,
    /// The grace period is over: streams end now.
    EndStreams,
}

/// A future that resolves when the gateway's shutdown grace period has run out.
pub(crate) type ShutdownSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The phase, shared: the app moves it forward, everyone else watches.
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    tx: Arc<watch::Sender<Phase>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        let (tx, _) = watch::channel(Phase::Running);
        Lifecycle { tx: Arc::new(tx) }
    }
}

impl Lifecycle {
    /// Moves to `phase`.
    pub(crate) fn set(&self, phase: Phase) {
        self.tx.send_replace(phase);
    }

    /// Whether the gateway is draining (or past it).
    pub(crate) fn is_draining(&self) -> bool {
        *self.tx.borrow() != Phase::Running
    }

    /// A future that resolves when streams must end.
    pub(crate) fn stream_shutdown(&self) -> ShutdownSignal {
        let mut rx = self.tx.subscribe();
        Box::pin(async move {
            loop {
                if *rx.borrow_and_update() == Phase::EndStreams {
                    return;
                }
                if rx.changed().await.is_err() {
                    // The gateway is gone; the process is exiting.
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_end_only_at_end_streams() {
        let l = Lifecycle::default();
        let mut signal = l.stream_shutdown();
        assert!(!l.is_draining());
        l.set(Phase::Draining);
        assert!(l.is_draining());
        let early = tokio::time::timeout(std::time::Duration::from_millis(20), &mut signal).await;
        assert!(early.is_err(), "draining alone does not end streams");
        l.set(Phase::EndStreams);
        tokio::time::timeout(std::time::Duration::from_secs(1), signal)
            .await
            .unwrap();
    }
}
