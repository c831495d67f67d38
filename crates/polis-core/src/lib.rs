//! Application services: the registry kept in memory and in step with the store, the spatial
//! indexes, authentication and the audit trail.

pub mod demo;
