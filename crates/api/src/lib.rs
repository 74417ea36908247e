//! The Alibaba Cloud API front of ecslab: signature auth ([`auth`]), typed parameters
//! ([`params`]), per-product parsing and execution ([`ecs`], [`mts`]), the reply envelope ([`envelope`]),
//! and the axum app that ties them together ([`server`]).

pub mod auth;
pub mod ecd;
pub mod ecs;
pub mod envelope;
pub mod mts;
pub mod paidsw;
pub mod params;
pub mod server;
mod xml;

pub use server::{app, AppState, ServerOptions};
