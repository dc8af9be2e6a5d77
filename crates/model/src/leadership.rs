//! Whether this controller replica may act: with leader election (one replica of several
//! acts, the others watch), only while it holds the lease; without it, always.

use tokio::sync::watch;

/// A view of this replica's leadership. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
}

impl Leadership {
    /// Always the leader: a controller that is the only one.
    pub fn always() -> Self {
        let (_tx, rx) = watch::channel(true);
        Self { rx }
    }

    /// Leadership as an elector publishes it on `rx`.
    pub fn from_watch(rx: watch::Receiver<bool>) -> Self {
        Self { rx }
    }

    /// Whether this replica may act now.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until this replica leads (at once if it does). Never returns while another
    /// replica leads; if the elector is gone, returns only if it left this replica leading.
    pub async fn wait(&mut self) {
        loop {
            if *self.rx.borrow_and_update() {
                return;
            }
            if self.rx.changed().await.is_err() {
                // The elector stopped: what it last said stands for good.
                if *self.rx.borrow() {
                    return;
                }
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_follower_waits_until_it_leads() {
        assert!(Leadership::always().is_leader());
        let (tx, rx) = watch::channel(false);
        let mut follower = Leadership::from_watch(rx);
        assert!(!follower.is_leader());
        let waiting = tokio::spawn(async move {
            follower.wait().await;
            follower.is_leader()
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        tx.send(true).expect("send");
        assert!(waiting.await.expect("joined"));
    }
}
