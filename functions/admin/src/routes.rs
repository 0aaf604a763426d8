//! The API's routes, each a function of the session's tenant and the ports.

pub mod connect;
pub mod import;
pub mod settings;
pub mod status;
