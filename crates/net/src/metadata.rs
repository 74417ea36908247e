//! Where the instance metadata service lives in a VPC's namespace: the well-known address
//! `100.100.100.200` on the namespace's loopback (added by `HostNetwork::apply`), port 80, reached by guests
//! through their gateway. This module only makes the listening socket inside the namespace; what it answers is
//! the domain's (`ecslab_core::metadata`). The filter table admits each NIC's requests from its own tap and
//! address only (`filter::render`), so the source address of a connection names the instance that asks.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use crate::{io_err, netns, NetError};

/// The metadata service's address, as on ECS.
pub const METADATA_ADDR: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);
/// Plain HTTP, as on ECS.
pub const METADATA_PORT: u16 = 80;

/// A non-blocking listener on `100.100.100.200:80` inside the namespace at `netns` (apply the VPC first: the
/// address must be there). The socket keeps its namespace, so any thread may accept on it.
pub fn metadata_listener(netns: &Path) -> Result<TcpListener, NetError> {
    let context = format!("listening on {METADATA_ADDR}:{METADATA_PORT} in {}", netns.display());
    let listener = netns::in_netns(netns, || {
        let listener = TcpListener::bind(SocketAddr::from((METADATA_ADDR, METADATA_PORT)))?;
        listener.set_nonblocking(true)?;
        Ok::<_, std::io::Error>(listener)
    })
    .and_then(|made| made)
    .map_err(io_err(context))?;
    Ok(listener)
}
