//! The domain of personio-sync: Kombo and Learn Amp models, the mapping, the planner and the
//! applier, the ports they run against, and the embedded adapters: the file store and the
//! in-process queue of the local runner, and the in-memory HRIS and Learn Amp of tests. No AWS
//! SDK and no HTTP client here: this crate compiles fast and is tested without any server.

pub mod admin;
pub mod applier;
pub mod connect;
pub mod coordination;
pub mod cpu;
pub mod decode;
pub mod embedded;
pub mod engine;
pub mod error;
pub mod fields;
pub mod idempotency;
pub mod intake;
pub mod known_users;
pub mod kombo;
pub mod learnamp;
pub mod manager_gate;
pub mod mapping;
pub mod messages;
pub mod onboarding;
pub mod planner;
pub mod ports;
pub mod queue;
pub mod reconcile;
pub mod report;
pub mod settings;
pub mod state;
pub mod status;
pub mod stop;
pub mod store;
pub mod tenants;
pub mod webhook;
pub mod worker;

pub use engine::{Engine, EngineError, NoProgress, Progress, RunOptions, Stop};
pub use settings::{InvitePolicy, TenantSettings};
