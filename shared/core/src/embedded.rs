//! In-memory adapters of the two remote ports, [`HrisSource`](crate::ports::HrisSource) and
//! [`LearnAmp`](crate::ports::LearnAmp), for tests that run the domain without a server: they
//! keep the rules of the real systems that the applier and the engine meet, and answer with the
//! errors the HTTP clients make of the real answers.

pub mod hris;
pub mod learnamp;

pub use hris::InMemoryHris;
pub use learnamp::InMemoryLearnAmp;
