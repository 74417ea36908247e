//! The Alibaba Cloud API front of ecslab.
pub mod auth;
