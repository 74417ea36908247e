//! A password reaches the guest at its next boot, as on ECS ("restart the instance for the new password to take
//! effect"). cloud-init sets only an instance's first password (vendor-data's `chpasswd` runs once per instance), so
//! every password RunInstances, ModifyInstanceAttribute or ReplaceSystemDisk sets is pending until the guest agent
//! has set it: after each boot, once the agent answers, `guest-set-user-password` with the SHA-512 crypt hash (the
//! password itself is never stored). A guest without an agent keeps it pending, logged, for the next boot.

use std::time::{Duration, Instant};

use ecslab_vmm::GuestAgent;

use super::Instances;
use crate::status::InstanceStatus;

/// How long after a boot the agent may take to answer (a Debian guest under TCG needs about a minute).
const AGENT_WAIT: Duration = Duration::from_secs(300);

impl Instances {
    /// Set the instance's pending root password through its guest agent, if it has one.
    pub(super) async fn deliver_pending_password(&self, instance_id: &str) {
        let hash = match self.store.pending_password(instance_id).await {
            Ok(Some(hash)) => hash,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(instance_id, error = %e, "reading the pending password failed");
                return;
            }
        };
        let agent = GuestAgent::new(self.hypervisor.as_ref(), instance_id);
        let deadline = Instant::now() + AGENT_WAIT;
        loop {
            let running = matches!(
                self.store.instance_by_id(instance_id).await.ok().flatten().map(|i| i.status),
                Some(InstanceStatus::Running)
            );
            if !running {
                return;
            }
            match agent.ping().await {
                Ok(()) => break,
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_secs(2)).await,
                Err(e) => {
                    tracing::warn!(instance_id, error = %e, "no guest agent answered: the new password stays pending until the next boot");
                    return;
                }
            }
        }
        match agent.set_user_password_hash("root", &hash).await {
            Ok(()) => match self.store.password_applied(instance_id, &hash).await {
                Ok(_) => tracing::info!(instance_id, "the root password is set in the guest (guest agent)"),
                Err(e) => tracing::warn!(instance_id, error = %e, "marking the password applied failed"),
            },
            Err(e) => {
                tracing::warn!(instance_id, error = %e, "setting the password through the guest agent failed; it stays pending")
            }
        }
    }
}
