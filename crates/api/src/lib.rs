//! The Alibaba Cloud API front of ecslab: signature auth ([`auth`]), typed parameters
//! ([`params`]), one pipeline every product goes through ([`product`]), the products ([`ecs`],
//! [`mts`], [`ecd`], [`paidsw`]) in one table, the reply envelope ([`envelope`]), the axum app
//! that ties them together ([`server`]), and the connection front that reads every HTTP request
//! off the socket before the app sees it ([`front`]).

pub mod admin;
pub mod auth;
pub mod authorization;
pub mod cloud_assistant;
pub mod console;
pub mod ecd;
pub mod ecs;
pub mod envelope;
pub mod front;
pub mod instance_network;
pub mod key_pairs;
pub mod metrics;
pub mod mts;
pub mod paidsw;
pub mod params;
pub mod product;
mod products;
pub mod ram;
pub mod security_groups;
pub mod server;
pub mod sts;
pub mod vnc;
pub mod vpc;
pub mod wire;
mod xml;

pub use front::FrontOptions;
#[doc(hidden)]
pub use products::parse_with_every_rpc_product;
pub use server::{app, AppState, ServerOptions};
