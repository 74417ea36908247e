//! The `ecslab` binary's library part: the signed API client shared by the CLI and the
//! integration tests.

pub mod client;
