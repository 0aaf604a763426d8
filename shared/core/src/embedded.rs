//! In-memory adapters of the remote ports, [`HrisSource`](crate::ports::HrisSource),
//! [`LearnAmp`](crate::ports::LearnAmp) and [`KomboConnect`](crate::connect::KomboConnect), for tests that run the domain without a server: they
//! keep the rules of the real systems that the applier and the engine meet, and answer with the
//! errors the HTTP clients make of the real answers.

pub mod connect;
pub mod hris;
pub mod learnamp;

pub use connect::InMemoryKomboConnect;
pub use hris::InMemoryHris;
pub use learnamp::InMemoryLearnAmp;
