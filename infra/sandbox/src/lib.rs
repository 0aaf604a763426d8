//! HTTP simulators ("sandboxes") of the two external APIs the sync talks to:
//!
//! * [`KomboSandbox`]: Kombo's unified HRIS API (`GET /v1/hris/employees`, `/hris/groups`,
//!   `/hris/locations`, `/check-api-key`), see [`kombo`];
//! * [`LearnAmpSandbox`]: Learn Amp's public API (`POST /oauth/token`, users, teams and team
//!   membership under `/v1`), see [`learnamp`].
//!
//! Both are independent implementations of the public API documentation (they deliberately do
//! not share code with the sync's own clients), so that a client mistake shows up as a failing
//! request instead of being mirrored. Where the docs are silent, each module documents the
//! behaviour it chose.
//!
//! Both sandboxes support fault injection through [`FaultKnobs`] (latency, random 429/503, a
//! token-bucket rate limit) and expose inspection routes under `/_sandbox/*` that are never
//! faulted or counted. [`generate_company`] builds deterministic fake companies of any size and
//! [`load_fixture`] loads one from a Kombo-shaped JSON file.

pub mod faults;
pub mod generator;
pub mod kombo;
pub mod learnamp;
mod util;

pub use faults::FaultKnobs;
pub use generator::{generate_company, load_fixture, Company};
pub use kombo::{
    EmbeddedGroup, EmbeddedLocation, KomboEmployee, KomboGroup, KomboLocation, KomboSandbox,
    SandboxCustomField, SandboxIntegration, SentWebhook,
};
pub use learnamp::{
    CallCounts, LearnAmpSandbox, LearnAmpSnapshot, SandboxTeam, SandboxUser, SeedUser,
};

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server bound to 127.0.0.1 that stops when [`RunningServer::shutdown`] is awaited or when
/// dropped.
pub struct RunningServer {
    /// Base URL of the API (`http://127.0.0.1:PORT/v1` for Kombo, `http://127.0.0.1:PORT` for
    /// Learn Amp).
    pub base_url: String,
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("base_url", &self.base_url)
            .field("addr", &self.addr)
            .finish()
    }
}

impl RunningServer {
    /// Stops the server and waits (at most 5 s, then aborts it) until it has stopped.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut handle) = self.handle.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut handle)
                .await
                .is_err()
            {
                handle.abort();
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `127.0.0.1:port` (0 = a free port) and serves `router` until shut down.
pub(crate) async fn serve(
    router: axum::Router,
    port: u16,
    base_path: &str,
) -> std::io::Result<RunningServer> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "sandbox server stopped with an error");
        }
    });
    Ok(RunningServer {
        base_url: format!("http://{addr}{base_path}"),
        addr,
        shutdown: Some(tx),
        handle: Some(handle),
    })
}
