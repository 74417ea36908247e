//! The table of products the server serves. Adding a product (VPC, RAM, ...) is a new module
//! that implements [`crate::product::Product`] and one entry here; the server itself names no
//! product.

use crate::product::{Mount, RestEntry, RpcEntry};
use crate::{ecd, ecs, mts, paidsw};

/// RPC products, found by the signed Version.
pub(crate) static RPC: &[&dyn RpcEntry] =
    &[&Mount::<ecs::Ecs>::new(), &Mount::<mts::Mts>::new(), &Mount::<ecd::Ecd>::new()];

/// REST products, found by the path's prefix.
pub(crate) static REST: &[&dyn RestEntry] = &[&Mount::<paidsw::PaiDsw>::new()];

/// The RPC product serving `version`.
pub(crate) fn rpc(version: &str) -> Option<&'static dyn RpcEntry> {
    RPC.iter().copied().find(|p| p.version() == version)
}

/// The REST product owning `raw_path`.
pub(crate) fn rest(raw_path: &str) -> Option<&'static dyn RestEntry> {
    REST.iter().copied().find(|p| raw_path.starts_with(p.path_prefix()))
}
