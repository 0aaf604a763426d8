//! A graceful stop of a run, asked for from outside it.

/// A request to stop a run gracefully: take no new change, give the calls in flight `grace` to
/// finish, then record the state and the report. Fired once (the first reason wins); the local
/// runner fires it on SIGTERM or SIGINT and at its deadline.
pub struct Stop {
    reason: tokio::sync::watch::Sender<Option<String>>,
    grace: std::time::Duration,
}

impl Stop {
    pub fn new(grace: std::time::Duration) -> Self {
        Self {
            reason: tokio::sync::watch::channel(None).0,
            grace,
        }
    }

    /// Asks the run to stop; a second request keeps the first reason.
    pub fn fire(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.reason.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    pub fn reason(&self) -> Option<String> {
        self.reason.borrow().clone()
    }

    pub fn grace(&self) -> std::time::Duration {
        self.grace
    }

    /// Resolves once the stop is fired.
    pub async fn fired(&self) {
        let mut rx = self.reason.subscribe();
        // The sender lives as long as `self`, so this only returns once a reason is set.
        let _ = rx.wait_for(Option::is_some).await;
    }
}
