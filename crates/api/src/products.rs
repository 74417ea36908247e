//! The table of products the server serves. Adding a product (VPC, RAM, ...) is a new module
//! that implements [`crate::product::Product`] and one entry here; the server itself names no
//! product.

use crate::params::Params;
use crate::product::{Mount, RestEntry, RpcEntry};
use crate::{
    admin, cloud_assistant, console, ecd, ecs, instance_network, key_pairs, mts, paidsw, ram,
    security_groups, sts, vnc, vpc,
};

/// RPC products, found by the signed Version and the action. Several products may share a
/// version (ECS's instances and its security groups): the first that knows the action serves it.
pub(crate) static RPC: &[&dyn RpcEntry] = &[
    &Mount::<ecs::Ecs>::new(),
    &Mount::<security_groups::SecurityGroups>::new(),
    &Mount::<instance_network::InstanceNetwork>::new(),
    &Mount::<key_pairs::KeyPairs>::new(),
    &Mount::<vnc::VncConsole>::new(),
    &Mount::<cloud_assistant::CloudAssistantProduct>::new(),
    &Mount::<mts::Mts>::new(),
    &Mount::<ecd::Ecd>::new(),
    &Mount::<vpc::VpcProduct>::new(),
    &Mount::<ram::RamProduct>::new(),
    &Mount::<sts::Sts>::new(),
    &Mount::<admin::Admin>::new(),
    &Mount::<console::Console>::new(),
];

/// REST products, found by the path's prefix.
pub(crate) static REST: &[&dyn RestEntry] = &[&Mount::<paidsw::PaiDsw>::new()];

/// The RPC product serving `action` in `version`: the first of that version that knows the
/// action, else the first of that version (which answers InvalidAction.NotFound); None when no
/// product serves the version.
pub(crate) fn rpc(version: &str, action: &str, params: &Params) -> Option<&'static dyn RpcEntry> {
    let mut of_version = RPC.iter().copied().filter(|p| p.version() == version).peekable();
    let first = *of_version.peek()?;
    Some(of_version.find(|p| p.knows(action, params)).unwrap_or(first))
}

/// The REST product owning `raw_path`.
pub(crate) fn rest(raw_path: &str) -> Option<&'static dyn RestEntry> {
    REST.iter().copied().find(|p| raw_path.starts_with(p.path_prefix()))
}

/// For fuzzing only (fuzz/fuzz_targets/params.rs): run every RPC product's parse of `action` over
/// `params`; how many products know the action. Parsing is pure, so nothing is executed.
#[doc(hidden)]
pub fn parse_with_every_rpc_product(action: &str, params: &Params) -> usize {
    RPC.iter().filter(|p| p.knows(action, params)).count()
}
