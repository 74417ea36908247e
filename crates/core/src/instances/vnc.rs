//! The console of a running instance (DescribeInstanceVncUrl): a one-time token for the caller's
//! own Running instance, and the connection to its VM's VNC server when the token is used. The
//! status is checked at both ends: an instance stopped between the call and the connection gets
//! IncorrectInstanceStatus, not a dead socket.

use super::power::vm_error;
use super::Instances;
use crate::catalog;
use crate::status::InstanceStatus;
use crate::vnc::{VncTicket, VncTickets};
use crate::{Error, Result};
use ecslab_vmm::VmError;
use std::time::Instant;
use tokio::net::UnixStream;

impl Instances {
    /// DescribeInstanceVncUrl: a new one-time token for the account's Running instance.
    pub async fn vnc_token(&self, account_id: &str, instance_id: &str) -> Result<String> {
        self.console_instance(account_id, instance_id).await?;
        let ticket = VncTicket { account_id: account_id.to_string(), instance_id: instance_id.to_string() };
        Ok(self.vnc_tickets.issue(ticket, Instant::now()))
    }

    /// Use a token: the instance it opens and a new connection to that VM's VNC server
    /// (RFB, no authentication). The token is spent even when the connection then fails.
    pub async fn vnc_connect(&self, token: &str) -> Result<(VncTicket, UnixStream)> {
        let ticket = self.vnc_tickets.redeem(token, Instant::now()).map_err(Error::VncUrl)?;
        self.console_instance(&ticket.account_id, &ticket.instance_id).await?;
        let stream = self.hypervisor.vnc_connect(&ticket.instance_id).await.map_err(|e| match e {
            // The fake driver, or libvirt on another host: no socket to reach.
            VmError::Unsupported { .. } => Error::NotSupported { instance_id: ticket.instance_id.clone() },
            other => vm_error(&ticket.instance_id, "connecting to the VNC server", other),
        })?;
        Ok((ticket, stream))
    }

    /// The token table (tests read its size).
    pub fn vnc_tickets(&self) -> &VncTickets {
        &self.vnc_tickets
    }

    /// The account's instance, if it is Running and has a screen.
    async fn console_instance(&self, account_id: &str, instance_id: &str) -> Result<()> {
        let instance = crate::lookup::instance(&self.store, account_id, instance_id).await?;
        if instance.status != InstanceStatus::Running {
            return Err(Error::IncorrectInstanceStatus {
                instance_id: instance_id.into(),
                status: instance.status.to_string(),
            });
        }
        if !catalog::find(&instance.instance_type).is_some_and(|t| t.display) {
            return Err(Error::NotSupported { instance_id: instance_id.into() });
        }
        Ok(())
    }
}
